"""Nothing lost: signals save, a cadence independent of evaluation, resumable empty runs, atomic
metadata, one writer per run directory, stale temporary files, and never a non-finite checkpoint."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from jaxrnn.app import checkpoint, rundir
from tests.app.commands import TINY, one_line_error, records, run
from tests.helpers import ROOT


def _start(out, text, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "jaxrnn.app.cli", "train", "--text", text, "--out", out, *TINY, *extra],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def _wait_for_steps(proc):
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if line.startswith("step") and "/100000" in line:
            return lines
    raise AssertionError("".join(lines))


@pytest.mark.parametrize("sig,status,word", [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "interrupted")])
def test_sigterm_and_sigint_save_and_exit_cleanly(tmp_path, text, sig, status, word):
    out = str(tmp_path / "run")
    proc = _start(out, text, "--steps", "100000", "--save-every", "100000")
    lines = _wait_for_steps(proc)
    time.sleep(0.3)
    proc.send_signal(sig)
    err = "".join(lines) + proc.communicate(timeout=120)[1]
    assert proc.returncode == status, err
    assert "Traceback" not in err and f"{word} at step" in err
    step = records(out)[-1]["step"]
    assert checkpoint.latest(out).endswith(f"ckpt-{step:08d}.msgpack")


def test_a_second_signal_quits_at_once(tmp_path, text):
    out = str(tmp_path / "run")
    proc = _start(out, text, "--steps", "100000")
    lines = _wait_for_steps(proc)
    os.kill(proc.pid, signal.SIGSTOP)  # both signals arrive before the loop looks at the first
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGTERM)
    os.kill(proc.pid, signal.SIGCONT)
    err = "".join(lines) + proc.communicate(timeout=120)[1]
    assert proc.returncode in (130, 143) and "again: quitting now" in err, err


def test_save_every_and_keep(capsys, tmp_path, text):
    out = str(tmp_path / "run")
    rc, _, _ = run(capsys, "train", "--text", text, "--out", out, "--steps", "23", "--save-every", "5",
                   "--keep", "2", *TINY)
    assert rc == 0
    names = sorted(n for n in os.listdir(out) if n.startswith("ckpt-"))
    assert names == ["ckpt-00000020.msgpack", "ckpt-00000023.msgpack"]


def test_a_run_without_a_checkpoint_resumes_from_step_0_with_its_config(capsys, tmp_path, text):
    out = str(tmp_path / "run")
    assert run(capsys, "train", "--text", text, "--out", out, "--steps", "4", *TINY)[0] == 0
    first = records(out)
    for path in checkpoint.list_checkpoints(out):
        os.remove(path)  # as if the run had been killed before its first checkpoint
    rc, _, err = run(capsys, "train", "--out", out, "--resume")
    assert rc == 0 and "has no checkpoint yet: starting at step 0" in err, err
    assert records(out) == first  # the same run again, metrics not doubled


def test_steps_is_a_total_and_resuming_below_it_is_refused(capsys, tmp_path, text):
    out = str(tmp_path / "run")
    assert run(capsys, "train", "--text", text, "--out", out, "--steps", "6", *TINY)[0] == 0
    one_line_error(capsys, "train", "--out", out, "--resume", "--steps", "3",
                   match="--steps 3 is below the run's step 6 (--steps is the total number of steps")
    assert json.loads(Path(out, "config.json").read_text())["steps"] == 6


def test_resuming_on_a_text_whose_vocabulary_changed_is_refused(capsys, tmp_path, text):
    edited = tmp_path / "corpus.txt"
    edited.write_text(Path(text).read_text(encoding="utf-8"), encoding="utf-8")
    out = str(tmp_path / "run")
    assert run(capsys, "train", "--text", str(edited), "--out", out, "--steps", "2", *TINY)[0] == 0
    edited.write_text(edited.read_text(encoding="utf-8") + "é", encoding="utf-8")  # a new character
    one_line_error(capsys, "train", "--out", out, "--resume", "--steps", "3", in_process=True,
                   match="--resume: the text's vocabulary differs from the run's")


def test_a_non_finite_update_never_becomes_a_checkpoint(capsys, tmp_path, text):
    out = str(tmp_path / "run")
    rc, _, err = run(capsys, "train", "--text", text, "--out", out, "--steps", "5", "--lr", "3e37",
                     "--save-every", "1", *TINY)
    assert rc == 3 and ("not finite" in err or "loss is" in err), err
    for path in checkpoint.list_checkpoints(out):
        params = checkpoint.load(path, checkpoint_template(out))["params"]
        assert all(np.isfinite(leaf).all() for leaf in _leaves(params)), path


def test_a_non_finite_first_update_says_there_is_no_checkpoint_and_how_to_go_on(capsys, tmp_path, text):
    out = str(tmp_path / "run")
    rc, _, err = run(capsys, "train", "--text", text, "--out", out, "--steps", "5", "--lr", "3e37", *TINY)
    assert rc == 3 and "no checkpoint was saved before it" in err and "None" not in err, err
    assert f"`jaxrnn train --out {out} --resume --lr X`" in err
    rc, _, err = run(capsys, "train", "--out", out, "--resume", "--lr", "0.01", "--steps", "3")
    assert rc == 0 and "no checkpoint yet: starting at step 0" in err, err


def test_resuming_a_default_corpus_run_with_a_text_names_the_default_corpus(capsys, tmp_path, text):
    out = str(tmp_path / "run")
    os.makedirs(out)
    Path(out, "config.json").write_text(json.dumps({"steps": 5}))  # --text null: the stdlib
    one_line_error(capsys, "train", "--out", out, "--resume", "--text", text,
                   match=f"--text {text} does not match the run's the stdlib sources")


def test_a_closed_output_pipe_saves_and_stops_like_sigpipe(tmp_path, text):
    """`jaxrnn train ... | head -1`: the reader goes away; the run saves its steps and exits 141
    (128 + SIGPIPE) instead of dying with them, and resumes from there."""
    out = str(tmp_path / "run")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jaxrnn.app.cli", "train", "--text", text, "--out", out, *TINY,
         "--steps", "100000", "--save-every", "100000"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    for line in proc.stdout:  # read until training steps are logged, then close, as `head` does
        if line.startswith("step") and "/100000" in line:
            break
    proc.stdout.close()
    assert proc.wait(timeout=120) == 141
    step = records(out)[-1]["step"]
    assert step > 0 and checkpoint.latest(out).endswith(f"ckpt-{step:08d}.msgpack")


def checkpoint_template(out):
    from jaxrnn.app import corpus
    from jaxrnn.app.model import build_model, state_shapes

    config = json.loads(Path(out, "config.json").read_text())
    return state_shapes(build_model(config, corpus.Vocab(config["vocab"]).size), config)


def _leaves(tree):
    import jax

    return jax.tree.leaves(tree)


def test_a_second_writer_on_the_same_run_directory_gets_one_line(capsys, tmp_path, text):
    out = str(tmp_path / "run")
    with rundir.exclusive(out):
        one_line_error(capsys, "train", "--text", text, "--out", out, "--steps", "2", *TINY,
                       match=f"--out {out} is in use by another jaxrnn train (process {os.getpid()})")
    assert run(capsys, "train", "--text", text, "--out", out, "--steps", "2", *TINY)[0] == 0


def test_temporary_files_of_a_killed_save_are_removed(capsys, tmp_path, text):
    out = str(tmp_path / "run")
    assert run(capsys, "train", "--text", text, "--out", out, "--steps", "3", *TINY)[0] == 0
    stale = os.path.join(out, "ckpt-00000004.msgpack.tmp-99999")
    Path(stale).write_bytes(b"half a checkpoint")
    assert run(capsys, "train", "--out", out, "--resume", "--steps", "4")[0] == 0
    assert not os.path.exists(stale)


def test_metadata_writes_are_atomic(tmp_path, monkeypatch):
    path = str(tmp_path / "config.json")
    rundir.write_json(path, {"hidden": 16})

    def crash(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(rundir.RunDirError, match=f"{path}: cannot write: disk full"):
        rundir.write_json(path, {"hidden": 32})
    assert json.loads(Path(path).read_text()) == {"hidden": 16} and os.listdir(tmp_path) == ["config.json"]


def test_metrics_with_a_blank_or_cut_last_line_resume(capsys, tmp_path, text):
    out = str(tmp_path / "run")
    assert run(capsys, "train", "--text", text, "--out", out, "--steps", "4", *TINY)[0] == 0
    with open(os.path.join(out, "metrics.jsonl"), "a") as f:
        f.write('\n{"step": 5, "lo')  # a blank line and a record cut short by a crash
    rc, _, err = run(capsys, "train", "--out", out, "--resume", "--steps", "6")
    assert rc == 0, err
    assert [r["step"] for r in records(out)] == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("setup,match", [
    (lambda d: open(d / "file", "w").close() or d / "file", "exists and is not a directory"),
    (lambda d: open(d / "file", "w").close() or d / "file" / "run", "cannot create the run directory"),
])
def test_unusable_out_gives_one_line(capsys, tmp_path, text, setup, match):
    out = str(setup(tmp_path))
    one_line_error(capsys, "train", "--text", text, "--out", out, *TINY, match=match)


def test_read_only_out_gives_one_line(capsys, tmp_path, text, monkeypatch):
    """A read-only mount (EROFS, which refuses root too) simulated at the two places it shows."""
    import errno

    existing = tmp_path / "ro"
    existing.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(existing) else real_access(p, mode))
    one_line_error(capsys, "train", "--text", text, "--out", str(existing), *TINY,
                   match=f"--out {existing}: the run directory is not writable", in_process=True)

    def read_only(path, *a, **k):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)

    monkeypatch.setattr(os, "makedirs", read_only)
    one_line_error(capsys, "train", "--text", text, "--out", str(tmp_path / "new"), *TINY,
                   match="cannot create the run directory: Read-only file system", in_process=True)


def test_a_signal_before_the_first_step_is_not_lost(tmp_path, text):
    """Ctrl-C while jax loads and compiles (the first seconds) stops the run with a checkpoint."""
    out = str(tmp_path / "run")
    proc = _start(out, text, "--steps", "100000")
    time.sleep(0.5)  # the command is importing jax: no step has run yet
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 130, err
    assert "interrupted at step" in err and "Traceback" not in err
    assert checkpoint.latest(out) is not None


def test_nan_in_padding_never_reaches_a_gradient_of_scan():
    import jax
    import jax.numpy as jnp

    import jaxrnn

    cell = jaxrnn.LSTMCell(4)
    params = cell.init(jax.random.key(0), 3)
    xs = jnp.ones((6, 3)).at[4:].set(jnp.nan)
    grads = jax.grad(lambda p: jnp.sum(jaxrnn.scan(cell, p, xs, seq_length=4)[0]))(params)
    assert all(np.isfinite(g).all() for g in jax.tree.leaves(grads))
