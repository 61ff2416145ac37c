"""The one driver that runs a cell over time."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxrnn import _checks

METHODS = ("sequential",)


def check_lengths(name: str, lengths, total: int):
    """Validates sequence lengths against ``total`` steps and returns them as an int array.

    Concrete values outside ``[0, total]`` raise ``ValueError``; traced values are clamped.

    Args:
      name: the argument's name for messages (``seq_length`` or ``seq_lengths``).
      lengths: an int scalar or array.
      total: T.

    Examples:
      >>> int(check_lengths("seq_length", 3, 5))
      3
    """
    if not hasattr(lengths, "dtype"):
        lengths = np.asarray(lengths)
    if not jnp.issubdtype(lengths.dtype, jnp.integer):
        raise TypeError(f"{name} must have an integer dtype, got {lengths.dtype}")
    if _checks.is_concrete(lengths):
        values = np.asarray(lengths)
        if values.size and (values.min() < 0 or values.max() > total):
            raise ValueError(
                f"{name} must lie in [0, {total}] (the number of time steps), "
                f"got values in [{values.min()}, {values.max()}]"
            )
    return jnp.clip(jnp.asarray(lengths), 0, total)


def scan(cell, params, xs, carry=None, *, seq_length=None, reverse: bool = False, unroll: int = 1,
         method: str = "sequential"):
    """Runs ``cell`` over the time steps of one sequence with ``jax.lax.scan``.

    ``carry_t, y_t = cell.apply(params, carry_{t-1}, x_t)`` for ``t < seq_length``; steps
    ``t >= seq_length`` are padding: their outputs are 0 and they leave the carry unchanged.
    With ``reverse=True`` the recurrence runs from step ``seq_length - 1`` down to 0, and
    ``ys[t]`` still belongs to ``xs[t]``.

    Args:
      cell: any object following the cell protocol (see :mod:`jaxrnn.cells`).
      params: the cell's parameters.
      xs: ``(T, I)`` one unbatched sequence (use ``jax.vmap`` for batches).
      carry: the initial carry; ``None`` means ``cell.initial_carry(xs.dtype)``.
      seq_length: scalar int in ``[0, T]``; ``None`` means T.
      reverse: run from the last valid step to the first.
      unroll: passed to ``jax.lax.scan``.
      method: ``"sequential"``.

    Returns:
      ``(ys, carry)`` with ``ys: (T, output_size)`` and the carry after the last valid step
      (the initial carry when ``seq_length == 0``).

    Examples:
      >>> cell = ElmanCell(hidden_size=8)
      >>> params = cell.init(jax.random.key(0), input_size=5)
      >>> ys, h = scan(cell, params, jnp.ones((10, 5)), seq_length=7)
      >>> ys.shape, bool((ys[7:] == 0).all())
      ((10, 8), True)
    """
    _checks.one_of("method", method, METHODS)
    xs = _checks.float_array("xs", xs)
    if xs.ndim != 2:
        raise ValueError(f"xs must have shape (T, input_size) (one unbatched sequence), got {tuple(xs.shape)}")
    _checks.boolean("reverse", reverse)
    _checks.positive_int("unroll", unroll)
    if carry is None:
        carry = cell.initial_carry(xs.dtype)
    steps = xs.shape[0]

    if seq_length is None:
        def step(c, x):
            return cell.apply(params, c, x)

        carry, ys = jax.lax.scan(step, carry, xs, reverse=reverse, unroll=unroll)
        return ys, carry

    seq_length = check_lengths("seq_length", seq_length, steps)
    if seq_length.ndim != 0:
        raise ValueError(f"seq_length must be a scalar for one sequence, got shape {tuple(seq_length.shape)}")

    def masked_step(c, inp):
        t, x = inp
        new_c, y = cell.apply(params, c, x)
        valid = t < seq_length
        new_c = jax.tree.map(lambda n, o: jnp.where(valid, n, o), new_c, c)
        return new_c, jnp.where(valid, y, jnp.zeros_like(y))

    carry, ys = jax.lax.scan(masked_step, carry, (jnp.arange(steps), xs), reverse=reverse, unroll=unroll)
    return ys, carry
