"""The blocks the generic tests run (small configs, chunk 4 so that T=11 crosses chunks) and a
helper that builds one with random params and inputs and its jitted ``apply`` and ``step`` (one
per block for the whole session, so equal shapes compile once)."""

import functools

import jax

from jaxrnn import blocks
from tests.helpers import randomized

# Each block family at d_model 8 (DeltaNet, decay=False, is GatedDeltaNet's op without a gate: its peer test).
BLOCKS = {
    "gated_deltanet": lambda: blocks.GatedDeltaNet(8, num_heads=2, head_dim=4, allow_neg_eigval=True, conv_bias=True,
                                                   chunk_size=4),
    "mamba": lambda: blocks.Mamba(8, d_state=4, d_conv=3),
    "griffin": lambda: blocks.GriffinBlock(8, num_heads=2, lru_width=6),
    "mamba2": lambda: blocks.Mamba2(8, state_size=4, head_dim=4, n_groups=2, chunk_size=4),
    "mlstm": lambda: blocks.MLSTMBlock(8, num_heads=2, inner_dim=16, bias=True, chunk_size=4),
    "slstm": lambda: blocks.SLSTMBlock(8, num_heads=2),
}


@functools.cache
def jitted(name):
    """``(block, jit(block.apply), jit(block.step))`` for ``BLOCKS[name]``."""
    block = BLOCKS[name]()
    return block, jax.jit(block.apply), jax.jit(block.step)


def make(name, batch, steps, seed=0, scale=0.5):
    """``(block, params, x: (batch, steps, d_model))`` with params drawn from U(-scale, scale)."""
    block = BLOCKS[name]()
    params = randomized(block.init(jax.random.key(seed)), seed=seed, scale=scale)
    x = jax.random.normal(jax.random.key(seed + 1), (batch, steps, block.d_model))
    return block, params, x
