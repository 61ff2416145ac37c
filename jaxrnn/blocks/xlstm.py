"""``MLSTMBlock`` and ``SLSTMBlock``: the xLSTM blocks (Beck et al. 2024), the xlstm package's
``mLSTMLayer`` and ``sLSTMLayer`` (the mixers of its ``mLSTMBlock`` and ``sLSTMBlock``, whose
pre-LayerNorm and residual a residual stack adds)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from jaxrnn import _checks, ops, precision
from jaxrnn.blocks import common
from jaxrnn.blocks.common import BlockState
from jaxrnn.cells.slstm import SLSTMCell, SLSTMState
from jaxrnn.ops import common as ops_common


def _divides(name: str, value, width: int) -> None:
    """Raises naming ``name`` unless ``value`` is an int >= 1 dividing ``width``."""
    if width % _checks.positive_int(name, value):
        raise ValueError(f"{name} must divide {width}, got {value}")


@dataclasses.dataclass(frozen=True)
class MLSTMBlock(common.Block):
    """The mLSTM block (the mixer), as the xlstm package's ``mLSTMLayer``::

        x, z = split(u W_up^T)                                   # two branches of E = inner_dim
        c = silu(conv(x))                                        # short causal depthwise conv (with bias)
        q, k, v = headwise(c, W_q), headwise(c, W_k), headwise(x, W_v)     # blocks of qkv_blocksize
        i, f = [q, k, v] W_i^T + b_i, [q, k, v] W_f^T + b_f      # gate pre-activations per head
        h = mlstm(q, k, v, i, f)                                 # stabilised matrix memory per head
        h = head_layer_norm(h) + skip * c
        out = (h * silu(z)) W_down^T

    Args:
      d_model: D, the input and output features.
      num_heads: NH, the mLSTM heads (divides E).
      inner_dim: E (``None``: xlstm's default ``2 * d_model`` rounded up to a multiple of 64;
        ``d_inner`` is E).
      conv_size: the width of the short convolution.
      qkv_blocksize: the block size of the head-wise q, k, v projections (divides E).
      bias: whether the projections have biases (xlstm's ``bias``).
      method: the op's method (:func:`jaxrnn.ops.mlstm`): ``"auto"``, ``"recurrent"``,
        ``"chunked"``.
      chunk_size: the chunk of the ``"chunked"`` method.
      compute_dtype: as the classic layers (:mod:`jaxrnn.precision`).

    Params (xlstm's names, torch layout): ``proj_up: (2E, D)``, ``conv1d: (E, conv_size)``,
    ``conv1d_bias: (E,)``, ``q_proj, k_proj, v_proj: (E/bs, bs, bs)`` (block ``j``'s ``(out, in)``),
    ``igate, fgate: (NH, 3E)``, ``igate_bias, fgate_bias: (NH,)``, ``outnorm: (E,)`` (the gain
    itself: xlstm's ``1 + weight``), ``learnable_skip: (E,)``, ``proj_down: (D, E)`` (and
    ``proj_up_bias``, ``q_proj_bias``, ... with ``bias``). State: ``BlockState(conv: (B,
    conv_size-1, E), recurrent: (C: (B, NH, DH, DH), n: (B, NH, DH), m: (B, NH)))``, DH = E / NH,
    ``C`` and ``n`` at the scale of unscaled keys (xlstm's step state times ``sqrt(DH)``).

    Examples:
      >>> block = MLSTMBlock(16)
      >>> params = block.init(jax.random.key(0))
      >>> y, (conv, (C, n, m)) = block.apply(params, jnp.ones((3, 10, 16)))
      >>> y.shape, C.shape, conv.shape
      ((3, 10, 16), (3, 4, 16, 16), (3, 3, 64))
    """

    d_model: int
    num_heads: int = 4
    inner_dim: int | None = None
    conv_size: int = 4
    qkv_blocksize: int = 4
    bias: bool = False
    method: str = "auto"
    chunk_size: int = 64
    compute_dtype: Any = None

    methods: ClassVar[tuple] = ("recurrent", "chunked")
    matrices: ClassVar[tuple] = ("proj_up", "q_proj", "k_proj", "v_proj", "igate", "fgate", "proj_down")

    def __post_init__(self):
        self.validate()
        common.check_sizes(conv_size=self.conv_size, qkv_blocksize=self.qkv_blocksize, chunk_size=self.chunk_size)
        if self.inner_dim is not None:
            _checks.positive_int("inner_dim", self.inner_dim)
        _divides("num_heads", self.num_heads, self.d_inner)
        _divides("qkv_blocksize", self.qkv_blocksize, self.d_inner)
        _checks.boolean("bias", self.bias)

    @property
    def d_inner(self) -> int:
        """E (``inner_dim`` or its default)."""
        return 64 * math.ceil(2 * self.d_model / 64) if self.inner_dim is None else self.inner_dim

    @property
    def conv_channels(self) -> int:
        return self.d_inner

    def param_shapes(self) -> dict:
        """``{name: shape}`` of the params."""
        d, e, nh, bs = self.d_model, self.d_inner, self.num_heads, self.qkv_blocksize
        shapes = {"proj_up": (2 * e, d), "conv1d": (e, self.conv_size), "conv1d_bias": (e,),
                  "q_proj": (e // bs, bs, bs), "k_proj": (e // bs, bs, bs), "v_proj": (e // bs, bs, bs),
                  "igate": (nh, 3 * e), "igate_bias": (nh,), "fgate": (nh, 3 * e), "fgate_bias": (nh,),
                  "outnorm": (e,), "learnable_skip": (e,), "proj_down": (d, e)}
        if self.bias:
            shapes.update(proj_up_bias=(2 * e,), q_proj_bias=(e,), k_proj_bias=(e,), v_proj_bias=(e,),
                          proj_down_bias=(d,))
        return shapes

    def init(self, key) -> dict:
        """xlstm's initialisation: small-init (normal, std ``sqrt(2 / (5 D))``) for ``proj_up`` and the
        q, k, v blocks, Wang's init for ``proj_down`` (std ``2 / (D sqrt(5 D))``), zero gate weights,
        forget-gate biases linearly spaced in ``[3, 6]``, input-gate biases normal (std 0.1), unit
        gain and skip, zero biases."""
        keys = jax.random.split(_checks.prng_key("key", key), 7)
        d, e = self.d_model, self.d_inner
        small = math.sqrt(2 / (5 * d))
        params = {name: jnp.zeros(shape, jnp.float32) for name, shape in self.param_shapes().items()}
        for k, name in zip(keys, ("proj_up", "q_proj", "k_proj", "v_proj")):
            params[name] = small * jax.random.normal(k, params[name].shape)
        params["proj_down"] = 2 / d / math.sqrt(5 * d) * jax.random.normal(keys[4], (d, e))
        params["conv1d"], params["conv1d_bias"] = common.conv_init(keys[5], e, self.conv_size)
        params["fgate_bias"] = jnp.linspace(3.0, 6.0, self.num_heads)
        params["igate_bias"] = 0.1 * jax.random.normal(keys[6], (self.num_heads,))
        params["outnorm"], params["learnable_skip"] = jnp.ones((e,), jnp.float32), jnp.ones((e,), jnp.float32)  # two buffers
        return params

    def recurrent_zeros(self, batch: int, dtype):
        """Zeros ``(C: (B, NH, DH, DH), n: (B, NH, DH), m: (B, NH))``."""
        nh, dh = self.num_heads, self.d_inner // self.num_heads
        return (jnp.zeros((batch, nh, dh, dh), dtype), jnp.zeros((batch, nh, dh), dtype), jnp.zeros((batch, nh), dtype))

    def forward(self, w: dict, u, state: BlockState, rows: common.Rows, method: str):
        """See the class docstring; ``u: (B, T, D)`` -> ``(out: (B, T, D), state)``."""
        batch, steps, _ = u.shape
        e, nh = self.d_inner, self.num_heads
        x, z = common.split(common.linear(u, w["proj_up"], w.get("proj_up_bias")), (e, e))
        c, conv = common.causal_conv(x, w["conv1d"], w["conv1d_bias"], state.conv, rows.lengths, rows.start)
        c = jax.nn.silu(c)
        q = common.headwise(c, w["q_proj"], w.get("q_proj_bias"))
        k = common.headwise(c, w["k_proj"], w.get("k_proj_bias"))
        v = common.headwise(x, w["v_proj"], w.get("v_proj_bias"))
        gate_input = jnp.concatenate([q, k, v], axis=-1)
        i = common.linear(gate_input, w["igate"], w["igate_bias"])
        f = common.linear(gate_input, w["fgate"], w["fgate_bias"])
        q, k, v = (a.reshape(batch, steps, nh, e // nh) for a in (q, k, v))
        h, recurrent = ops.mlstm(q, k, v, i, f, initial_state=state.recurrent, seq_lengths=rows.lengths,
                                 resets=rows.resets, method=method, chunk_size=self.chunk_size)
        h = common.head_layer_norm(h, w["outnorm"]).reshape(batch, steps, e) + w["learnable_skip"] * c
        out = common.linear(h * jax.nn.silu(z), w["proj_down"], w.get("proj_down_bias"))
        return out, BlockState(conv, tuple(recurrent))


@dataclasses.dataclass(frozen=True)
class _PrecomputedGates:
    """The sLSTM cell's step with its input projection done outside the scan: ``apply(w, carry, gi)``
    with ``w`` from ``SLSTMCell.weights`` and ``gi`` the tuple of gate blocks ``i, f, z, o``."""

    cell: SLSTMCell

    def apply(self, w, carry, gi):
        gh = self.cell.recurrent_projection(w, self.cell.recurrent_input(carry))
        return self.cell.pointwise(w, gi, gh, carry)


@dataclasses.dataclass(frozen=True)
class SLSTMBlock(common.Block):
    """The sLSTM block (the mixer), as the xlstm package's ``sLSTMLayer``::

        c = silu(conv(x))                                        # short causal depthwise conv (with bias)
        i, f = headwise(c, W_i), headwise(c, W_f)                # per-head blocks, no bias
        z, o = headwise(x, W_z), headwise(x, W_o)
        h = slstm(i, f, z, o)                                    # jaxrnn.SLSTMCell: w_hh per head, b_ih
        out = head_layer_norm(h)

    xlstm's ``sLSTMLayer`` computes its input gate with its ``fgate`` module and its forget gate
    with its ``igate`` module: ``i_proj`` holds xlstm's ``fgate.weight`` and ``f_proj`` its
    ``igate.weight``.

    Args:
      d_model: D, the input and output features (the cell's hidden size).
      num_heads: NH, the heads of the projections, the recurrent matrix and the norm (divides
        ``d_model``; ``None``: ``gcd(d_model, 4)``, xlstm's 4 where it divides; ``heads`` is NH).
      conv_size: the width of the short convolution.
      method: ``"auto"`` or ``"recurrent"`` (a scan of the cell's step).
      compute_dtype: as the classic layers (:mod:`jaxrnn.precision`).

    Params: ``conv1d: (D, conv_size)``, ``conv1d_bias: (D,)``, ``i_proj, f_proj, z_proj, o_proj:
    (NH, DH, DH)`` (head ``j``'s ``(out, in)`` block, DH = D / NH), ``w_hh: (NH, 4 DH, DH)`` and
    ``b_ih: (4D,)`` (:class:`jaxrnn.SLSTMCell`'s, gates i, f, z, o), ``group_norm: (D,)`` (the gain
    itself: xlstm's ``1 + weight``). State: ``BlockState(conv: (B, conv_size-1, D), recurrent:
    SLSTMState(h, c, n, m))``, each ``(B, D)``.

    Examples:
      >>> block = SLSTMBlock(16)
      >>> params = block.init(jax.random.key(0))
      >>> y, state = block.apply(params, jnp.ones((3, 10, 16)))
      >>> y.shape, state.recurrent.m.shape
      ((3, 10, 16), (3, 16))
    """

    d_model: int
    num_heads: int | None = None
    conv_size: int = 4
    method: str = "auto"
    compute_dtype: Any = None

    matrices: ClassVar[tuple] = ("i_proj", "f_proj", "z_proj", "o_proj", "w_hh")

    def __post_init__(self):
        self.validate()
        common.check_sizes(conv_size=self.conv_size)
        if self.num_heads is not None:
            _divides("num_heads", self.num_heads, self.d_model)

    @property
    def heads(self) -> int:
        """NH (``num_heads`` or its default)."""
        return math.gcd(self.d_model, 4) if self.num_heads is None else self.num_heads

    @property
    def conv_channels(self) -> int:
        return self.d_model

    @property
    def cell(self) -> SLSTMCell:
        """The sLSTM cell the block runs."""
        return SLSTMCell(self.d_model, self.heads, compute_dtype=self.compute_dtype)

    def param_shapes(self) -> dict:
        """``{name: shape}`` of the params."""
        d, nh = self.d_model, self.heads
        block = (nh, d // nh, d // nh)
        return {"conv1d": (d, self.conv_size), "conv1d_bias": (d,), "i_proj": block, "f_proj": block, "z_proj": block,
                "o_proj": block, "w_hh": (nh, 4 * d // nh, d // nh), "b_ih": (4 * d,), "group_norm": (d,)}

    def init(self, key) -> dict:
        """xlstm's initialisation: small-init projections (normal, std ``sqrt(2 / (5 D))``), zero
        recurrent blocks, forget-gate biases of the power law of xlstm's ``powerlaw_blockdependent``
        (one block), zero other biases, unit gain."""
        keys = jax.random.split(_checks.prng_key("key", key), 5)
        d, dh = self.d_model, self.d_model // self.heads
        params = {name: jnp.zeros(shape, jnp.float32) for name, shape in self.param_shapes().items()}
        for k, name in zip(keys, ("i_proj", "f_proj", "z_proj", "o_proj")):
            params[name] = math.sqrt(2 / (5 * d)) * jax.random.normal(k, params[name].shape)
        params["conv1d"], params["conv1d_bias"] = common.conv_init(keys[4], d, self.conv_size)
        ratio = jnp.arange(dh, dtype=jnp.float32) / (dh - 1.0) if dh > 1 else jnp.zeros((1,))
        forget = -(-5.0 + 12.0 * ratio ** 0.3)
        params["b_ih"] = params["b_ih"].at[d:2 * d].set(jnp.tile(forget, self.heads))
        params["group_norm"] = jnp.ones((d,), jnp.float32)
        return params

    def recurrent_zeros(self, batch: int, dtype) -> SLSTMState:
        """Zeros ``(B, D)`` for each of ``h, c, n, m``."""
        zeros = jnp.zeros((batch, self.d_model), dtype)
        return SLSTMState(zeros, zeros, zeros, zeros)

    def forward(self, w: dict, x, state: BlockState, rows: common.Rows, method: str):
        """See the class docstring; ``x: (B, T, D)`` -> ``(out: (B, T, D), state)``."""
        batch, steps, d = x.shape
        cell = self.cell
        c, conv = common.causal_conv(x, w["conv1d"], w["conv1d_bias"], state.conv, rows.lengths, rows.start)
        c = jax.nn.silu(c)
        gates = jnp.concatenate([common.headwise(c, w["i_proj"]), common.headwise(c, w["f_proj"]),
                                 common.headwise(x, w["z_proj"]), common.headwise(x, w["o_proj"])], axis=-1)
        precomputed = {"w_ih": jnp.zeros((4 * d, 0), w["w_hh"].dtype), "w_hh": w["w_hh"], "b_ih": w["b_ih"]}
        cw = cell.weights(precomputed, precision.policy(None, w["w_hh"]))  # w_hh is in the compute dtype
        gi = cell.blocks(gates + cw["b_in"])
        h, recurrent = ops_common.recurrent(_PrecomputedGates(cell), gi, state.recurrent, rows.lengths, rows.resets,
                                            cw)
        out = common.head_layer_norm(h.reshape(batch, steps, self.heads, d // self.heads), w["group_norm"])
        return out.reshape(batch, steps, d), BlockState(conv, recurrent)
