"""Runs as data: ``metrics.jsonl`` (each line whole and fsynced, a torn last line dropped and
removed on resume, a kill losing no finished line; wall time, learning rate and throughput),
``loss.png`` with a smoothed curve over the raw one, ``jaxrnn.load_run`` and ``--tensorboard``."""

import errno
import json
import os
import pathlib
import re
import struct
import sys
import time

import pytest

from jaxrnn.app import checkpoint, report, rundir
from jaxrnn.app.charlm import BITS
from tests.app.commands import TINY, one_line_error, records, run
from tests.app.test_run_safety import _start, _wait_for_steps


def _line(step):
    return json.dumps({"step": step, "loss": 1.0 / step, "wall_time": 1.75e9 + step}) + "\n"


def test_a_metrics_line_is_written_whole_and_fsynced_and_a_failed_write_is_undone(tmp_path, monkeypatch):
    path = str(tmp_path / "metrics.jsonl")
    real_write, real_fsync, synced = os.write, os.fsync, []
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    with rundir.append_file(path) as log:
        log.write(_line(1))
        assert synced == [log.fd]  # on disk before the next step

        def disk_fills_up(fd, data):  # the first 5 bytes of the line, then no space
            if fd != log.fd:
                return real_write(fd, data)
            if os.fstat(fd).st_size == len(_line(1)):
                return real_write(fd, bytes(data[:5]))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(os, "write", disk_fills_up)
        with pytest.raises(rundir.RunDirError, match=f"^{re.escape(path)}: cannot write: No space left on device$"):
            log.write(_line(2))
    assert pathlib.Path(path).read_text() == _line(1)  # no torn line left behind


def test_a_line_cut_at_any_byte_is_dropped_on_read_and_removed_on_resume(tmp_path):
    path = str(tmp_path / "metrics.jsonl")
    whole, last = _line(1) + _line(2) + _line(3), _line(4)
    for cut in range(1, len(last)):
        with open(path, "w") as f:
            f.write(whole + last[:cut])
        complete = cut == len(last) - 1  # all but its newline: a whole record, kept
        assert [r["step"] for r in rundir.read_metrics(path)] == [1, 2, 3, 4][:3 + complete]
        rundir.trim_metrics(path, 10)  # what a resume does first
        assert pathlib.Path(path).read_text() == whole + last * complete


def test_a_kill_at_any_moment_loses_no_finished_line_and_resumes(capsys, tmp_path, text):
    out = str(tmp_path / "run")
    proc = _start(out, text, "--steps", "100000", "--save-every", "7")
    _wait_for_steps(proc)
    deadline = time.monotonic() + 120
    while checkpoint.latest(out) is None and time.monotonic() < deadline:  # killed past a checkpoint
        time.sleep(0.05)
    proc.kill()  # SIGKILL: no handler runs, no checkpoint is saved
    proc.communicate(timeout=120)
    lines = pathlib.Path(out, "metrics.jsonl").read_text().split("\n")
    steps = [json.loads(line)["step"] for line in lines[:-1]]  # every finished line is whole
    assert steps == list(range(1, len(steps) + 1)) and steps
    saved = checkpoint.step_of(checkpoint.latest(out))
    assert len(steps) >= saved >= 7  # the lines after the checkpoint are the resume's to redo
    rc, _, err = run(capsys, "train", "--out", out, "--resume", "--steps", str(saved + 3))
    assert rc == 0, err
    assert [r["step"] for r in records(out)] == list(range(1, saved + 4))


def test_metrics_records_hold_wall_time_learning_rate_and_throughput(trained):
    rows = records(trained, timing=True)
    assert [r["step"] for r in rows] == list(range(1, 31)) and all(r["lr"] == 0.01 for r in rows)
    times = [r["wall_time"] for r in rows]
    assert time.time() - 3600 < times[0] <= times[-1] <= time.time()  # Unix time, in order
    assert rows[0]["chars_per_s"] is None  # the first step's time is compilation
    assert all(r["chars_per_s"] > 0 for r in rows[1:])


def test_loss_png_draws_a_smoothed_curve_over_the_raw_one(tmp_path, monkeypatch):
    import matplotlib.axes
    import numpy as np

    noisy = 2.0 + 0.5 * np.random.default_rng(0).standard_normal(200)
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps({"step": s + 1, "loss": float(v)}) + "\n"
                                                    for s, v in enumerate(noisy)))
    drawn, real = {}, matplotlib.axes.Axes.plot

    def spy(ax, x, y, *args, **kwargs):  # the curves plot draws, by label
        drawn[kwargs["label"]] = list(y)
        return real(ax, x, y, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "plot", spy)
    path = report.plot(str(tmp_path))
    assert pathlib.Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    raw, smooth = drawn["train"], drawn[f"train, smoothed (EMA {report.SMOOTHING})"]
    assert np.allclose(raw, noisy * BITS) and smooth == report.smoothed(raw, report.SMOOTHING)
    assert np.std(np.diff(smooth)) < 0.2 * np.std(np.diff(raw))  # over the raw curve, much calmer


def test_load_run_gives_the_model_params_and_config_of_a_trained_run(trained, text):
    import jax
    import jax.numpy as jnp

    import jaxrnn
    from jaxrnn.app import charlm, corpus

    chars = pathlib.Path(text).read_text()
    model, params, config = jaxrnn.load_run(pathlib.Path(trained))  # a str or any os.PathLike
    assert config["steps"] == 30 and config["lr"] == 0.01 and config["vocab"] == "".join(sorted(set(chars)))
    assert model == charlm.CharLM(len(config["vocab"]), "lstm", 16)
    fresh = model.init(jax.random.key(0))
    assert jax.tree.structure(params) == jax.tree.structure(fresh)
    assert all(isinstance(p, jax.Array) and p.shape == f.shape
               for p, f in zip(jax.tree.leaves(params), jax.tree.leaves(fresh), strict=True))
    ids = corpus.Vocab(config["vocab"]).encode(chars)
    assert charlm.bits_per_char(model, params, ids) < charlm.bits_per_char(model, fresh, ids) - 0.5  # trained
    logits, _ = model.apply(params, jnp.array([[config["vocab"].index(c) for c in "def "]]))
    assert logits.shape == (1, 4, len(config["vocab"]))


def test_load_run_names_what_is_missing(tmp_path, trained):
    import jaxrnn

    with pytest.raises(ValueError, match=f"^{re.escape(str(tmp_path / 'none'))}/config.json: no such file"):
        jaxrnn.load_run(str(tmp_path / "none"))
    (tmp_path / "fresh").mkdir()
    (tmp_path / "fresh" / "config.json").write_bytes(pathlib.Path(trained, "config.json").read_bytes())
    with pytest.raises(ValueError, match=r"fresh: no checkpoint \(ckpt-\*\.msgpack\) found"):
        jaxrnn.load_run(str(tmp_path / "fresh"))
    with pytest.raises(TypeError, match="path must be a run directory's name .str or os.PathLike., got int"):
        jaxrnn.load_run(3)


def _scalars(folder):
    """``{tag: {step: (value, wall_time)}}`` of the TensorBoard event files in ``folder`` (TFRecords:
    length, its CRC, an ``Event``, its CRC)."""
    from tensorboardX.proto import event_pb2

    found = {}
    for name in sorted(os.listdir(folder)):
        data, at = pathlib.Path(folder, name).read_bytes(), 0
        while at < len(data):
            (size,) = struct.unpack("<Q", data[at:at + 8])
            event = event_pb2.Event.FromString(data[at + 12:at + 12 + size])
            at += 12 + size + 4
            for value in event.summary.value:
                found.setdefault(value.tag, {})[event.step] = (value.simple_value, event.wall_time)
    return found


def test_tensorboard_gets_the_metrics_records(capsys, tmp_path, text):
    out = str(tmp_path / "run")
    rc, _, err = run(capsys, "train", "--text", text, "--out", out, "--steps", "3", "--tensorboard", *TINY)
    assert rc == 0, err
    scalars = _scalars(os.path.join(out, "tensorboard"))
    assert set(scalars) == {"loss", "grad_norm", "lr", "chars_per_s", "val_bpc"}
    for row in records(out, timing=True):
        for tag in scalars:
            if row.get(tag) is not None:
                value, wall_time = scalars[tag][row["step"]]
                assert value == pytest.approx(row[tag], rel=1e-6) and wall_time == pytest.approx(row["wall_time"])


def test_tensorboard_without_tensorboardx_or_into_a_link_is_refused_in_one_line(capsys, tmp_path, text, monkeypatch):
    from jaxrnn.app import board

    os.symlink(tmp_path, tmp_path / "tensorboard")
    with pytest.raises(rundir.RunDirError, match=f"^{tmp_path}/tensorboard: a symbolic link, not a folder"):
        board.Board(str(tmp_path), 0)
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # as if it were not installed
    one_line_error(capsys, "train", "--text", text, "--out", str(tmp_path / "run"), "--tensorboard", *TINY,
                   in_process=True, match="--tensorboard needs tensorboardX, which is not installed: "
                                          "pip install 'jaxrnn[tensorboard]'")
    assert not os.path.exists(tmp_path / "run")  # refused before the run directory is claimed
