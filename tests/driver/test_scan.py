"""The scan driver: variable lengths, reverse, and invariances (jit, vmap, grad)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import jaxrnn
from tests.helpers import close

CELLS = [jaxrnn.ElmanCell(5), jaxrnn.LSTMCell(5, proj_size=3), jaxrnn.GRUCell(5),
         jaxrnn.GRUCell(5, reset_after=False)]


def _setup(cell, steps=8, input_size=3, seed=0):
    params = cell.init(jax.random.key(seed), input_size)
    xs = jax.random.normal(jax.random.key(seed + 1), (steps, input_size))
    return params, xs


@pytest.mark.parametrize("cell", CELLS, ids=repr)
@pytest.mark.parametrize("length", [0, 1, 5, 8])
def test_seq_length_pads_with_zero_and_keeps_last_valid_carry(cell, length):
    params, xs = _setup(cell)
    ys, carry = jaxrnn.scan(cell, params, xs, seq_length=length)
    if length:
        ys_valid, carry_valid = jaxrnn.scan(cell, params, xs[:length])
        close(ys[:length], ys_valid, 1e-6, rtol=0)
        close(carry, carry_valid, 1e-6, rtol=0)
    else:
        close(carry, cell.initial_carry(), 1e-6, rtol=0)
    assert np.all(np.asarray(ys[length:]) == 0.0)


@pytest.mark.parametrize("cell", CELLS, ids=repr)
@pytest.mark.parametrize("length", [0, 3, 8])
def test_reverse_equals_flip_run_flip_on_valid_steps(cell, length):
    params, xs = _setup(cell)
    carry0 = jax.tree.map(lambda c: c + 0.3, cell.initial_carry())
    ys, carry = jaxrnn.scan(cell, params, xs, carry0, seq_length=length, reverse=True)
    if length:
        ys_flip, carry_flip = jaxrnn.scan(cell, params, xs[:length][::-1], carry0)
        close(ys[:length], ys_flip[::-1], 1e-6, rtol=0)
        close(carry, carry_flip, 1e-6, rtol=0)
    else:
        close(carry, carry0, 1e-6, rtol=0)
    assert np.all(np.asarray(ys[length:]) == 0.0)


def test_reverse_without_length_is_flip_run_flip():
    cell = jaxrnn.LSTMCell(4)
    params, xs = _setup(cell)
    ys, carry = jaxrnn.scan(cell, params, xs, reverse=True)
    ys_flip, carry_flip = jaxrnn.scan(cell, params, xs[::-1])
    close(ys, ys_flip[::-1], 1e-6, rtol=0)
    close(carry, carry_flip, 1e-6, rtol=0)


@pytest.mark.parametrize("cell", CELLS, ids=repr)
def test_jit_equals_eager(cell):
    params, xs = _setup(cell)
    for reverse in (False, True):
        eager = jaxrnn.scan(cell, params, xs, seq_length=5, reverse=reverse)
        jitted = jax.jit(lambda p, x, n, reverse=reverse: jaxrnn.scan(cell, p, x, seq_length=n, reverse=reverse))(
            params, xs, 5)
        close(eager, jitted, 1e-6, rtol=0)


def test_traced_lengths_are_clamped():
    cell = jaxrnn.GRUCell(4)
    params, xs = _setup(cell)
    run = jax.jit(lambda n: jaxrnn.scan(cell, params, xs, seq_length=n))
    close(run(100), jaxrnn.scan(cell, params, xs), 1e-6, rtol=0)
    ys, carry = run(-3)
    assert np.all(np.asarray(ys) == 0.0)
    close(carry, cell.initial_carry(), 1e-6, rtol=0)


@pytest.mark.parametrize("cell", CELLS, ids=repr)
def test_vmap_over_rows_equals_loop_over_rows(cell):
    params = cell.init(jax.random.key(0), 3)
    xs = jax.random.normal(jax.random.key(1), (4, 8, 3))
    lengths = jnp.array([8, 0, 3, 6])
    batched = jax.vmap(lambda x, n: jaxrnn.scan(cell, params, x, seq_length=n))(xs, lengths)
    for b in range(4):
        row = jaxrnn.scan(cell, params, xs[b], seq_length=lengths[b])
        close(jax.tree.map(lambda a, b=b: a[b], batched), row, 1e-6, rtol=0)


@pytest.mark.parametrize("cell", CELLS, ids=repr)
def test_vmap_over_parameter_ensemble(cell):
    ensemble = jax.vmap(lambda k: cell.init(k, 3))(jax.random.split(jax.random.key(0), 5))
    xs = jax.random.normal(jax.random.key(1), (8, 3))
    ys = jax.vmap(lambda p: jaxrnn.scan(cell, p, xs)[0])(ensemble)
    assert ys.shape == (5, 8, cell.output_size)
    for e in range(5):
        member = jax.tree.map(lambda a, e=e: a[e], ensemble)
        close(ys[e], jaxrnn.scan(cell, member, xs)[0], 1e-6, rtol=0)
    assert not np.allclose(ys[0], ys[1])


@pytest.mark.parametrize("cell", CELLS, ids=repr)
def test_gradients_match_finite_differences(cell):
    with jax.enable_x64(True):
        params = cell.init(jax.random.key(0), 3, dtype=jnp.float64)
        xs = jax.random.normal(jax.random.key(1), (5, 3), jnp.float64)

        def loss(p, x):
            ys, carry = jaxrnn.scan(cell, p, x, seq_length=4, reverse=True)
            return (ys ** 2).sum() + sum((c ** 2).sum() for c in jax.tree.leaves(carry))

        check_grads(loss, (params, xs), order=1, modes=("rev",), atol=1e-6, rtol=1e-6)


def test_zero_steps_return_initial_carry():
    cell = jaxrnn.LSTMCell(4)
    params = cell.init(jax.random.key(0), 3)
    carry0 = jaxrnn.LSTMState(jnp.ones(4), jnp.full(4, 2.0))
    ys, carry = jaxrnn.scan(cell, params, jnp.zeros((0, 3)), carry0, seq_length=0)
    assert ys.shape == (0, 4)
    close(carry, carry0, 1e-6, rtol=0)


def test_unroll_gives_same_result():
    cell = jaxrnn.LSTMCell(4)
    params, xs = _setup(cell)
    close(jaxrnn.scan(cell, params, xs, unroll=4, seq_length=6), jaxrnn.scan(cell, params, xs, seq_length=6), 1e-6, rtol=0)


class _GatedSum:
    """A cell whose step reads two tensors ``x = (a, g)``: ``h' = sigmoid(g) * h + a`` (no params)."""

    hidden_size = output_size = 3

    def init(self, key, input_size, *, preset="torch", dtype=jnp.float32):
        return {}

    def initial_carry(self, dtype=jnp.float32):
        return jnp.zeros(3, dtype)

    def apply(self, params, carry, x):
        a, g = x
        h = jax.nn.sigmoid(g) * carry + a
        return h, 2 * h


@pytest.mark.parametrize("method", ["sequential", "newton"])
def test_a_step_may_read_a_tuple_of_tensors(method):
    a, g = jax.random.normal(jax.random.key(0), (2, 6, 3))
    g = g.at[4:].set(jnp.nan)  # padding
    ys, h = jaxrnn.scan(_GatedSum(), {}, (a, g), seq_length=4, reverse=True, method=method)
    expected, carry = [], jnp.zeros(3)
    for t in (3, 2, 1, 0):
        carry = jax.nn.sigmoid(g[t]) * carry + a[t]
        expected.append(2 * carry)
    close(ys, jnp.concatenate([jnp.stack(expected[::-1]), jnp.zeros((2, 3))]), 1e-5)
    close(h, carry, 1e-5)


def test_a_tuple_of_tensors_must_share_its_time_axis():
    with pytest.raises(ValueError, match=r"xs: every array must have the same leading time axis T, got shapes "
                                         r"\[\(6, 3\), \(5, 3\)\]"):
        jaxrnn.scan(_GatedSum(), {}, (jnp.ones((6, 3)), jnp.ones((5, 3))))
    with pytest.raises(TypeError, match=r"xs\[1\] must have a floating dtype, got int32"):
        jaxrnn.scan(_GatedSum(), {}, (jnp.ones((6, 3)), jnp.ones((6, 3), jnp.int32)))
