"""Blocks run in the framework wrappers by their one generic path (``interop.wrapping``): Flax linen
and NNX, and Equinox (also one sequence at a time under ``jax.vmap``); a Griffin block (its state
holds a bool) with lengths and a state; every block through linen and Equinox."""

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest
from flax import nnx

from jaxrnn import blocks
from jaxrnn.interop import NNXRNN, EqxRNN, LinenRNN
from tests.blocks.conftest import BLOCKS, make
from tests.helpers import close


def test_linen_nnx_and_equinox_run_a_block():
    block = blocks.GriffinBlock(6, num_heads=2)
    x = jax.random.normal(jax.random.key(0), (2, 5, 6))
    lengths = jnp.array([5, 3])
    _, state = block.apply(block.init(jax.random.key(1)), x[:, :2])

    module = LinenRNN(block)
    variables = module.init(jax.random.key(2), x)
    params = variables["params"]["layer"]
    want = block.apply(params, x, seq_lengths=lengths, initial_state=state)
    close(module.apply(variables, x, state, seq_lengths=lengths), want, 1e-6)

    nnx_module = NNXRNN(block, rngs=nnx.Rngs(3))
    close(nnx_module(x, state, seq_lengths=lengths),
          block.apply(nnx_module.layer_params(), x, seq_lengths=lengths, initial_state=state), 1e-6)

    eqx_module = EqxRNN(block, key=jax.random.key(4))
    want = block.apply(eqx_module.params, x, seq_lengths=lengths, initial_state=state)
    close(eqx_module(x, state, seq_lengths=lengths), want, 1e-6)
    one = eqx.filter_vmap(lambda x, s, n: eqx_module(x, s, seq_lengths=n))  # one sequence per call
    close(one(x, state, lengths), want, 1e-5)
    with pytest.raises(ValueError, match="preset must be 'torch' for a block"):
        EqxRNN(block, key=jax.random.key(4), preset="keras")


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_every_block_runs_in_linen_and_equinox(name):
    """Each block through Flax linen and Equinox equals its own apply (lengths and a state)."""
    block, params, x = make(name, 2, 5)
    lengths = jnp.array([5, 2])
    state = block.apply(params, x[:, :2])[1]
    module = LinenRNN(block)
    variables = {"params": {"layer": params}}
    want = block.apply(params, x, seq_lengths=lengths, initial_state=state)
    close(module.apply(variables, x, state, seq_lengths=lengths), want, 1e-6)
    eqx_module = eqx.tree_at(lambda m: m.params, EqxRNN(block, key=jax.random.key(0)), params)
    close(eqx_module(x, state, seq_lengths=lengths), want, 1e-6)
