"""What every block of :mod:`jaxrnn.blocks` shares: the block protocol (checks, precision, padding,
streaming), the short causal depthwise convolution with its cache, the norms, the head-wise linear
map, and the initialisers of projections, convolutions and step sizes. Each is defined here once.

Shape letters: B batch, T time, D ``d_model``, C conv channels, K conv width, H heads.

A block is a frozen dataclass of static config (``d_model`` first) with ``init(key) -> params`` (a
flat dict of arrays, torch's ``(out, in)`` layout for weights), ``apply(params, x, *,
seq_lengths=None, resets=None, initial_state=None) -> (y, state)``, ``initial_state(batch_size)``
and ``step(params, x_t, state) -> (y_t, state)``; its state is a :class:`BlockState` (the conv
cache and the recurrent state). The rules, stated once in :class:`Block`:

- ``seq_lengths: (B,)`` (right padding): a padded step reads zeros, outputs exactly 0, and the final
  state (conv cache included) is the state after each row's last valid step;
- ``resets: (B, T)`` bools: a new document starts at a marked step; the recurrence restarts from
  zeros there and the convolution never reads an input of an earlier document, so a packed row
  equals its documents run one by one;
- ``compute_dtype`` (:mod:`jaxrnn.precision`): matmul operands in the compute dtype, accumulation,
  the convolution, the gates and the state in the state dtype (float32 for 16-bit compute), ``y``
  in the compute dtype;
- ``step`` is ``apply`` on one step (the ops' ``"recurrent"`` method), so it equals ``apply``.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrnn import _checks, precision
from jaxrnn._compile import compiled
from jaxrnn.driver import padding
from jaxrnn.ops import common as ops_common

Array = jax.Array


class BlockState(NamedTuple):
    """A block's state.

    Attributes:
      conv: ``(B, K-1, C)``, the last ``K-1`` inputs of its causal convolution (oldest first; zeros
        before a document starts).
      recurrent: its recurrence's state.
    """

    conv: Array
    recurrent: Any


class Rows(NamedTuple):
    """The checked per-row options of one call: ``lengths: (B,)``, ``resets: (B, T)``, and the
    flags ``valid: (B, T)`` (``t < length``) and ``start: (B, T)`` (a valid reset); each may be
    ``None`` (no padding, no resets)."""

    lengths: Any
    resets: Any
    valid: Any
    start: Any


# -- the block protocol ------------------------------------------------------------------------------


class Block:
    """The protocol every block shares. A subclass is a frozen dataclass with fields ``d_model``,
    ``compute_dtype`` and ``method`` and defines ``param_shapes()``, ``matrices`` (the names of its
    matmul weights), ``conv_channels``, ``conv_size``, ``init(key)``,
    ``recurrent_zeros(batch, dtype)`` and ``forward(w, x, state, rows, method) -> (y, state)``
    (``x: (B, T, D)`` with padded steps zeroed, ``w`` the params under the precision policy,
    ``method`` the field or ``"recurrent"`` for :meth:`step`, handed to the block's op)."""

    d_model: int
    method: str
    compute_dtype: Any
    conv_size: int
    methods: tuple = ("recurrent",)
    matrices: tuple = ()

    @property
    def conv_channels(self) -> int:
        """C, the channels of the block's convolution."""
        raise NotImplementedError

    def param_shapes(self) -> dict:
        """``{name: shape}`` of the block's params."""
        raise NotImplementedError

    def init(self, key) -> dict:
        """The block's params, initialised as its peer does."""
        raise NotImplementedError

    def recurrent_zeros(self, batch: int, dtype) -> Any:
        """The recurrence's zero state for ``batch`` rows."""
        raise NotImplementedError

    def forward(self, w: dict, x, state: BlockState, rows: Rows, method: str) -> tuple[Array, BlockState]:
        """``x: (B, T, D)`` (padded steps zero) -> ``(y: (B, T, D), state)``."""
        raise NotImplementedError

    def validate(self) -> None:
        """Checks the fields every block has (call from ``__post_init__``)."""
        _checks.positive_int("d_model", self.d_model)
        _checks.one_of("method", self.method, ("auto",) + self.methods)
        object.__setattr__(self, "compute_dtype", precision.dtype_name("compute_dtype", self.compute_dtype))

    def initial_state(self, batch_size: int, dtype=jnp.float32) -> BlockState:
        """Zeros: ``conv: (B, K-1, C)`` and the recurrent state for ``batch_size`` rows."""
        batch_size = _checks.non_negative_int("batch_size", batch_size)
        dtype = precision.floating_dtype("dtype", dtype)
        conv = jnp.zeros((batch_size, self.conv_size - 1, self.conv_channels), dtype)
        return BlockState(conv, self.recurrent_zeros(batch_size, dtype))

    def apply(self, params, x, *, seq_lengths=None, resets=None, initial_state=None):
        """Runs the block over ``x: (B, T, D)``; returns ``(y: (B, T, D), final state)`` (see the
        module docstring for ``seq_lengths``, ``resets`` and ``initial_state``)."""
        return self._run(params, x, seq_lengths, resets, initial_state, self.method)

    def step(self, params, x_t, state):
        """One step of every row: ``x_t: (B, D)``, ``state`` as :meth:`initial_state` -> ``(y_t: (B, D),
        state')``; equal to :meth:`apply` on the sequence, one step at a time."""
        x_t = _checks.float_array("x_t", x_t)
        if x_t.ndim != 2:
            raise ValueError(f"x_t must have shape (B, d_model) = (B, {self.d_model}), got {tuple(x_t.shape)}")
        y, state = self._run(params, x_t[:, None], None, None, state, "recurrent", "x_t", "state")
        return y[:, 0], state

    def _run(self, params, x, seq_lengths, resets, initial_state, method, x_name="x", state_name="initial_state"):
        x = block_input(x_name, x, self.d_model)
        _checks.params_match("params", params, self.param_shapes())
        policy = precision.policy(self.compute_dtype, x, params)
        batch, steps = x.shape[:2]
        lengths, resets = ops_common.row_options(seq_lengths, resets, batch, steps)
        state = state_like(state_name, initial_state, self.initial_state(batch, policy.state))
        return compiled(_forward, params, x, state, lengths, resets, block=self, policy=policy, method=method)


def _forward(params, x, state, lengths, resets, *, block: Block, policy: precision.Policy, method: str):
    """:meth:`Block.apply` on checked arguments (one compiled program: :func:`jaxrnn._compile.compiled`)."""
    valid, start = ops_common.flags(x.shape[1], lengths, resets)
    w = weights(params, policy, block.matrices)
    y, state = block.forward(w, padding.zero_padding(x, valid), state, Rows(lengths, resets, valid, start), method)
    return padding.outputs(valid, y).astype(policy.compute), state


def block_input(name: str, x, d_model: int):
    """``x`` checked as a floating ``(B, T, d_model)`` array.

    Examples:
      >>> block_input("x", jnp.ones((2, 3, 4)), 4).shape
      (2, 3, 4)
    """
    x = _checks.float_array(name, x)
    if x.ndim != 3 or x.shape[-1] != d_model:
        raise ValueError(f"{name} must have shape (B, T, d_model) = (B, T, {d_model}), got {tuple(x.shape)}")
    return x


def state_like(name: str, value, zeros):
    """The state a call starts from: ``zeros`` (a pytree of ``(B, ...)`` leaves) when ``value`` is
    ``None``, else ``value`` checked against it (structure, shapes, dtype kind) and its floating
    leaves cast to the state dtype; raises naming ``name``."""
    if value is None:
        return zeros
    _checks.tree_like(name, value, zeros)
    out = []
    for got, want in zip(jax.tree.leaves(value), jax.tree.leaves(zeros)):
        got = _checks.array(name, got)
        _checks.shape(name, got, want.shape)
        floating = jnp.issubdtype(want.dtype, jnp.floating)
        if floating != bool(jnp.issubdtype(got.dtype, jnp.floating)) or (not floating and got.dtype != want.dtype):
            raise TypeError(f"{name} must have leaves of dtype kind {want.dtype} as initial_state(batch_size) "
                            f"returns, got {got.dtype}")
        out.append(jnp.asarray(got).astype(want.dtype))
    return jax.tree.unflatten(jax.tree.structure(zeros), out)


def weights(params: dict, policy: precision.Policy, matrices: tuple) -> dict:
    """The params as the block reads them: the matmul weights named in ``matrices`` in the compute
    dtype, everything else (biases, conv kernels, gains, decay params) in the state dtype."""
    return {k: jnp.asarray(v).astype(policy.compute if k in matrices else policy.state) for k, v in params.items()}


def linear(x, w, b=None):
    """``x @ w.T (+ b)`` with ``w: (N, K)`` in the compute dtype, accumulated in the state dtype:
    ``(..., K) -> (..., N)``."""
    y = precision.matmul_t(x, w)
    return y if b is None else y + b


def headwise(x, w, b=None):
    """A block-diagonal linear map: ``x: (..., H * I)``, ``w: (H, O, I)`` (head ``h``'s ``(out, in)``
    block) -> ``(..., H * O)`` (+ ``b: (H * O,)``), in the state dtype.

    Examples:
      >>> headwise(jnp.ones((2, 4)), jnp.ones((2, 3, 2))).shape
      (2, 6)
    """
    heads, out, size = w.shape
    parts = x.reshape(x.shape[:-1] + (heads, size)).astype(w.dtype)
    y = jnp.einsum("...hi,hoi->...ho", parts, w, preferred_element_type=precision.state_dtype(w.dtype))
    y = y.reshape(x.shape[:-1] + (heads * out,))
    return y if b is None else y + b


# -- the short causal depthwise convolution ------------------------------------------------------------


def causal_conv(x, weight, bias, cache, lengths, start):
    """The short causal depthwise convolution of every row, with its cache and the document rule.

    ``y_t[c] = sum_j weight[c, j] x_{t-K+1+j}[c] + bias[c]`` (torch's ``Conv1d(C, C, K, groups=C,
    padding=K-1)`` cut to the first T outputs), where ``x_s`` for ``s < 0`` comes from ``cache`` and
    an input of an earlier document (before a reset at or after ``s``'s successor) reads 0.

    Args:
      x: ``(B, T, C)`` inputs (padded steps already zero).
      weight: ``(C, K)``; bias: ``(C,)`` or ``None``.
      cache: ``(B, K-1, C)``: the last ``K-1`` inputs before step 0.
      lengths: ``(B,)`` or ``None`` (all T steps valid).
      start: ``(B, T)`` bools or ``None``: a document starts at a marked step.

    Returns:
      ``(y: (B, T, C), cache': (B, K-1, C))``, the cache after each row's last valid step (an input
      before the last document's start reads 0 there too).

    Examples:
      >>> y, cache = causal_conv(jnp.ones((1, 3, 1)), jnp.ones((1, 2)), None, jnp.zeros((1, 1, 1)), None, None)
      >>> y[0, :, 0].tolist(), cache.shape
      ([1.0, 2.0, 2.0], (1, 1, 1))
    """
    batch, steps, _ = x.shape
    width = weight.shape[1]
    padded = jnp.concatenate([cache.astype(x.dtype), x], axis=1)  # (B, K-1+T, C): position s at s+K-1
    segment = jnp.zeros((batch, steps), jnp.int32) if start is None else jnp.cumsum(start, axis=1, dtype=jnp.int32)
    segments = jnp.concatenate([jnp.zeros((batch, width - 1), jnp.int32), segment], axis=1)

    def tap(j):  # x_{t-K+1+j} for every t, zero where it belongs to an earlier document
        same = (segments[:, j:j + steps] == segment)[..., None]
        return jnp.where(same, padded[:, j:j + steps], jnp.zeros_like(x)) * weight[:, j]

    y = sum(tap(j) for j in range(width)) if steps else jnp.zeros_like(x)
    if bias is not None:
        y = y + bias
    ends = jnp.full((batch,), steps, jnp.int32) if lengths is None else jnp.asarray(lengths, jnp.int32)
    last = jnp.take_along_axis(segments, (ends + width - 2)[:, None], axis=1) if width > 1 else None

    def window(a, end):
        return jax.lax.dynamic_slice_in_dim(a, end, width - 1, axis=0)

    kept = jax.vmap(window)(padded, ends)
    if width > 1:
        same = (jax.vmap(window)(segments, ends) == last)[..., None]
        kept = jnp.where(same, kept, jnp.zeros_like(kept))
    return y, kept.astype(cache.dtype)


# -- norms --------------------------------------------------------------------------------------------


def rms_norm(x, weight, eps: float):
    """``x / sqrt(mean(x^2) + eps) * weight`` over the last axis: ``x: (..., N)``, ``weight: (N,)``.

    Examples:
      >>> [round(v, 3) for v in rms_norm(jnp.array([3.0, 4.0]), jnp.ones(2), 0.0).tolist()]
      [0.849, 1.131]
    """
    return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + eps) * weight


def gated_rms_norm(x, gate, weight, eps: float, *, norm_before_gate: bool = True):
    """The gated RMSNorm of Gated DeltaNet and Mamba-2 over the last axis, ``x, gate: (..., N)``:
    ``rms_norm(x) * silu(gate)`` (``norm_before_gate``, flash-linear-attention's
    ``FusedRMSNormGated``), else ``rms_norm(x * silu(gate))`` (Mamba-2's ``RMSNormGated``)."""
    if norm_before_gate:
        return rms_norm(x, weight, eps) * jax.nn.silu(gate)
    return rms_norm(x * jax.nn.silu(gate), weight, eps)


def l2_normalize(x, eps: float = 1e-6):
    """``x / sqrt(sum(x^2) + eps)`` over the last axis (flash-linear-attention's ``l2norm``)."""
    return x * jax.lax.rsqrt(jnp.sum(jnp.square(x), axis=-1, keepdims=True) + eps)


def head_layer_norm(x, weight, eps: float = 1e-5):
    """xLSTM's multi-head LayerNorm: ``x: (..., H, N)`` normalised per head (mean and variance over
    ``N``), times ``weight: (H * N,)`` reshaped to ``(H, N)``; no bias."""
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(x - mean), axis=-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + eps) * weight.reshape(x.shape[-2:])


# -- initialisers ---------------------------------------------------------------------------------------


def uniform(key, shape: tuple, bound: float):
    """``U(-bound, bound)`` of ``shape`` (float32)."""
    return jax.random.uniform(key, shape, jnp.float32, -bound, bound)


def linear_init(key, out_features: int, in_features: int):
    """torch's ``nn.Linear`` default: ``U(-1/sqrt(in), 1/sqrt(in))`` of shape ``(out, in)``."""
    return uniform(key, (out_features, in_features), 1.0 / math.sqrt(in_features))


def conv_init(key, channels: int, width: int):
    """torch's depthwise ``nn.Conv1d`` default (fan-in K): the kernel ``(C, K)`` and bias ``(C,)``."""
    k1, k2 = jax.random.split(key)
    bound = 1.0 / math.sqrt(width)
    return uniform(k1, (channels, width), bound), uniform(k2, (channels,), bound)


def inverse_softplus(y):
    """``x`` with ``softplus(x) = y`` (``y > 0``)."""
    return y + jnp.log(-jnp.expm1(-y))


def dt_bias_init(key, size: int, dt_min: float = 1e-3, dt_max: float = 0.1, floor: float = 1e-4):
    """Mamba's step-size bias: ``softplus^-1(dt)`` with ``dt`` log-uniform in ``[dt_min, dt_max]``
    (at least ``floor``), shape ``(size,)``."""
    u = jax.random.uniform(key, (size,), jnp.float32)
    dt = jnp.exp(u * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
    return inverse_softplus(jnp.maximum(dt, floor))


def check_sizes(**sizes) -> None:
    """Checks each keyword is an int >= 1 (raises naming it)."""
    for name, value in sizes.items():
        _checks.positive_int(name, value)


def split(a, sizes: tuple):
    """``a: (..., sum(sizes))`` split on its last axis into pieces of ``sizes``."""
    return jnp.split(a, np.cumsum(sizes)[:-1].tolist(), axis=-1)
