"""Every way into ``jaxrnn`` that a hostile or careless user finds ends in one clear line: edited
run files, crafted checkpoints, absurd sizes. And the command's small promises: --version,
--debug, greedy sampling, one total in ``summary``, help that shows every default."""

import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest

from jaxrnn.app import checkpoint
from jaxrnn.app.cli import main
from tests.app.commands import TINY, one_line_error, run
from tests.helpers import ROOT


def _edited(trained, tmp_path, **changes):
    out = shutil.copytree(trained, str(tmp_path / "run"))
    path = os.path.join(out, "config.json")
    config = json.loads(Path(path).read_text())
    config.update(changes)
    Path(path).write_text(json.dumps(config))
    return out


@pytest.mark.parametrize("changes,match", [
    ({"lr": -1}, "config.json: lr must be > 0, got -1"),
    ({"hidden": 16.5}, "config.json: hidden must be an integer, got 16.5"),
    ({"seq_len": 0}, "config.json: seq_len must be > 0, got 0"),
    ({"batch_size": 0}, "config.json: batch_size must be > 0, got 0"),
    ({"eval_every": 0}, "config.json: eval_every must be > 0, got 0"),
    ({"log_every": "10"}, "config.json: log_every must be an integer, got '10'"),
    ({"cell": "lstn"}, ("config.json: cell must be one of lstm, gru, rnn, slstm, mlstm, gdn, deltanet, mamba, "
                        "mamba2, griffin, got 'lstn'")),
    ({"vocab": ""}, "config.json: vocab must be a non-empty string of distinct characters"),
    ({"seed": -5}, "config.json: seed must be >= 0, got -5"),
])
def test_an_edited_config_json_is_refused_in_one_line(capsys, tmp_path, trained, changes, match):
    out = _edited(trained, tmp_path, **changes)
    error = functools.partial(one_line_error, capsys, in_process=True)  # file contents, not startup
    error("train", "--out", out, "--resume", "--steps", "8", match=match)
    if "vocab" not in changes:
        error("sample", "--run", out, match=match)


def _rewrite(path, change):
    """Rewrites a checkpoint's payload through ``change(raw)`` and re-signs it (a crafted file)."""
    import hashlib
    import struct

    blob = Path(path).read_bytes()
    header = len(checkpoint.MAGIC) + 4 + 32
    raw = msgpack.unpackb(blob[header:], strict_map_key=False)
    payload = msgpack.packb(change(raw))
    Path(path).write_bytes(checkpoint.MAGIC + struct.pack("<I", checkpoint.VERSION)
                          + hashlib.sha256(payload).digest() + payload)


def test_crafted_checkpoints_are_refused_in_one_line(capsys, tmp_path, trained):
    error = functools.partial(one_line_error, capsys, in_process=True)  # file contents, not startup
    out = shutil.copytree(trained, str(tmp_path / "run"))
    path = checkpoint.latest(out)
    good = Path(path).read_bytes()
    _rewrite(path, lambda raw: {**raw, "step": -1000})
    error("train", "--out", out, "--resume", "--steps", "8", match="step -1000 is negative")
    Path(path).write_bytes(good)
    _rewrite(path, lambda raw: {**raw, "params": {**{0 if k == "embed" else k: v for k, v in raw["params"].items()}}})
    error("sample", "--run", out, match="does not match the model: the state has a non-string key 0")
    Path(path).write_bytes(good)
    with open(path, "ab") as f:  # a file far larger than this model's state (sparse: no disk used)
        f.truncate(3 * 2**30)
    error("sample", "--run", out, match="bytes, more than the")


@pytest.mark.parametrize("argv,match", [
    (["train", "--seed", str(2**70)], f"argument --seed: must be at most 4,294,967,295, got {2**70:,}"),
    (["train", "--hidden", "1000000000000"], "argument --hidden: must be at most 65,536"),
    (["train", "--hidden", "65536", "--layers", "8", "--seq-len", "8", "--batch-size", "4"], "the model would have"),
    (["sample", "--length", "1000000000000"], "argument --length: must be at most 1,000,000"),
    (["summary", "--layers", "1000000"], "argument --layers: must be at most 64"),
])
def test_absurd_sizes_are_refused_up_front(capsys, tmp_path, text, argv, match):
    if argv[0] == "train":
        argv = argv + ["--text", text, "--out", str(tmp_path / "run")]
    one_line_error(capsys, *argv, match=match)


def test_sample_at_temperature_0_is_greedy_and_deterministic(capsys, trained):
    outs = {run(capsys, "sample", "--run", trained, "--temperature", "0", "--seed", str(s), "--length", "30")[1]
            for s in (0, 1, 2)}
    assert len(outs) == 1


def test_summary_prints_one_total_and_takes_a_vocabulary_size(capsys):
    rc, table, _ = run(capsys, "summary", "--cell", "lstm", "--hidden", "256", "--vocab-size", "96")
    assert rc == 0 and table.count("Total params") == 1 and "Recurrent params:" in table
    assert "vocabulary: 96 characters, given by --vocab-size" in table


def test_version_debug_and_help_show_every_default(capsys):
    from jaxrnn import __version__

    proc = subprocess.run([sys.executable, "-m", "jaxrnn.app.cli", "--version"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    assert proc.stdout.strip() == f"jaxrnn {__version__}"
    for command in ("train", "sample", "summary"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        assert "(default: None)" not in text
        flags = [line.split()[0] for line in text.splitlines() if line.strip().startswith("--")]
        assert flags and all(f in ("--help", "--resume", "--text", "--coordinator-address") or
                             f"{f}" in text for f in flags)
    help_text = subprocess.run([sys.executable, "-m", "jaxrnn.app.cli", "train", "--help"], capture_output=True,
                               text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True).stdout
    assert "--max-chars N         characters of the default corpus to use (default:" in help_text
    proc = subprocess.run([sys.executable, "-m", "jaxrnn.app.cli", "--debug", "sample", "--run", "/no/such/run"],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert proc.returncode == 1 and "Traceback" in proc.stderr and "RunDirError" in proc.stderr


def test_help_does_not_load_jax():
    code = "import sys, jaxrnn.app.cli; jaxrnn.app.cli.build_parser(); print('jax' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert proc.stdout.strip() == "False", proc.stderr


def test_a_relative_text_resolves_when_resuming_from_elsewhere(capsys, tmp_path, text, monkeypatch):
    shutil.copy(text, tmp_path / "corpus.txt")
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "train", "--text", "corpus.txt", "--out", "run", "--steps", "2", *TINY)[0] == 0
    assert json.loads((tmp_path / "run" / "config.json").read_text())["text"] == str(tmp_path / "corpus.txt")
    monkeypatch.chdir(tmp_path / "run")
    rc, _, err = run(capsys, "train", "--out", ".", "--resume", "--steps", "3")
    assert rc == 0, err


def test_train_twice_without_out_starts_a_second_run_beside_the_first(capsys, tmp_path, text, monkeypatch):
    """The README's `jaxrnn train`, run twice in one folder: the second run goes to runs/charlm-2
    (and says so); --resume without --out continues runs/charlm."""
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "train", "--text", text, *TINY, "--steps", "2")[0] == 0
    rc, _, err = run(capsys, "train", "--text", text, *TINY, "--steps", "2")
    assert rc == 0 and f"runs/charlm holds a run; this one goes to {os.path.join('runs', 'charlm-2')}" in err
    assert sorted(os.listdir(tmp_path / "runs")) == ["charlm", "charlm-2"]
    assert json.loads((tmp_path / "runs" / "charlm-2" / "config.json").read_text())["out"] == "runs/charlm-2"
    assert run(capsys, "train", "--resume", "--steps", "3")[0] == 0
    assert sorted(os.listdir(tmp_path / "runs")) == ["charlm", "charlm-2"]
