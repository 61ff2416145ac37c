"""The padding and reset rule, stated once for every method of :func:`jaxrnn.scan` and every engine.

A *padded* step (``valid`` False: past a row's length, or a hole of a ``mask``; lengths are the
mask ``t < length``) reads zeros instead of its input, before any arithmetic, so a NaN or inf in
padding never reaches a value or a gradient; it leaves the carry unchanged and outputs 0, or with
Keras's masking the last output again (:func:`repeat`). A *reset* step (``start`` True) begins from the initial carry, as if a new
sequence started there. Every evaluation (the sequential scan, the associative scan, Newton's
method, the ``xla`` and ``cudnn`` engines) applies these functions and states the rule nowhere else.

Flags are given in *processing order* (``reverse=True`` is handled by flipping time):

- ``valid: (T, ...) bool``: False on padding steps;
- ``start: (T,) bool``: True where the carry is replaced by the initial carry before the step
  (always at processing step 0, and at valid reset steps).

A flag with fewer axes than the array it guards broadcasts over that array's trailing axes, so one
rule serves one sequence (``valid: (T,)``, ``xs: (T, I)``) and a time-major batch
(``valid: (T, B)``, ``xs: (T, B, I)``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _widen(flag, like):
    """``flag`` with trailing unit axes, so that it broadcasts against ``like``."""
    flag = jnp.asarray(flag)
    return flag.reshape(flag.shape + (1,) * (jnp.ndim(like) - flag.ndim))


def zero_padding(xs, valid):
    """``xs`` (an array or a pytree of arrays) with the inputs of padded steps replaced by zeros
    (``valid=None``: every step valid).

    Examples:
      >>> zero_padding(jnp.array([[1.0], [jnp.nan]]), jnp.array([True, False])).tolist()
      [[1.0], [0.0]]
    """
    if valid is None:
        return xs
    return jax.tree.map(lambda a: jnp.where(_widen(valid, a), a, jnp.zeros_like(a)), xs)


def select(valid, new, old, y):
    """The outcome of a guarded step: ``(new carry, y)`` where ``valid``, else ``(old carry, 0)``.

    ``new`` and ``old`` are carries (pytrees); ``new`` is cast to ``old``'s dtypes. ``valid=None``
    means valid.

    Examples:
      >>> select(jnp.array(False), jnp.ones(2), jnp.zeros(2), jnp.ones(3))
      (Array([0., 0.], dtype=float32), Array([0., 0., 0.], dtype=float32))
    """
    if valid is None:
        return new, y
    carry = jax.tree.map(lambda n, o: jnp.where(_widen(valid, o), n.astype(o.dtype), o), new, old)
    return carry, outputs(valid, y)


def outputs(valid, ys):
    """``ys`` with the outputs of padded steps set to 0 (``valid=None``: unchanged)."""
    return ys if valid is None else jnp.where(_widen(valid, ys), ys, jnp.zeros_like(ys))


def restart(start, carry0, carry):
    """The carry a step begins from: ``carry0`` (the initial carry) where ``start``, else ``carry``."""
    return jax.tree.map(lambda c0, c: jnp.where(_widen(start, c), c0, c), carry0, carry)


def affine(a, b, valid, start, carry0):
    """The rule for a linear step ``h -> a * h + b`` (``a, b: (T, ...)``): a padded step is the
    identity (``a = 1, b = 0``), and a step that starts a sequence from ``carry0`` maps any ``h``
    to ``a * carry0 + b`` (``a = 0``).

    Examples:
      >>> a, b = affine(jnp.full((2, 1), 0.5), jnp.ones((2, 1)), jnp.array([True, False]),
      ...               jnp.array([True, False]), jnp.full((1,), 4.0))
      >>> a[:, 0].tolist(), b[:, 0].tolist()
      ([0.0, 1.0], [3.0, 0.0])
    """
    v, s = _widen(valid, a), _widen(start, a)
    a = jnp.where(v, a, jnp.ones_like(a))
    b = jnp.where(v, b, jnp.zeros_like(b))
    b = b + jnp.where(s, a * carry0, jnp.zeros_like(b))
    return jnp.where(s, jnp.zeros_like(a), a), b


def guard(step, carry0):
    """Wraps ``step(carry, x) -> (carry', y)`` into the guarded step ``(carry, (x, valid, start))
    -> (carry', y)`` for ``jax.lax.scan``: restart, zero the padded input, step, select.

    Examples:
      >>> from jaxrnn.cells import ElmanCell
      >>> cell = ElmanCell(4)
      >>> params = cell.init(jax.random.key(0), 3)
      >>> guarded = guard(lambda c, x: cell.apply(params, c, x), cell.initial_carry())
      >>> guarded(cell.initial_carry(), (jnp.full(3, jnp.nan), False, True))[1].tolist()
      [0.0, 0.0, 0.0, 0.0]
    """

    def guarded(carry, inp):
        x, valid, start = inp
        c_in = restart(start, carry0, carry)
        new, y = step(c_in, zero_padding(x, valid))
        return select(valid, new, carry, y)

    return guarded


def flags(steps: int, valid, resets, reverse: bool):
    """Returns ``(valid, start)``, both ``(T,) bool``, in processing order.

    ``valid: (T,) bool`` (a mask, or :func:`batch_valid` of a length) or None (every step), and
    ``resets: (T,) bool`` or None, in original time order. With ``reverse=True`` a segment starting
    at ``t`` is processed from its last step down to ``t``, so the carry is reset before the step
    preceding ``t`` (``t - 1``).

    Examples:
      >>> valid, start = flags(4, batch_valid(4, jnp.asarray(3)), None, False)
      >>> valid.tolist(), start.tolist()
      ([True, True, True, False], [True, False, False, False])
    """
    t = jnp.arange(steps)
    valid = jnp.ones((steps,), bool) if valid is None else valid
    resets = jnp.zeros((steps,), bool) if resets is None else resets
    if reverse:
        valid = valid[::-1]
        resets = jnp.concatenate([jnp.zeros((1,), bool), resets[::-1][:-1]])
    start = (t == 0) | (resets & valid)
    return valid, start


def batch_valid(steps: int, lengths):
    """The mask of lengths: ``(T, *lengths.shape) bool``, step ``t`` of row ``b`` valid when
    ``t < lengths[b]`` (a scalar length gives ``(T,)``; ``None``: no mask, every step valid).

    Examples:
      >>> batch_valid(3, jnp.array([1, 3])).tolist()
      [[True, True], [False, True], [False, True]]
    """
    if lengths is None:
        return None
    lengths = jnp.asarray(lengths)
    return jnp.arange(steps).reshape((steps,) + (1,) * lengths.ndim) < lengths


def repeat(valid, ys, carry0, reverse: bool = False):
    """Keras's masking of outputs: ``ys`` (time first, original time order, 0 at padded steps)
    with each padded step's output replaced by the output of the latest valid step processed
    before it (``reverse=True``: the nearest valid step after it in time). Before any valid step
    it is the initial carry's first array, the previous output Keras assumes (``states[0]``: the
    ``h`` of the built-in cells), or 0 where that array is not shaped like an output.

    Args:
      valid: ``(T, ...) bool`` or ``None`` (``ys`` returned unchanged).
      ys: ``(T, ..., F)`` outputs.
      carry0: the initial carry, leaves ``(..., F')``.
      reverse: whether time was processed from the last step to the first.

    Examples:
      >>> ys = jnp.array([[0.0], [1.0], [0.0], [3.0]])
      >>> repeat(jnp.array([False, True, False, True]), ys, jnp.array([9.0]))[:, 0].tolist()
      [9.0, 1.0, 1.0, 3.0]
    """
    if valid is None:
        return ys
    if reverse:
        return repeat(valid[::-1], ys[::-1], carry0)[::-1]
    first = jax.tree.leaves(carry0)[0]
    first = first.astype(ys.dtype) if first.shape == ys.shape[1:] else jnp.zeros(ys.shape[1:], ys.dtype)
    steps = jnp.arange(ys.shape[0]).reshape((-1,) + (1,) * (valid.ndim - 1))
    last = jax.lax.cummax(jnp.where(valid, steps, -1), axis=0)  # the latest valid step so far, or -1
    picked = jnp.take_along_axis(ys, _widen(jnp.maximum(last, 0), ys), axis=0)
    return jnp.where(_widen(last >= 0, ys), picked, first)
