"""``Mamba2`` against flash-linear-attention's ``fla.layers.Mamba2``: its torch path (the one it
runs without CUDA kernels), prefill and cached decoding, with its two Triton kernels replaced: its
gated RMSNorm by fla's reference ``rms_norm_ref``, its SiLU (``ACT2FN["silu"]``) by torch's."""

import jax.numpy as jnp
import torch
from fla.layers.mamba2 import Mamba2 as FlaMamba2
from fla.modules.norm.layernorm_gated import rms_norm_ref

from jaxrnn.blocks import Mamba2
from tests.helpers import close, randomize_torch


def _fla_layer():
    torch.manual_seed(0)
    layer = FlaMamba2(hidden_size=8, head_dim=4, state_size=4, expand=2, chunk_size=4, use_bias=True)
    layer = randomize_torch(layer, seed=1, scale=0.5)
    layer.act = torch.nn.functional.silu
    norm = layer.norm
    norm.forward = lambda x, z=None: rms_norm_ref(x, norm.weight, norm.bias, z=z, eps=norm.eps,
                                                  group_size=norm.group_size, norm_before_gate=norm.norm_before_gate)
    return layer


def _params(layer) -> dict:
    params = {name: jnp.asarray(t.detach().numpy()) for name, t in layer.named_parameters()}
    params = {name.replace(".weight", "").replace(".bias", "_bias"): value for name, value in params.items()}
    return dict(params, conv1d=params["conv1d"][:, 0])


def test_equals_fla_prefill_and_decoding():
    layer = _fla_layer()
    block = Mamba2(8, state_size=4, head_dim=4, bias=True, chunk_size=4)
    params = _params(layer)
    x = torch.randn(2, 7, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        want, _, want_state = layer.torch_forward(x)
        last = {"conv_state": torch.zeros(2, block.conv_channels, block.conv_size),
                "recurrent_state": torch.zeros(2, block.num_heads, block.head_size, block.state_size)}
        decoded = []
        for t in range(x.shape[1]):
            out, last["conv_state"], last["recurrent_state"] = layer.torch_forward(x[:, t:t + 1], last_state=last)
            decoded.append(out[:, 0])
    close(want, torch.stack(decoded, 1).numpy(), 1e-5)  # fla's two paths agree
    y, state = block.apply(params, jnp.asarray(x.numpy()))  # chunked (step, the recurrent method, equals apply)
    close(y, want.numpy(), 1e-5)
    close(state.recurrent, want_state.numpy().transpose(0, 1, 3, 2), 1e-5)
    close(state.conv, last["conv_state"].numpy()[:, :, 1:].transpose(0, 2, 1), 1e-6)
