"""Parallel-in-time evaluation of linear recurrences ``h_t = a_t * h_{t-1} + b_t``.

:func:`linear_recurrence` solves the recurrence with ``jax.lax.associative_scan`` (depth
``O(log T)``) or, with ``chunk_size=C``, in two levels: a sequential scan inside chunks of C steps
(vectorised over the ``T/C`` chunks) and an associative scan over the chunk totals. Its custom VJP
runs the adjoint recurrence ``lam_t = g_t + a_{t+1} * lam_{t+1}`` with the same solver, reversed,
instead of differentiating through the scan.

A *linear-recurrence cell* (e.g. :class:`jaxrnn.MinGRUCell`) follows the cell protocol and has

- ``linear_terms(params, xs) -> (a, b)``: ``xs: (T, I)``; ``a, b: (T, H)`` (real or complex) with
  ``carry_t = a_t * carry_{t-1} + b_t`` elementwise (the carry is one ``(H,)`` array);
- ``readout(params, hs, xs) -> ys``: ``hs: (T, H)`` the carries after each step, ``ys: (T, O)``.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import cast

import jax
import jax.numpy as jnp

from jaxrnn import _checks
from jaxrnn.driver import padding


@dataclasses.dataclass(frozen=True)
class Associative:
    """Options of ``method="associative"`` (pass ``method=jaxrnn.Associative(...)``).

    Args:
      chunk_size: ``None`` for one associative scan over all T steps; ``C`` for the two-level
        (chunked) solver: sequential inside chunks of C steps, associative across chunks.

    Examples:
      >>> Associative(chunk_size=64).chunk_size
      64
    """

    chunk_size: int | None = None

    def __post_init__(self):
        if self.chunk_size is not None:
            _checks.positive_int("chunk_size", self.chunk_size)


def combine(earlier, later):
    """Composes two affine steps ``h -> a * h + b``: first ``earlier``, then ``later``.

    Args:
      earlier: ``(a1, b1)``, arrays of one shape (or stacked along a leading axis).
      later: ``(a2, b2)``, same shapes.

    Returns:
      ``(a2 * a1, a2 * b1 + b2)``; associative, so usable with ``jax.lax.associative_scan``.

    Examples:
      >>> combine((2.0, 1.0), (3.0, 4.0))   # h -> 3 * (2 h + 1) + 4
      (6.0, 7.0)
    """
    a1, b1 = earlier
    a2, b2 = later
    return a2 * a1, a2 * b1 + b2


def _flat(a, b):
    return jax.lax.associative_scan(combine, (a, b))[1]


def _chunked(a, b, chunk: int):
    steps = a.shape[0]
    n = -(-steps // chunk)
    pad = n * chunk - steps
    if pad:
        a = jnp.concatenate([a, jnp.ones((pad,) + a.shape[1:], a.dtype)])
        b = jnp.concatenate([b, jnp.zeros((pad,) + b.shape[1:], b.dtype)])
    # (chunk, n, ...): time inside a chunk leading, chunks side by side.
    a = jnp.swapaxes(a.reshape((n, chunk) + a.shape[1:]), 0, 1)
    b = jnp.swapaxes(b.reshape((n, chunk) + b.shape[1:]), 0, 1)

    def step(acc, ab):
        big_a, big_b = acc
        at, bt = ab
        acc = (at * big_a, at * big_b + bt)
        return acc, acc

    init = (jnp.ones(a.shape[1:], a.dtype), jnp.zeros(b.shape[1:], b.dtype))
    _, (big_a, big_b) = jax.lax.scan(step, init, (a, b))
    h_end = _flat(big_a[-1], big_b[-1])  # state at the end of each chunk: (n, ...)
    h_in = jnp.concatenate([jnp.zeros_like(h_end[:1]), h_end[:-1]])
    h = big_a * h_in[None] + big_b
    return jnp.swapaxes(h, 0, 1).reshape((n * chunk,) + h.shape[2:])[:steps]


def _solve(a, b, chunk_size):
    if chunk_size is None or chunk_size >= a.shape[0]:
        return _flat(a, b)
    return _chunked(a, b, chunk_size)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _linear_recurrence(a, b, chunk_size):
    return _solve(a, b, chunk_size)


def _fwd(a, b, chunk_size):
    h = _solve(a, b, chunk_size)
    return h, (a, h)


def _bwd(chunk_size, res, g):
    a, h = res
    a_next = jnp.concatenate([a[1:], jnp.zeros_like(a[:1])])
    lam = _solve(a_next[::-1], g[::-1], chunk_size)[::-1]
    h_prev = jnp.concatenate([jnp.zeros_like(h[:1]), h[:-1]])
    return lam * h_prev, lam


_linear_recurrence.defvjp(_fwd, _bwd)


def linear_recurrence(a, b, *, chunk_size: int | None = None) -> jax.Array:
    """Solves ``h_t = a_t * h_{t-1} + b_t`` (elementwise, ``h_{-1} = 0``) in parallel over time.

    Args:
      a: ``(T, ...)`` coefficients, real or complex.
      b: ``(T, ...)`` inputs, same shape and dtype as ``a``.
      chunk_size: ``None`` (one associative scan) or C (two-level chunked solver).

    Returns:
      ``h: (T, ...)``. Its VJP is a reverse linear recurrence solved the same way.

    Examples:
      >>> h = linear_recurrence(jnp.full((4, 1), 0.5), jnp.ones((4, 1)))
      >>> h[:, 0].tolist()
      [1.0, 1.5, 1.75, 1.875]
    """
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got a {tuple(a.shape)} and b {tuple(b.shape)}")
    if chunk_size is not None:
        _checks.positive_int("chunk_size", chunk_size)
    dtype = jnp.result_type(a, b)
    # (functools.partial(jax.custom_vjp, ...) hides _solve's return type from type checkers)
    return cast(jax.Array, _linear_recurrence(a.astype(dtype), b.astype(dtype), chunk_size))


def check_linear(cell) -> None:
    """Raises ``ValueError`` unless ``cell`` has ``linear_terms`` and ``readout``."""
    if not (callable(getattr(cell, "linear_terms", None)) and callable(getattr(cell, "readout", None))):
        raise ValueError(  # noqa: TRY004 - a method the cell cannot run is a bad `method` value, as everywhere
            f"method 'associative' needs a linear-recurrence cell (one with linear_terms and readout, "
            f"e.g. MinGRUCell, MinLSTMCell, LRUCell), got {type(cell).__name__}; "
            f"use method 'sequential' or 'newton' for it"
        )


def associative(cell, params, xs, carry, valid, start, options: Associative):
    """Runs a linear-recurrence cell over ``xs: (T, I)`` with :func:`linear_recurrence`.

    ``valid``, ``start``: ``(T,) bool`` in processing order (see :mod:`jaxrnn.driver.padding`).
    Returns ``(ys: (T, O), final carry)`` in processing order.
    """
    check_linear(cell)
    xs = padding.zero_padding(xs, valid)
    a, b = cell.linear_terms(params, xs)
    dtype = jnp.result_type(a, b, carry)
    a, b = padding.affine(jnp.broadcast_to(a, b.shape).astype(dtype), b.astype(dtype), valid, start, carry)
    hs = linear_recurrence(a, b, chunk_size=options.chunk_size)
    ys = cell.readout(params, hs, xs)
    return padding.outputs(valid, ys), hs[-1]
