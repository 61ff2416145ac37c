"""``GatedDeltaNet``: the Gated DeltaNet block (Yang et al. 2024), flash-linear-attention's layer;
``decay=False`` is DeltaNet."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from jaxrnn import _checks, ops
from jaxrnn.blocks import common
from jaxrnn.blocks.common import BlockState


@dataclasses.dataclass(frozen=True)
class GatedDeltaNet(common.Block):
    """Gated DeltaNet, as flash-linear-attention's ``fla.layers.GatedDeltaNet``::

        q, k, v = silu(conv(x W_q^T, x W_k^T, x W_v^T))       # short causal depthwise conv
        q, k = l2_normalize(q), l2_normalize(k)                  # per head
        beta = sigmoid(x W_b^T)                                  # (2 sigmoid with allow_neg_eigval)
        g = -exp(A_log) softplus(x W_a^T + dt_bias)              # log-decay per head (decay=True)
        o, S = gated_delta_rule(q, k, v, g, beta)                # S = exp(g) S; S += k (beta (v - S^T k))^T
        y = (rms_norm(o) * silu(x W_g^T)) W_o^T                  # gated RMSNorm per head (use_gate)

    Args:
      d_model: D, the input and output features.
      num_heads: H.
      head_dim: K, the key dim per head (``None``: ``max(1, d_model // num_heads)``; ``key_dim`` is K).
      expand_v: the value dim per head is ``V = head_dim * expand_v`` (an integer).
      decay: ``False`` drops the decay gate (``g = None``): DeltaNet.
      use_gate: the output gate (``g_proj``) of the gated RMSNorm; ``False``: RMSNorm alone.
      allow_neg_eigval: ``beta = 2 sigmoid(.)``, so the state transition's eigenvalues lie in
        ``(-1, 1)`` (Grazzi et al. 2024: state tracking such as parity).
      conv_size: K_conv, the width of the short convolution (>= 1).
      conv_bias: whether the convolution has a bias.
      norm_eps: the RMSNorm's epsilon.
      method: the op's method (:func:`jaxrnn.ops.gated_delta_rule`): ``"auto"``, ``"recurrent"``,
        ``"chunked"``.
      chunk_size: the chunk of the ``"chunked"`` method.
      compute_dtype: as the classic layers (:mod:`jaxrnn.precision`).

    Params (torch layout): ``q_proj, k_proj: (H*K, D)``, ``v_proj: (H*V, D)``, ``b_proj: (H, D)``,
    ``conv1d: (2*H*K + H*V, K_conv)`` (the q, k and v channels in that order), ``conv1d_bias``,
    ``a_proj: (H, D)``, ``A_log: (H,)``, ``dt_bias: (H,)`` (decay), ``g_proj: (H*V, D)`` (use_gate),
    ``o_norm: (V,)``, ``o_proj: (D, H*V)``. State: ``BlockState(conv: (B, K_conv-1, 2*H*K + H*V),
    recurrent: (B, H, K, V))``.

    Examples:
      >>> block = GatedDeltaNet(16, num_heads=2)
      >>> params = block.init(jax.random.key(0))
      >>> y, state = block.apply(params, jnp.ones((3, 10, 16)))
      >>> y.shape, state.recurrent.shape, state.conv.shape
      ((3, 10, 16), (3, 2, 8, 16), (3, 3, 64))
    """

    d_model: int
    num_heads: int = 4
    head_dim: int | None = None
    expand_v: float = 2.0
    decay: bool = True
    use_gate: bool = True
    allow_neg_eigval: bool = False
    conv_size: int = 4
    conv_bias: bool = False
    norm_eps: float = 1e-5
    method: str = "auto"
    chunk_size: int = 64
    compute_dtype: Any = None

    methods: ClassVar[tuple] = ("recurrent", "chunked")
    matrices: ClassVar[tuple] = ("q_proj", "k_proj", "v_proj", "b_proj", "a_proj", "g_proj", "o_proj")

    def __post_init__(self):
        self.validate()
        common.check_sizes(num_heads=self.num_heads, conv_size=self.conv_size, chunk_size=self.chunk_size)
        if self.head_dim is not None:
            _checks.positive_int("head_dim", self.head_dim)
        for name in ("decay", "use_gate", "allow_neg_eigval", "conv_bias"):
            _checks.boolean(name, getattr(self, name))
        value = self.key_dim * self.expand_v
        if isinstance(self.expand_v, bool) or not isinstance(self.expand_v, (int, float)) or value < 1 \
                or value != int(value):
            raise ValueError(f"expand_v must make head_dim * expand_v a positive integer (head_dim={self.key_dim}), "
                             f"got {self.expand_v!r}")

    @property
    def key_dim(self) -> int:
        """K, the key dim per head (``head_dim`` or its default)."""
        return max(1, self.d_model // self.num_heads) if self.head_dim is None else self.head_dim

    @property
    def value_dim(self) -> int:
        """V, the value dim per head."""
        return int(self.key_dim * self.expand_v)

    @property
    def conv_channels(self) -> int:
        return self.num_heads * (2 * self.key_dim + self.value_dim)

    def param_shapes(self) -> dict:
        """``{name: shape}`` of the params."""
        d, hk, hv, h = self.d_model, self.num_heads * self.key_dim, self.num_heads * self.value_dim, self.num_heads
        shapes = {"q_proj": (hk, d), "k_proj": (hk, d), "v_proj": (hv, d), "b_proj": (h, d),
                  "conv1d": (self.conv_channels, self.conv_size), "o_norm": (self.value_dim,), "o_proj": (d, hv)}
        if self.conv_bias:
            shapes["conv1d_bias"] = (self.conv_channels,)
        if self.decay:
            shapes.update(a_proj=(h, d), A_log=(h,), dt_bias=(h,))
        if self.use_gate:
            shapes["g_proj"] = (hv, d)
        return shapes

    def init(self, key) -> dict:
        """flash-linear-attention's initialisation: torch's ``nn.Linear`` and ``nn.Conv1d`` defaults,
        ``A ~ U(1, 16)`` (``A_log = log A``), ``dt_bias = softplus^-1(dt)`` with ``dt`` log-uniform in
        ``[0.001, 0.1]``, ``o_norm = 1``."""
        keys = iter(jax.random.split(_checks.prng_key("key", key), 16))
        params = {}
        for name, shape in self.param_shapes().items():
            if name in self.matrices:
                params[name] = common.linear_init(next(keys), *shape)
        params["conv1d"], bias = common.conv_init(next(keys), self.conv_channels, self.conv_size)
        if self.conv_bias:
            params["conv1d_bias"] = bias
        if self.decay:
            params["A_log"] = jnp.log(jax.random.uniform(next(keys), (self.num_heads,), jnp.float32, 1.0, 16.0))
            params["dt_bias"] = common.dt_bias_init(next(keys), self.num_heads)
        params["o_norm"] = jnp.ones((self.value_dim,), jnp.float32)
        return params

    def recurrent_zeros(self, batch: int, dtype):
        """Zeros ``(B, H, K, V)``."""
        return jnp.zeros((batch, self.num_heads, self.key_dim, self.value_dim), dtype)

    def forward(self, w: dict, x, state: BlockState, rows: common.Rows, method: str):
        """See the class docstring; ``x: (B, T, D)`` -> ``(y: (B, T, D), state)``."""
        batch, steps, _ = x.shape
        h, kd, vd = self.num_heads, self.key_dim, self.value_dim
        qkv = common.linear(x, jnp.concatenate([w["q_proj"], w["k_proj"], w["v_proj"]]))
        qkv, conv = common.causal_conv(qkv, w["conv1d"], w.get("conv1d_bias"), state.conv, rows.lengths, rows.start)
        q, k, v = common.split(jax.nn.silu(qkv), (h * kd, h * kd, h * vd))
        q = common.l2_normalize(q.reshape(batch, steps, h, kd))
        k = common.l2_normalize(k.reshape(batch, steps, h, kd))
        beta = jax.nn.sigmoid(common.linear(x, w["b_proj"])) * (2.0 if self.allow_neg_eigval else 1.0)
        g = None
        if self.decay:
            g = -jnp.exp(w["A_log"]) * jax.nn.softplus(common.linear(x, w["a_proj"]) + w["dt_bias"])
        o, recurrent = ops.gated_delta_rule(q, k, v.reshape(batch, steps, h, vd), g, beta,
                                            initial_state=state.recurrent, seq_lengths=rows.lengths,
                                            resets=rows.resets, method=method, chunk_size=self.chunk_size)
        if self.use_gate:
            gate = common.linear(x, w["g_proj"]).reshape(batch, steps, h, vd)
            o = common.gated_rms_norm(o, gate, w["o_norm"], self.norm_eps)
        else:
            o = common.rms_norm(o, w["o_norm"], self.norm_eps)
        return common.linear(o.reshape(batch, steps, h * vd), w["o_proj"]), BlockState(conv, recurrent)
