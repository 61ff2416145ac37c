"""Keras 3 converters: ``SimpleRNN``, ``LSTM``, ``GRU`` and ``Bidirectional`` <-> jaxrnn layers.

Keras stores ``kernel: (I, kH)``, ``recurrent_kernel: (H, kH)`` and one ``bias: (kH,)``
(``GRU(reset_after=True)``: ``bias: (2, 3H)``, input bias then recurrent bias). jaxrnn stores the
transposes, torch-layout ``(kH, I)``; the LSTM gate order i, f, g(c), o is shared, while the
Keras GRU order z, r, h becomes r, z, n. So ``SimpleRNN``, ``LSTM`` and ``GRU(reset_after=False)``
map to ``double_bias=False`` (one ``b_ih``) and ``GRU(reset_after=True)`` to ``double_bias=True``
(``b_ih = bias[0]``, ``b_hh = bias[1]``): :func:`jaxrnn.param_count` equals ``count_params()``.
Keras is imported lazily, inside :func:`to_keras` only (with ``KERAS_BACKEND=jax``; without it Keras
looks for TensorFlow, and the error says so).
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import jax.numpy as jnp
import numpy as np

from jaxrnn.layers import GRU, LSTM, RNN

_KINDS = {"SimpleRNN": RNN, "LSTM": LSTM, "GRU": GRU}
_KERAS_NAMES = {RNN: "SimpleRNN", LSTM: "LSTM", GRU: "GRU"}


def _swap_zr(a: np.ndarray, hidden: int) -> np.ndarray:
    """Swaps the first two gate blocks along axis 0 (Keras z, r, h <-> jaxrnn r, z, n)."""
    return np.concatenate([a[hidden: 2 * hidden], a[:hidden], a[2 * hidden:]], axis=0)


def _name(fn) -> str:
    return getattr(fn, "__name__", repr(fn))


def _layer_config(layer) -> tuple[type, dict]:
    """``(jaxrnn class, constructor kwargs)`` for one built Keras recurrent layer (one direction)."""
    kind = type(layer).__name__
    if kind not in _KINDS:
        raise TypeError(f"layer must be a Keras SimpleRNN, LSTM, GRU or Bidirectional, got {kind}")
    if not layer.built:
        raise ValueError(f"layer: the Keras {kind} must be built (call it once or .build(input_shape)) "
                         "so its input size is known, got an unbuilt layer")
    cell = layer.cell
    kwargs: dict[str, Any] = {"input_size": int(cell.kernel.shape[0]), "hidden_size": int(cell.units),
                              "bias": bool(cell.use_bias), "batch_first": True}
    activation = _name(cell.activation)
    if kind == "SimpleRNN":
        if activation not in ("tanh", "relu"):
            raise ValueError(f"layer: activation must be 'tanh' or 'relu' for SimpleRNN, got {activation!r}")
        kwargs.update(nonlinearity=activation, double_bias=False)
    else:
        if activation != "tanh":
            raise ValueError(f"layer: activation must be 'tanh' for {kind}, got {activation!r}")
        if _name(cell.recurrent_activation) != "sigmoid":
            raise ValueError(f"layer: recurrent_activation must be 'sigmoid' for {kind}, "
                             f"got {_name(cell.recurrent_activation)!r}")
        if kind == "GRU":
            kwargs.update(reset_after=bool(cell.reset_after), double_bias=bool(cell.reset_after))
        else:
            kwargs.update(double_bias=False)
    for option in ("dropout", "recurrent_dropout"):
        if getattr(cell, option):
            raise ValueError(f"layer: {option} must be 0 (jaxrnn has no per-step input dropout), "
                             f"got {getattr(cell, option)}")
    compute = getattr(getattr(layer, "dtype_policy", None), "compute_dtype", "float32")
    if compute != "float32":  # e.g. "mixed_bfloat16": float32 variables, bfloat16 computation
        kwargs["compute_dtype"] = compute
    return _KINDS[kind], kwargs


def _cell_params(kind: type, weights: list, kwargs: dict) -> dict:
    """jaxrnn cell params from a Keras layer's ``get_weights()`` (kernel, recurrent, [bias])."""
    h = kwargs["hidden_size"]
    fix = (lambda a: _swap_zr(a, h)) if kind is GRU else (lambda a: a)
    params = {"w_ih": fix(weights[0].T), "w_hh": fix(weights[1].T)}
    if kwargs["bias"]:
        bias = weights[2]
        if bias.ndim == 2:  # GRU(reset_after=True): (2, 3H)
            params["b_ih"], params["b_hh"] = fix(bias[0]), fix(bias[1])
        else:
            params["b_ih"] = fix(bias)
    return {k: jnp.asarray(v) for k, v in params.items()}


_RECURRENT = ("SimpleRNN", "LSTM", "GRU", "Bidirectional")


def masked_lengths(x, mask_value: float = 0.0):
    """The ``seq_lengths`` a Keras ``Masking(mask_value)`` layer means for right-padded input:
    per row, the number of time steps before the trailing run of steps whose features all equal
    ``mask_value``. ``x: (B, T, I)`` -> ``(B,)`` int32.

    jaxrnn's outputs at those padded steps are 0, where a Keras RNN repeats its last output (or
    gives 0 inside ``Bidirectional``); the valid steps and the final states are the same. For
    Keras's outputs at every step, holes included, pass ``mask=np.any(x != mask_value, axis=-1)``.

    Args:
      x: ``(B, T, I)`` right-padded input.
      mask_value: the value of every feature of a padded step.

    Examples:
      >>> x = np.ones((2, 4, 3)); x[1, 2:] = 0.0
      >>> masked_lengths(x).tolist()
      [4, 2]
    """
    keep = np.any(np.asarray(x) != mask_value, axis=-1)  # (B, T): steps Keras does not mask
    steps = keep.shape[1]
    last = steps - np.argmax(keep[:, ::-1], axis=1)  # one past the last kept step
    return jnp.asarray(np.where(keep.any(axis=1), last, 0), jnp.int32)


def _model_layers(model):
    """``(recurrent layers, the dropout rate between them, names of the layers outside them)`` of
    a Keras ``Sequential``/functional model. Between two recurrent layers only ``Dropout`` may
    stand (one of the same rate in every gap: jaxrnn's inter-layer dropout); anything else would
    change the stack's function, so it raises."""
    layers = [k for k in model.layers if type(k).__name__ != "InputLayer"]
    positions = [i for i, k in enumerate(layers) if type(k).__name__ in _RECURRENT]
    if not positions:
        raise ValueError(f"model: no SimpleRNN, LSTM, GRU or Bidirectional layer in {model.name!r}")
    rates = []
    for before, after in itertools.pairwise(positions):
        gap = layers[before + 1:after]
        for k in gap:
            if type(k).__name__ != "Dropout":
                raise ValueError(f"model: layer {k.name} ({type(k).__name__}) stands between the recurrent layers "
                                 f"{layers[before].name} and {layers[after].name}; jaxrnn stacks recurrent layers "
                                 "directly (only Dropout may stand between them, as inter-layer dropout)")
        rates.append(sum(k.rate for k in gap))
    if len(set(rates)) > 1:
        raise ValueError(f"model: the Dropout rates between the recurrent layers differ ({rates}); jaxrnn's "
                         "inter-layer dropout has one rate")
    skipped = []
    for k in layers[:positions[0]] + layers[positions[-1] + 1:]:
        kind = type(k).__name__
        note = (f" (pass mask=np.any(x != {k.mask_value}, axis=-1) instead)" if kind == "Masking" else "")
        skipped.append(f"{k.name} ({kind}){note}")
    return [layers[i] for i in positions], (rates[0] if rates else 0.0), skipped


def from_keras(layer):
    """Converts a built Keras 3 recurrent layer, or the recurrent layers of a model, into
    ``(layer, params)``.

    For a ``Sequential`` or functional model, its recurrent layers (in order) become one jaxrnn
    layer with ``num_layers`` = their number (they must be of one kind, size and direction, each
    reading the previous one's output; a ``Dropout`` between them becomes the layer's ``dropout``,
    any other layer between them raises); the layers before and after them (``Masking``,
    ``Dense``, ...) are skipped and named in a warning. A Keras ``Masking(mask_value)`` layer is
    the call's ``mask=np.any(x != mask_value, axis=-1)`` (holes allowed; Keras's masking), or on
    right-padded input ``seq_lengths=masked_lengths(x, mask_value)`` (padded outputs 0).

    The result is a batch-first :class:`jaxrnn.RNN`/``LSTM``/``GRU`` (one layer; bidirectional
    with Keras's ``merge_mode`` for ``Bidirectional``) whose ``output`` equals Keras's output with
    ``return_sequences=True`` (given Keras's mask as ``mask=``, too) and whose
    :func:`jaxrnn.param_count` equals ``count_params()``. Keras's options map to the layer's:
    ``go_backwards`` and ``zero_output_for_mask`` to the fields of the same names,
    ``Bidirectional(merge_mode=None)`` to ``merge_mode=None`` (the two outputs, the backward one
    in time order as Keras returns it). A ``stateful=True`` layer converts like any other: jaxrnn
    holds no state, ``apply`` returns it and the next call takes it back as ``hx``
    (``out, h = layer.apply(params, chunk, h)``); the state a Keras layer holds now is
    ``hx = np.asarray(k.states[0])[None]`` (LSTM: ``(h[None], c[None])`` from ``k.states``;
    ``Bidirectional``: the forward then the backward layer's, stacked). Options that change the
    function and have no exact jaxrnn form (other activations, ``dropout``/``recurrent_dropout``,
    different forward and backward layers, ``go_backwards`` in a model of several recurrent
    layers) raise ``ValueError`` naming the option. ``return_sequences``, ``return_state`` and
    ``unroll`` do not change the weights and are ignored. A layer computing in another dtype than
    float32 (``dtype="mixed_bfloat16"``) keeps it as ``compute_dtype`` (equal to bfloat16's
    precision: jaxrnn carries the state in float32).

    Args:
      layer: a built ``keras.layers.SimpleRNN``, ``LSTM``, ``GRU`` or ``Bidirectional`` of one of them.

    Returns:
      ``(layer, params)``; ``params`` is a one-element list, as from ``layer.init(key)``.

    Examples:
      >>> import keras
      >>> from jaxrnn import param_count
      >>> k = keras.layers.SimpleRNN(3)
      >>> k.build((None, 2, 10))
      >>> layer, params = from_keras(k)
      >>> param_count(params), k.count_params()
      (42, 42)
    """
    if hasattr(layer, "layers") and type(layer).__name__ not in _RECURRENT:  # a model
        return _from_model(layer)
    if type(layer).__name__ == "Bidirectional":
        kind, kwargs = _layer_config(layer.forward_layer)
        back_kind, back_kwargs = _layer_config(layer.backward_layer)
        if (back_kind, back_kwargs) != (kind, kwargs):
            raise ValueError(f"layer: backward_layer must match forward_layer, got {back_kwargs} vs {kwargs}")
        if layer.forward_layer.go_backwards:
            raise ValueError("layer: the wrapped layer must have go_backwards=False, got True")
        out = kind(**kwargs, bidirectional=True, merge_mode=layer.merge_mode)
        fwd = _cell_params(kind, layer.forward_layer.get_weights(), kwargs)
        bwd = _cell_params(kind, layer.backward_layer.get_weights(), kwargs)
        return out, [{"fwd": fwd, "bwd": bwd}]
    kind, kwargs = _layer_config(layer)
    out = kind(**kwargs, go_backwards=bool(layer.go_backwards), zero_output_for_mask=bool(layer.zero_output_for_mask))
    return out, [_cell_params(kind, layer.get_weights(), kwargs)]


def _from_model(model):
    import warnings

    recurrent, rate, skipped = _model_layers(model)
    converted = [from_keras(k) for k in recurrent]
    first, _ = converted[0]
    backwards = [k.name for (layer, _), k in zip(converted, recurrent) if getattr(layer, "go_backwards", False)]
    if backwards and len(converted) > 1:
        raise ValueError(f"model: go_backwards must be False in a model of several recurrent layers, got True in "
                         f"{', '.join(backwards)} (Keras feeds the next layer the reversed outputs); convert "
                         "the layers one by one")
    for i, (layer, _) in enumerate(converted[1:], 1):
        same = dataclasses.replace(layer, input_size=first.input_size) == first
        if not same:
            raise ValueError(f"model: recurrent layer {i} ({recurrent[i].name}) differs from layer 0 "
                             f"({recurrent[0].name}) in kind, size or options; jaxrnn stacks equal layers")
        if layer.input_size != first.output_size:
            raise ValueError(f"model: recurrent layer {i} ({recurrent[i].name}) reads {layer.input_size} "
                             f"features, not the {first.output_size} layer {i - 1} gives")
    if skipped:
        warnings.warn(f"from_keras: skipped the non-recurrent layers {', '.join(skipped)}", stacklevel=3)
    out = dataclasses.replace(first, num_layers=len(converted), dropout=float(rate))
    return out, [params[0] for _, params in converted]


def _import_keras():
    """``import keras``, saying what to do when its backend cannot load (no TensorFlow here)."""
    try:
        import keras
    except ImportError as e:
        raise ImportError(f"keras could not load its backend ({e}); jaxrnn uses Keras on JAX: set the "
                          "environment variable KERAS_BACKEND=jax before keras is first imported") from e
    return keras


def _keras_weights(layer, p: dict) -> list[np.ndarray]:
    """Keras ``[kernel, recurrent_kernel, (bias)]`` for one direction's params ``p``."""
    h = layer.hidden_size
    dtype = np.asarray(p["w_ih"]).dtype
    fix = (lambda a: _swap_zr(a, h)) if isinstance(layer, GRU) else (lambda a: a)
    weights = [fix(np.asarray(p["w_ih"])).T, fix(np.asarray(p["w_hh"])).T]
    if not layer.bias:
        return weights
    b_ih, b_hh = np.asarray(p["b_ih"]), layer.cell().recurrent_bias(p)
    b_hh = np.zeros_like(b_ih) if b_hh is None else np.asarray(b_hh, dtype)
    if isinstance(layer, GRU) and layer.reset_after:
        weights.append(np.stack([fix(b_ih), fix(b_hh)]))
    else:  # one Keras bias: the two torch biases add up (GRU(reset_after=False): b_hn is outside r)
        weights.append(fix(b_ih + b_hh))
    return weights


def to_keras(layer, params):
    """Builds the Keras 3 layer equivalent to a one-layer jaxrnn ``RNN``/``LSTM``/``GRU``.

    Exact for ``num_layers=1`` and ``proj_size=0``; two biases are summed into Keras's one
    (``GRU(reset_after=True)`` keeps both). The Keras layer is batch-first and returns sequences
    (``return_sequences=True``); a bidirectional layer becomes ``Bidirectional`` with the same
    ``merge_mode``. Other configurations raise ``ValueError``.

    Args:
      layer: a :class:`jaxrnn.RNN`, ``LSTM`` or ``GRU``.
      params: its params, as from ``layer.init(key)`` or :func:`from_keras`.

    Returns:
      A built ``keras.layers.SimpleRNN``/``LSTM``/``GRU`` or ``Bidirectional`` holding ``params``.

    Examples:
      >>> import jax
      >>> layer = GRU(5, 8, batch_first=True)
      >>> k = to_keras(layer, layer.init(jax.random.key(0)))
      >>> type(k).__name__, k.count_params()
      ('GRU', 360)
    """
    if not isinstance(layer, (RNN, LSTM, GRU)):
        raise TypeError(f"layer must be a jaxrnn RNN, LSTM or GRU, got {type(layer).__name__}")
    if layer.num_layers != 1:
        raise ValueError(f"layer: num_layers must be 1 for one Keras layer, got {layer.num_layers}")
    if isinstance(layer, LSTM) and layer.proj_size:
        raise ValueError(f"layer: proj_size must be 0 (Keras LSTM has no projection), got {layer.proj_size}")
    layer.check_params(params)
    keras = _import_keras()

    kwargs: dict[str, Any] = {"use_bias": layer.bias, "return_sequences": True}
    if not layer.bidirectional:  # Keras's Bidirectional sets zero_output_for_mask itself
        kwargs.update(go_backwards=layer.go_backwards, zero_output_for_mask=layer.zero_output_for_mask)
    if isinstance(layer, RNN):
        kwargs["activation"] = layer.nonlinearity
    if isinstance(layer, GRU):
        kwargs["reset_after"] = layer.reset_after
    klass = getattr(keras.layers, _KERAS_NAMES[type(layer)])
    inner = klass(layer.hidden_size, **kwargs)
    shape = (None, None, layer.input_size)
    if not layer.bidirectional:
        inner.build(shape)
        inner.set_weights(_keras_weights(layer, params[0]))
        return inner
    # Keras leaves merge_mode unannotated, so its "concat" default reads as str; None is one of its modes
    out = keras.layers.Bidirectional(inner, merge_mode=layer.merge_mode)  # pyright: ignore[reportArgumentType]
    out.build(shape)
    out.set_weights(_keras_weights(layer, params[0]["fwd"]) + _keras_weights(layer, params[0]["bwd"]))
    return out
