"""Model inspection: parameter counts and Keras-like summary tables."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxrnn import _checks
from jaxrnn.combinators import Stack
from jaxrnn.layers import GRU, LSTM, RNN


def param_count(params) -> int:
    """Returns the number of scalars in a params pytree (torch's ``numel`` sum).

    Args:
      params: any pytree of arrays (a model's params, or their gradients).

    Examples:
      >>> from jaxrnn import LSTM
      >>> param_count(LSTM(10, 20, num_layers=2, bidirectional=True).init(jax.random.key(0)))
      15040
    """
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        if not hasattr(leaf, "shape"):
            raise TypeError(f"params{jax.tree_util.keystr(path)} must be an array, got {type(leaf).__name__}")
    return int(sum(np.size(leaf) for leaf in jax.tree.leaves(params)))


def _describe(layer) -> str:
    """A row name: ``Recurrent(LSTMCell)``, ``Bidirectional(GRUCell, sum)``, or the type's name."""
    cell = getattr(layer, "cell", None)
    if cell is None:
        return type(layer).__name__
    merge = getattr(layer, "merge", "concat")
    extra = "" if merge == "concat" else f", {merge}"
    return f"{type(layer).__name__}({type(cell).__name__}{extra})"


def _check_input_shape(input_shape) -> tuple[int, ...]:
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) not in (2, 3):
        raise ValueError(f"input_shape must be a tuple (B, T, I) or (T, I), got {input_shape!r}")
    for i, size in enumerate(input_shape):
        _checks.non_negative_int(f"input_shape[{i}]", size)
    return tuple(int(s) for s in input_shape)


def _rows(model, params, input_shape) -> list[tuple[str, tuple, int]]:
    """``[(name, output shape, param count)]``, one row per layer, shapes from ``jax.eval_shape``."""
    shape = _check_input_shape(input_shape)
    time_major = False
    if isinstance(model, (RNN, LSTM, GRU)):
        # The whole model's trace validates input_shape and params, as model.apply would.
        jax.eval_shape(lambda p, x: model.apply(p, x, deterministic=True), params,
                       jax.ShapeDtypeStruct(shape, jnp.float32))
        time_major = len(shape) == 3 and not model.batch_first
        if time_major:
            shape = (shape[1], shape[0], shape[2])
        layers, per_layer = model.network().layers, list(params)
        names = [f"{type(model).__name__}[{i}]: {_describe(layer)}" for i, layer in enumerate(layers)]
    elif isinstance(model, Stack):
        layers, per_layer = model.layers, list(params)
        names = [f"{i}: {_describe(layer)}" for i, layer in enumerate(layers)]
    else:
        _checks.sequence_layer("model", model, "a jaxrnn RNN/LSTM/GRU, Stack, Bidirectional, Recurrent or other "
                               "sequence layer")
        layers, per_layer, names = (model,), [params], [_describe(model)]

    rows = []
    x = jax.ShapeDtypeStruct(shape, jnp.float32)
    for name, layer, p in zip(names, layers, per_layer):
        def run(p, xs, layer=layer):
            if xs.ndim == 2:
                return layer.apply(p, xs)[0]
            return jax.vmap(lambda row: layer.apply(p, row)[0])(xs)

        x = jax.eval_shape(run, p, x)
        outs = [(o.shape[1], o.shape[0], o.shape[2]) if time_major else tuple(o.shape) for o in jax.tree.leaves(x)]
        rows.append((name, outs[0] if len(outs) == 1 else outs, param_count(p)))  # merge_mode=None: two
    return rows


def summary(model, params, input_shape) -> str:
    """Returns a Keras-like table: one row per layer (name, output shape, parameters) and the total.

    Rows: one per layer of a :class:`jaxrnn.RNN`/``LSTM``/``GRU`` (a bidirectional layer's two
    directions share a row, as in Keras's ``Bidirectional``), one per entry of a
    :class:`jaxrnn.Stack`, or one for a lone ``Recurrent``/``Bidirectional``. Output shapes come
    from ``jax.eval_shape`` (nothing is computed) and follow the model's layout; parameters are
    :func:`param_count` of each layer's params, so with ``double_bias=False`` the counts are
    Keras's ``count_params()`` and with torch's layout torch's ``numel`` sums.

    Args:
      model: a torch-shaped layer, a ``Stack``, or any sequence layer (``Recurrent``, ``Bidirectional``).
      params: the model's params.
      input_shape: with the batch dimension, e.g. ``(1, 10, 5)`` (``(T, B, I)`` if the layer is not
        ``batch_first``); ``(T, I)`` for one unbatched sequence.

    Returns:
      The table as a string (``print`` it).

    Examples:
      >>> from jaxrnn import RNN
      >>> model = RNN(10, 3, batch_first=True, double_bias=False)
      >>> print(summary(model, model.init(jax.random.key(0)), (8, 2, 10)))
      Model: RNN
      ===========================================================
      Layer                           Output shape        Param #
      ===========================================================
      RNN[0]: Recurrent(ElmanCell)    (8, 2, 3)                42
      ===========================================================
      Total params: 42
    """
    rows = _rows(model, params, input_shape)
    name_w = max([len("Layer")] + [len(name) for name, _, _ in rows]) + 4
    shape_w = max([len("Output shape")] + [len(str(s)) for _, s, _ in rows]) + 4
    count_w = max([len("Param #")] + [len(f"{c:,}") for _, _, c in rows]) + 4
    rule = "=" * (name_w + shape_w + count_w)
    lines = [f"Model: {type(model).__name__}", rule,
             f"{'Layer':<{name_w}}{'Output shape':<{shape_w}}{'Param #':>{count_w}}", rule]
    lines += [f"{name:<{name_w}}{shape!s:<{shape_w}}{count:>{count_w},}" for name, shape, count in rows]
    lines += [rule, f"Total params: {sum(c for _, _, c in rows):,}"]
    return "\n".join(lines)
