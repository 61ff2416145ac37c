"""``GatedDeltaNet`` against flash-linear-attention's layers. fla's layers run Triton kernels, so the
peer's output is computed from the layer's own torch modules (projections, the convolutions as
``torch.nn.Conv1d``) and fla's naive reference functions (gate, delta rule, gated RMSNorm)."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from einops import rearrange
from fla.layers import DeltaNet as FlaDeltaNet, GatedDeltaNet as FlaGatedDeltaNet
from fla.modules.norm.layernorm_gated import rms_norm_ref
from fla.ops.delta_rule.naive import delta_rule_recurrence
from fla.ops.gated_delta_rule.gate import naive_gdn_gate
from fla.ops.gated_delta_rule.naive import naive_recurrent_gated_delta_rule

from jaxrnn.blocks import GatedDeltaNet
from tests.helpers import close, randomize_torch


def _conv(module, a):
    """fla's ``ShortConvolution`` (a depthwise ``nn.Conv1d``) with its SiLU, by torch's own Conv1d."""
    return F.silu(torch.nn.Conv1d.forward(module, a.transpose(1, 2))[..., : a.shape[1]].transpose(1, 2))


def _qkv(layer, x):
    q, k, v = (_conv(getattr(layer, f"{n}_conv1d"), getattr(layer, f"{n}_proj")(x)) for n in "qkv")
    q, k = (F.normalize(rearrange(a, "b t (h d) -> b t h d", d=layer.head_k_dim), dim=-1) for a in (q, k))
    beta = layer.b_proj(x).sigmoid() * (2.0 if layer.allow_neg_eigval else 1.0)
    return q, k, rearrange(v, "b t (h d) -> b t h d", d=layer.head_v_dim), beta


def fla_gated_deltanet(layer, x, state):
    """``fla.layers.GatedDeltaNet.forward`` with its kernels replaced by fla's naive references."""
    q, k, v, beta = _qkv(layer, x)
    g = naive_gdn_gate(layer.a_proj(x), layer.A_log, layer.dt_bias)
    o, final = naive_recurrent_gated_delta_rule(q, k, v, beta, g, initial_state=state, output_final_state=True)
    gate = rearrange(layer.g_proj(x), "b t (h d) -> b t h d", d=layer.head_v_dim)
    o = rms_norm_ref(o, layer.o_norm.weight, None, z=gate, eps=layer.o_norm.eps)
    return layer.o_proj(rearrange(o, "b t h d -> b t (h d)")), final


def fla_deltanet(layer, x, state):
    """``fla.layers.DeltaNet.forward`` (defaults: SiLU conv, L2 norm, sigmoid beta, RMSNorm output)."""
    q, k, v, beta = _qkv(layer, x)
    o, final = delta_rule_recurrence(*(a.transpose(1, 2) for a in (q, k, v, beta)), initial_state=state)
    o = rms_norm_ref(o.transpose(1, 2), layer.o_norm.weight, None, eps=layer.o_norm.eps)
    return layer.o_proj(rearrange(o, "b t h d -> b t (h d)")), final


def params_from_fla(layer) -> dict:
    """jaxrnn's params from an fla layer (the three convolutions become one, q, k, v channels)."""
    def a(t):
        return jnp.asarray(t.detach().numpy())

    params = {name: a(getattr(layer, name).weight) for name in ("q_proj", "k_proj", "v_proj", "b_proj", "o_proj")}
    params["conv1d"] = jnp.concatenate([a(getattr(layer, f"{n}_conv1d").weight[:, 0]) for n in "qkv"])
    params["o_norm"] = a(layer.o_norm.weight)
    if hasattr(layer, "A_log"):
        params.update(a_proj=a(layer.a_proj.weight), A_log=a(layer.A_log), dt_bias=a(layer.dt_bias),
                      g_proj=a(layer.g_proj.weight))
    return params


@pytest.mark.parametrize("allow_neg_eigval,method", [(False, "chunked"), (True, "recurrent")])
def test_gated_deltanet_equals_fla(allow_neg_eigval, method):
    torch.manual_seed(0)
    layer = randomize_torch(FlaGatedDeltaNet(hidden_size=8, expand_v=1.5, head_dim=4, num_heads=2,
                                             allow_neg_eigval=allow_neg_eigval), seed=1, scale=0.5)
    block = GatedDeltaNet(8, num_heads=2, head_dim=4, expand_v=1.5, allow_neg_eigval=allow_neg_eigval,
                          chunk_size=4)
    x = torch.randn(2, 9, 8)
    state = torch.randn(2, 2, 4, 6) * 0.3
    with torch.no_grad():
        want, want_state = fla_gated_deltanet(layer, x, state)
    initial = block.initial_state(2)._replace(recurrent=jnp.asarray(state.numpy()))
    y, got = dataclasses.replace(block, method=method).apply(params_from_fla(layer), jnp.asarray(x.numpy()),
                                                               initial_state=initial)
    close(y, want.numpy(), 1e-5)
    close(got.recurrent, want_state.numpy(), 1e-5)


def test_deltanet_equals_fla():
    layer = randomize_torch(FlaDeltaNet(hidden_size=8, num_heads=2), seed=2, scale=0.5)
    block = GatedDeltaNet(8, num_heads=2, expand_v=1.0, decay=False, use_gate=False, chunk_size=4)
    x = torch.randn(2, 9, 8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        want, want_state = fla_deltanet(layer, x, None)
    y, got = block.apply(params_from_fla(layer), jnp.asarray(x.numpy()))
    close(y, want.numpy(), 1e-5)
    close(got.recurrent, want_state.numpy(), 1e-5)
    assert np.isfinite(np.asarray(y)).all()
