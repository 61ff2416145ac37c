"""recurrentgemma interop: its linen ``RecurrentBlock`` (Griffin's temporal mixer) as a
:class:`jaxrnn.blocks.GriffinBlock` and its params; :func:`jaxrnn.interop.from_flax` dispatches here.
Nothing of recurrentgemma is imported: the module's fields and variables are read as they are."""

from __future__ import annotations

from collections.abc import Mapping

import jax.numpy as jnp

from jaxrnn.blocks import GriffinBlock


def is_recurrent_block(module) -> bool:
    """Whether ``module`` is recurrentgemma's linen ``RecurrentBlock``."""
    kind = type(module)
    return kind.__name__ == "RecurrentBlock" and kind.__module__.startswith("recurrentgemma.")


def from_recurrent_block(module, variables) -> tuple[GriffinBlock, dict]:
    """``(GriffinBlock, params)`` equal to recurrentgemma's ``RecurrentBlock`` ``module`` with
    ``variables`` (what ``module.init`` returned, or its ``"params"``).

    ``block.apply(params, x)`` equals ``module.apply(variables, x, segment_pos)`` with
    ``segment_pos = arange(T)`` (a fresh sequence; a reset where ``segment_pos == 0`` elsewhere), and
    the state is recurrentgemma's cache (``rg_lru_state`` and ``conv1d_state``, both in jaxrnn's
    layout already). Kernels ``(in, out)`` become torch's ``(out, in)``; the gates' blocks ``(H, in,
    out)`` become ``(H, out, in)``; their biases ``(H, out)`` are flattened.

    Examples:
      >>> from recurrentgemma.jax.modules import RecurrentBlock
      >>> module = RecurrentBlock(width=8, num_heads=2)
      >>> x, segment_pos = jnp.ones((1, 5, 8)), jnp.arange(5)[None]
      >>> variables = module.init(jax.random.key(0), x, segment_pos)
      >>> block, params = from_recurrent_block(module, variables)
      >>> bool(jnp.allclose(block.apply(params, x)[0], module.apply(variables, x, segment_pos)[0], atol=1e-5))
      True
    """
    if not module.lru_only_real:
        raise ValueError("module: lru_only_real must be True (jaxrnn's RG-LRU is real), got False")
    if not isinstance(variables, Mapping):
        raise TypeError(f"variables must be the dict that module.init returned (or its 'params'), got "
                        f"{type(variables).__name__}")
    p = variables.get("params", variables)
    try:
        lru = p["rg_lru"]
        params = {"linear_y": p["linear_y"]["kernel"].T, "linear_y_bias": p["linear_y"]["bias"],
                  "linear_x": p["linear_x"]["kernel"].T, "linear_x_bias": p["linear_x"]["bias"],
                  "conv_1d": p["conv_1d"]["w"].T, "conv_1d_bias": p["conv_1d"]["b"],
                  "input_gate": jnp.swapaxes(lru["input_gate"]["w"], 1, 2),
                  "input_gate_bias": lru["input_gate"]["b"].reshape(-1),
                  "a_gate": jnp.swapaxes(lru["a_gate"]["w"], 1, 2), "a_gate_bias": lru["a_gate"]["b"].reshape(-1),
                  "a_param": lru["a_param"], "linear_out": p["linear_out"]["kernel"].T,
                  "linear_out_bias": p["linear_out"]["bias"]}
    except (KeyError, TypeError) as err:
        raise ValueError(f"variables: expected the params of a recurrentgemma RecurrentBlock (from module.init), "
                         f"missing {err}; got keys {sorted(p)}") from None
    dtype = module.dtype
    block = GriffinBlock(module.width, num_heads=module.num_heads, lru_width=module.lru_width or module.width,
                         conv_size=module.conv1d_temporal_width,
                         compute_dtype=None if dtype is None or jnp.dtype(dtype) == jnp.float32 else jnp.dtype(dtype).name)
    return block, {name: jnp.asarray(value) for name, value in params.items()}
