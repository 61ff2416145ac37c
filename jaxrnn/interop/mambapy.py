"""mambapy interop: ``from_mambapy`` reads a mambapy ``MambaBlock`` (torch) into a
:class:`jaxrnn.blocks.Mamba` and its params. Nothing of mambapy or torch is imported: the block's
config and tensors are read as they are."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jaxrnn.blocks import Mamba

# jaxrnn's param name -> mambapy's state_dict name.
_NAMES = {"in_proj": "in_proj.weight", "in_proj_bias": "in_proj.bias", "conv1d": "conv1d.weight",
          "conv1d_bias": "conv1d.bias", "x_proj": "x_proj.weight", "dt_proj": "dt_proj.weight",
          "dt_proj_bias": "dt_proj.bias", "A_log": "A_log", "D": "D", "out_proj": "out_proj.weight",
          "out_proj_bias": "out_proj.bias"}


def from_mambapy(block) -> tuple[Mamba, dict]:
    """A jaxrnn :class:`~jaxrnn.blocks.Mamba` equal to a mambapy ``MambaBlock``, and its params.

    ``block.apply(params, x)`` equals ``block(x)`` of the torch module (mambapy's ``forward``, either
    scan), and :meth:`~jaxrnn.blocks.Mamba.step` its ``step`` (the state's conv cache is mambapy's
    ``inputs`` transposed to ``(B, d_conv-1, E)``).

    Args:
      block: a ``mambapy.mamba.MambaBlock`` (the mixer of mambapy's ``ResidualBlock``), without
        ``inner_layernorms``.

    Returns:
      ``(Mamba, params)`` with the module's config and a copy of its weights (in their dtype).

    Examples:
      >>> from mambapy.mamba import MambaBlock, MambaConfig
      >>> layer, params = from_mambapy(MambaBlock(MambaConfig(d_model=16, n_layers=1)))
      >>> layer.d_inner, layer.rank, params["A_log"].shape
      (32, 1, (32, 16))
    """
    config = getattr(block, "config", None)
    if type(block).__name__ != "MambaBlock" or config is None or not hasattr(block, "state_dict"):
        raise TypeError(f"block must be a mambapy MambaBlock, got {type(block).__module__}.{type(block).__qualname__}")
    if config.inner_layernorms:
        raise ValueError("block: inner_layernorms must be False (jaxrnn's Mamba has no norms of dt, B and C), got True")
    layer = Mamba(config.d_model, d_state=config.d_state, expand_factor=config.expand_factor, d_conv=config.d_conv,
                  dt_rank=config.dt_rank, bias=config.bias, conv_bias=config.conv_bias)
    weights = {name: np.asarray(tensor.detach().cpu().numpy()) for name, tensor in block.state_dict().items()}
    params = {name: jnp.asarray(weights[_NAMES[name]]) for name in layer.param_shapes()}
    params["conv1d"] = params["conv1d"][:, 0]  # (E, 1, d_conv) -> (E, d_conv)
    return layer, params
