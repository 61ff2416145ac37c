"""jaxrnn.app.checkpoint: round trips, corruption and truncation caught, atomic saves, retention."""

import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxrnn.app import checkpoint
from jaxrnn.app.charlm import CharLM


def _state(hidden=8, seed=0):
    model = CharLM(12, "lstm", hidden)
    params = model.init(jax.random.key(seed))
    opt = optax.adam(1e-3)
    opt_state = opt.init(params)
    grads = jax.tree.map(jnp.ones_like, params)
    _, opt_state = opt.update(grads, opt_state, params)  # non-trivial moments and count
    return {"params": params, "opt_state": opt_state, "step": 7,
            "key": jax.random.key_data(jax.random.key(seed)), "carry": model.initial_state(2)}


def _assert_equal(a, b):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert jax.tree.structure(a) == jax.tree.structure(b) and len(la) == len(lb)
    for x, y in zip(la, lb):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_round_trip_restores_params_optimizer_state_step_and_key(tmp_path):
    state = _state()
    path = str(tmp_path / "c.msgpack")
    checkpoint.save(path, state)
    loaded = checkpoint.load(path, _state(seed=1))
    _assert_equal(loaded, state)
    assert loaded["step"] == 7
    with open(path, "rb") as f:
        assert f.read(len(checkpoint.MAGIC)) == checkpoint.MAGIC


@pytest.mark.parametrize("where", [0.3, 0.6, 0.99])
def test_a_flipped_byte_is_caught(tmp_path, where):
    path = str(tmp_path / "c.msgpack")
    checkpoint.save(path, _state())
    blob = bytearray(Path(path).read_bytes())
    i = checkpoint._HEADER + int(where * (len(blob) - checkpoint._HEADER))
    blob[i] ^= 0x01
    Path(path).write_bytes(bytes(blob))
    with pytest.raises(checkpoint.CheckpointError, match="SHA-256 mismatch"):
        checkpoint.load(path, _state())


def test_truncated_bad_magic_other_version_and_missing(tmp_path):
    path = str(tmp_path / "c.msgpack")
    checkpoint.save(path, _state())
    blob = Path(path).read_bytes()
    Path(path).write_bytes(blob[: len(blob) // 2])
    with pytest.raises(checkpoint.CheckpointError, match="SHA-256 mismatch, the file is corrupted or truncated"):
        checkpoint.load(path, _state())
    Path(path).write_bytes(blob[:20])
    with pytest.raises(checkpoint.CheckpointError, match=r"truncated \(20 bytes"):
        checkpoint.load(path, _state())
    Path(path).write_bytes(b"PK" + blob[2:])
    with pytest.raises(checkpoint.CheckpointError, match="not a jaxrnn checkpoint"):
        checkpoint.load(path, _state())
    i = len(checkpoint.MAGIC)
    Path(path).write_bytes(blob[:i] + (2).to_bytes(4, "little") + blob[i + 4:])
    with pytest.raises(checkpoint.CheckpointError, match="format version 2, this jaxrnn reads version 1"):
        checkpoint.load(path, _state())
    with pytest.raises(checkpoint.CheckpointError, match="no such file"):
        checkpoint.load(str(tmp_path / "nope.msgpack"), _state())


def test_mismatched_model_is_caught(tmp_path):
    path = str(tmp_path / "c.msgpack")
    checkpoint.save(path, _state(hidden=8))
    with pytest.raises(checkpoint.CheckpointError,
                       match=r"does not match the model: params/rnn/0/w_ih is array \(32, 64\) "
                             r"float32 in the checkpoint, expected array \(64, 64\) float32"):
        checkpoint.load(path, _state(hidden=16))
    other = _state()
    other["extra"] = np.zeros(3)
    with pytest.raises(checkpoint.CheckpointError, match=r"missing \['extra'\]"):
        checkpoint.load(path, other)


def test_keeps_the_newest_and_ignores_temporary_files(tmp_path):
    run = str(tmp_path)
    for step in (10, 20, 30, 40):
        checkpoint.save_step(run, step, _state(), keep=3)
    names = [os.path.basename(p) for p in checkpoint.list_checkpoints(run)]
    assert names == ["ckpt-00000020.msgpack", "ckpt-00000030.msgpack", "ckpt-00000040.msgpack"]
    Path(run, "ckpt-00000050.msgpack.tmp-123").write_bytes(b"half a file")
    assert checkpoint.latest(run).endswith("ckpt-00000040.msgpack")


def test_a_crash_mid_save_leaves_the_previous_checkpoint_loadable(tmp_path, monkeypatch):
    path = str(tmp_path / "ckpt-00000010.msgpack")
    good = _state()
    checkpoint.save(path, good)

    def killed(*args):
        raise KeyboardInterrupt  # the process dies between writing the temp file and renaming

    monkeypatch.setattr(os, "replace", killed)
    newer = _state(seed=5)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(path, newer)
    monkeypatch.undo()
    _assert_equal(checkpoint.load(path, _state(seed=2)), good)
    assert os.listdir(tmp_path) == ["ckpt-00000010.msgpack"]
