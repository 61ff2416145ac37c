"""The ``jaxrnn`` command: train / resume / sample / summary, and one-line errors for bad input."""

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import pytest
import tomllib

import jaxrnn
from jaxrnn.app import checkpoint
from jaxrnn.app.charlm import CharLM
from jaxrnn.app.cli import main
from jaxrnn.train import distributed
from tests.app.commands import TINY, one_line_error, records, run
from tests.helpers import ROOT


def copy_of(run_dir, tmp_path):
    return shutil.copytree(run_dir, str(tmp_path / "run"))


def test_train_writes_a_run_that_learns_and_sample_and_summary_work(capsys, trained, text):
    out = trained
    assert {"config.json", "metrics.jsonl", "loss.png", "ckpt-00000030.msgpack"} <= set(os.listdir(out))
    rows = records(out)
    assert [r["step"] for r in rows] == list(range(1, 31))  # final step logged
    assert rows[-1]["loss"] < 0.6 * rows[0]["loss"] and "val_bpc" in rows[-1]
    config = json.loads(Path(out, "config.json").read_text())
    assert config["hidden"] == 16 and config["cell"] == "lstm" and config["steps"] == 30
    rc, sample, _ = run(capsys, "sample", "--run", out, "--prime", "def ", "--length", "40",
                        "--seed", "1")
    assert rc == 0 and sample.startswith("def ") and len(sample.rstrip("\n")) >= 44 - 1
    assert run(capsys, "sample", "--run", out, "--prime", "def ", "--length", "40",
               "--seed", "1")[1] == sample
    rc, table, _ = run(capsys, "summary", "--text", text, "--cell", "gru", "--hidden", "16")
    model = CharLM(len(set(Path(text).read_text())), "gru", 16)
    total = jaxrnn.param_count(model.init(jax.random.key(0)))
    assert rc == 0 and "GRU[0]: Recurrent(GRUCell)" in table and "(32, 64, 16)" in table and f"{total:,}" in table.splitlines()[-1]


def test_resume_10_plus_10_equals_20(capsys, tmp_path, trained):
    b = str(tmp_path / "b")
    config = json.loads(Path(trained, "config.json").read_text())
    flags = ["--text", config["text"], "--lr", "0.01", *TINY]
    rc, _, err = run(capsys, "train", "--out", b, "--steps", "10", *flags)
    assert rc == 0
    assert "step     10/10 loss" in err and "chars/s, ETA" in err and "--- sample at step 10 ---" in err
    assert "held-out" in err and "loss curve:" in err
    rc, _, err = run(capsys, "train", "--out", b, "--steps", "20", "--resume")
    assert rc == 0 and "resuming at step 10" in err
    a = records(trained)
    assert a[19]["step"] == records(b)[-1]["step"] == 20
    assert a[19]["loss"] == records(b)[-1]["loss"]
    assert a[:20] == records(b)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(capsys, tmp_path, trained):
    out = copy_of(trained, tmp_path)
    rc, _, err = run(capsys, "train", "--out", out, "--steps", "40", "--lr", "1e38", "--resume")
    assert rc == 3 and "loss is nan" in err and "ckpt-00000030.msgpack" in err
    assert checkpoint.latest(out).endswith("ckpt-00000030.msgpack")
    assert run(capsys, "sample", "--run", out, "--length", "5")[0] == 0


def test_bad_files_give_one_line_errors(capsys, tmp_path, text):
    error = functools.partial(one_line_error, capsys, in_process=True)  # file contents, not startup
    out = str(tmp_path / "run")
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00abc")
    (tmp_path / "short.txt").write_text("abc")
    error("train", "--text", str(tmp_path / "nope.txt"), "--out", out, match="no such file")
    error("train", "--text", str(tmp_path), "--out", out, match=f"--text {tmp_path}: a folder, not a file")
    error("train", "--text", str(tmp_path / "empty.txt"), "--out", out, match="the file is empty")
    error("train", "--text", str(tmp_path / "bin.txt"), "--out", out, match="not UTF-8 text")
    error("train", "--text", str(tmp_path / "short.txt"), "--out", out,
                   match="the text is too short: 3 characters leave 1 for the held-out split")
    (tmp_path / "small.txt").write_text("abcdefghij" * 20)
    error("train", "--text", str(tmp_path / "small.txt"), "--out", out,
                   match="too short for one batch")


@pytest.mark.parametrize("argv, match", [
    (["train", "--hidden", "0"], "argument --hidden: must be > 0, got 0"),
    (["train", "--hidden", "abc"], "argument --hidden: expected an integer, got 'abc'"),
    (["train", "--lr", "-1"], "argument --lr: must be > 0, got -1"),
    (["train", "--lr", "nan"], "argument --lr: must be finite, got nan"),
    (["train", "--cell", "transformer"], "argument --cell: invalid choice: 'transformer'"),
    (["train", "--steps", "1.5"], "argument --steps: expected an integer, got '1.5'"),
    (["fly"], "argument command: invalid choice: 'fly'"),
    (["sample", "--temperature", "-1"], "argument --temperature: must be >= 0, got -1.0"),
    (["sample", "--length", "-3"], "argument --length: must be > 0, got -3"),
    (["summary", "--layers", "0"], "argument --layers: must be > 0, got 0"),
    (["train", "--out", ""], "argument --out: expected a file or folder name, got ''"),
    (["train", "--text", " "], "argument --text: expected a file or folder name, got ' '"),
    (["sample", "--run", ""], "argument --run: expected a file or folder name, got ''"),
])
def test_bad_flags_give_one_line_errors(capsys, argv, match):
    one_line_error(capsys, *argv, match=match)


def test_bad_run_directories_give_one_line_errors(capsys, tmp_path, text, trained):
    missing = str(tmp_path / "missing")
    one_line_error(capsys, "train", "--out", missing, "--resume", match="config.json: no such file")
    one_line_error(capsys, "sample", "--run", missing, match="config.json: no such file")
    out = copy_of(trained, tmp_path)
    one_line_error(capsys, "train", "--text", text, "--out", out, match="already holds a run")
    one_line_error(capsys, "train", "--out", out, "--resume", "--hidden", "32",
                   match="--hidden 32 does not match the run's 16")
    one_line_error(capsys, "sample", "--run", out, "--prime", "é", match="not in the vocabulary")
    one_line_error(capsys, "sample", "--run", out, "--prime", "", match="--prime must not be empty")


def test_damaged_checkpoints_give_one_line_errors(capsys, tmp_path, trained):
    error = functools.partial(one_line_error, capsys, in_process=True)  # file contents, not startup
    out = copy_of(trained, tmp_path)
    path = checkpoint.latest(out)
    good = Path(path).read_bytes()
    flipped = bytearray(good)
    flipped[len(flipped) // 2] ^= 0x10
    Path(path).write_bytes(bytes(flipped))
    error("sample", "--run", out, match="SHA-256 mismatch")
    error("train", "--out", out, "--steps", "39", "--resume", match="SHA-256 mismatch")
    Path(path).write_bytes(good[:30])
    error("sample", "--run", out, match="truncated (30 bytes")
    older = checkpoint.path_for(out, 20)
    Path(older).write_bytes(good)  # an older, intact checkpoint: named, never switched to silently
    error("sample", "--run", out,
                   match=f"); the run has an older checkpoint, ckpt-00000020.msgpack: remove {path} to go on "
                         "from it")
    os.remove(path)
    assert run(capsys, "sample", "--run", out, "--length", "5")[0] == 0


def test_edited_or_emptied_run_directories_give_one_line_errors(capsys, tmp_path, trained):
    error = functools.partial(one_line_error, capsys, in_process=True)  # file contents, not startup
    out = copy_of(trained, tmp_path)
    config = json.loads(Path(out, "config.json").read_text())
    Path(out, "config.json").write_text(json.dumps({**config, "hidden": 24}))
    error("sample", "--run", out, match="does not match the model")
    for ckpt in checkpoint.list_checkpoints(out):
        os.remove(ckpt)
    error("sample", "--run", out, match="no checkpoint")
    Path(out, "config.json").write_text("{not json")
    error("sample", "--run", out, match="config.json: not valid JSON")


def test_ctrl_c_saves_and_exits_cleanly(tmp_path, text):
    out = str(tmp_path / "run")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jaxrnn.app.cli", "train", "--text", text, "--out", out,
         "--steps", "100000", *TINY], stderr=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
        text=True)
    lines = []
    for line in proc.stderr:  # wait until training steps are running
        lines.append(line)
        if line.startswith("step") and "/100000" in line:
            break
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=120)[1]
    err = "".join(lines) + rest
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted at step" in err
    step = records(out)[-1]["step"]
    assert checkpoint.latest(out).endswith(f"ckpt-{step:08d}.msgpack")
    assert os.path.exists(os.path.join(out, "loss.png"))


def test_ctrl_c_while_waiting_in_the_stop_collective_is_not_lost(tmp_path, text, monkeypatch):
    """A Ctrl-C that lands while a process waits in the per-step "does any process stop?"
    collective stops the run at the next step. (It used to be overwritten by the collective's
    result, so a non-writing process of a multi-process run ignored it and training went on.)"""
    calls = []

    def collective(flag):
        calls.append(flag)
        if len(calls) == 3:
            signal.raise_signal(signal.SIGINT)  # arrives while this process waits for the others
        return bool(flag)  # the others have not seen it: this step goes on

    monkeypatch.setattr(distributed, "any_process", collective)
    out = str(tmp_path / "run")
    assert main(["train", "--text", text, "--out", out, "--steps", "1000", *TINY]) == 130
    assert calls == [False, False, False, True]
    assert records(out)[-1]["step"] == 3
    assert checkpoint.latest(out).endswith("ckpt-00000003.msgpack")


def test_console_script_is_declared():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    assert project["scripts"]["jaxrnn"] == "jaxrnn.app.cli:main"
    assert any(d.startswith("matplotlib") for d in project["dependencies"])
