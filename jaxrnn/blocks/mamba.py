"""``Mamba``: the Mamba-1 block (Gu and Dao 2023), mambapy's ``MambaBlock``."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from jaxrnn import _checks, ops
from jaxrnn.blocks import common
from jaxrnn.blocks.common import BlockState


@dataclasses.dataclass(frozen=True)
class Mamba(common.Block):
    """Mamba-1 (the mixer, without the residual block's norm and skip), as mambapy's ``MambaBlock``::

        x, z = split(u W_in^T)                                   # two branches of E = expand_factor * D
        x = silu(conv(x))                                        # short causal depthwise conv
        dt, B, C = split(x W_x^T)                                # dt_rank, d_state, d_state
        dt = softplus(dt W_dt^T + b_dt)
        y, h = selective_scan(x, dt, -exp(A_log), B, C, D)       # h = exp(dt A) h + dt B x; y = C h + D x
        out = (y * silu(z)) W_out^T

    Args:
      d_model: D, the input and output features.
      d_state: N, the state entries per channel.
      expand_factor: E / D.
      d_conv: the width of the short convolution (>= 1).
      dt_rank: the rank of the step-size projection (``None``: ``ceil(d_model / 16)``; ``rank`` is it).
      bias: whether ``in_proj`` and ``out_proj`` have biases.
      conv_bias: whether the convolution has a bias.
      method: the op's method (:func:`jaxrnn.ops.selective_scan`): ``"auto"``, ``"recurrent"``,
        ``"associative"``.
      compute_dtype: as the classic layers (:mod:`jaxrnn.precision`).

    Params (mambapy's names, torch layout): ``in_proj: (2E, D)``, ``conv1d: (E, d_conv)``,
    ``conv1d_bias: (E,)``, ``x_proj: (dt_rank + 2N, E)``, ``dt_proj: (E, dt_rank)``,
    ``dt_proj_bias: (E,)``, ``A_log: (E, N)``, ``D: (E,)``, ``out_proj: (D, E)`` (and
    ``in_proj_bias``, ``out_proj_bias`` with ``bias``). State: ``BlockState(conv: (B, d_conv-1, E),
    recurrent: (B, E, N))``. :func:`jaxrnn.interop.from_mambapy` reads a mambapy ``MambaBlock``.

    Examples:
      >>> block = Mamba(16, d_state=4)
      >>> params = block.init(jax.random.key(0))
      >>> y, state = block.apply(params, jnp.ones((3, 10, 16)))
      >>> y.shape, state.recurrent.shape, state.conv.shape
      ((3, 10, 16), (3, 32, 4), (3, 3, 32))
    """

    d_model: int
    d_state: int = 16
    expand_factor: int = 2
    d_conv: int = 4
    dt_rank: int | None = None
    bias: bool = False
    conv_bias: bool = True
    method: str = "auto"
    compute_dtype: Any = None

    methods: ClassVar[tuple] = ("recurrent", "associative")
    matrices: ClassVar[tuple] = ("in_proj", "x_proj", "dt_proj", "out_proj")

    def __post_init__(self):
        self.validate()
        common.check_sizes(d_state=self.d_state, expand_factor=self.expand_factor, d_conv=self.d_conv)
        if self.dt_rank is not None:
            _checks.positive_int("dt_rank", self.dt_rank)
        _checks.boolean("bias", self.bias)
        _checks.boolean("conv_bias", self.conv_bias)

    @property
    def rank(self) -> int:
        """The rank of the step-size projection (``dt_rank`` or its default ``ceil(d_model / 16)``)."""
        return math.ceil(self.d_model / 16) if self.dt_rank is None else self.dt_rank

    @property
    def d_inner(self) -> int:
        """E = expand_factor * d_model."""
        return self.expand_factor * self.d_model

    @property
    def conv_channels(self) -> int:
        return self.d_inner

    @property
    def conv_size(self) -> int:
        return self.d_conv

    def param_shapes(self) -> dict:
        """``{name: shape}`` of the params."""
        d, e, n, r = self.d_model, self.d_inner, self.d_state, self.rank
        shapes = {"in_proj": (2 * e, d), "conv1d": (e, self.d_conv), "x_proj": (r + 2 * n, e), "dt_proj": (e, r),
                  "dt_proj_bias": (e,), "A_log": (e, n), "D": (e,), "out_proj": (d, e)}
        if self.conv_bias:
            shapes["conv1d_bias"] = (e,)
        if self.bias:
            shapes.update(in_proj_bias=(2 * e,), out_proj_bias=(d,))
        return shapes

    def init(self, key) -> dict:
        """mambapy's initialisation: torch's ``nn.Linear`` and ``nn.Conv1d`` defaults, ``dt_proj``
        uniform in ``+-dt_rank^-1/2``, ``dt_proj_bias = softplus^-1(dt)`` with ``dt`` log-uniform in
        ``[0.001, 0.1]``, ``A_log[:, n] = log(n + 1)`` (S4D-real), ``D = 1``."""
        keys = jax.random.split(_checks.prng_key("key", key), 8)
        d, e, n, r = self.d_model, self.d_inner, self.d_state, self.rank
        params = {"in_proj": common.linear_init(keys[0], 2 * e, d),
                  "x_proj": common.linear_init(keys[2], r + 2 * n, e),
                  "dt_proj": common.uniform(keys[3], (e, r), r ** -0.5),
                  "dt_proj_bias": common.dt_bias_init(keys[4], e),
                  "A_log": jnp.log(jnp.tile(jnp.arange(1, n + 1, dtype=jnp.float32), (e, 1))),
                  "D": jnp.ones((e,), jnp.float32), "out_proj": common.linear_init(keys[5], d, e)}
        params["conv1d"], bias = common.conv_init(keys[1], e, self.d_conv)
        if self.conv_bias:
            params["conv1d_bias"] = bias
        if self.bias:
            params["in_proj_bias"] = common.uniform(keys[6], (2 * e,), d ** -0.5)
            params["out_proj_bias"] = common.uniform(keys[7], (d,), e ** -0.5)
        return params

    def recurrent_zeros(self, batch: int, dtype):
        """Zeros ``(B, E, N)``."""
        return jnp.zeros((batch, self.d_inner, self.d_state), dtype)

    def forward(self, w: dict, u, state: BlockState, rows: common.Rows, method: str):
        """See the class docstring; ``u: (B, T, D)`` -> ``(out: (B, T, D), state)``."""
        x, z = common.split(common.linear(u, w["in_proj"], w.get("in_proj_bias")), (self.d_inner, self.d_inner))
        x, conv = common.causal_conv(x, w["conv1d"], w.get("conv1d_bias"), state.conv, rows.lengths, rows.start)
        x = jax.nn.silu(x)
        dt, b, c = common.split(common.linear(x, w["x_proj"]), (self.rank, self.d_state, self.d_state))
        dt = jax.nn.softplus(common.linear(dt, w["dt_proj"], w["dt_proj_bias"]))
        y, h = ops.selective_scan(x, dt, -jnp.exp(w["A_log"]), b, c, w["D"], initial_state=state.recurrent,
                                  seq_lengths=rows.lengths, resets=rows.resets, method=method)
        return common.linear(y * jax.nn.silu(z), w["out_proj"], w.get("out_proj_bias")), BlockState(conv, h)
