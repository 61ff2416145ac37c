"""``jaxrnn train --cell X`` for every cell: the block cells' model (a residual stack of the block),
trained, resumed, sampled through ``step`` and summarised as the classic cells are."""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrnn
from jaxrnn.app import charlm
from jaxrnn.app.blocklm import BlockLM, ResidualStack
from jaxrnn.app.charlm import CharLM
from jaxrnn.app.config import CELLS, CLASSIC_CELLS
from jaxrnn.blocks import Mamba
from jaxrnn.train import reset_carry
from tests.app.commands import records, run

TINY = ["--hidden", "8", "--seq-len", "8", "--batch-size", "2", "--log-every", "1", "--eval-every", "100",
        "--sample-every", "100"]  # the last step evaluates and samples


@pytest.mark.parametrize("cell", CELLS)
def test_every_cell_trains_samples_loads_and_summarises(capsys, tmp_path, text, cell):
    out = str(tmp_path / cell)
    rc, _, err = run(capsys, "train", "--cell", cell, "--text", text, "--out", out, "--steps", "2", *TINY)
    assert rc == 0, err
    assert "--- sample at step 2 ---" in err and "held-out" in err  # sampled through the model's step
    assert [r["step"] for r in records(out)] == [1, 2] and all(np.isfinite(r["loss"]) for r in records(out))
    model, params, config = jaxrnn.load_run(out)  # built from config.json alone
    kind = CharLM if cell in CLASSIC_CELLS else BlockLM
    assert config["cell"] == cell and model == kind(len(config["vocab"]), cell, 8, 1)
    rc, table, _ = run(capsys, "summary", "--cell", cell, "--hidden", "8", "--vocab-size", str(len(config["vocab"])))
    assert rc == 0 and table.splitlines()[-1].endswith(f"{jaxrnn.param_count(params):,}")
    assert run(capsys, "summary", "--run", out)[1].splitlines()[-1] == table.splitlines()[-1]


def test_step_equals_apply_sampling_steps_and_a_reset_row_starts_afresh():
    model = BlockLM(12, "griffin", hidden_size=8, num_layers=2)  # its state holds a bool, `started`
    params = model.init(jax.random.key(0))
    apply, step = jax.jit(model.apply), jax.jit(model.step)
    tokens = jax.random.randint(jax.random.key(1), (3, 9), 0, 12)  # past the conv window (width 4)
    logits, final = apply(params, tokens, model.initial_state(3))
    state, stepped = model.initial_state(3), []
    for t in range(tokens.shape[1]):
        step_logits, state = step(params, tokens[:, t], state)
        stepped.append(step_logits)
    np.testing.assert_allclose(jnp.stack(stepped, axis=1), logits, atol=1e-5)
    for got, want in zip(jax.tree.leaves(state), jax.tree.leaves(final)):  # conv cache included
        np.testing.assert_allclose(got, want, atol=1e-5)
    prime = tokens[0, :4]
    drawn = jax.jit(charlm.sample, static_argnums=(0, 3))(model, params, prime, 6, jax.random.key(2), 0.0)  # greedy
    greedy, _ = apply(params, tokens.at[0].set(jnp.concatenate([prime, drawn[:-1]])), model.initial_state(3))
    assert (jnp.argmax(greedy[0, 3:], axis=-1) == drawn).all()  # each draw the most likely after the last
    assert jax.tree.leaves(final)[0].shape[:2] == (2, 3)  # (L, B, ...): the batch axis is 1
    after_reset, _ = apply(params, tokens, reset_carry(final, jnp.array([False, True, False])))
    np.testing.assert_allclose(after_reset[1], logits[1], atol=1e-6)  # zeros: the initial state
    assert not np.allclose(after_reset[0], logits[0], atol=1e-3)


def test_resume_equals_uninterrupted_for_a_block_cell(capsys, tmp_path, text):
    flags = ["--cell", "mamba", "--text", text, *TINY]
    assert run(capsys, "train", "--out", str(tmp_path / "a"), "--steps", "4", *flags)[0] == 0
    assert run(capsys, "train", "--out", str(tmp_path / "b"), "--steps", "2", *flags)[0] == 0
    rc, _, err = run(capsys, "train", "--out", str(tmp_path / "b"), "--steps", "4", "--resume")
    assert rc == 0 and "resuming at step 2" in err
    def losses(run_dir):
        return [(r["step"], r["loss"], r["grad_norm"]) for r in records(run_dir)]

    assert losses(tmp_path / "a") == losses(tmp_path / "b")  # the block states crossed the checkpoint
    rc, _, err = run(capsys, "train", "--out", str(tmp_path / "b"), "--steps", "6", "--resume", "--cell", "gdn")
    assert rc == 2 and "--cell gdn does not match the run's mamba" in err
    assert json.loads(Path(tmp_path / "b" / "config.json").read_text())["cell"] == "mamba"


def test_the_stack_checks_its_arguments():
    with pytest.raises(TypeError, match="block must be a block of jaxrnn.blocks, got LSTM"):
        ResidualStack(jaxrnn.LSTM(4, 4))
    with pytest.raises(ValueError, match="mlp_ratio must be a finite number >= 0, got -1"):
        ResidualStack(Mamba(4), mlp_ratio=-1)
    with pytest.raises(ValueError, match="num_layers"):
        ResidualStack(Mamba(4), num_layers=0)
    stack = ResidualStack(Mamba(4), num_layers=2)
    params = stack.init(jax.random.key(0))
    with pytest.raises(ValueError, match=r"params\['layers'\] must hold num_layers = 2 layers, got 1"):
        stack.apply({**params, "layers": params["layers"][:1]}, jnp.ones((1, 3, 4)))
    with pytest.raises(ValueError, match=r"x must have shape \(B, T, d_model\) = \(B, T, 4\), got \(1, 3, 5\)"):
        stack.apply(params, jnp.ones((1, 3, 5)))
    with pytest.raises(ValueError, match=r"x_t must have shape \(B, d_model\) = \(B, 4\), got \(1, 3, 4\)"):
        stack.step(params, jnp.ones((1, 3, 4)), stack.initial_state(1))
    one_layer = ResidualStack(Mamba(4)).initial_state(1)  # a state of another depth is refused, never clamped
    with pytest.raises(ValueError, match=r"state must have shape \(2, 1, 3, 8\), got \(1, 1, 3, 8\)"):
        stack.step(params, jnp.ones((1, 4)), one_layer)
    with pytest.raises(ValueError, match="cell must be one of 'slstm'"):
        BlockLM(10, "lstm")
