"""The run directory of ``jaxrnn train``: one writer at a time, metadata written atomically,
metrics read back even after a crash.

``config.json`` (the only place the vocabulary lives) is always replaced atomically, so a kill at
any moment leaves the old or the new file. ``metrics.jsonl`` is appended to line by line; a
crash can cut its last line short, which reading drops. The writer holds an exclusive lock on
``.lock`` for the whole run, so a second ``jaxrnn train`` on the same directory stops with one
line instead of mixing two runs, and temporary files a killed writer left are removed then.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import json
import os

LOCK = ".lock"
TEMPORARY = ".tmp-"  # what a write in progress is named: f"{path}{TEMPORARY}{pid}"


class RunDirError(ValueError):
    """A run directory that cannot be used: printed by the command as one line."""


def atomic_write(path: str, data: bytes) -> None:
    """Writes ``data`` to ``path`` so that a crash at any point leaves the old file or the new one,
    both complete: a temporary file in the same folder, fsync, ``os.replace``, fsync of the folder.

    Examples:
      >>> atomic_write("/tmp/example.txt", b"hello")
      >>> open("/tmp/example.txt").read()
      'hello'
    """
    folder = os.path.dirname(os.path.abspath(path))
    tmp = f"{path}{TEMPORARY}{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _os_error(what: str, e: OSError) -> RunDirError:
    return RunDirError(f"{what}: {e.strerror or e}")


def make(run_dir: str) -> None:
    """Creates ``run_dir`` (and its parents) or says in one line why it cannot."""
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise RunDirError(f"--out {run_dir}: exists and is not a directory")
    try:
        os.makedirs(run_dir, exist_ok=True)
    except OSError as e:
        raise _os_error(f"--out {run_dir}: cannot create the run directory", e) from None
    if not os.access(run_dir, os.W_OK):
        raise RunDirError(f"--out {run_dir}: the run directory is not writable")


@contextlib.contextmanager
def exclusive(run_dir: str):
    """Holds the run directory's lock for the block (creating the directory first), removes the
    temporary files of earlier writers, and releases the lock on exit (also on a crash: the OS
    drops it with the process).

    Raises:
      RunDirError: another process holds the lock, or the directory cannot be created.
    """
    make(run_dir)
    path = os.path.join(run_dir, LOCK)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise _os_error(f"--out {run_dir}: cannot create {LOCK}", e) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                raise _os_error(f"--out {run_dir}: cannot lock {LOCK}", e) from None
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise RunDirError(f"--out {run_dir} is in use by another jaxrnn train (process {holder}); "
                              "wait for it to finish or choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        remove_temporary(run_dir)
        yield
    finally:
        os.close(fd)  # releases the lock


def remove_temporary(run_dir: str) -> list[str]:
    """Removes the temporary files (``*.tmp-PID``) a killed writer left; call with the lock held."""
    stale = glob.glob(os.path.join(glob.escape(run_dir), f"*{TEMPORARY}*"))
    for path in stale:
        os.remove(path)
    return stale


def write_json(path: str, obj) -> None:
    """Replaces ``path`` with ``obj`` as JSON, atomically."""
    atomic_write(path, (json.dumps(obj, indent=1) + "\n").encode())


def read_json(path: str) -> dict:
    """Reads a JSON object from ``path``, or says in one line why it cannot."""
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except FileNotFoundError:
        raise RunDirError(f"{path}: no such file (is this a run directory?)") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RunDirError(f"{path}: not valid JSON") from None
    except OSError as e:
        raise _os_error(f"{path}: cannot read", e) from None
    if not isinstance(value, dict):
        raise RunDirError(f"{path}: expected a JSON object, got {type(value).__name__}")
    return value


def read_metrics(path: str) -> list[dict]:
    """The records of ``metrics.jsonl`` (none if it does not exist). Blank lines are skipped and a
    last line cut short by a crash is dropped; any other bad line is an error naming the line.

    Examples:
      >>> _ = open("/tmp/m.jsonl", "w").write('{"step": 1}\\n\\n{"step": 2}\\n{"st')
      >>> read_metrics("/tmp/m.jsonl")
      [{'step': 1}, {'step': 2}]
    """
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or not isinstance(record.get("step"), int):
                raise ValueError
        except ValueError:
            if number == len(lines):  # the unterminated last line of an interrupted write
                break
            raise RunDirError(f"{path}: line {number} is not a metrics record") from None
        records.append(record)
    return records


def trim_metrics(path: str, last_step: int) -> None:
    """Keeps the records up to ``last_step`` (a run resumed from its last checkpoint), atomically."""
    if os.path.exists(path):
        keep = [r for r in read_metrics(path) if r["step"] <= last_step]
        atomic_write(path, "".join(json.dumps(r) + "\n" for r in keep).encode())
