"""``jaxrnn train`` on 4 devices and on 2 processes logs the losses of the 1-device run.

Each run is a subprocess (``python -m jaxrnn.app.cli``, the console script's entry point) with forced
CPU devices, a tiny model and a few steps; processes meet on 127.0.0.1.
"""

import json
import os
import signal
import time

import numpy as np
import pytest

from jaxrnn.app import cli
from tests.spawn import TIMEOUT_S, kill_leftovers, run, run_processes, start_processes

STEPS = 4
FLAGS = ["--hidden", "8", "--seq-len", "8", "--batch-size", "8", "--log-every", "1",
         "--eval-every", "1000", "--sample-every", "1000"]


def train_args(text, out, *extra):
    return ["-m", "jaxrnn.app.cli", "train", "--text", text, *FLAGS, "--out", str(out), *extra]


def logged_losses(out):
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [json.loads(line)["loss"] for line in f]


@pytest.fixture(scope="module")
def one_device(text, tmp_path_factory):
    out = tmp_path_factory.mktemp("one") / "run"
    proc = run(train_args(text, out, "--steps", str(STEPS)), devices=1)
    assert "devices: 1\n" in proc.stderr
    losses = logged_losses(out)
    assert len(losses) == STEPS and losses[-1] < losses[0]
    return losses


def test_train_on_four_devices_logs_the_one_device_losses(text, one_device, tmp_path):
    proc = run(train_args(text, tmp_path / "run", "--steps", str(STEPS)), devices=4)
    assert "devices: 4\n" in proc.stderr
    np.testing.assert_allclose(logged_losses(tmp_path / "run"), one_device, rtol=0, atol=1e-4)


def test_train_on_two_processes_with_resume_logs_the_one_device_losses(text, one_device, tmp_path):
    run_dir, elsewhere = tmp_path / "run", tmp_path / "process1"
    half = ["--steps", str(STEPS // 2)]
    # Process 1 gets its own --out: it must write nothing there (process 0 writes the run).
    outs = run_processes(train_args(text, run_dir, *half), processes=2, devices=2,
                         per_process=lambda i: ["--out", str(elsewhere)] if i else [])
    assert "devices: 4 in 2 processes; rows 0:4 of each batch are fed by this process 0" in outs[0][1]
    assert "process 1 of 2 joined" in outs[1][1] and "loss" not in outs[1][1]
    assert sorted(os.listdir(run_dir)) == [".lock", "ckpt-00000002.msgpack", "config.json", "loss.png",
                                           "metrics.jsonl"]
    assert not os.path.exists(elsewhere) or os.listdir(elsewhere) == []
    # --resume (the run directory is shared by both processes) continues exactly.
    run_processes(train_args(text, run_dir, "--steps", str(STEPS), "--resume"), processes=2,
                  devices=2)
    np.testing.assert_allclose(logged_losses(run_dir), one_device, rtol=0, atol=1e-4)


def test_ctrl_c_in_one_process_stops_every_process_with_a_checkpoint(text, tmp_path):
    run_dir = tmp_path / "run"
    procs = start_processes(train_args(text, run_dir, "--steps", "100000"), processes=2, devices=2,
                            log_dir=tmp_path)
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while "step " not in (tmp_path / "stderr-0.txt").read_text():  # both are in the loop
            assert time.monotonic() < deadline and procs[0].poll() is None, tmp_path / "stderr-0.txt"
            time.sleep(0.2)
        procs[1].send_signal(signal.SIGINT)  # only the process that does not write
        codes = [p.wait(timeout=TIMEOUT_S) for p in procs]
    finally:
        kill_leftovers(procs)
    assert codes == [130, 130]
    last = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])["step"]
    assert os.listdir(run_dir).count(f"ckpt-{last:08d}.msgpack") == 1


def test_batch_not_divisible_by_devices_is_one_line_error(text, tmp_path):
    proc = run(train_args(text, tmp_path / "run", "--steps", "1", "--batch-size", "6"), devices=4,
               check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("jaxrnn: error: --batch-size 6 must be divisible by the number "
                                   "of devices (4)")


@pytest.mark.parametrize("flags, error, match", [
    (["--num-processes", "2"], cli.UsageError,
     "--num-processes and --process-id need --coordinator-address HOST:PORT"),
    (["--process-id", "1"], cli.UsageError,
     "--num-processes and --process-id need --coordinator-address HOST:PORT"),
    (["--coordinator-address", "nohost"], ValueError,
     "coordinator_address must be 'HOST:PORT', got 'nohost'"),
    (["--coordinator-address", "h:1", "--num-processes", "2", "--process-id", "2"], ValueError,
     r"process_id must lie in \[0, 2\) \(num_processes\), got 2"),
])
def test_bad_multiprocess_flags(flags, error, match, tmp_path, capsys):
    argv = ["train", "--out", str(tmp_path / "run"), *flags]
    with pytest.raises(error, match=match):
        cli.cmd_train(cli.build_parser().parse_args(argv))
    assert cli.main(argv) == 2  # the command prints it as one line
    err = capsys.readouterr().err
    assert err.startswith("jaxrnn: error: ") and err.count("\n") == 1
