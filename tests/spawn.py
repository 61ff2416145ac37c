"""Subprocess helpers for tests that need a fresh interpreter: a program reloaded elsewhere, other
environment variables, a script run end to end, several (forced CPU) devices, several processes.

``XLA_FLAGS=--xla_force_host_platform_device_count=N`` only works before jax starts, so such
checks run in fresh interpreters, on CPU, joined over 127.0.0.1, each bounded by ``TIMEOUT_S``.
"""

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.helpers import ROOT

TIMEOUT_S = 300  # generous: CI machines may be shared; nothing may hang forever


def worker_env(devices, env=None):
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}"
    return {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu", "XLA_FLAGS": flags.strip(), **(env or {})}


def run(args, *, devices=1, check=True, env=None):
    """Runs ``python ARGS`` in one process with ``devices`` CPU devices and the variables in ``env``
    besides this one's, from the repository's root; asserts it exits 0 unless ``check`` is False."""
    proc = subprocess.run([sys.executable, *args], env=worker_env(devices, env), cwd=ROOT,
                          capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_processes(args, *, processes, devices, log_dir, per_process=lambda i: []):
    """Starts ``processes`` copies of ``python ARGS`` (plus ``per_process(i)``) joined through a
    coordinator on 127.0.0.1, each with ``devices`` CPU devices; returns the ``Popen`` objects.

    Process ``i`` writes to ``log_dir/stdout-i.txt`` and ``log_dir/stderr-i.txt``: files, not pipes,
    since a pipe nobody is reading fills up and blocks its writer, and with it the collectives the
    other processes wait on.
    """
    address = f"127.0.0.1:{free_port()}"
    procs = []
    for i in range(processes):
        with open(Path(log_dir) / f"stdout-{i}.txt", "w") as out, \
                open(Path(log_dir) / f"stderr-{i}.txt", "w") as err:
            procs.append(subprocess.Popen(
                [sys.executable, *args, *per_process(i), "--coordinator-address", address,
                 "--num-processes", str(processes), "--process-id", str(i)],
                env=worker_env(devices), cwd=ROOT, text=True, stdout=out, stderr=err))
    return procs


def kill_leftovers(procs):
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def run_processes(args, *, processes, devices, per_process=lambda i: []):
    """``start_processes``, then waits for all of them (each must exit 0); returns their
    (stdout, stderr)."""
    with tempfile.TemporaryDirectory() as log_dir:
        procs = start_processes(args, processes=processes, devices=devices, log_dir=log_dir,
                                per_process=per_process)
        try:
            for p in procs:
                p.wait(timeout=TIMEOUT_S)
        finally:
            kill_leftovers(procs)
        outputs = [tuple((Path(log_dir) / f"{name}-{i}.txt").read_text() for name in ("stdout", "stderr"))
                   for i in range(processes)]
    for p, (_, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
    return outputs
