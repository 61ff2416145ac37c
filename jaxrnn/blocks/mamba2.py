"""``Mamba2``: the Mamba-2 block (Dao and Gu 2024), its SSD on :func:`jaxrnn.ops.simple_gla`;
flash-linear-attention's ``fla.layers.Mamba2`` (the reference mamba_ssm's ``Mamba2Simple``)."""

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
class Mamba2(common.Block):
    """Mamba-2 (the mixer), as ``fla.layers.Mamba2`` (mamba_ssm's ``Mamba2Simple``)::

        z, xBC, dt = split(u W_in^T)                             # I = expand * D, xBC: I + 2 G N, dt: H
        x, B, C = split(silu(conv(xBC)))                         # short causal depthwise conv
        dt = softplus(dt + dt_bias); A = -exp(A_log)             # per head
        y, S = simple_gla(q=C, k=B, v=dt x, g=dt A, scale=1)     # SSD: S = exp(dt A) S + B (dt x)^T; y = S^T C
        y = y + D x                                              # per head
        out = rms_norm(y * silu(z)) W_out^T                      # gated RMSNorm per group, gate first

    Head ``h`` has ``P = head_dim`` channels of ``x`` and reads group ``h // (H / G)`` of ``B`` and
    ``C`` (mamba_ssm's layout).

    Args:
      d_model: D, the input and output features.
      state_size: N, the state entries per head and channel (``d_state``).
      expand: I / D.
      head_dim: P (``None``: ``gcd(I, 64)``; ``head_size`` is P); H = I / P heads (``num_heads``).
      n_groups: G, the groups of ``B`` and ``C`` (and of the norm); divides H.
      conv_size: the width of the short convolution (``conv_kernel``).
      conv_bias: whether the convolution has a bias.
      bias: whether ``in_proj`` and ``out_proj`` have biases.
      norm_eps: the RMSNorm's epsilon.
      method: the op's method (:func:`jaxrnn.ops.simple_gla`): ``"auto"``, ``"recurrent"``,
        ``"chunked"``.
      chunk_size: the chunk of the ``"chunked"`` method.
      compute_dtype: as the classic layers (:mod:`jaxrnn.precision`).

    Params (fla's names, torch layout): ``in_proj: (2I + 2GN + H, D)`` (rows z, x, B, C, dt),
    ``conv1d: (I + 2GN, conv_size)``, ``conv1d_bias``, ``dt_bias, A_log, D: (H,)``, ``norm: (I,)``,
    ``out_proj: (D, I)`` (and ``in_proj_bias``, ``out_proj_bias`` with ``bias``). State:
    ``BlockState(conv: (B, conv_size-1, I + 2GN), recurrent: (B, H, N, P))``.

    Examples:
      >>> block = Mamba2(16, state_size=8)
      >>> params = block.init(jax.random.key(0))
      >>> y, state = block.apply(params, jnp.ones((3, 10, 16)))
      >>> y.shape, state.recurrent.shape, state.conv.shape
      ((3, 10, 16), (3, 1, 8, 32), (3, 3, 48))
    """

    d_model: int
    state_size: int = 64
    expand: int = 2
    head_dim: int | None = None
    n_groups: int = 1
    conv_size: int = 4
    conv_bias: bool = True
    bias: bool = False
    norm_eps: float = 1e-5
    method: str = "auto"
    chunk_size: int = 64
    compute_dtype: Any = None

    methods: ClassVar[tuple] = ("recurrent", "chunked")
    matrices: ClassVar[tuple] = ("in_proj", "out_proj")

    def __post_init__(self):
        self.validate()
        common.check_sizes(state_size=self.state_size, expand=self.expand, n_groups=self.n_groups,
                           conv_size=self.conv_size, chunk_size=self.chunk_size)
        if self.head_dim is not None:
            _checks.positive_int("head_dim", self.head_dim)
        _checks.boolean("conv_bias", self.conv_bias)
        _checks.boolean("bias", self.bias)
        if self.d_inner % self.head_size:
            raise ValueError(f"head_dim must divide expand * d_model = {self.d_inner}, got {self.head_size}")
        if self.num_heads % self.n_groups:
            raise ValueError(f"n_groups must divide the number of heads {self.num_heads}, got {self.n_groups}")

    @property
    def d_inner(self) -> int:
        """I = expand * d_model."""
        return self.expand * self.d_model

    @property
    def num_heads(self) -> int:
        """H = I / P."""
        return self.d_inner // self.head_size

    @property
    def head_size(self) -> int:
        """P, the channels per head (``head_dim`` or its default ``gcd(I, 64)``)."""
        return math.gcd(self.d_inner, 64) if self.head_dim is None else self.head_dim

    @property
    def conv_channels(self) -> int:
        return self.d_inner + 2 * self.n_groups * self.state_size

    def param_shapes(self) -> dict:
        """``{name: shape}`` of the params."""
        d, i, h = self.d_model, self.d_inner, self.num_heads
        shapes = {"in_proj": (i + self.conv_channels + h, d), "conv1d": (self.conv_channels, self.conv_size),
                  "dt_bias": (h,), "A_log": (h,), "D": (h,), "norm": (i,), "out_proj": (d, i)}
        if self.conv_bias:
            shapes["conv1d_bias"] = (self.conv_channels,)
        if self.bias:
            shapes.update(in_proj_bias=(shapes["in_proj"][0],), out_proj_bias=(d,))
        return shapes

    def init(self, key) -> dict:
        """fla's (and mamba_ssm's) initialisation: torch's ``nn.Linear`` and ``nn.Conv1d`` defaults,
        ``dt_bias = softplus^-1(dt)`` with ``dt`` log-uniform in ``[0.001, 0.1]``, ``A ~ U(1, 16)``
        (``A_log = log A``), ``D = 1``, ``norm = 1``."""
        keys = jax.random.split(_checks.prng_key("key", key), 7)
        d, i, h = self.d_model, self.d_inner, self.num_heads
        rows = self.param_shapes()["in_proj"][0]
        params = {"in_proj": common.linear_init(keys[0], rows, d), "dt_bias": common.dt_bias_init(keys[2], h),
                  "A_log": jnp.log(jax.random.uniform(keys[3], (h,), jnp.float32, 1.0, 16.0)),
                  "D": jnp.ones((h,), jnp.float32), "norm": jnp.ones((i,), jnp.float32),
                  "out_proj": common.linear_init(keys[4], d, i)}
        params["conv1d"], bias = common.conv_init(keys[1], self.conv_channels, self.conv_size)
        if self.conv_bias:
            params["conv1d_bias"] = bias
        if self.bias:
            params["in_proj_bias"] = common.uniform(keys[5], (rows,), d ** -0.5)
            params["out_proj_bias"] = common.uniform(keys[6], (d,), i ** -0.5)
        return params

    def recurrent_zeros(self, batch: int, dtype):
        """Zeros ``(B, H, N, P)``."""
        return jnp.zeros((batch, self.num_heads, self.state_size, self.head_size), dtype)

    def forward(self, w: dict, u, state: BlockState, rows: common.Rows, method: str):
        """See the class docstring; ``u: (B, T, D)`` -> ``(out: (B, T, D), state)``."""
        batch, steps, _ = u.shape
        i, h, g, n, p = self.d_inner, self.num_heads, self.n_groups, self.state_size, self.head_size
        z, xbc, dt = common.split(common.linear(u, w["in_proj"], w.get("in_proj_bias")), (i, self.conv_channels, h))
        xbc, conv = common.causal_conv(xbc, w["conv1d"], w.get("conv1d_bias"), state.conv, rows.lengths, rows.start)
        x, b, c = common.split(jax.nn.silu(xbc), (i, g * n, g * n))
        x = x.reshape(batch, steps, h, p)
        b, c = (jnp.repeat(a.reshape(batch, steps, g, n), h // g, axis=2) for a in (b, c))  # head -> its group
        dt = jax.nn.softplus(dt + w["dt_bias"])
        y, recurrent = ops.simple_gla(c, b, x * dt[..., None], dt * -jnp.exp(w["A_log"]), scale=1.0,
                                      initial_state=state.recurrent, seq_lengths=rows.lengths, resets=rows.resets,
                                      method=method, chunk_size=self.chunk_size)
        y = (y + w["D"][:, None] * x).reshape(batch, steps, g, i // g)
        y = common.gated_rms_norm(y, z.reshape(y.shape), w["norm"].reshape(g, i // g), self.norm_eps,
                                  norm_before_gate=False)
        return common.linear(y.reshape(batch, steps, i), w["out_proj"], w.get("out_proj_bias")), \
            BlockState(conv, recurrent)
