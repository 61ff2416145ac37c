"""``GriffinBlock`` against recurrentgemma's linen ``RecurrentBlock`` through
``jaxrnn.interop.from_flax``: a training call with a document boundary (segment_pos == 0), a fresh
call, and decoding with recurrentgemma's cache."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import pytest
from recurrentgemma.jax.modules import RecurrentBlock

from jaxrnn.interop import from_flax
from tests.helpers import close, randomized


@functools.cache
def _module():
    module = RecurrentBlock(width=8, num_heads=2, lru_width=6, conv1d_temporal_width=3)
    x = jax.random.normal(jax.random.key(0), (2, 9, 8))
    variables = module.init(jax.random.key(1), x, jnp.tile(jnp.arange(9), (2, 1)))
    return module, randomized(variables, seed=2, scale=0.5), x


def test_equals_recurrentgemma_with_a_document_boundary():
    module, variables, x = _module()
    segment_pos = jnp.array([list(range(9)), [0, 1, 2, 3, 0, 1, 2, 3, 4]])
    want, cache = module.apply(variables, x, segment_pos)
    block, params = from_flax(module, variables)
    y, state = block.apply(params, x, resets=segment_pos == 0)  # associative; step (recurrent) below
    close(y, want, 1e-5)
    close(state.recurrent.h, cache.rg_lru_state, 1e-5)
    close(state.conv, cache.conv1d_state, 1e-6)
    y, _ = block.apply(params, x)  # a fresh call starts a segment as recurrentgemma's segment_pos = arange(T)
    close(y[0], want[0], 1e-5)


def test_step_equals_recurrentgemma_decoding():
    module, variables, x = _module()
    block, params = from_flax(module, variables)
    cache = RecurrentBlock.init_cache(2, 6, jnp.float32, conv1d_temporal_width=3)
    state = block.initial_state(2)
    for t in range(4):
        want, cache = module.apply(variables, x[:, t:t + 1], jnp.full((2, 1), t), cache=cache)
        y, state = block.step(params, x[:, t], state)
        close(y, want[:, 0], 1e-5)
    close(state.recurrent.h, cache.rg_lru_state, 1e-5)
    close(state.conv, cache.conv1d_state, 1e-6)


def test_from_flax_reads_the_dtype_and_refuses_what_differs():
    module, variables, _ = _module()
    module = dataclasses.replace(module, dtype=jnp.bfloat16)
    block, params = from_flax(module, variables)
    assert block.compute_dtype == "bfloat16" and params["input_gate"].shape == (2, 3, 3)
    with pytest.raises(ValueError, match="lru_only_real must be True"):
        from_flax(dataclasses.replace(module, lru_only_real=False), variables)
    with pytest.raises(ValueError, match=r"variables: expected the params of a recurrentgemma RecurrentBlock"):
        from_flax(module, {"params": {"linear_x": {}}})
    with pytest.raises(TypeError, match="variables must be the dict that module.init returned"):
        from_flax(module, None)
