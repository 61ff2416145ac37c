"""``GriffinBlock``: the recurrent block of Griffin and Hawk (De et al. 2024), recurrentgemma's
``RecurrentBlock``."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from jaxrnn import _checks, ops
from jaxrnn.blocks import common
from jaxrnn.blocks.common import BlockState
from jaxrnn.cells.rglru import RGLRUCell


class GriffinState(NamedTuple):
    """The recurrence's state. A row's first step starts a segment (recurrentgemma's
    ``segment_pos == 0``: the RG-LRU's ``a = 0`` and multiplier 1), as a reset does.

    Attributes:
      h: ``(B, L)``, the RG-LRU's state.
      started: ``(B,)`` bools, False until a row's first step.
    """

    h: jax.Array
    started: jax.Array


@dataclasses.dataclass(frozen=True)
class GriffinBlock(common.Block):
    """Griffin's recurrent block (the temporal mixer), as recurrentgemma's linen ``RecurrentBlock``::

        y = gelu(x W_y^T + b_y)                                  # gate branch (tanh-approximated GeLU)
        u = conv(x W_x^T + b_x)                                  # short causal depthwise conv, no activation
        h = rg_lru(u, headwise(u, W_i) + b_i, headwise(u, W_a) + b_a, a_param)
        out = (h * y) W_out^T + b_out

    ``rg_lru``: ``log a = -8 sigmoid(a_gate) softplus(a_param)``, ``h = a h + sqrt(1 - a^2)
    sigmoid(input_gate) u`` (:func:`jaxrnn.ops.rg_lru`); the gates are block-diagonal with
    ``num_heads`` blocks. A row's first step (``GriffinState.started`` False) and every reset start a
    segment: ``a = 0`` and multiplier 1 there, and the conv reads nothing before it.

    Args:
      d_model: D, the input and output features (recurrentgemma's ``width``).
      num_heads: the blocks of the gates (divides ``lru_width``).
      lru_width: L, the recurrence's channels (``None``: ``d_model``; ``width`` is L).
      conv_size: the width of the short convolution (recurrentgemma's ``conv1d_temporal_width``).
      method: the op's method: ``"auto"``, ``"recurrent"``, ``"associative"``.
      compute_dtype: as the classic layers (:mod:`jaxrnn.precision`).

    Params (torch layout): ``linear_y, linear_x: (L, D)`` and their ``_bias: (L,)``,
    ``conv_1d: (L, conv_size)``, ``conv_1d_bias``, ``input_gate, a_gate: (num_heads, L/num_heads,
    L/num_heads)`` (head ``h``'s ``(out, in)`` block) and their ``_bias: (L,)``, ``a_param: (L,)``,
    ``linear_out: (D, L)``, ``linear_out_bias: (D,)``. State: ``BlockState(conv: (B,
    conv_size-1, L), recurrent: GriffinState)``. ``jaxrnn.interop.from_flax(recurrent_block,
    variables)`` reads recurrentgemma's block.

    Examples:
      >>> block = GriffinBlock(16, num_heads=2)
      >>> params = block.init(jax.random.key(0))
      >>> y, state = block.apply(params, jnp.ones((3, 10, 16)))
      >>> y.shape, state.recurrent.h.shape, state.recurrent.started.tolist()
      ((3, 10, 16), (3, 16), [True, True, True])
    """

    d_model: int
    num_heads: int = 1
    lru_width: int | None = None
    conv_size: int = 4
    method: str = "auto"
    compute_dtype: Any = None

    methods: ClassVar[tuple] = ("recurrent", "associative")
    matrices: ClassVar[tuple] = ("linear_y", "linear_x", "input_gate", "a_gate", "linear_out")

    def __post_init__(self):
        self.validate()
        common.check_sizes(num_heads=self.num_heads, conv_size=self.conv_size)
        if self.lru_width is not None:
            _checks.positive_int("lru_width", self.lru_width)
        if self.width % self.num_heads:
            raise ValueError(f"lru_width ({self.width}) must be divisible by num_heads, got {self.num_heads}")

    @property
    def width(self) -> int:
        """L, the recurrence's channels (``lru_width`` or its default ``d_model``)."""
        return self.d_model if self.lru_width is None else self.lru_width

    @property
    def conv_channels(self) -> int:
        return self.width

    def param_shapes(self) -> dict:
        """``{name: shape}`` of the params."""
        d, lw, h = self.d_model, self.width, self.num_heads
        gate = (h, lw // h, lw // h)
        return {"linear_y": (lw, d), "linear_y_bias": (lw,), "linear_x": (lw, d), "linear_x_bias": (lw,),
                "conv_1d": (lw, self.conv_size), "conv_1d_bias": (lw,), "input_gate": gate, "input_gate_bias": (lw,),
                "a_gate": gate, "a_gate_bias": (lw,), "a_param": (lw,), "linear_out": (d, lw),
                "linear_out_bias": (d,)}

    def init(self, key) -> dict:
        """recurrentgemma's initialisation: weights normal with variance ``1 / fan_in`` (the conv's
        ``0.01 / conv_size``), zero biases, ``a_param`` from :meth:`jaxrnn.cells.rglru.RGLRUCell.init`."""
        keys = jax.random.split(_checks.prng_key("key", key), 7)
        params = {name: jnp.zeros(shape, jnp.float32) for name, shape in self.param_shapes().items()}
        for k, name in zip(keys, ("linear_y", "linear_x", "input_gate", "a_gate", "linear_out")):
            shape = params[name].shape
            params[name] = jax.random.normal(k, shape, jnp.float32) / math.sqrt(shape[-1])
        params["conv_1d"] = jax.random.normal(keys[5], (self.width, self.conv_size)) * math.sqrt(0.01 / self.conv_size)
        params["a_param"] = RGLRUCell(self.width).init(keys[6])["a_param"]
        return params

    def recurrent_zeros(self, batch: int, dtype) -> GriffinState:
        """``h`` zeros ``(B, L)``, ``started`` False ``(B,)``."""
        return GriffinState(jnp.zeros((batch, self.width), dtype), jnp.zeros((batch,), bool))

    def forward(self, w: dict, x, state: BlockState, rows: common.Rows, method: str):
        """See the class docstring; ``x: (B, T, D)`` -> ``(out: (B, T, D), state)``."""
        batch, steps, _ = x.shape
        first = (jnp.arange(steps) == 0)[None, :] & ~state.recurrent.started[:, None]
        start = first if rows.start is None else rows.start | first
        if rows.valid is not None:
            start = start & rows.valid
        y = jax.nn.gelu(common.linear(x, w["linear_y"], w["linear_y_bias"]))
        u = common.linear(x, w["linear_x"], w["linear_x_bias"])
        u, conv = common.causal_conv(u, w["conv_1d"], w["conv_1d_bias"], state.conv, rows.lengths, start)
        input_gate = common.headwise(u, w["input_gate"], w["input_gate_bias"])
        a_gate = common.headwise(u, w["a_gate"], w["a_gate_bias"])
        h, last = ops.rg_lru(u, input_gate, a_gate, w["a_param"], initial_state=state.recurrent.h,
                             seq_lengths=rows.lengths, resets=start, method=method)
        ran = jnp.full((batch,), steps > 0) if rows.lengths is None else rows.lengths > 0
        recurrent = GriffinState(last, state.recurrent.started | ran)
        return common.linear(h * y, w["linear_out"], w["linear_out_bias"]), BlockState(conv, recurrent)
