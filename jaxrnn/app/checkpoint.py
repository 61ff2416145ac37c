"""Safe checkpoints: msgpack (never pickle), a format version, a SHA-256 of the payload, atomic writes.

File layout: ``MAGIC`` (12 bytes) | format version (uint32, little endian) | SHA-256 of the
payload (32 bytes) | payload (``flax.serialization.msgpack_serialize`` of a state dict).

A save is an atomic write (:func:`jaxrnn.app.rundir.atomic_write`): a crash at any point leaves
either the old or the new file, both complete. Loading checks the magic, the version, the checksum (a flipped byte or a truncated
file is caught, never loaded) and that every leaf matches a template: arrays by shape and dtype
(the template may hold ``jax.ShapeDtypeStruct`` leaves, so that nothing is allocated before the
file is read), numbers and strings by type (a step of 4.5 is refused where the template has an
int). The file is read as a regular file, never through a link, and never beyond a size cap.

File names: ``ckpt-{step:08d}.msgpack``; steps of more than 8 digits make longer names, and
listing and pruning order them by step number.
"""

from __future__ import annotations

import glob
import hashlib
import math
import os
import re
import struct

import jax
import numpy as np
from flax import serialization

from jaxrnn.app import rundir
from jaxrnn.app.rundir import atomic_write

MAGIC = b"JAXRNN-CKPT\n"
VERSION = 1
_HEADER = len(MAGIC) + 4 + 32
_NAME = re.compile(r"ckpt-(\d{8,})\.msgpack")


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded: missing, corrupted, truncated or mismatched."""


def save(path: str, state) -> None:
    """Atomically writes ``state`` (a pytree of arrays, numbers, strings) to ``path``.

    Examples:
      >>> save("/tmp/ck.msgpack", {"w": np.ones(3), "step": 7})
      >>> load("/tmp/ck.msgpack", {"w": np.zeros(3), "step": 0})["step"]
      7
    """
    payload = serialization.msgpack_serialize(serialization.to_state_dict(state))
    atomic_write(path, MAGIC + struct.pack("<I", VERSION) + hashlib.sha256(payload).digest() + payload)


def _read_payload(path: str, limit: int) -> bytes:
    try:
        blob = rundir.read_file(path, limit, f"checkpoint {path}")
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path}: no such file") from None
    except rundir.RunDirError as e:
        raise CheckpointError(str(e)) from None
    if len(blob) < _HEADER:
        raise CheckpointError(f"checkpoint {path}: truncated ({len(blob)} bytes, header alone is "
                              f"{_HEADER})")
    if not blob.startswith(MAGIC):
        raise CheckpointError(f"checkpoint {path}: not a jaxrnn checkpoint (bad magic bytes)")
    (version,) = struct.unpack("<I", blob[len(MAGIC):len(MAGIC) + 4])
    if version != VERSION:
        raise CheckpointError(f"checkpoint {path}: format version {version}, this jaxrnn reads "
                              f"version {VERSION}")
    digest, payload = blob[len(MAGIC) + 4:_HEADER], blob[_HEADER:]
    if hashlib.sha256(payload).digest() != digest:
        raise CheckpointError(f"checkpoint {path}: SHA-256 mismatch, the file is corrupted or "
                              f"truncated")
    return payload


def _flat(tree, path: str = "") -> dict:
    """``{"a/b/0": leaf}`` for a state dict (whose keys are all strings)."""
    if isinstance(tree, dict):
        out = {}
        for k, v in tree.items():
            if not isinstance(k, str):
                raise CheckpointError(f"the state has a non-string key {k!r} under {path or 'the root'!r}")
            for sub, leaf in _flat(v, f"{path}/{k}" if path else k).items():
                out[f"{k}/{sub}" if sub else k] = leaf
        return out
    return {"": tree}


def _is_array(leaf) -> bool:
    return isinstance(leaf, (np.ndarray, np.generic, jax.Array, jax.ShapeDtypeStruct))


def _describe(leaf) -> str:
    """``"array (3, 4) float32"`` for an array (or its shape), else the type's name (``"int"``)."""
    if _is_array(leaf):
        return f"array {tuple(leaf.shape)} {np.dtype(leaf.dtype).name}"
    return type(leaf).__name__


def _nbytes(leaf) -> int:
    return math.prod(leaf.shape) * np.dtype(leaf.dtype).itemsize if _is_array(leaf) else 64


def load(path: str, template):
    """Loads ``path`` into the structure of ``template``: the same tree, arrays of the same shapes
    and dtypes, other leaves of the same types. ``template``'s arrays may be
    ``jax.ShapeDtypeStruct`` (e.g. from ``jax.eval_shape``): they are then numpy arrays as read.

    Raises:
      CheckpointError: missing, not a regular file, larger than such a state can be, truncated,
        corrupted, other version, or not matching ``template``.
    """
    want = _flat(serialization.to_state_dict(template))
    limit = 2 * sum(_nbytes(v) for v in want.values()) + (1 << 20)
    try:
        size = os.lstat(path).st_size
    except OSError:
        size = 0  # _read_payload says why the file cannot be read
    if size > limit:
        raise CheckpointError(f"checkpoint {path}: {size:,} bytes, more than the {limit:,} a state of "
                              "this model can take; not loading it")
    payload = _read_payload(path, limit)
    try:
        raw = serialization.msgpack_restore(payload)
    except Exception as e:  # noqa: BLE001 - the checksum passed: only a foreign writer's payload gets here
        raise CheckpointError(f"checkpoint {path}: unreadable payload ({type(e).__name__})") from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"checkpoint {path} does not match the model: it holds a {type(raw).__name__}, "
                              "not a state dict")
    try:
        got = _flat(raw)
    except CheckpointError as e:
        raise CheckpointError(f"checkpoint {path} does not match the model: {e}") from None
    if want.keys() != got.keys():
        missing = sorted(want.keys() - got.keys())[:3]
        extra = sorted(got.keys() - want.keys())[:3]
        raise CheckpointError(f"checkpoint {path} does not match the model: missing {missing}, "
                              f"unexpected {extra}")
    for name, leaf in want.items():
        if _describe(leaf) != _describe(got[name]):
            raise CheckpointError(f"checkpoint {path} does not match the model: {name} is "
                                  f"{_describe(got[name])} in the checkpoint, expected "
                                  f"{_describe(leaf)}")
    return serialization.from_state_dict(template, raw)


def path_for(run_dir: str, step: int) -> str:
    return os.path.join(run_dir, f"ckpt-{step:08d}.msgpack")


def step_of(path: str) -> int | None:
    """The step in a checkpoint's file name (``None`` for any other name).

    Examples:
      >>> step_of("runs/a/ckpt-100000002.msgpack"), step_of("runs/a/ckpt-1.msgpack")
      (100000002, None)
    """
    match = _NAME.fullmatch(os.path.basename(path))
    return int(match.group(1)) if match else None


def list_checkpoints(run_dir: str) -> list[str]:
    """Complete checkpoints in ``run_dir``, oldest first by step (temporary files are ignored)."""
    found = [(step_of(p), p) for p in glob.glob(os.path.join(glob.escape(run_dir), rundir.CHECKPOINTS))]
    return [p for _, p in sorted((step, p) for step, p in found if step is not None)]


def save_step(run_dir: str, step: int, state, keep: int = 3) -> str:
    """Saves ``state`` as ``run_dir/ckpt-{step:08d}.msgpack`` and keeps the ``keep`` newest."""
    path = path_for(run_dir, step)
    save(path, state)
    for old in list_checkpoints(run_dir)[:-keep]:
        try:
            os.remove(old)  # a link is removed, never followed
        except OSError as e:
            raise CheckpointError(f"checkpoint {old}: cannot remove an old checkpoint "
                                  f"({e.strerror or e})") from None
    return path


def latest(run_dir: str) -> str | None:
    """The newest checkpoint in ``run_dir``, or ``None``."""
    paths = list_checkpoints(run_dir)
    return paths[-1] if paths else None


def load_latest(run_dir: str, template):
    """``(path, state)`` of the newest checkpoint in ``run_dir`` (``(None, None)`` if it has none).

    A damaged newest checkpoint raises :class:`CheckpointError`; when an older one exists the
    message names it and says how to resume from it (it is never switched to silently).
    """
    paths = list_checkpoints(run_dir)
    if not paths:
        return None, None
    try:
        return paths[-1], load(paths[-1], template)
    except CheckpointError as e:
        if len(paths) == 1:
            raise
        raise CheckpointError(f"{e}; the run has an older checkpoint, {os.path.basename(paths[-2])}: "
                              f"remove {paths[-1]} to go on from it") from None
