"""Every block of ``jaxrnn.blocks``: ``step`` equals ``apply``, a call split anywhere (inside the conv
window, inside a chunk) continues exactly, a packed row equals its documents run one by one (the
conv and the recurrence see no earlier document), padding is exact zeros whatever it holds,
gradients stay finite, and bfloat16 compute keeps a float32 state."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.blocks.conftest import BLOCKS, jitted, make
from tests.helpers import close


def rows(tree, *index):
    """The rows ``index`` of every leaf of a batched pytree (a state)."""
    return jax.tree.map(lambda a: a[np.array(index)], tree)


@pytest.mark.parametrize("name", BLOCKS)
def test_step_equals_apply_and_a_split_call_continues_exactly(name):
    """Calls of 2 steps: each split but the one at 4 lies inside a chunk (4 steps), and the conv
    window (3 or 4 steps) reaches back across two calls."""
    _, params, x = make(name, 2, 10, seed=1)
    block, apply, step = jitted(name)
    y, final = apply(params, x)
    state, ys = block.initial_state(2), []
    for t in range(x.shape[1]):
        y_t, state = step(params, x[:, t], state)
        ys.append(y_t)
    close(jnp.stack(ys, axis=1), y, 1e-5)
    close(state, final, 1e-5)
    state, parts = block.initial_state(2), []
    for t in range(0, 10, 2):
        y_part, state = apply(params, x[:, t:t + 2], initial_state=state)
        parts.append(y_part)
    close(jnp.concatenate(parts, axis=1), y, 1e-5)
    close(state, final, 1e-5)


@pytest.mark.parametrize("name", BLOCKS)
def test_a_packed_row_equals_its_documents(name):
    """Row 0 packs documents [0, 4) and [4, 10); row 1 packs [0, 3) and [3, 9), then NaN padding;
    both start with a reset, which discards the state of an earlier call (conv cache included).
    The documents run alone as a batch of their own (padded to 6 steps; the last ones fill it)."""
    _, params, x = make(name, 2, 10, seed=2)
    block, apply, _ = jitted(name)
    _, earlier = apply(params, x[:, :2] + 1.0, initial_state=block.initial_state(2))
    x = x.at[1, 9:].set(jnp.nan)
    resets = jnp.zeros((2, 10), bool).at[:, 0].set(True).at[0, 4].set(True).at[1, 3].set(True)
    y, final = apply(params, x, seq_lengths=jnp.array([10, 9]), resets=resets, initial_state=earlier)
    assert bool((y[1, 9:] == 0).all()) and bool(jnp.isfinite(y).all())
    documents = ((0, 0, 4), (0, 4, 10), (1, 0, 3), (1, 3, 9))
    alone = jnp.zeros((4, 6, block.d_model))
    for i, (row, a, b) in enumerate(documents):
        alone = alone.at[i, : b - a].set(x[row, a:b])
    y_alone, state = apply(params, alone, seq_lengths=jnp.array([b - a for _, a, b in documents]))
    for i, (row, a, b) in enumerate(documents):
        close(y[row, a:b], y_alone[i, : b - a], 1e-5)
    close(final, rows(state, 1, 3), 1e-5)


@pytest.mark.parametrize("name", BLOCKS)
def test_gradients_stay_finite_and_bfloat16_keeps_a_float32_state(name):
    _, params, x = make(name, 2, 10, seed=3)
    block, apply, _ = jitted(name)
    lengths, resets = jnp.array([7, 10]), jnp.zeros((2, 10), bool).at[1, 3].set(True)

    def loss(p, x):
        y, state = block.apply(p, x, seq_lengths=lengths, resets=resets)
        return jnp.sum(y ** 2) + sum(jnp.sum(s ** 2) for s in jax.tree.leaves(state) if s.dtype != bool)

    grads = jax.jit(jax.grad(loss, argnums=(0, 1)))(params, x.at[0, 7:].set(jnp.nan))
    assert all(bool(jnp.isfinite(g).all()) for g in jax.tree.leaves(grads))
    assert bool((grads[1][0, 7:] == 0).all())

    y, _ = apply(params, x)
    half = dataclasses.replace(block, compute_dtype="bfloat16")
    y16, final16 = jax.jit(half.apply)(params, x)
    assert y16.dtype == jnp.bfloat16
    assert all(s.dtype in (jnp.float32, jnp.bool_) for s in jax.tree.leaves(final16))
    np.testing.assert_allclose(np.asarray(y16, np.float32), np.asarray(y), atol=0.05 * float(jnp.max(jnp.abs(y))))


@pytest.mark.parametrize("name", BLOCKS)
def test_empty_batch_and_time(name):
    _, params, _ = make(name, 1, 1)
    block, apply, _ = jitted(name)
    y, state = apply(params, jnp.zeros((2, 0, block.d_model)))
    assert y.shape == (2, 0, block.d_model)
    close(state, block.initial_state(2), 0.0)


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
    key = next(iter(params))  # an input projection
    with pytest.raises(ValueError, match=rf"params must have the keys .* \(missing \['{key}'\]\)"):
        block.apply({k: v for k, v in params.items() if k != key}, x)
    with pytest.raises(ValueError, match=rf"params\['{key}'\] must have shape"):
        block.apply(dict(params, **{key: params[key][:1]}), x)
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
