"""Subprocess helpers for tests that need several (forced CPU) devices or several processes.

``XLA_FLAGS=--xla_force_host_platform_device_count=N`` only works before jax starts, so such
checks run in fresh interpreters, on CPU, joined over 127.0.0.1, each bounded by ``TIMEOUT_S``.
"""

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 300  # generous: CI machines may be shared; nothing may hang forever


def worker_env(devices):
    return dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu",
                XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}".strip())


def run(args, *, devices, check=True):
    """Runs ``python ARGS`` in one process with ``devices`` CPU devices."""
    proc = subprocess.run([sys.executable, *args], env=worker_env(devices), cwd=ROOT,
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_processes(args, *, processes, devices, per_process=lambda i: []):
    """Starts ``processes`` copies of ``python ARGS`` (plus ``per_process(i)``) joined through a
    coordinator on 127.0.0.1, each with ``devices`` CPU devices; returns their (stdout, stderr).

    Output goes to temporary files, not pipes: reading one process's pipes to the end while
    another's fill up would block the second, and with it the collectives the first waits on.
    """
    address = f"127.0.0.1:{free_port()}"
    files = [(tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")) for _ in range(processes)]
    procs = [subprocess.Popen([sys.executable, *args, *per_process(i), "--coordinator-address",
                               address, "--num-processes", str(processes), "--process-id", str(i)],
                              env=worker_env(devices), cwd=ROOT, text=True,
                              stdout=files[i][0], stderr=files[i][1])
             for i in range(processes)]
    try:
        for p in procs:
            p.wait(timeout=TIMEOUT_S)
        outputs = []
        for out, err in files:
            out.seek(0)
            err.seek(0)
            outputs.append((out.read(), err.read()))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for pair in files:
            for f in pair:
                f.close()
    for p, (_, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
    return outputs
