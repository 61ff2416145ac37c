"""A run directory nobody can turn against its owner: it is always the one named on the command
line, its files are regular files (never followed through a link, never a FIFO or a device, never
read beyond a cap), a folder of another run's files is refused rather than pruned or truncated,
and step numbers of any size round-trip through checkpoint names."""

import faulthandler
import functools
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from jaxrnn.app import checkpoint, rundir
from tests.app.commands import TINY, one_line_error, run

error = None  # set per test: one_line_error in this process (the outcomes are the files')


@pytest.fixture(autouse=True)
def _in_process(capsys):
    global error
    error = functools.partial(one_line_error, capsys, in_process=True)
    faulthandler.dump_traceback_later(600, exit=True, file=sys.__stderr__)  # a blocked read fails here
    yield
    faulthandler.cancel_dump_traceback_later()


def _copy(trained, tmp_path, name="run"):
    return shutil.copytree(trained, str(tmp_path / name), symlinks=True)


def _snapshot(folder):
    return {n: os.stat(os.path.join(folder, n)).st_mtime_ns for n in os.listdir(folder)}


@pytest.mark.parametrize("stored", ["elsewhere", "../../escaped"])
def test_the_out_stored_in_config_json_never_redirects_a_run(capsys, tmp_path, trained, stored):
    out = _copy(trained, tmp_path)
    before = _snapshot(trained)
    path = os.path.join(out, "config.json")
    config = json.loads(Path(path).read_text())
    Path(path).write_text(json.dumps({**config, "out": stored if stored[0] == "." else trained}))
    rc, _, err = run(capsys, "train", "--out", out, "--resume", "--steps", "31")
    assert rc == 0, err
    assert checkpoint.latest(out).endswith("ckpt-00000031.msgpack")
    assert json.loads(Path(path).read_text())["out"] == out
    assert _snapshot(trained) == before  # the run the config pointed at is untouched
    assert not os.path.exists(os.path.join(out, stored)) and not os.path.exists(tmp_path / "escaped")


def _notes(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    return notes


def test_a_lock_that_is_a_symbolic_link_or_a_fifo_is_refused(tmp_path, text):
    notes = _notes(tmp_path)
    out = tmp_path / "run"
    out.mkdir()
    os.symlink(notes, out / ".lock")
    error("train", "--text", text, "--out", str(out), *TINY, match=".lock: a symbolic link")
    assert notes.read_text() == "my notes\n"
    os.remove(out / ".lock")
    os.mkfifo(out / ".lock")
    error("train", "--text", text, "--out", str(out), *TINY, match=".lock: a FIFO, not a regular file")


def test_a_lock_or_metrics_file_with_other_hard_links_is_never_written(capsys, tmp_path, trained, text):
    notes = _notes(tmp_path)
    out = tmp_path / "run"
    out.mkdir()
    os.link(notes, out / ".lock")
    error("train", "--text", text, "--out", str(out), *TINY, match=".lock: a file with 2 hard links")
    assert notes.read_text() == "my notes\n"
    copy = _copy(trained, tmp_path, "copy")
    os.remove(os.path.join(copy, "metrics.jsonl"))
    notes.write_text('{"step": 1, "loss": 3.0}\n')
    os.link(notes, os.path.join(copy, "metrics.jsonl"))  # trimmed on resume: replaced, never written into
    rc, _, err = run(capsys, "train", "--out", copy, "--resume", "--steps", "31")
    assert rc == 0, err
    assert notes.read_text() == '{"step": 1, "loss": 3.0}\n'
    assert os.stat(os.path.join(copy, "metrics.jsonl")).st_nlink == 1
    with pytest.raises(rundir.RunDirError, match=r"linked: a file with \d hard links"):
        os.link(notes, tmp_path / "linked")
        rundir.append_file(str(tmp_path / "linked"))


def test_a_loss_png_that_is_a_link_is_replaced_never_written_through(capsys, tmp_path, trained):
    notes = _notes(tmp_path)
    out = _copy(trained, tmp_path)
    os.remove(os.path.join(out, "loss.png"))
    os.symlink(notes, os.path.join(out, "loss.png"))
    assert run(capsys, "train", "--out", out, "--resume", "--steps", "31")[0] == 0
    assert notes.read_text() == "my notes\n"
    assert not os.path.islink(os.path.join(out, "loss.png"))
    assert Path(out, "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _replace(path, how, tmp_path):
    """Replaces the file ``path`` by a link to a copy of it, a link to /dev/zero, or a FIFO."""
    if how == "fifo":
        os.remove(path)
        os.mkfifo(path)
        return
    target = "/dev/zero" if how == "/dev/zero" else shutil.copy(path, tmp_path / "copy")
    os.remove(path)
    os.symlink(target, path)


WHAT = {"link": "a symbolic link", "/dev/zero": "a symbolic link", "fifo": "a FIFO, not a regular file"}


@pytest.mark.parametrize("how", ["link", "/dev/zero", "fifo"])
@pytest.mark.parametrize("name", ["config.json", "metrics.jsonl", "checkpoint"])
def test_run_files_that_are_links_or_fifos_are_refused_without_reading_them(tmp_path, trained, name, how):
    out = _copy(trained, tmp_path)
    path = checkpoint.latest(out) if name == "checkpoint" else os.path.join(out, name)
    _replace(path, how, tmp_path)
    error("train", "--out", out, "--resume", "--steps", "31", match=f"{path}: {WHAT[how]}")
    if name != "metrics.jsonl":  # sample reads the config and the checkpoint
        error("sample", "--run", out, match=f"{path}: {WHAT[how]}")


@pytest.mark.parametrize("name,cap", [("config.json", rundir.CONFIG_CAP), ("metrics.jsonl", rundir.METRICS_CAP)])
def test_run_files_larger_than_their_cap_are_refused_unread(tmp_path, trained, name, cap):
    out = _copy(trained, tmp_path)
    path = os.path.join(out, name)
    with open(path, "ab") as f:  # sparse: no disk used
        f.truncate(cap + 1)
    error("train", "--out", out, "--resume", "--steps", "31",
          match=f"{path}: {cap + 1:,} bytes, more than the {cap:,} such a file may have")


def test_a_folder_with_checkpoints_but_no_config_is_refused_never_pruned(tmp_path, trained, text):
    out = tmp_path / "run"
    out.mkdir()
    stale = shutil.copy(checkpoint.latest(trained), out / "ckpt-00000500.msgpack")
    error("train", "--text", text, "--out", str(out), "--save-every", "1", "--keep", "1", *TINY,
          match=f"--out {out} holds 1 checkpoint (ckpt-00000500.msgpack...) but no config.json, so it is "
                "no run jaxrnn can continue or overwrite; move those files away or choose another --out")
    assert os.listdir(out) == ["ckpt-00000500.msgpack"]  # and the refused start took its lock back
    assert Path(stale).read_bytes() == Path(checkpoint.latest(trained)).read_bytes()


def test_a_folder_with_metrics_but_no_config_is_refused_never_truncated(tmp_path, text):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.jsonl").write_text('{"step": 1, "loss": 3.0}\n')
    error("train", "--text", text, "--out", str(out), *TINY, match="holds metrics.jsonl but no config.json")
    assert (out / "metrics.jsonl").read_text() == '{"step": 1, "loss": 3.0}\n'


def test_step_numbers_of_any_size_round_trip_through_checkpoint_names(capsys, tmp_path, trained):
    state = {"w": [1.0, 2.0], "step": 0}
    folder = str(tmp_path / "names")
    os.makedirs(folder)
    for step in (99_999_999, 100_000_002, 100_000_003, 12):
        checkpoint.save_step(folder, step, {**state, "step": step}, keep=2)
    assert [os.path.basename(p) for p in checkpoint.list_checkpoints(folder)] == [
        "ckpt-100000002.msgpack", "ckpt-100000003.msgpack"]  # 12, saved last, is older: pruned
    assert checkpoint.step_of(checkpoint.latest(folder)) == 100_000_003

    out = _copy(trained, tmp_path)
    from tests.app.test_cli_inputs import _rewrite

    big = checkpoint.path_for(out, 100_000_002)
    shutil.copy(checkpoint.latest(out), big)
    _rewrite(big, lambda raw: {**raw, "step": 100_000_002})
    assert checkpoint.latest(out) == big
    rc, _, err = run(capsys, "train", "--out", out, "--resume", "--steps", "100000002")
    assert rc == 0 and "resuming at step 100000002" in err, err


@pytest.mark.parametrize("existing", [False, True])
def test_a_failed_start_takes_its_claim_back(tmp_path, existing):
    """A start that fails leaves no lock and no directory it made: an unreadable --text is named
    before --out is claimed, and a failure after the claim (a text too short for one batch)
    removes the lock file and the directory it created."""
    out = tmp_path / "run"
    if existing:
        out.mkdir()
    error("train", "--text", str(tmp_path / "nope.txt"), "--out", str(out), match="no such file")
    assert sorted(os.listdir(out)) == [] if existing else not out.exists()
    short = tmp_path / "short.txt"
    short.write_text("abc\n" * 3)
    error("train", "--text", str(short), "--out", str(out), *TINY, match="too short")
    assert sorted(os.listdir(out)) == [] if existing else not out.exists()
