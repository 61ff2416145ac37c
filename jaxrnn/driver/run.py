"""The one driver that runs a cell over time."""

from __future__ import annotations

from typing import Any, cast

import jax
import jax.numpy as jnp

from jaxrnn import _checks, precision
from jaxrnn._compile import compiled
from jaxrnn.driver import padding
from jaxrnn.driver.associative import Associative, associative, check_linear
from jaxrnn.driver.newton import Newton, NewtonInfo, newton

METHODS = ("sequential", "associative", "newton")


def scan(cell, params, xs, carry=None, *, seq_length=None, reverse: bool = False, unroll: int = 1,
         method: str | Associative | Newton = "sequential", resets=None, mask=None, zero_output_for_mask: bool = False):
    """Runs ``cell`` over the time steps of one sequence (sequentially, or in parallel over time).

    ``carry_t, y_t = cell.apply(params, carry_{t-1}, x_t)`` for ``t < seq_length``; steps
    ``t >= seq_length`` are padding: their outputs are 0 and they leave the carry unchanged.
    With ``reverse=True`` the recurrence runs from step ``seq_length - 1`` down to 0, and
    ``ys[t]`` still belongs to ``xs[t]``.

    Args:
      cell: any object following the cell protocol (see :mod:`jaxrnn.cells`).
      params: the cell's parameters.
      xs: ``(T, I)`` one unbatched sequence (use ``jax.vmap`` for batches); for a cell whose step
        reads several tensors, a tuple or dict of arrays with a leading T (e.g. ``(q, k, v)``).
      carry: the initial carry; ``None`` means zeros (``cell.initial_carry``). It is carried in
        the state dtype (:mod:`jaxrnn.precision`: float32 when the cell computes in 16 bits).
      seq_length: scalar int in ``[0, T]``; ``None`` means T. A concrete value outside
        ``[0, T]`` raises ``ValueError``; under ``jax.jit`` (a traced value) it cannot be checked
        and is clamped to ``[0, T]`` (-1 runs no step, T + 5 runs T).
      reverse: run from the last valid step to the first.
      unroll: passed to ``jax.lax.scan`` (sequential method).
      method: how time is evaluated (see the README section "Parallel in time"):
        ``"sequential"`` (``jax.lax.scan``, any cell); ``"associative"`` or
        ``jaxrnn.Associative(chunk_size=...)`` (parallel scan, linear-recurrence cells only);
        ``"newton"`` or ``jaxrnn.Newton(variant=..., tol=..., max_iters=...)`` (any cell with a
        real carry; :func:`newton_scan` also returns the iteration count and convergence).
      resets: ``(T,) bool`` "a sequence starts here": the carry is reset to the initial carry
        before that step (packed sequences, episode ends). With ``reverse=True`` every segment
        is still processed on its own, from its last step down to its first.
      mask: ``(T,) bool``, False at the steps to skip, anywhere (Keras's mask; instead of
        ``seq_length``, which is the mask ``t < seq_length``). A masked step is padding: its
        input is never read and the carry passes through it unchanged; its output repeats the
        output of the last unmasked step processed before it (before any, the initial carry's
        first array when it is output-shaped, the ``h`` Keras assumes, else 0), as Keras's RNN
        layers do.
      zero_output_for_mask: ``True``: masked steps output 0 instead (Keras's option of that name).

    Returns:
      ``(ys, carry)`` with ``ys: (T, output_size)`` and the carry after the last valid step
      (the initial carry when ``seq_length == 0`` or every step is masked).

    Examples:
      >>> cell = ElmanCell(hidden_size=8)
      >>> params = cell.init(jax.random.key(0), input_size=5)
      >>> ys, h = scan(cell, params, jnp.ones((10, 5)), seq_length=7)
      >>> ys.shape, bool((ys[7:] == 0).all())
      ((10, 8), True)
    """
    ys, carry, _ = _run(cell, params, xs, carry, seq_length, reverse, unroll, method, resets, mask,
                        zero_output_for_mask)
    return ys, carry


def newton_scan(cell, params, xs, carry=None, *, seq_length=None, reverse: bool = False,
                resets=None, options: Newton = Newton()) -> tuple[Any, Any, NewtonInfo]:
    """:func:`scan` with ``method=options`` (a :class:`jaxrnn.Newton`), also returning its info.

    Args:
      cell: any cell of the protocol.
      params: the cell's params.
      xs: ``(T, I)``, one sequence.
      carry: the initial carry; ``None`` is ``cell.initial_carry()``.
      seq_length: as in :func:`scan`: steps ``>= seq_length`` are padding.
      reverse: as in :func:`scan`.
      resets: as in :func:`scan`: ``(T,)`` bools, the carry restarts before a marked step.
      options: the :class:`jaxrnn.Newton` settings (iterations, tolerance, damping, ...).

    Returns:
      ``(ys, carry, info)``: ``ys`` and ``carry`` as :func:`scan`; ``info`` a
      :class:`jaxrnn.NewtonInfo` (``iterations``, ``converged``, ``residual``).

    Examples:
      >>> cell = GRUCell(hidden_size=4)
      >>> params = cell.init(jax.random.key(0), input_size=3)
      >>> ys, h, info = newton_scan(cell, params, jnp.ones((16, 3)))
      >>> bool(info.converged), int(info.iterations) <= 16
      (True, True)
    """
    if not isinstance(options, Newton):
        raise TypeError(f"options must be a jaxrnn.Newton, got {type(options).__name__} {options!r}")
    ys, carry, info = _run(cell, params, xs, carry, seq_length, reverse, 1, options, resets)
    return ys, carry, cast(NewtonInfo, info)  # a Newton method always reports (evaluate's None is for the others)


def _method(method):
    """Returns ``"sequential"``, an :class:`Associative` or a :class:`Newton`."""
    if isinstance(method, (Associative, Newton)):
        return method
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(
            f"method must be one of {', '.join(map(repr, METHODS))}, a jaxrnn.Associative or a "
            f"jaxrnn.Newton; got {method!r}"
        )
    return {"sequential": "sequential", "associative": Associative(), "newton": Newton()}[method]


def valid_steps(steps: int, seq_length=None, mask=None):
    """The valid steps of one sequence of ``steps`` steps, checked: ``(T,) bool``, or ``None``
    when every step is valid. ``seq_length`` is the mask ``t < seq_length`` (a scalar in
    ``[0, T]``, clamped under jit); ``mask`` a ``(T,) bool`` array; not both.

    Examples:
      >>> valid_steps(4, seq_length=3).tolist()
      [True, True, True, False]
    """
    if seq_length is not None and mask is not None:
        raise ValueError("mask and seq_length exclude each other (seq_length is the mask t < seq_length), got both")
    if mask is not None:
        return _checks.bools("mask", mask, (steps,), "shape (T,) =")
    if seq_length is None:
        return None
    seq_length = _checks.lengths("seq_length", seq_length, steps)
    if seq_length.ndim != 0:
        raise ValueError(f"seq_length must be a scalar for one sequence, got shape {tuple(seq_length.shape)}")
    return padding.batch_valid(steps, seq_length)


def _check_xs(xs):
    """``xs`` as one sequence: a ``(T, input_size)`` floating array, or (for cells whose step reads
    several tensors, e.g. the ops' cells) a tuple or dict of floating arrays with one leading T."""
    if isinstance(xs, (tuple, list, dict)):
        flat, tree = jax.tree_util.tree_flatten_with_path(xs)
        if not flat:
            raise ValueError("xs must hold at least one array, got an empty container")
        leaves = [_checks.float_array(f"xs{jax.tree_util.keystr(path)}", leaf) for path, leaf in flat]
        steps = {leaf.shape[0] if leaf.ndim else None for leaf in leaves}
        if len(steps) != 1 or None in steps:
            shapes = [tuple(leaf.shape) for leaf in leaves]
            raise ValueError(f"xs: every array must have the same leading time axis T, got shapes {shapes}")
        return jax.tree.unflatten(tree, leaves)
    xs = _checks.float_array("xs", xs)
    if xs.ndim != 2:
        raise ValueError(f"xs must have shape (T, input_size) (one unbatched sequence), got {tuple(xs.shape)}")
    return xs


def _run(cell, params, xs, carry, seq_length, reverse, unroll, method, resets, mask=None,
         zero_output_for_mask=True):
    """Checks the arguments (the entry point's one validation), then :func:`evaluate`."""
    _checks.cell("cell", cell)
    method = _method(method)
    xs = _check_xs(xs)
    _checks.boolean("reverse", reverse)
    _checks.positive_int("unroll", unroll)
    for leaf in jax.tree.leaves(carry):  # floating, or complex (LRU)
        dtype = _checks.array("carry", leaf).dtype
        if not jnp.issubdtype(dtype, jnp.inexact):
            raise TypeError(f"carry must have a floating dtype, got {dtype}")
    steps = jax.tree.leaves(xs)[0].shape[0]
    valid = valid_steps(steps, seq_length, mask)
    repeat = not _checks.boolean("zero_output_for_mask", zero_output_for_mask) and mask is not None
    if resets is not None:
        resets = _checks.bools("resets", resets, (steps,), "shape (T,) =")
    state = precision.policy(getattr(cell, "compute_dtype", None), xs, params).state
    _check_step(cell, params, xs, carry, state)
    if not _by_value(cell):  # its identity would key the compiled program: run it op by op
        return evaluate(params, xs, carry, valid, resets, cell=cell, reverse=reverse, unroll=unroll,
                        method=method, state=state, repeat=repeat)
    return compiled(evaluate, params, xs, carry, valid, resets, cell=cell, reverse=reverse, unroll=unroll,
                    method=method, state=state, repeat=repeat)


def _by_value(cell) -> bool:
    """Whether ``cell`` is a frozen dataclass (hashed by its fields, as jaxrnn's cells are)."""
    params = getattr(type(cell), "__dataclass_params__", None)
    return params is not None and params.frozen


def _shapes(tree):
    return jax.tree.map(lambda a: tuple(a.shape), tree)


def _check_step(cell, params, xs, carry, state) -> None:
    """Checks, from shapes alone (``jax.eval_shape``: nothing is computed), that a given ``carry``
    is shaped like the cell's initial carry and that ``cell.apply`` returns ``(carry, y)`` with the
    carry's structure and shapes: the same message under every method."""
    initial = jax.eval_shape(lambda: cell.initial_carry(state))
    if carry is not None and _shapes(carry) != _shapes(initial):
        raise ValueError(f"carry must be shaped like cell.initial_carry(), {_shapes(initial)}, got {_shapes(carry)}")
    x0 = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape[1:], a.dtype), xs)
    out = jax.eval_shape(lambda c, x: cell.apply(params, c, x), initial, x0)
    shape = getattr(out, "shape", None)
    if not isinstance(out, (tuple, list)) or len(out) != 2 or isinstance(out, jax.ShapeDtypeStruct):
        got = type(out).__name__ if shape is None else f"an array of shape {tuple(shape)}"
        raise TypeError(f"cell.apply must return (carry, y), got {got}")
    if _shapes(out[0]) != _shapes(initial):
        raise ValueError(f"cell.apply must return a carry shaped like its input carry, {_shapes(initial)}, "
                         f"got {_shapes(out[0])}")
    for leaf in jax.tree.leaves(out[0]):
        if not jnp.issubdtype(leaf.dtype, jnp.inexact):
            raise TypeError(f"cell.apply must return a floating carry, got {leaf.dtype}")


def evaluate(params, xs, carry, valid, resets, *, cell, reverse, unroll, method, state, repeat=False):
    """:func:`scan` on checked arguments: ``valid: (T,) bool`` or None (:func:`valid_steps`),
    ``method`` an evaluated option (``"sequential"``, an :class:`Associative` or a :class:`Newton`),
    ``state`` the state dtype of the carry; ``repeat``: padded steps repeat the last output
    (Keras's masking, :func:`jaxrnn.driver.padding.repeat`) instead of giving 0.

    Returns ``(ys, carry, info or None)``.
    """
    carry = cell.initial_carry(state) if carry is None else precision.cast_tree(carry, state)
    if method == "sequential" and valid is None and resets is None:
        def step(c, x):
            new, y = cell.apply(params, c, x)
            return precision.cast_tree(new, state), y

        carry, ys = jax.lax.scan(step, carry, xs, reverse=reverse, unroll=unroll)
        return ys, carry, None

    steps = jax.tree.leaves(xs)[0].shape[0]
    carry0 = carry
    valid, start = padding.flags(steps, valid, resets, reverse)
    xs_p = padding.zero_padding(jax.tree.map(lambda a: a[::-1], xs) if reverse else xs, valid)
    info = None
    if isinstance(method, Associative) and steps:
        ys, carry = associative(cell, params, xs_p, carry, valid, start, method)
    elif isinstance(method, Newton) and steps:
        ys, carry, info = newton(cell, params, xs_p, carry, valid, start, method)
    else:
        if isinstance(method, Associative):
            check_linear(cell)
        guarded = padding.guard(lambda c, x: cell.apply(params, c, x), carry)
        carry, ys = jax.lax.scan(guarded, carry, (xs_p, valid, start), unroll=unroll)
        if isinstance(method, Newton):
            info = NewtonInfo(jnp.asarray(0), jnp.asarray(True), jnp.asarray(0.0, state))
    if repeat:
        ys = padding.repeat(valid, ys, carry0)  # in processing order
    return (ys[::-1] if reverse else ys), carry, info
