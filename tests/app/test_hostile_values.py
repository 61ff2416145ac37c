"""Values checked by type and by what float32 holds: learning rate and clip, the corpus a run
trained on (size and SHA-256), checkpoint scalars against the template's types, NaN params, and
the character model's ids."""

import functools
import json
import os
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrnn.app import checkpoint
from jaxrnn.app.charlm import CharLM, bits_per_char
from tests.app.commands import TINY, one_line_error, run
from tests.app.test_cli_inputs import _rewrite


@pytest.mark.parametrize("flag", ["--lr", "--clip"])
@pytest.mark.parametrize("value", ["1e-50", "1e-39", "1e39"])
def test_lr_and_clip_must_be_normal_float32_numbers(capsys, flag, value):
    one_line_error(capsys, "train", flag, value, in_process=True,
                   match=f"argument {flag}: must be a normal float32 number, from 1.175e-38 to 3.403e+38, "
                         f"got {float(value)}")


def test_an_lr_of_1e_50_in_config_json_is_refused(capsys, tmp_path, trained):
    out = shutil.copytree(trained, str(tmp_path / "run"))
    path = os.path.join(out, "config.json")
    Path(path).write_text(json.dumps({**json.loads(Path(path).read_text()), "lr": 1e-50}))
    one_line_error(capsys, "train", "--out", out, "--resume", "--steps", "31", in_process=True,
                   match="config.json: lr must be a normal float32 number")


def test_a_text_edited_in_place_is_named_on_resume(capsys, tmp_path, text):
    corpus = tmp_path / "corpus.txt"
    lines = Path(text).read_text(encoding="utf-8").splitlines(keepends=True)
    corpus.write_text("".join(lines), encoding="utf-8")
    out = str(tmp_path / "run")
    assert run(capsys, "train", "--text", str(corpus), "--out", out, "--steps", "2", *TINY)[0] == 0
    config = json.loads(Path(out, "config.json").read_text())
    assert config["corpus_bytes"] == corpus.stat().st_size and len(config["corpus_sha256"]) == 64
    corpus.write_text("".join(reversed(lines)), encoding="utf-8")  # the same characters, other data
    one_line_error(capsys, "train", "--out", out, "--resume", "--steps", "3", in_process=True,
                   match=f"--resume: the text {corpus} changed since the run began ({corpus.stat().st_size:,} "
                         f"bytes, SHA-256 ")
    corpus.write_text("".join(lines), encoding="utf-8")  # restored: the run goes on
    assert run(capsys, "train", "--out", out, "--resume", "--steps", "3")[0] == 0


def test_a_run_saved_before_fingerprints_resumes_and_gets_one(capsys, tmp_path, trained):
    out = shutil.copytree(trained, str(tmp_path / "run"))
    path = os.path.join(out, "config.json")
    config = json.loads(Path(path).read_text())
    Path(path).write_text(json.dumps({k: v for k, v in config.items() if not k.startswith("corpus_")}))
    assert run(capsys, "train", "--out", out, "--resume", "--steps", "30")[0] == 0
    assert json.loads(Path(path).read_text())["corpus_sha256"] == config["corpus_sha256"]
    Path(path).write_text(json.dumps({**config, "corpus_sha256": "abc"}))
    one_line_error(capsys, "sample", "--run", out, in_process=True,
                   match="config.json: corpus_sha256 must be 64 lowercase hex digits, got 'abc'")


@pytest.mark.parametrize("change,match", [
    (lambda raw: {**raw, "step": 4.5}, "step is float in the checkpoint, expected int"),
    (lambda raw: {**raw, "step": "30"}, "step is str in the checkpoint, expected int"),
    (lambda raw: {**raw, "step": True}, "step is bool in the checkpoint, expected int"),
    (lambda raw: {**raw, "key": 7}, "key is int in the checkpoint, expected array (2,) uint32"),
    (lambda raw: {**raw, "params": {**raw["params"], "embed": "x"}},
     "params/embed is str in the checkpoint, expected array"),
])
def test_checkpoint_scalars_are_checked_against_the_template_types(capsys, tmp_path, trained, change, match):
    out = shutil.copytree(trained, str(tmp_path / "run"))
    _rewrite(checkpoint.latest(out), change)
    error = functools.partial(one_line_error, capsys, in_process=True)
    error("train", "--out", out, "--resume", "--steps", "40", match=match)
    error("sample", "--run", out, match=match)


def _nan_embedding(raw):
    import msgpack

    params = raw["params"]
    embed = params["embed"]  # a flax msgpack ndarray: ext type with (shape, dtype, bytes)
    shape, dtype, data = msgpack.unpackb(embed.data)
    values = np.frombuffer(data, dtype=dtype).copy()
    values[3] = np.nan
    packed = msgpack.packb((shape, dtype, values.tobytes()))
    return {**raw, "params": {**params, "embed": msgpack.ExtType(embed.code, packed)}}


def test_nan_params_are_refused_at_load_naming_the_params_path(capsys, tmp_path, trained):
    out = shutil.copytree(trained, str(tmp_path / "run"))
    _rewrite(checkpoint.latest(out), _nan_embedding)
    error = functools.partial(one_line_error, capsys, in_process=True)
    match = "params['embed'] holds NaN or infinite values"
    error("sample", "--run", out, match=match)
    error("train", "--out", out, "--resume", "--steps", "40", match=match)


def test_charlm_refuses_out_of_range_tokens_and_labels():
    model = CharLM(10, hidden_size=8)
    params = model.init(jax.random.key(0))
    for bad in ([[1, 10]], [[-1, 2]]):
        with pytest.raises(ValueError, match=r"tokens must be ids in \[0, 10\)"):
            model.apply(params, jnp.array(bad))
    with pytest.raises(TypeError, match="tokens must be an integer array of ids, got float32"):
        model.apply(params, jnp.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"labels must be ids in \[0, 10\) .* from 0 to 12"):
        model.loss(params, (jnp.zeros((1, 2), jnp.int32), jnp.array([[0, 12]])), None)
    with pytest.raises(ValueError, match="labels must be ids"):
        bits_per_char(model, params, np.array([1, 2, 3, 11]))
    # under jit the values are not known: an id outside [0, V) gives NaN, never another row
    logits, _ = jax.jit(model.apply)(params, jnp.array([[1, 10, -1, 1000]]))
    assert np.isnan(logits[0, 1:]).all() and np.isfinite(logits[0, 0]).all()
