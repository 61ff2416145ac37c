"""The run directory of ``jaxrnn train``: one writer at a time, metadata written atomically,
metrics read back even after a crash.

``config.json`` (the only place the vocabulary lives) is always replaced atomically, so a kill at
any moment leaves the old or the new file. ``metrics.jsonl`` is appended to line by line, each
line written whole and fsynced before the next step (:class:`LineLog`), so a finished line is never
lost; a kill can cut the last line short, which reading drops and a resume removes
(:func:`trim_metrics` rewrites the file atomically). The writer holds an exclusive lock on
``.lock`` for the whole run, so a second ``jaxrnn train`` on the same directory stops with one
line instead of mixing two runs, and temporary files a killed writer left are removed then.

Every file of a run directory is opened as a regular file, never through a symbolic link and
never blocking on a FIFO or a device (:func:`open_file`), and read with a size cap
(:func:`read_file`): a copied or crafted run directory cannot make the command write outside it,
read without end or hang; anything else is refused in one line naming the file.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import json
import os
import stat

LOCK = ".lock"
CHECKPOINTS = "ckpt-*.msgpack"  # the checkpoints' names (jaxrnn.app.checkpoint writes them)
TEMPORARY = ".tmp-"  # what a write in progress is named: f"{path}{TEMPORARY}{pid}"
CONFIG_CAP = 64 << 20  # bytes: config.json (a vocabulary of 1,048,576 escaped characters fits)
METRICS_CAP = 256 << 20  # bytes: metrics.jsonl (millions of records)


class RunDirError(ValueError):
    """A run directory that cannot be used: printed by the command as one line."""


def _os_error(what: str, e: OSError) -> RunDirError:
    return RunDirError(f"{what}: {e.strerror or e}")


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link"))


def kind(mode: int) -> str:
    """What a file of ``st_mode`` ``mode`` is, in words (``"a regular file"``, ``"a FIFO"``, ...)."""
    return next((name for test, name in _KINDS if test(mode)), "a regular file" if stat.S_ISREG(mode)
                else "not a regular file")


def open_file(path: str, flags: int = os.O_RDONLY, what: str | None = None) -> int:
    """Opens ``path`` as a regular file and returns its descriptor: never through a symbolic link
    (``O_NOFOLLOW``), never blocking (``O_NONBLOCK``: a FIFO or a device is opened, seen by
    ``fstat`` and refused), and for writing never a file with other hard links (a user's file
    linked into the run directory). ``what`` names the file in messages (default: ``path``).

    Raises:
      FileNotFoundError: ``path`` does not exist (and ``flags`` do not create it).
      RunDirError: ``path`` is a symbolic link, a folder, a FIFO, a device, a file with other hard
        links (for writing), or cannot be opened.

    Examples:
      >>> os.close(open_file("/tmp/example.txt", os.O_WRONLY | os.O_CREAT))
      >>> open_file("/dev/null")
      Traceback (most recent call last):
      jaxrnn.app.rundir.RunDirError: /dev/null: a character device, not a regular file; a run directory holds only regular files (remove it)
    """
    what = what or path
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except FileNotFoundError:
        raise
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise RunDirError(f"{what}: a symbolic link; a run directory holds only regular files, and "
                              "jaxrnn never follows a link there (remove it)") from None
        if e.errno in (errno.EISDIR, errno.ENXIO):  # a folder opened for writing, a FIFO without reader
            mode = os.lstat(path).st_mode
            raise RunDirError(f"{what}: {kind(mode)}, not a regular file; a run directory holds only "
                              "regular files (remove it)") from None
        raise _os_error(f"{what}: cannot open", e) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise RunDirError(f"{what}: {kind(info.st_mode)}, not a regular file; a run directory holds only "
                          "regular files (remove it)")
    if flags & (os.O_WRONLY | os.O_RDWR) and info.st_nlink > 1:  # writing would change another file
        os.close(fd)
        raise RunDirError(f"{what}: a file with {info.st_nlink} hard links; jaxrnn writes only files of "
                          "its own in a run directory (remove it)")
    os.set_blocking(fd, True)
    return fd


def read_file(path: str, cap: int, what: str | None = None) -> bytes:
    """The bytes of the regular file ``path`` (see :func:`open_file`), at most ``cap`` of them.

    Raises:
      FileNotFoundError: no such file.
      RunDirError: not a regular file, unreadable, or larger than ``cap`` bytes (never read then).

    Examples:
      >>> atomic_write("/tmp/example.txt", b"hello")
      >>> read_file("/tmp/example.txt", cap=5)
      b'hello'
    """
    what = what or path
    fd = open_file(path, os.O_RDONLY, what)
    try:
        size = os.fstat(fd).st_size
        if size > cap:
            raise RunDirError(f"{what}: {size:,} bytes, more than the {cap:,} such a file may have; "
                              "not reading it")
        chunks, total = [], 0
        while total <= cap:  # a file that grows while it is read stops at its cap too
            chunk = os.read(fd, min(1 << 24, cap + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > cap:
            raise RunDirError(f"{what}: more than the {cap:,} bytes such a file may have; not reading it")
        return b"".join(chunks)
    except OSError as e:
        raise _os_error(f"{what}: cannot read", e) from None
    finally:
        os.close(fd)


def atomic_write(path: str, data: bytes) -> None:
    """Writes ``data`` to ``path`` so that a crash at any point leaves the old file or the new one,
    both complete: a temporary file in the same folder (created, never followed if it is a link),
    fsync, ``os.replace`` (which replaces a symbolic link at ``path``, never writes through it),
    fsync of the folder.

    Raises:
      RunDirError: the write failed (disk full, file too large, read-only...), naming ``path``.

    Examples:
      >>> atomic_write("/tmp/example.txt", b"hello")
      >>> open("/tmp/example.txt").read()
      'hello'
    """
    folder = os.path.dirname(os.path.abspath(path))
    tmp = f"{path}{TEMPORARY}{os.getpid()}"
    try:
        try:
            if os.path.lexists(tmp):  # left by a killed writer that had this process id
                os.remove(tmp)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            if os.path.lexists(tmp):
                os.remove(tmp)
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as e:
        raise _os_error(f"{path}: cannot write", e) from None


class LineLog:
    """A file that lines are appended to (``metrics.jsonl``), opened by :func:`append_file`.

    Appended, not rewritten atomically per line: a rewrite would copy the whole file at every line
    (quadratic in the run's length). Each line is instead one ``O_APPEND`` write of the whole line
    and an fsync, so that a finished line survives a kill or a power cut; a write that fails is
    truncated back (no torn line is left), and a line cut short by a kill in the middle of its
    write is the file's unterminated last line, which :func:`read_metrics` drops and
    :func:`trim_metrics` removes on resume. A context manager; ``write`` raises
    :class:`RunDirError` naming the file.
    """

    def __init__(self, fd: int, path: str):
        self.fd, self.path = fd, path

    def write(self, line: str) -> None:
        """Appends ``line`` (which ends with a newline) and fsyncs it."""
        end = os.lseek(self.fd, 0, os.SEEK_END)
        try:
            data = memoryview(line.encode("utf-8"))
            while data:
                data = data[os.write(self.fd, data):]
            os.fsync(self.fd)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, end)
            raise _os_error(f"{self.path}: cannot write", e) from None

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def append_file(path: str) -> LineLog:
    """``path`` opened for appending lines (created if missing; a regular file of its own, see
    :func:`open_file`), as a :class:`LineLog`."""
    return LineLog(open_file(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT), path)


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


def unused(base: str) -> str:
    """``base`` if nothing is there (or an empty folder), else the first of ``base-2``, ``base-3``,
    ... with nothing there: where a run goes when no ``--out`` is named.

    Examples:
      >>> unused("/no/such/folder")
      '/no/such/folder'
    """
    candidate, n = base, 1
    while not _free(candidate):
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def _free(path: str) -> bool:
    """Nothing at ``path``, or an empty folder (not a link)."""
    if not os.path.lexists(path):
        return True
    return os.path.isdir(path) and not os.path.islink(path) and not os.listdir(path)


def make_folder(path: str) -> str:
    """Creates the folder ``path`` of a run directory, or checks the one there: a folder, never a
    symbolic link (which would lead the files written in it elsewhere); returns ``path``.

    Raises:
      RunDirError: ``path`` is a link or no folder, or cannot be created (naming it).

    Examples:
      >>> make_folder("/tmp/example-folder")
      '/tmp/example-folder'
    """
    try:
        os.mkdir(path)
    except FileExistsError:
        mode = os.lstat(path).st_mode
        if not stat.S_ISDIR(mode):
            raise RunDirError(f"{path}: {kind(mode)}, not a folder; jaxrnn writes only into folders of its "
                              "own in a run directory (remove it)") from None
    except OSError as e:
        raise _os_error(f"{path}: cannot create the folder", e) from None
    return path


@contextlib.contextmanager
def exclusive(run_dir: str):
    """Holds the run directory's lock for the block (creating the directory first), removes the
    temporary files of earlier writers, and releases the lock on exit (also on a crash: the OS
    drops it with the process).

    A start that fails (an exception out of the block) takes its claim back: the lock file it
    created is removed, and so is the directory if this call created it and it is still empty.

    Raises:
      RunDirError: another process holds the lock, or the directory cannot be created.
    """
    fresh = not os.path.lexists(run_dir)
    make(run_dir)
    path = os.path.join(run_dir, LOCK)
    new_lock = not os.path.lexists(path)
    try:
        fd = open_file(path, os.O_RDWR | os.O_CREAT, f"--out {run_dir}: {LOCK}")
    except FileNotFoundError as e:  # a path component vanished
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
        try:
            yield
        except BaseException:
            if new_lock:
                _take_back(run_dir, path, fresh)
            raise
    finally:
        os.close(fd)  # releases the lock


def _take_back(run_dir: str, lock: str, fresh: bool) -> None:
    """Removes the lock file a failed start created, and ``run_dir`` if it created that too and
    nothing else is in it."""
    with contextlib.suppress(OSError):
        os.remove(lock)
        if fresh:
            os.rmdir(run_dir)  # only if empty


def remove_temporary(run_dir: str) -> list[str]:
    """Removes the temporary files (``*.tmp-PID``) a killed writer left; call with the lock held."""
    stale = glob.glob(os.path.join(glob.escape(run_dir), f"*{TEMPORARY}*"))
    for path in stale:
        try:
            os.remove(path)  # a link is removed, never followed
        except OSError as e:
            raise _os_error(f"{path}: a temporary file that cannot be removed", e) from None
    return stale


def write_json(path: str, obj) -> None:
    """Replaces ``path`` with ``obj`` as JSON, atomically."""
    atomic_write(path, (json.dumps(obj, indent=1) + "\n").encode())


def read_json(path: str, cap: int = CONFIG_CAP) -> dict:
    """Reads a JSON object from ``path`` (at most ``cap`` bytes), or says in one line why it cannot."""
    try:
        value = json.loads(read_file(path, cap).decode("utf-8"))
    except FileNotFoundError:
        raise RunDirError(f"{path}: no such file (is this a run directory?)") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise RunDirError(f"{path}: not valid JSON") from None
    if not isinstance(value, dict):
        raise RunDirError(f"{path}: expected a JSON object, got {type(value).__name__}")
    return value


def read_metrics(path: str) -> list[dict]:
    """The records of ``metrics.jsonl`` (none if it does not exist; at most ``METRICS_CAP``
    bytes). Blank lines are skipped and a last line cut short by a crash is dropped; any other
    bad line (not JSON, or without an integer ``step`` and a number ``loss``) is an error naming
    the line.

    Examples:
      >>> _ = open("/tmp/m.jsonl", "w").write('{"step": 1, "loss": 2.5}\\n\\n{"step": 2, "loss": 2.0}\\n{"st')
      >>> [r["step"] for r in read_metrics("/tmp/m.jsonl")]
      [1, 2]
    """
    try:
        lines = read_file(path, METRICS_CAP).decode("utf-8", errors="replace").split("\n")
    except FileNotFoundError:
        return []
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not _is_record(record):
                raise ValueError
        except (ValueError, RecursionError):
            if number == len(lines):  # the unterminated last line of an interrupted write
                break
            raise RunDirError(f"{path}: line {number} is not a metrics record (a JSON object with an "
                              "integer step and a number loss); fix or remove that line") from None
        records.append(record)
    return records


def _is_record(record) -> bool:
    def number(x):
        return isinstance(x, (int, float)) and not isinstance(x, bool)

    return (isinstance(record, dict) and isinstance(record.get("step"), int)
            and not isinstance(record["step"], bool) and number(record.get("loss")))


def trim_metrics(path: str, last_step: int) -> None:
    """Keeps the records up to ``last_step`` (a run resumed from its last checkpoint), atomically."""
    if os.path.lexists(path):
        keep = [r for r in read_metrics(path) if r["step"] <= last_step]
        atomic_write(path, "".join(json.dumps(r) + "\n" for r in keep).encode())
