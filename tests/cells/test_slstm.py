"""``jaxrnn.SLSTMCell`` against the xlstm package's vanilla sLSTM, and every way jaxrnn runs it (Newton,
the xla engine) against the sequential scan."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from xlstm.blocks.slstm.src.vanilla import (
    slstm_forward,
    slstm_pointwise_function_registry,
)

import jaxrnn
from jaxrnn import precision
from jaxrnn.combinators import Bidirectional, Recurrent, Stack
from jaxrnn.driver import padding
from jaxrnn.engines import reference, xla
from tests.helpers import (
    close,
    every_output_loss,
    random_carry,
    randomized,
    torch_tensor,
)


@pytest.mark.parametrize("hidden,heads,steps", [(8, 2, 7), (6, 1, 12), (12, 4, 3)])
def test_equals_xlstm_vanilla_slstm(hidden, heads, steps):
    cell = jaxrnn.SLSTMCell(hidden, heads)
    params = randomized(cell.init(jax.random.key(0), 5), seed=hidden)
    x = jax.random.normal(jax.random.key(1), (3, steps, 5))
    carry = random_carry(cell, jax.random.key(2), 0.5)
    carry = carry._replace(n=jnp.abs(carry.n) + 0.5)  # a normaliser is positive
    ys, final = jax.vmap(lambda xb: jaxrnn.scan(cell, params, xb, carry))(x)
    wx = jnp.einsum("bti,gi->tbg", x, params["w_ih"])  # xlstm's cell takes the input projection
    states = jnp.broadcast_to(jnp.stack(carry)[:, None], (4, 3, hidden))
    all_states, last, _ = slstm_forward(torch_tensor(wx), torch_tensor(states), torch_tensor(params["w_hh"]), torch_tensor(params["b_ih"]),
                                        slstm_pointwise_function_registry["slstm"])
    close(jnp.swapaxes(ys, 0, 1), all_states[0, 1:].numpy(), 1e-5)
    close(jnp.stack(final), last.numpy(), 1e-5)


@pytest.mark.parametrize("variant", ["deer", "quasi"])
def test_newton_equals_sequential_with_lengths_and_resets(variant):
    cell = jaxrnn.SLSTMCell(6, 2)
    params = randomized(cell.init(jax.random.key(3), 4), seed=3, scale=0.4)
    xs = jax.random.normal(jax.random.key(4), (9, 4))
    resets = jnp.zeros(9, bool).at[4].set(True)
    kw = {"seq_length": 8, "resets": resets}
    options = jaxrnn.Newton(variant=variant, tol=1e-6, max_iters=40, fallback=False)
    close(jaxrnn.scan(cell, params, xs, method=options, **kw), jaxrnn.scan(cell, params, xs, **kw), 1e-5)


def test_the_xla_engine_runs_it_like_the_reference():
    cell = jaxrnn.SLSTMCell(8, 2)
    network = Stack((Bidirectional(cell), Recurrent(cell)))
    params = randomized(network.init(jax.random.key(5), 3), seed=5, scale=0.5)
    x = jax.random.normal(jax.random.key(6), (7, 4, 3))  # (T, B, I)
    lengths = jnp.array([7, 3, 0, 5])
    state = jax.tree.map(lambda z: jnp.zeros((3, 4) + z.shape), cell.initial_carry())
    policy = precision.policy(None, x, params)

    def loss(engine):
        def f(params, x):
            ys, final = engine.run(network, params, x, state, padding.batch_valid(7, lengths), None, policy)
            return every_output_loss(ys, final), (ys, final)
        return jax.jit(jax.value_and_grad(f, argnums=(0, 1), has_aux=True))(params, x)

    close(loss(xla), loss(reference), 1e-5, rtol=1e-4)


def test_gate_inputs_of_30_stay_finite():
    cell = jaxrnn.SLSTMCell(4, 2)
    params = cell.init(jax.random.key(7), 4)
    xs = 30.0 * jnp.sign(jax.random.normal(jax.random.key(8), (12, 4)))
    params = dict(params, w_ih=jnp.eye(16, 4).at[4:].set(jnp.eye(12, 4)))  # every gate sees +-30
    for method in ("sequential", jaxrnn.Newton(fallback=False)):
        ys, grads = jax.value_and_grad(lambda p, m=method: jnp.sum(jaxrnn.scan(cell, p, xs, method=m)[0]))(params)
        assert np.isfinite(float(ys)) and all(np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves(grads))


def test_num_heads_must_divide_hidden_size():
    with pytest.raises(ValueError, match=r"hidden_size \(6\) must be divisible by num_heads, got num_heads=4"):
        jaxrnn.SLSTMCell(6, 4)
    with pytest.raises(ValueError, match=r"params\['w_hh'\] must have shape \(2, 12, 3\)"):
        cell = jaxrnn.SLSTMCell(6, 2)
        params = dataclasses.replace(cell, num_heads=1).init(jax.random.key(0), 3)
        jaxrnn.scan(cell, params, jnp.ones((4, 3)))
