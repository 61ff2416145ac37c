"""What every op of :mod:`jaxrnn.ops` shares: the layout checks, the per-row options (initial state,
lengths, resets), the method choice, and the ``"recurrent"`` method itself.

Layout (flash-linear-attention's): tensors ``(B, T, H, D)`` (batch, time, heads, head dim), gates
``(B, T, H)``; ``seq_lengths: (B,)`` ints in ``[0, T]`` (right padding: outputs 0 beyond, final state
after each row's last valid step); ``resets: (B, T)`` bools (the state is zeroed before a marked
step, so packed sequences equal separate runs).

The ``"recurrent"`` method is the specification: ``jax.lax.scan`` of the op's cell step (one example,
all heads) under the padding rule of :mod:`jaxrnn.driver.padding`, ``jax.vmap`` over rows. Every
other method is tested equal to it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrnn import _checks, precision
from jaxrnn.driver import padding


def tensor(name: str, x, ndim: int, like=None, dims: dict | None = None):
    """``x`` as a floating array of rank ``ndim`` whose leading axes equal ``like``'s (B, T, ...) and
    whose axes listed in ``dims`` (``{axis: (size, what)}``) have those sizes; raises naming ``name``.

    Examples:
      >>> tensor("q", jnp.ones((2, 5, 3, 4)), 4).shape
      (2, 5, 3, 4)
    """
    x = _checks.float_array(name, x)
    if x.ndim != ndim:
        layout = {4: "(B, T, H, D)", 3: "(B, T, H)", 2: "(B, T)"}.get(ndim, f"{ndim} axes")
        raise ValueError(f"{name} must have shape {layout}, got {tuple(x.shape)}")
    if like is not None:
        n = min(like.ndim, ndim, 3)
        if x.shape[:n] != like.shape[:n]:
            raise ValueError(f"{name} must have the leading shape {tuple(like.shape[:n])} of q (batch, time"
                             f"{', heads' if n == 3 else ''}), got {tuple(x.shape)}")
    for axis, (size, what) in (dims or {}).items():
        if x.shape[axis] != size:
            raise ValueError(f"{name} must have {what} {size} on axis {axis}, got shape {tuple(x.shape)}")
    return x


def attention_inputs(q, k, v):
    """``q, k: (B, T, H, K)`` and ``v: (B, T, H, V)`` checked (the inputs of every attention-like op).

    Examples:
      >>> [a.shape for a in attention_inputs(jnp.ones((1, 2, 3, 4)), jnp.ones((1, 2, 3, 4)), jnp.ones((1, 2, 3, 5)))]
      [(1, 2, 3, 4), (1, 2, 3, 4), (1, 2, 3, 5)]
    """
    q = tensor("q", q, 4)
    k = tensor("k", k, 4, q, {3: (q.shape[3], "the key dim K of q")})
    return q, k, tensor("v", v, 4, q)


def array(name: str, value, shape: tuple, layout: str):
    """``value`` as a floating array of ``shape`` (``None``: any size on that axis); raises naming
    ``name`` and ``layout``.

    Examples:
      >>> array("A", jnp.ones((3, 4)), (3, None), "(D, N)").shape
      (3, 4)
    """
    value = _checks.float_array(name, value)
    if value.ndim == len(shape):
        shape = tuple(got if want is None else want for want, got in zip(shape, value.shape))
    _checks.shape(name, value, shape, f"shape {layout} =")
    return value


class Call(NamedTuple):
    """An op's checked call: its step inputs in the state dtype, the initial state, the row
    options, the method and the precision policy."""

    xs: tuple
    state: Any
    lengths: Any
    resets: Any
    method: str
    policy: precision.Policy


def prepare(cell, xs: tuple, *, initial_state, seq_lengths, resets, method, methods: tuple, auto: str,
            chunk_size=None) -> Call:
    """Checks what every op takes besides its tensors (``xs``: the checked ``(B, T, ...)`` inputs of
    ``cell``'s step, with ``None`` for an absent optional one) and casts the inputs to the state
    dtype: float32 for 16-bit inputs, whose outputs the op casts back."""
    present = [a for a in xs if a is not None]
    policy = dtypes(*present)
    batch, steps = present[0].shape[:2]
    lengths, resets = row_options(seq_lengths, resets, batch, steps)
    zeros = jax.tree.map(lambda z: jnp.zeros((batch,) + z.shape, policy.state), cell.initial_carry())
    state = initial("initial_state", initial_state, zeros)
    how = method_choice(method, methods, auto)
    if chunk_size is not None:
        _checks.positive_int("chunk_size", chunk_size)
    xs = tuple(None if a is None else a.astype(policy.state) for a in xs)
    return Call(xs, state, lengths, resets, how, policy)


def dtypes(*arrays) -> precision.Policy:
    """The policy of an op: inputs promoted to the compute dtype; state and accumulation in float32
    for 16-bit inputs (:func:`jaxrnn.precision.policy`)."""
    return precision.policy(None, *[a for a in arrays if a is not None])


def row_options(seq_lengths, resets, batch: int, steps: int):
    """``(lengths: (B,) ints or None, resets: (B, T) bools or None)``, checked."""
    if seq_lengths is not None:
        seq_lengths = _checks.lengths("seq_lengths", seq_lengths, steps)
        _checks.shape("seq_lengths", seq_lengths, (batch,), "shape (B,) =")
    if resets is not None:
        resets = _checks.array("resets", resets)
        if resets.dtype != np.bool_:
            raise TypeError(f"resets must have a bool dtype, got {resets.dtype}")
        _checks.shape("resets", resets, (batch, steps), "shape (B, T) =")
        resets = jnp.asarray(resets)
    return seq_lengths, resets


def initial(name: str, value, zeros):
    """The initial state: ``zeros`` (a pytree of ``(B, ...)`` zeros in the state dtype) when
    ``value`` is None, else ``value`` checked against it (structure and shapes) and cast."""
    if value is None:
        return zeros
    _checks.tree_like(name, value, zeros)
    for got, want in zip(jax.tree.leaves(value), jax.tree.leaves(zeros)):
        got = _checks.float_array(name, got)
        _checks.shape(name, got, want.shape)
    return jax.tree.map(lambda v, z: jnp.asarray(v).astype(z.dtype), value, zeros)


def method_choice(value, methods: tuple, auto: str) -> str:
    """``value`` if it is one of ``methods``; ``"auto"`` is ``auto``.

    Examples:
      >>> method_choice("auto", ("recurrent", "chunked"), "chunked")
      'chunked'
    """
    _checks.one_of("method", value, ("auto",) + methods)
    return auto if value == "auto" else value


def flags(steps: int, lengths, resets):
    """Per row, in time order: ``valid: (B, T)`` (``t < length``) and ``start: (B, T)`` (a valid reset
    step, where the state is zeroed first); either may be ``None``."""
    valid = None if lengths is None else jnp.arange(steps)[None, :] < lengths[:, None]
    start = None if resets is None else (resets if valid is None else resets & valid)
    return valid, start


def recurrent(cell, xs, state, lengths, resets, params=None):
    """The ``"recurrent"`` method: ``jax.lax.scan`` of ``cell.apply(params, state, x_t)`` over time
    for every row, under the padding rule; a reset zeroes the state before its step.

    Args:
      cell: the op's cell (its ``apply`` reads one step of one row: every head).
      params: the cell's params, shared by every row (``None``: ``{}``).
      xs: a tuple of ``(B, T, ...)`` arrays (the step's inputs).
      state: the initial state, leaves ``(B, ...)``.
      lengths: ``(B,)`` or None; resets: ``(B, T)`` or None.

    Returns:
      ``(ys: (B, T, ...), final state)``.
    """
    steps = jax.tree.leaves(xs)[0].shape[1]
    valid, start = flags(steps, lengths, resets)
    ones, nones = jnp.ones((steps,), bool), jnp.zeros((steps,), bool)

    def row(xs, state, valid, start):
        zeros = jax.tree.map(jnp.zeros_like, state)
        step = padding.guard(lambda c, x: cell.apply({} if params is None else params, c, x), zeros)
        final, ys = jax.lax.scan(step, state, (xs, ones if valid is None else valid,
                                               nones if start is None else start))
        return ys, final

    axes = (0, 0, None if valid is None else 0, None if start is None else 0)
    return jax.vmap(row, in_axes=axes)(xs, state, valid, start)


def attention(xs, state, lengths, resets, *, cell, method: str, chunked, **options):
    """The methods of an attention-like op (:func:`jaxrnn.ops.simple_gla`, ``gated_delta_rule``,
    ``mlstm``): ``"recurrent"`` (:func:`recurrent` of ``cell``) or ``"chunked"``
    (``chunked(*xs, state, valid, start, **options)``, its chunk-parallel form).

    Returns:
      ``(o: (B, T, H, V), final state)``.
    """
    if method == "recurrent":
        return recurrent(cell, xs, state, lengths, resets)
    return chunked(*xs, state, *flags(xs[0].shape[1], lengths, resets), **options)

