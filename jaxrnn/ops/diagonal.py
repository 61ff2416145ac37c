"""What the ops whose step is an elementwise linear recurrence ``h_t = a_t * h_{t-1} + b_t`` share
(:func:`jaxrnn.ops.selective_scan`, :func:`jaxrnn.ops.rg_lru`): their methods.

The op's cell has params and the pieces of :mod:`jaxrnn.cells.linear` (``linear_terms(params, xs)
-> (a, b)``, ``readout(params, hs, xs) -> ys``, batch-agnostic), from which its ``apply`` is built:

- ``"recurrent"`` (the specification): :func:`jaxrnn.ops.common.recurrent` of the cell's ``apply``;
- ``"associative"``: the cell's ``linear_terms`` of every step at once, the op's rules as affine
  steps (:func:`jaxrnn.driver.padding.affine`: a padded step is the identity, a reset restarts from
  zeros, step 0 starts from the initial state), :func:`jaxrnn.driver.associative.linear_recurrence`
  over time, then the cell's ``readout``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxrnn.driver import padding
from jaxrnn.driver.associative import linear_recurrence
from jaxrnn.ops import common

METHODS = ("recurrent", "associative")
# The associative method's solver: sequential inside chunks of CHUNK steps, associative across
# them (jaxrnn.driver.associative); on CPU it measured faster than one associative scan.
CHUNK = 64


def run(params, xs, state, lengths, resets, *, cell, method: str):
    """Runs the op's ``cell`` with ``params`` over every row by ``method``.

    Args:
      cell: the op's cell (``apply``, ``linear_terms``, ``readout``; one step of one row).
      params: the cell's params (shared by every row).
      xs: a tuple of ``(B, T, ...)`` arrays, the step's inputs, in the state dtype.
      state: ``(B, ...)`` initial state.
      lengths: ``(B,)`` or None; resets: ``(B, T)`` or None (checked by ``common.row_options``).
      method: ``"recurrent"`` or ``"associative"``.

    Returns:
      ``(ys: (B, T, ...), final state: (B, ...))``.
    """
    if method == "recurrent":
        return common.recurrent(cell, xs, state, lengths, resets, params)
    return associative(cell, params, xs, state, lengths, resets)


def associative(cell, params, xs, state, lengths, resets):
    """The ``"associative"`` method (arguments and result as :func:`run`)."""
    batch, steps = jax.tree.leaves(xs)[0].shape[:2]
    valid, start = common.flags(steps, lengths, resets)
    valid = jnp.ones((batch, steps), bool) if valid is None else valid
    start = jnp.zeros((batch, steps), bool) if start is None else start
    xs = padding.zero_padding(xs, valid)
    a, b = cell.linear_terms(params, xs)
    a = jnp.broadcast_to(a, b.shape)
    # the padding rule, and a reset restarts from zeros; then step 0 starts from the initial state
    # (the same rule: ``b_0 += a_0 * state``, ``a_0 = 0``; a reset or padding at step 0 came first)
    a, b = padding.affine(a, b, valid, start, jnp.zeros_like(state)[:, None])
    first = jnp.arange(steps)[None, :] == 0
    a, b = padding.affine(a, b, jnp.ones_like(first), first, state[:, None])
    hs = jax.vmap(functools.partial(linear_recurrence, chunk_size=CHUNK))(a, b)
    ys = padding.outputs(valid, cell.readout(params, hs, xs))
    return ys, (hs[:, -1] if steps else state)
