"""``MLSTMBlock`` and ``SLSTMBlock`` against the xlstm package's ``mLSTMLayer`` and ``sLSTMLayer``
(the mixers of its ``mLSTMBlock`` and ``sLSTMBlock``), which run natively on CPU: forward, the mLSTM's
step with its state, the sLSTM (vanilla backend) with its last state."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from xlstm.blocks.mlstm.layer import mLSTMLayer, mLSTMLayerConfig
from xlstm.blocks.slstm.layer import sLSTMLayer, sLSTMLayerConfig

from jaxrnn.blocks import MLSTMBlock, SLSTMBlock
from tests.helpers import close, randomize_torch


def _numpy(module) -> dict:
    return {name: jnp.asarray(t.detach().numpy()) for name, t in module.named_parameters()}


def mlstm_params(layer) -> dict:
    """jaxrnn's params from an xlstm ``mLSTMLayer`` (its LayerNorm gain is ``1 + weight``)."""
    p = _numpy(layer)
    return {"proj_up": p["proj_up.weight"], "conv1d": p["conv1d.conv.weight"][:, 0], "conv1d_bias": p["conv1d.conv.bias"],
            "q_proj": p["q_proj.weight"], "k_proj": p["k_proj.weight"], "v_proj": p["v_proj.weight"],
            "igate": p["mlstm_cell.igate.weight"], "igate_bias": p["mlstm_cell.igate.bias"],
            "fgate": p["mlstm_cell.fgate.weight"], "fgate_bias": p["mlstm_cell.fgate.bias"],
            "outnorm": 1.0 + p["mlstm_cell.outnorm.weight"], "learnable_skip": p["learnable_skip"],
            "proj_down": p["proj_down.weight"]}


def slstm_params(layer) -> dict:
    """jaxrnn's params from an xlstm ``sLSTMLayer`` (vanilla backend): its ``fgate`` module feeds the
    input gate and its ``igate`` module the forget gate."""
    p = _numpy(layer)
    return {"conv1d": p["conv1d.conv.weight"][:, 0], "conv1d_bias": p["conv1d.conv.bias"],
            "i_proj": p["fgate.weight"], "f_proj": p["igate.weight"], "z_proj": p["zgate.weight"],
            "o_proj": p["ogate.weight"], "w_hh": p["slstm_cell._recurrent_kernel_"], "b_ih": p["slstm_cell._bias_"],
            "group_norm": 1.0 + p["group_norm.weight"]}


def test_mlstm_block_equals_xlstm_forward_and_step():
    config = mLSTMLayerConfig(embedding_dim=8, num_heads=2, proj_factor=2.0, round_proj_up_to_multiple_of=16,
                              context_length=7, conv1d_kernel_size=3)
    torch.manual_seed(0)
    layer = randomize_torch(mLSTMLayer(config), seed=1, scale=0.5)
    block = MLSTMBlock(8, num_heads=2, inner_dim=16, conv_size=3, chunk_size=4)
    x = torch.randn(2, 7, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        want = layer(x)
        mlstm_state = conv_state = None
        stepped = []
        for t in range(x.shape[1]):
            y_t, states = layer.step(x[:, t:t + 1], mlstm_state=mlstm_state, conv_state=conv_state)
            mlstm_state, conv_state = states["mlstm_state"], states["conv_state"]
            stepped.append(y_t[:, 0])
    close(torch.stack(stepped, 1).numpy(), want.numpy(), 1e-5)  # xlstm's parallel and recurrent forms agree
    c, n, m = (s.numpy() for s in mlstm_state)
    scale = np.sqrt(block.d_inner // block.num_heads)  # xlstm's state holds k / sqrt(DH)
    y, state = block.apply(mlstm_params(layer), jnp.asarray(x.numpy()))  # chunked (step, recurrent, equals apply)
    close(y, want.numpy(), 1e-5)
    close(state.recurrent, (c * scale, n[..., 0] * scale, m[..., 0, 0]), 1e-5)
    close(state.conv, conv_state[0].numpy()[:, 1:], 1e-6)


@pytest.mark.parametrize("heads", [1, 2])
def test_slstm_block_equals_xlstm_vanilla(heads):
    config = sLSTMLayerConfig(embedding_dim=8, num_heads=heads, conv1d_kernel_size=3, backend="vanilla")
    torch.manual_seed(3)
    layer = randomize_torch(sLSTMLayer(config), seed=4, scale=0.5)
    block = SLSTMBlock(8, num_heads=heads, conv_size=3)
    x = torch.randn(2, 7, 8, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        want, last = layer(x, return_last_state=True)
    y, state = block.apply(slstm_params(layer), jnp.asarray(x.numpy()))
    close(y, want.numpy(), 1e-5)
    close(jnp.stack(state.recurrent), last["slstm_state"].numpy(), 1e-5)
    close(state.conv, last["conv_state"].numpy(), 1e-6)
