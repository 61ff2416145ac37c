"""Character corpora: the default corpus, a vocabulary, and batches that are a function of the step.

The default corpus needs no download: the Python standard library's own ``.py`` sources, read in
sorted path order (``site-packages`` and test directories skipped) up to ``DEFAULT_MAX_CHARS``.

Batches for truncated BPTT: the training ids are cut into ``B`` contiguous streams; step ``s``
reads chunk ``(s + shift) mod n_chunks`` of ``T`` characters from every stream, where ``shift`` is
derived from the seed. So the data order is a pure function of ``(seed, step)``, consecutive steps
continue each row's text (the recurrent state can be carried over), and ``reset`` is True exactly
when the streams wrap around to their beginning.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
import sysconfig

import numpy as np

from jaxrnn import _checks

DEFAULT_MAX_CHARS = 2_000_000
MAX_TEXT_BYTES = 1 << 31  # a --text file's size at most (the ids of a larger one would not fit)


class DataError(ValueError):
    """A corpus that cannot be used (missing, empty, not UTF-8, too short)."""


def stdlib_files() -> list[str]:
    """The standard library's ``.py`` files in sorted order, without site-packages and tests."""
    root = sysconfig.get_paths()["stdlib"]
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in ("site-packages", "test", "tests", "__pycache__")
                   and not d.startswith("idle_test")]
        found.extend(os.path.join(folder, f) for f in files if f.endswith(".py"))
    return sorted(found, key=lambda p: os.path.relpath(p, root))


def default_corpus(max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """The first ``max_chars`` characters of the concatenated stdlib sources (see module doc).

    Examples:
      >>> len(default_corpus(1000))
      1000
    """
    _checks.positive_int("max_chars", max_chars)
    parts, total = [], 0
    for path in stdlib_files():
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (UnicodeDecodeError, OSError):
            continue
        parts.append(text)
        total += len(text)
        if total >= max_chars:
            break
    return "".join(parts)[:max_chars]


def read_text(path: str) -> str:
    """Reads a UTF-8 text file (at most ``MAX_TEXT_BYTES``), raising :class:`DataError` with a
    one-line message otherwise: a folder, a device, a FIFO (never waited on) or a file too large
    is named as such.

    Examples:
      >>> read_text("/no/such/file")
      Traceback (most recent call last):
      jaxrnn.app.corpus.DataError: --text /no/such/file: no such file
      >>> read_text("/dev/null")
      Traceback (most recent call last):
      jaxrnn.app.corpus.DataError: --text /dev/null: a character device, not a regular file
    """
    from jaxrnn.app.rundir import kind

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise DataError(f"--text {path}: no such file") from None
    except OSError as e:
        raise DataError(f"--text {path}: cannot read ({e.strerror})") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise DataError(f"--text {path}: a folder, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise DataError(f"--text {path}: {kind(info.st_mode)}, not a regular file")
        if info.st_size > MAX_TEXT_BYTES:
            raise DataError(f"--text {path}: {info.st_size:,} bytes, more than the {MAX_TEXT_BYTES:,} "
                            "jaxrnn train reads")
        os.set_blocking(fd, True)
        with os.fdopen(os.dup(fd), "rb") as f:
            raw = f.read(MAX_TEXT_BYTES + 1)
    except OSError as e:
        raise DataError(f"--text {path}: cannot read ({e.strerror})") from None
    finally:
        os.close(fd)
    if len(raw) > MAX_TEXT_BYTES:
        raise DataError(f"--text {path}: more than the {MAX_TEXT_BYTES:,} bytes jaxrnn train reads")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"--text {path}: not UTF-8 text (invalid byte at offset {e.start})") from None
    if not text:
        raise DataError(f"--text {path}: the file is empty")
    return text


def fingerprint(text: str) -> dict:
    """The size and SHA-256 of ``text`` in UTF-8 (a ``--text`` file's bytes), as ``config.json``
    keeps them, so that a text edited in place is caught on resume.

    Examples:
      >>> fingerprint("abc")["corpus_bytes"], fingerprint("abc")["corpus_sha256"][:8]
      (3, 'ba7816bf')
    """
    data = text.encode("utf-8")
    return {"corpus_bytes": len(data), "corpus_sha256": hashlib.sha256(data).hexdigest()}


@dataclasses.dataclass(frozen=True)
class Vocab:
    """A character vocabulary: ``chars[i]`` is the character with id ``i`` (sorted).

    Examples:
      >>> v = Vocab.from_text("hello")
      >>> v.chars, v.encode("hole").tolist(), v.decode([1, 3])
      ('ehlo', [1, 3, 2, 0], 'ho')
    """

    chars: str

    @classmethod
    def from_text(cls, text: str) -> Vocab:
        return cls("".join(sorted(set(text))))

    @property
    def size(self) -> int:
        return len(self.chars)

    def encode(self, text: str, name: str = "text") -> np.ndarray:
        """``text`` -> ``(len(text),)`` int32 ids; unknown characters raise ``ValueError``."""
        index = {c: i for i, c in enumerate(self.chars)}
        unknown = sorted(set(text) - index.keys())
        if unknown:
            raise ValueError(f"{name} contains characters not in the vocabulary: "
                             f"{''.join(unknown)[:20]!r}")
        return np.array([index[c] for c in text], dtype=np.int32)

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)


def split(ids: np.ndarray, valid_fraction: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Splits ids into (train, held-out) with the last ``valid_fraction`` held out."""
    if not 0 < valid_fraction < 1:
        raise ValueError(f"valid_fraction must be in (0, 1), got {valid_fraction}")
    cut = len(ids) - max(1, int(len(ids) * valid_fraction))
    return ids[:cut], ids[cut:]


def num_chunks(n_ids: int, batch_size: int, seq_len: int) -> int:
    """How many ``(batch_size, seq_len)`` chunks one pass over ``n_ids`` ids gives (>= 1 or error)."""
    chunks = (n_ids - 1) // batch_size // seq_len
    if chunks < 1:
        raise DataError(f"the text is too short for one batch: {n_ids} characters, need at least "
                        f"batch_size * seq_len + 1 = {batch_size * seq_len + 1}")
    return chunks


def batch_at(ids: np.ndarray, step: int, batch_size: int, seq_len: int, seed: int = 0):
    """The batch for ``step``: a pure function of ``(ids, step, batch_size, seq_len, seed)``.

    Returns:
      ``(x, y, reset)``: ``x, y: (B, T)`` int32 ids with ``y`` the next character of ``x``, and
      ``reset: (B,)`` bools, True where each row's stream starts again (carry must be reset).

    Examples:
      >>> x, y, reset = batch_at(np.arange(100), step=0, batch_size=2, seq_len=4)
      >>> x.shape, bool((y == x + 1).all())
      ((2, 4), True)
    """
    chunks = num_chunks(len(ids), batch_size, seq_len)
    stream = (len(ids) - 1) // batch_size
    shift = int(np.random.default_rng(seed).integers(chunks))
    c = (step + shift) % chunks
    starts = np.arange(batch_size) * stream + c * seq_len
    idx = starts[:, None] + np.arange(seq_len + 1)[None, :]
    window = np.asarray(ids)[idx]
    reset = np.full((batch_size,), c == 0 or step == 0)
    return window[:, :-1].astype(np.int32), window[:, 1:].astype(np.int32), reset
