"""``Mamba`` against mambapy's ``MambaBlock`` through ``jaxrnn.interop.from_mambapy``: its forward
(parallel and sequential scans), its step with its cache, and gradients."""

import dataclasses

import jax
import jax.numpy as jnp
import pytest
import torch
from mambapy.mamba import MambaBlock, MambaConfig

from jaxrnn.interop import from_mambapy
from tests.helpers import close, randomize_torch


def _block(seed, **config):
    torch.manual_seed(seed)
    return randomize_torch(MambaBlock(MambaConfig(n_layers=1, **config)), seed=seed, scale=0.5)


@pytest.mark.parametrize("config,method", [({"d_model": 8, "d_state": 4, "d_conv": 3}, "associative"),
                                           ({"d_model": 6, "d_state": 3, "expand_factor": 1, "dt_rank": 2, "bias": True,
                                             "conv_bias": False, "pscan": False}, "recurrent")])
def test_equals_mambapy_forward_and_step(config, method):
    torch_block = _block(0, **config)
    layer, params = from_mambapy(torch_block)
    x = torch.randn(2, 7, config["d_model"], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = torch_block(x)
        cache = (None, torch.zeros(2, layer.d_inner, layer.d_conv - 1))
        for t in range(x.shape[1]):
            _, cache = torch_block.step(x[:, t], cache)
    y, state = dataclasses.replace(layer, method=method).apply(params, jnp.asarray(x.numpy()))
    close(y, want.numpy(), 1e-5)
    close(state.recurrent, cache[0].numpy(), 1e-5)
    close(state.conv, cache[1].numpy().transpose(0, 2, 1), 1e-6)


def test_gradients_equal_mambapy():
    torch_block = _block(2, d_model=8, d_state=4)
    layer, params = from_mambapy(torch_block)
    x = torch.randn(2, 6, 8, generator=torch.Generator().manual_seed(3), requires_grad=True)
    (torch_block(x) ** 2).sum().backward()
    grads = jax.grad(lambda p, x: jnp.sum(layer.apply(p, x)[0] ** 2), argnums=(0, 1))(params, jnp.asarray(x.detach().numpy()))
    close(grads[1], x.grad.numpy(), 1e-4)
    named = dict(torch_block.named_parameters())
    close(grads[0]["conv1d"], named["conv1d.weight"].grad[:, 0].numpy(), 1e-4)
    for name in ("in_proj", "x_proj", "dt_proj", "out_proj"):
        close(grads[0][name], named[f"{name}.weight"].grad.numpy(), 1e-4)
    for name in ("A_log", "D"):
        close(grads[0][name], named[name].grad.numpy(), 1e-4)


def test_from_mambapy_refuses_other_modules():
    with pytest.raises(TypeError, match="block must be a mambapy MambaBlock, got torch.nn.modules.linear.Linear"):
        from_mambapy(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="inner_layernorms must be False"):
        from_mambapy(MambaBlock(MambaConfig(d_model=8, n_layers=1, inner_layernorms=True)))
