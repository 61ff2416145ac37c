"""``jaxrnn sample``: memory from the checkpoint alone (never the config's training sizes), a bad
--prime refused before anything is read, and a reader that goes away ends it quietly."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

from jaxrnn.app import checkpoint
from jaxrnn.app.charlm import CharLM, sample
from tests.app.commands import one_line_error, run
from tests.helpers import ROOT


def test_sample_reads_the_checkpoint_into_shapes_and_allocates_nothing_before(capsys, tmp_path, trained,
                                                                              monkeypatch):
    templates = []
    real = checkpoint.load_latest

    def spy(run_dir, template):
        templates.append(template)
        return real(run_dir, template)

    monkeypatch.setattr(checkpoint, "load_latest", spy)
    assert run(capsys, "sample", "--run", trained, "--length", "5")[0] == 0
    arrays = [leaf for leaf in jax.tree.leaves(templates[0]) if not isinstance(leaf, int)]
    assert arrays and all(isinstance(leaf, jax.ShapeDtypeStruct) for leaf in arrays)
    # A config whose training sizes ask for gigabytes (the carry of 1,048,576 rows of 256): the
    # checkpoint is read first and does not match; nothing of the config's size was built.
    out = shutil.copytree(trained, str(tmp_path / "run"))
    path = os.path.join(out, "config.json")
    config = json.loads(Path(path).read_text())
    Path(path).write_text(json.dumps({**config, "batch_size": 1 << 20, "hidden": 256}))
    one_line_error(capsys, "sample", "--run", out, in_process=True, match="does not match the model")


@pytest.mark.parametrize("prime,match", [("", "--prime must not be empty"), ("é", "--prime contains characters not in")])
def test_a_bad_prime_is_refused_before_the_checkpoint_is_read(capsys, trained, monkeypatch, prime, match):
    def never(*args):
        raise AssertionError("the checkpoint was read")

    monkeypatch.setattr(checkpoint, "load_latest", never)
    one_line_error(capsys, "sample", "--run", trained, "--prime", prime, in_process=True, match=match)
    if not prime:
        one_line_error(capsys, "sample", "--run", "no/such/run", "--prime", prime, in_process=True, match=match)


def test_the_library_sample_names_an_empty_prime():
    model = CharLM(10, hidden_size=8)
    with pytest.raises(ValueError, match=r"prime must be \(P,\) ids with P >= 1, got shape \(0,\)"):
        sample(model, model.init(jax.random.key(0)), jnp.zeros((0,), jnp.int32), 3, jax.random.key(1))


@pytest.mark.parametrize("argv", [["sample", "--length", "20000"], ["summary", "--vocab-size", "96"]])
def test_a_closed_stdout_ends_sample_and_summary_quietly(trained, argv):
    """`jaxrnn sample | true`, `jaxrnn summary | head -1`: the reader is gone before the output."""
    if argv[0] == "sample":
        argv = [*argv, "--run", trained]
    proc = subprocess.Popen([sys.executable, "-m", "jaxrnn.app.cli", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    proc.stdout.close()  # as `true` does: nothing is read
    err = proc.stderr.read()
    assert proc.wait(timeout=120) in (0, 141), err
    assert err == "", err


def test_summary_of_a_run_reads_its_config_alone(capsys, tmp_path, trained):
    rc, table, _ = run(capsys, "summary", "--run", trained)
    config = json.loads(Path(trained, "config.json").read_text())
    assert rc == 0 and f"vocabulary: {len(config['vocab'])} characters, of the run in {trained}" in table
    assert "(4, 8, 16)" in table and "Total params (embedding + recurrent + head): 6,544" in table
    one_line_error(capsys, "summary", "--run", trained, "--hidden", "32", in_process=True,
                   match=f"--run reads the model from {trained}/config.json; drop --hidden")
    out = shutil.copytree(trained, str(tmp_path / "run"))
    path = os.path.join(out, "config.json")
    Path(path).write_text(json.dumps({**json.loads(Path(path).read_text()), "batch_size": 1 << 20}))
    for ckpt in checkpoint.list_checkpoints(out):
        os.remove(ckpt)  # summary needs none: a model of shapes, nothing allocated
    rc, table, _ = run(capsys, "summary", "--run", out)
    assert rc == 0 and "(1048576, 8, 16)" in table
