"""Each block's hyperparameters are checked when it is built, and its defaults work: errors name
the argument, what was expected and what was received."""

import jax
import jax.numpy as jnp
import pytest

from jaxrnn import blocks

BAD = [
    (lambda: blocks.GatedDeltaNet(8, num_heads=0), ValueError, "num_heads must be >= 1, got 0"),
    (lambda: blocks.GatedDeltaNet(8, head_dim=3, expand_v=0.5), ValueError,
     r"expand_v must make head_dim \* expand_v a positive integer \(head_dim=3\), got 0.5"),
    (lambda: blocks.GatedDeltaNet(8, decay=1), TypeError, "decay must be a bool, got int 1"),
    (lambda: blocks.GatedDeltaNet(8, conv_size=0), ValueError, "conv_size must be >= 1, got 0"),
    (lambda: blocks.Mamba(8, dt_rank=1.5), TypeError, "dt_rank must be an int, got float 1.5"),
    (lambda: blocks.Mamba(8, d_state=0), ValueError, "d_state must be >= 1, got 0"),
    (lambda: blocks.Mamba2(8, head_dim=3), ValueError, r"head_dim must divide expand \* d_model = 16, got 3"),
    (lambda: blocks.Mamba2(8, head_dim=4, n_groups=3), ValueError, "n_groups must divide the number of heads 4, got 3"),
    (lambda: blocks.MLSTMBlock(8, num_heads=5), ValueError, "num_heads must divide 64, got 5"),
    (lambda: blocks.MLSTMBlock(8, inner_dim=16, qkv_blocksize=3), ValueError, "qkv_blocksize must divide 16, got 3"),
    (lambda: blocks.SLSTMBlock(6, num_heads=4), ValueError, "num_heads must divide 6, got 4"),
    (lambda: blocks.GriffinBlock(8, num_heads=3), ValueError, r"lru_width \(8\) must be divisible by num_heads, got 3"),
    (lambda: blocks.GriffinBlock(8, method="chunked"), ValueError, "method must be one of 'auto', 'recurrent', 'associative'"),
]


@pytest.mark.parametrize("build,error,match", BAD, ids=range(len(BAD)))
def test_bad_hyperparameters_are_refused_when_built(build, error, match):
    with pytest.raises(error, match=match):
        build()


@pytest.mark.parametrize("cls", [blocks.GatedDeltaNet, blocks.Mamba, blocks.Mamba2, blocks.MLSTMBlock, blocks.SLSTMBlock,
                                 blocks.GriffinBlock])
def test_defaults_work_for_any_d_model_and_init_matches_the_shapes(cls):
    block = cls(6)
    params = jax.eval_shape(block.init, jax.random.key(0))
    assert {k: v.shape for k, v in params.items()} == block.param_shapes()
    assert all(v.dtype == jnp.float32 for v in params.values())
    with pytest.raises(TypeError, match="key must be a PRNG key"):
        block.init(0)
    with pytest.raises(ValueError, match="batch_size must be >= 0, got -1"):
        block.initial_state(-1)


def test_a_state_of_another_dtype_kind_is_refused():
    block = blocks.GriffinBlock(4)
    params = block.init(jax.random.key(0))
    state = block.initial_state(1)
    state = state._replace(recurrent=state.recurrent._replace(started=jnp.zeros((1,))))
    with pytest.raises(TypeError, match="initial_state must have leaves of dtype kind bool"):
        block.apply(params, jnp.ones((1, 2, 4)), initial_state=state)
