"""Every block of ``jaxrnn.blocks``: ``step`` equals ``apply``, a call split anywhere (inside the conv
window, inside a chunk) continues exactly, a packed row equals its documents run one by one (the
conv and the recurrence see no earlier document), padding is exact zeros whatever it holds, and
bfloat16 compute keeps a float32 state."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.blocks.conftest import BLOCKS, make
from tests.helpers import close


def rows(tree, *index):
    """The rows ``index`` of every leaf of a batched pytree (a state)."""
    return jax.tree.map(lambda a: a[np.array(index)], tree)


@pytest.mark.parametrize("name", BLOCKS)
def test_step_equals_apply(name):
    block, params, x = make(name, 2, 7)
    y, final = jax.jit(block.apply)(params, x)
    step, state, ys = jax.jit(block.step), block.initial_state(2), []
    for t in range(x.shape[1]):
        y_t, state = step(params, x[:, t], state)
        ys.append(y_t)
    close(jnp.stack(ys, axis=1), y, 1e-5)
    close(state, final, 1e-5)


@pytest.mark.parametrize("name", BLOCKS)
def test_a_split_call_continues_exactly(name):
    """Splits at 2 (inside the conv window of 4) and 6 (inside the second chunk of 4)."""
    block, params, x = make(name, 2, 11, seed=1)
    apply = jax.jit(block.apply)
    y, final = apply(params, x)
    parts, state = [], None
    for a, b in ((0, 2), (2, 6), (6, 11)):
        y_part, state = apply(params, x[:, a:b], initial_state=state)
        parts.append(y_part)
    close(jnp.concatenate(parts, axis=1), y, 1e-5)
    close(state, final, 1e-5)


@pytest.mark.parametrize("name", BLOCKS)
def test_a_packed_row_equals_its_documents(name):
    """Row 0 packs documents [0, 5) and [5, 12); row 1 packs [0, 3) and [3, 9), then NaN padding."""
    block, params, x = make(name, 2, 12, seed=2)
    x = x.at[1, 9:].set(jnp.nan)
    resets = jnp.zeros((2, 12), bool).at[0, 5].set(True).at[1, 3].set(True)
    apply = jax.jit(block.apply)
    y, final = apply(params, x, seq_lengths=jnp.array([12, 9]), resets=resets)
    assert bool((y[1, 9:] == 0).all()) and bool(jnp.isfinite(y).all())
    for row, documents in ((0, ((0, 5), (5, 12))), (1, ((0, 3), (3, 9)))):
        for a, b in documents:
            y_doc, state = apply(params, x[row:row + 1, a:b])
            close(y[row, a:b], y_doc[0], 1e-5)
        close(rows(final, row), rows(state, 0), 1e-5)


@pytest.mark.parametrize("name", BLOCKS)
def test_gradients_are_finite_through_nan_padding_and_resets(name):
    block, params, x = make(name, 2, 9, seed=3)
    x = x.at[0, 6:].set(jnp.nan)
    resets = jnp.zeros((2, 9), bool).at[1, 4].set(True)

    def loss(p, x):
        y, state = block.apply(p, x, seq_lengths=jnp.array([6, 9]), resets=resets)
        return jnp.sum(y ** 2) + sum(jnp.sum(s ** 2) for s in jax.tree.leaves(state) if s.dtype != bool)

    grads = jax.jit(jax.grad(loss, argnums=(0, 1)))(params, x)
    assert all(bool(jnp.isfinite(g).all()) for g in jax.tree.leaves(grads))
    assert bool((grads[1][0, 6:] == 0).all())


@pytest.mark.parametrize("name", BLOCKS)
def test_bfloat16_compute_keeps_a_float32_state(name):
    block, params, x = make(name, 2, 6, seed=4)
    y, _ = jax.jit(block.apply)(params, x)
    half = dataclasses.replace(block, compute_dtype="bfloat16")
    y16, final16 = jax.jit(half.apply)(params, x)
    assert y16.dtype == jnp.bfloat16
    assert all(s.dtype in (jnp.float32, jnp.bool_) for s in jax.tree.leaves(final16))
    scale = float(jnp.max(jnp.abs(y)))
    np.testing.assert_allclose(np.asarray(y16, np.float32), np.asarray(y), atol=0.05 * scale)
    _, state16 = jax.jit(half.step)(params, x[:, 0].astype(jnp.bfloat16), half.initial_state(2))
    assert all(s.dtype in (jnp.float32, jnp.bool_) for s in jax.tree.leaves(state16))


@pytest.mark.parametrize("name", BLOCKS)
def test_empty_batch_and_time(name):
    block, params, _ = make(name, 1, 1)
    y, state = block.apply(params, jnp.zeros((2, 0, block.d_model)))
    assert y.shape == (2, 0, block.d_model)
    close(state, block.initial_state(2), 0.0)
    y, _ = block.apply(params, jnp.zeros((0, 3, block.d_model)))
    assert y.shape == (0, 3, block.d_model)


@pytest.mark.parametrize("name", BLOCKS)
def test_bad_inputs_name_the_argument(name):
    block, params, x = make(name, 2, 3)
    d = block.d_model
    with pytest.raises(ValueError, match=rf"x must have shape \(B, T, d_model\) = \(B, T, {d}\), got \(2, 3, {d + 1}\)"):
        block.apply(params, jnp.ones((2, 3, d + 1)))
    with pytest.raises(ValueError, match="x must have shape"):
        block.apply(params, jnp.ones((3, d)))
    with pytest.raises(TypeError, match="x must have a floating dtype"):
        block.apply(params, jnp.ones((2, 3, d), jnp.int32))
    with pytest.raises(ValueError, match=r"params must have the keys .* \(missing \['o_proj'\]\)"):
        block.apply({k: v for k, v in params.items() if k != "o_proj"}, x)
    with pytest.raises(ValueError, match=r"params\['o_proj'\] must have shape"):
        block.apply(dict(params, o_proj=params["o_proj"][:, :1]), x)
    with pytest.raises(ValueError, match="seq_lengths must lie in"):
        block.apply(params, x, seq_lengths=jnp.array([4, 1]))
    with pytest.raises(ValueError, match=r"resets must have shape \(B, T\) = \(2, 3\)"):
        block.apply(params, x, resets=jnp.zeros((2, 4), bool))
    state = block.initial_state(3)
    with pytest.raises(ValueError, match="initial_state must have shape"):
        block.apply(params, x, initial_state=state)
    with pytest.raises(ValueError, match="initial_state must be structured like"):
        block.apply(params, x, initial_state=state.conv)
    with pytest.raises(ValueError, match=rf"x_t must have shape \(B, d_model\) = \(B, {d}\), got \(2, 3, {d}\)"):
        block.step(params, x, block.initial_state(2))
    with pytest.raises(ValueError, match="method must be one of"):
        dataclasses.replace(block, method="parallel")
    with pytest.raises(TypeError, match="d_model must be an int"):
        dataclasses.replace(block, d_model=8.0)
    with pytest.raises(TypeError, match="compute_dtype must be a floating dtype"):
        dataclasses.replace(block, compute_dtype="int8")
