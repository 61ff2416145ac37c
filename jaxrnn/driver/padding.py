"""The guarded step shared by every evaluation method of :func:`jaxrnn.scan`.

Time flags are given in *processing order* (``reverse=True`` is handled by flipping time):

- ``valid: (T,) bool``: False on padding steps, which output 0 and leave the carry unchanged;
- ``start: (T,) bool``: "a sequence starts here": the carry is replaced by the initial carry
  before the step (always True at processing step 0, and at valid reset steps).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def flags(steps: int, seq_length, resets, reverse: bool):
    """Returns ``(valid, start)``, both ``(T,) bool``, in processing order.

    ``seq_length``: an int array (already checked) or None; ``resets: (T,) bool`` or None, in
    original time order. With ``reverse=True`` a segment starting at ``t`` is processed from its
    last step down to ``t``, so the carry is reset before the step preceding ``t`` (``t - 1``).

    Examples:
      >>> valid, start = flags(4, jnp.asarray(3), None, False)
      >>> valid.tolist(), start.tolist()
      ([True, True, True, False], [True, False, False, False])
    """
    t = jnp.arange(steps)
    valid = jnp.ones((steps,), bool) if seq_length is None else t < seq_length
    resets = jnp.zeros((steps,), bool) if resets is None else resets
    if reverse:
        valid = valid[::-1]
        resets = jnp.concatenate([jnp.zeros((1,), bool), resets[::-1][:-1]])
    start = (t == 0) | (resets & valid)
    return valid, start


def guarded_step(cell, params, carry0):
    """Returns ``step(carry, (x, valid, start)) -> (carry', y)`` for ``jax.lax.scan``.

    Examples:
      >>> from jaxrnn.cells import ElmanCell
      >>> cell = ElmanCell(4)
      >>> step = guarded_step(cell, cell.init(jax.random.key(0), 3), cell.initial_carry())
      >>> step(cell.initial_carry(), (jnp.ones(3), False, True))[1].tolist()
      [0.0, 0.0, 0.0, 0.0]
    """

    def step(carry, inp):
        x, valid, start = inp
        c_in = jax.tree.map(lambda c0, c: jnp.where(start, c0, c), carry0, carry)
        x = jnp.where(valid, x, jnp.zeros_like(x))  # a NaN in padding never reaches a gradient
        new, y = cell.apply(params, c_in, x)
        new = jax.tree.map(lambda n, o: jnp.where(valid, n.astype(o.dtype), o), new, carry)
        return new, jnp.where(valid, y, jnp.zeros_like(y))

    return step
