"""Flax interop: ``from_flax`` for linen's recurrent cells, and Flax modules wrapping jaxrnn layers.

Flax linen cells keep one ``Dense`` per gate, ``kernel: (I, H)`` (transposed from jaxrnn):

- ``SimpleCell``: ``i`` (kernel, bias), ``h`` (kernel): ``h' = act(x W_i + b_i + h W_h)``.
- ``LSTMCell`` and ``OptimizedLSTMCell`` (same names): ``ii, if, ig, io`` (kernel) and
  ``hi, hf, hg, ho`` (kernel, bias); carry ``(c, h)``, which jaxrnn keeps as ``LSTMState(h, c)``.
- ``GRUCell``: ``ir, iz, in`` (kernel, bias), ``hr, hz`` (kernel), ``hn`` (kernel, bias), reset after.

Each has one bias per gate (GRU: plus ``b_hn``), so it maps exactly to a jaxrnn cell with
``double_bias=False``: ``param_count`` equals the Flax count.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxrnn.cells import ElmanCell, GRUCell, LSTMCell
from jaxrnn.layers import GRU, LSTM, RNN

_GATES = {"SimpleCell": ("",), "LSTMCell": ("i", "f", "g", "o"), "OptimizedLSTMCell": ("i", "f", "g", "o"),
          "GRUCell": ("r", "z", "n")}


def _name(fn) -> str:
    return getattr(fn, "__name__", repr(fn))


def _cell_config(cell) -> tuple[type, type, dict]:
    """``(jaxrnn cell class, jaxrnn layer class, kwargs)`` for a Flax linen cell; checks options."""
    kind = type(cell).__name__
    if kind not in _GATES:
        raise TypeError("module must be flax.linen RNN over SimpleCell, LSTMCell, OptimizedLSTMCell or "
                        f"GRUCell (or one of these cells), got {kind}")
    if _name(cell.carry_init) != "zeros":
        raise ValueError(f"module: carry_init must be zeros (jaxrnn's initial state), got {_name(cell.carry_init)}")
    activation = _name(cell.activation_fn)
    if kind == "SimpleCell":
        if activation not in ("tanh", "relu"):
            raise ValueError(f"module: activation_fn must be tanh or relu for SimpleCell, got {activation}")
        if cell.residual:
            raise ValueError("module: residual must be False for SimpleCell, got True")
        return ElmanCell, RNN, {"nonlinearity": activation}
    if activation != "tanh":
        raise ValueError(f"module: activation_fn must be tanh for {kind}, got {activation}")
    if _name(cell.gate_fn) != "sigmoid":
        raise ValueError(f"module: gate_fn must be sigmoid for {kind}, got {_name(cell.gate_fn)}")
    return (GRUCell, GRU, {}) if kind == "GRUCell" else (LSTMCell, LSTM, {})


def _cell_params(kind: str, p: dict) -> dict:
    """jaxrnn params (``double_bias=False``) from a Flax cell's ``params`` dict."""
    def kernel(name):
        return np.asarray(p[name]["kernel"]).T

    if kind == "SimpleCell":
        out = {"w_ih": kernel("i"), "w_hh": kernel("h"), "b_ih": p["i"]["bias"]}
    elif kind == "GRUCell":
        out = {"w_ih": np.concatenate([kernel(f"i{g}") for g in "rzn"]),
               "w_hh": np.concatenate([kernel(f"h{g}") for g in "rzn"]),
               "b_ih": np.concatenate([p[f"i{g}"]["bias"] for g in "rzn"]), "b_hn": p["hn"]["bias"]}
    else:  # LSTMCell / OptimizedLSTMCell: biases live on the h-side Dense layers only
        out = {"w_ih": np.concatenate([kernel(f"i{g}") for g in "ifgo"]),
               "w_hh": np.concatenate([kernel(f"h{g}") for g in "ifgo"]),
               "b_ih": np.concatenate([p[f"h{g}"]["bias"] for g in "ifgo"])}
    return {k: jnp.asarray(v) for k, v in out.items()}


def from_flax(module, variables):
    """Converts a Flax linen recurrent module and its variables into ``(layer, params)``.

    Args:
      module: ``flax.linen.RNN(cell)`` with ``cell`` a ``SimpleCell`` (tanh/relu), ``LSTMCell``,
        ``OptimizedLSTMCell`` or ``GRUCell`` (default gate functions), or one of those cells alone.
      variables: what ``module.init`` returned (``{"params": ...}``), or its ``"params"`` entry.

    Returns:
      For ``nn.RNN``: a one-layer :class:`jaxrnn.RNN`/``LSTM``/``GRU`` with ``double_bias=False``,
      ``batch_first = not module.time_major``, and params ``[cell params]``: its ``output`` equals
      the Flax outputs and its final state the Flax carry (``h_n[0]``; Flax's ``(c, h)`` becomes
      ``(h_n, c_n)``). For a cell: the jaxrnn cell and its params, ``cell.apply`` matching one step.

    Examples:
      >>> from jaxrnn import param_count
      >>> rnn = nn.RNN(nn.GRUCell(8))
      >>> variables = rnn.init(jax.random.key(0), jnp.ones((1, 10, 5)))
      >>> layer, params = from_flax(rnn, variables)
      >>> layer.hidden_size, layer.batch_first, param_count(params)
      (8, True, 344)
    """
    params = variables.get("params", variables)
    if isinstance(module, nn.RNN):
        if module.reverse:
            raise ValueError("module: reverse must be False (use jaxrnn's bidirectional layers), got True")
        if "cell" not in params:
            raise ValueError(f"variables: expected params['cell'] (from nn.RNN.init), got keys {sorted(params)}")
        cell, params = module.cell, params["cell"]
    else:
        cell = module
    cell_cls, layer_cls, kwargs = _cell_config(cell)
    kind = type(cell).__name__
    try:
        converted = _cell_params(kind, params)
    except (KeyError, TypeError) as err:
        raise ValueError(f"variables: expected the params of a Flax {kind} (from module.init), "
                         f"missing {err}; got keys {sorted(params)}") from None
    hidden, input_size = converted["w_hh"].shape[1], converted["w_ih"].shape[1]
    if cell.features != hidden:
        raise ValueError(f"variables: expected hidden size {cell.features} (module.features), got {hidden}")
    if not isinstance(module, nn.RNN):
        return cell_cls(hidden, double_bias=False, **kwargs), converted
    layer = layer_cls(input_size, hidden, batch_first=not module.time_major, double_bias=False, **kwargs)
    return layer, [converted]


# -- Flax modules wrapping any jaxrnn layer ------------------------------------------------------------


def _init_layer(layer, key, input_size: int, preset: str = "torch"):
    """Params of a torch-shaped layer (``layer.init(key)``) or a sequence layer (``init(key, I)``)."""
    if isinstance(layer, (RNN, LSTM, GRU)):
        return layer.init(key, preset=preset)
    is_cell = isinstance(layer, (ElmanCell, LSTMCell, GRUCell))
    if is_cell or not (hasattr(layer, "init") and hasattr(layer, "apply") and hasattr(layer, "output_size")):
        raise TypeError("layer must be a jaxrnn RNN/LSTM/GRU or a sequence layer (Recurrent, "
                        f"Bidirectional, Stack; wrap a cell in jaxrnn.Recurrent), got {type(layer).__name__}")
    return layer.init(key, input_size, preset=preset)


def _apply_layer(layer, params, x, hx=None, *, seq_lengths=None, key=None):
    """Runs ``layer``; sequence layers take ``x: (T, I)`` or ``(B, T, I)`` (``jax.vmap`` over B)."""
    if isinstance(layer, (RNN, LSTM, GRU)):
        return layer.apply(params, x, hx, seq_lengths=seq_lengths, key=key)
    if x.ndim == 2:
        return layer.apply(params, x, hx, seq_length=seq_lengths, key=key)
    keys = None if key is None else jax.random.split(key, x.shape[0])

    def one(x_b, c_b, len_b, k_b):
        return layer.apply(params, x_b, c_b, seq_length=len_b, key=k_b)

    axes = tuple(None if a is None else 0 for a in (hx, seq_lengths, keys))
    return jax.vmap(one, in_axes=(0, *axes))(x, hx, seq_lengths, keys)


class LinenRNN(nn.Module):
    """A Flax linen module running any jaxrnn layer; its params are the layer's params pytree.

    ``layer`` is a :class:`jaxrnn.RNN`/``LSTM``/``GRU`` (shapes as in ``layer.apply``) or a
    sequence layer (``Recurrent``, ``Bidirectional``, ``Stack``; ``x: (B, T, I)`` or ``(T, I)``,
    its input size read from ``x``). The params live under ``params["layer"]`` in exactly
    ``layer.init``'s structure, so ``module.apply(variables, x) == layer.apply(variables["params"]["layer"], x)``.
    Inter-layer dropout runs when ``deterministic=False``, with the ``"dropout"`` PRNG stream.

    Examples:
      >>> module = LinenRNN(LSTM(5, 8, batch_first=True))
      >>> variables = module.init(jax.random.key(0), jnp.ones((2, 10, 5)))
      >>> out, (h_n, c_n) = module.apply(variables, jnp.ones((2, 10, 5)))
      >>> out.shape
      (2, 10, 8)
    """

    layer: Any
    preset: str = "torch"

    @nn.compact
    def __call__(self, x, hx=None, *, seq_lengths=None, deterministic: bool = True):
        """``x`` as the layer takes it; returns the layer's ``(output, state)``."""
        params = self.param("layer", lambda key: _init_layer(self.layer, key, x.shape[-1], self.preset))
        key = None if deterministic else self.make_rng("dropout")
        return _apply_layer(self.layer, params, x, hx, seq_lengths=seq_lengths, key=key)


def _is_variable(v) -> bool:
    return isinstance(v, nnx.Variable)


class NNXRNN(nnx.Module):
    """A Flax NNX module running any jaxrnn layer; every array of its params is an ``nnx.Param``.

    Args:
      layer: a :class:`jaxrnn.RNN`/``LSTM``/``GRU`` or a sequence layer (``Recurrent``,
        ``Bidirectional``, ``Stack``).
      rngs: ``nnx.Rngs`` with a ``params`` stream (initialisation).
      input_size: I, required for sequence layers (torch-shaped layers know theirs).
      preset: the initialisation preset, ``"torch"`` or ``"keras"``.

    ``module.params`` mirrors ``layer.init``'s structure; :meth:`layer_params` returns it as plain
    arrays. Calling ``module(x, hx, seq_lengths=..., rngs=...)`` equals ``layer.apply``; passing
    ``rngs`` (with a ``dropout`` stream) enables inter-layer dropout.

    Examples:
      >>> module = NNXRNN(GRU(5, 8, batch_first=True), rngs=nnx.Rngs(0))
      >>> out, h_n = module(jnp.ones((2, 10, 5)))
      >>> out.shape
      (2, 10, 8)
    """

    def __init__(self, layer, *, rngs: nnx.Rngs, input_size: int | None = None, preset: str = "torch"):
        if input_size is None and not isinstance(layer, (RNN, LSTM, GRU)):
            raise ValueError(f"input_size is required for a {type(layer).__name__} (only torch-shaped "
                             "layers know theirs), got None")
        self.layer = layer
        self.params = nnx.data(jax.tree.map(nnx.Param, _init_layer(layer, rngs.params(), input_size, preset)))

    def layer_params(self):
        """The params as plain arrays, in ``layer.init``'s structure."""
        return jax.tree.map(lambda v: v[...], self.params, is_leaf=_is_variable)

    def __call__(self, x, hx=None, *, seq_lengths=None, rngs: nnx.Rngs | None = None):
        key = None if rngs is None else rngs.dropout()
        return _apply_layer(self.layer, self.layer_params(), x, hx, seq_lengths=seq_lengths, key=key)
