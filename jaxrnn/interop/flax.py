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

from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxrnn.cells import ElmanCell, GRUCell, LSTMCell
from jaxrnn.interop import recurrentgemma
from jaxrnn.interop.wrapping import apply_layer, drops_out, init_layer, knows_input_size
from jaxrnn.layers import GRU, LSTM, RNN

_KINDS = ("SimpleCell", "LSTMCell", "OptimizedLSTMCell", "GRUCell")


def _name(fn) -> str:
    return getattr(fn, "__name__", repr(fn))


def _full_name(obj) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _cell_config(cell) -> tuple[type, type, dict]:
    """``(jaxrnn cell class, jaxrnn layer class, kwargs)`` for a Flax (linen or NNX) cell."""
    kind = type(cell).__name__
    if kind not in _KINDS:
        raise TypeError(f"the cell must be a Flax {', '.join(_KINDS)}, got {_full_name(cell)}")
    if cell.carry_init is not None and _name(cell.carry_init) != "zeros":  # NNX: None means zeros
        raise ValueError(f"module: carry_init must be zeros (jaxrnn's initial state), got {_name(cell.carry_init)}")
    activation = _name(cell.activation_fn)
    if kind == "SimpleCell":
        if activation not in ("tanh", "relu"):
            raise ValueError(f"module: activation_fn must be tanh or relu for SimpleCell, got {activation}")
        if cell.residual:
            raise ValueError("module: residual must be False for SimpleCell, got True")
        return ElmanCell, RNN, {"nonlinearity": activation, **_compute_dtype(cell)}
    if activation != "tanh":
        raise ValueError(f"module: activation_fn must be tanh for {kind}, got {activation}")
    if _name(cell.gate_fn) != "sigmoid":
        raise ValueError(f"module: gate_fn must be sigmoid for {kind}, got {_name(cell.gate_fn)}")
    return (GRUCell, GRU, _compute_dtype(cell)) if kind == "GRUCell" else (LSTMCell, LSTM, _compute_dtype(cell))


def _compute_dtype(cell) -> dict:
    """``{"compute_dtype": ...}`` for a cell that computes in a dtype other than float32 (Flax's
    ``dtype``), else ``{}``: a bfloat16 Flax model stays a bfloat16 jaxrnn layer."""
    dtype = getattr(cell, "dtype", None)
    if dtype is None or jnp.dtype(dtype) == jnp.float32:
        return {}
    return {"compute_dtype": jnp.dtype(dtype).name}


def _linen_cell_params(kind: str, p: dict) -> dict:
    """jaxrnn params (``double_bias=False``) from a linen cell's params: one ``Dense`` per gate,
    ``kernel: (I, H)``; LSTM biases live on the h side, GRU has ``hn``'s bias apart."""
    def kernel(name):
        return np.asarray(p[name]["kernel"]).T

    if kind == "SimpleCell":
        return {"w_ih": kernel("i"), "w_hh": kernel("h"), "b_ih": p["i"]["bias"]}
    if kind == "GRUCell":
        return {"w_ih": np.concatenate([kernel(f"i{g}") for g in "rzn"]),
                "w_hh": np.concatenate([kernel(f"h{g}") for g in "rzn"]),
                "b_ih": np.concatenate([p[f"i{g}"]["bias"] for g in "rzn"]), "b_hn": p["hn"]["bias"]}
    return {"w_ih": np.concatenate([kernel(f"i{g}") for g in "ifgo"]),  # LSTMCell, OptimizedLSTMCell
            "w_hh": np.concatenate([kernel(f"h{g}") for g in "ifgo"]),
            "b_ih": np.concatenate([p[f"h{g}"]["bias"] for g in "ifgo"])}


def _nnx_cell_params(kind: str, p: dict) -> dict:
    """jaxrnn params from an NNX cell's params: ``LSTMCell`` as linen's (``if_`` for ``if``);
    the others as two fused ``Linear`` layers ``dense_i``, ``dense_h`` (gates in jaxrnn's order).
    NNX's GRU has no bias on the h side, so ``b_hn`` is 0."""
    if kind == "LSTMCell":
        return _linen_cell_params(kind, {("if" if k == "if_" else k): v for k, v in p.items()})
    i, h = p["dense_i"], p["dense_h"]
    out = {"w_ih": np.asarray(i["kernel"]).T, "w_hh": np.asarray(h["kernel"]).T}
    if kind == "OptimizedLSTMCell":
        return {**out, "b_ih": h["bias"]}
    if kind == "GRUCell":
        return {**out, "b_ih": i["bias"], "b_hn": np.zeros_like(np.asarray(i["bias"])[: out["w_hh"].shape[1]])}
    return {**out, "b_ih": i["bias"]}  # SimpleCell


def _cell(cell, params, nnx_cell: bool):
    """``(cell class, layer class, kwargs, converted params, input size, hidden size)``."""
    cell_cls, layer_cls, kwargs = _cell_config(cell)
    kind = type(cell).__name__
    try:
        converted = (_nnx_cell_params if nnx_cell else _linen_cell_params)(kind, params)
    except (KeyError, TypeError) as err:
        raise ValueError(f"variables: expected the params of a Flax {kind} (from module.init), "
                         f"missing {err}; got keys {sorted(params)}") from None
    converted = {k: jnp.asarray(v) for k, v in converted.items()}
    hidden, input_size = converted["w_hh"].shape[1], converted["w_ih"].shape[1]
    features = cell.hidden_features if nnx_cell else cell.features
    if features != hidden:
        raise ValueError(f"variables: expected hidden size {features} (the cell's features), got {hidden}")
    return cell_cls, layer_cls, kwargs, converted, input_size, hidden


def _nnx_params(module) -> dict:
    return nnx.to_pure_dict(nnx.state(module, nnx.Param))


def _rnn(module, params):
    """One direction: ``(cell, cell params, time_major, nnx?)`` of a linen or NNX ``RNN``."""
    if not isinstance(module, (nn.RNN, nnx.RNN)):  # a direction of a Bidirectional
        raise TypeError(f"module: each direction of a Bidirectional must be a Flax RNN, got {_full_name(module)}")
    if module.reverse:
        raise ValueError("module: reverse must be False (use a Bidirectional module or jaxrnn's "
                         "bidirectional layers), got True")
    if isinstance(module, nnx.RNN):
        return module.cell, _nnx_params(module.cell), module.time_major, True
    if "cell" not in params:
        raise ValueError(f"variables: expected params['cell'] (from nn.RNN.init), got keys {sorted(params)}")
    return module.cell, params["cell"], module.time_major, False


def _recurrent_layer(module, params) -> dict:
    """A linen/NNX ``RNN`` or ``Bidirectional`` as a description of one jaxrnn layer."""
    if type(module).__name__ == "Bidirectional":
        if _name(module.merge_fn) != "_concatenate":
            raise ValueError(f"module: merge_fn must be Flax's default (concatenate), got {_name(module.merge_fn)}")
        nnx_module = isinstance(module, nnx.Module)
        sides = [_rnn(getattr(module, side), None if nnx_module else params.get(side, {}))
                 for side in ("forward_rnn", "backward_rnn")]
        if module.time_major is not None and not isinstance(module.time_major, bool):
            raise ValueError(f"module: time_major must be a bool, got {module.time_major!r}")
        time_major = bool(module.time_major)
    elif type(module).__name__ == "RNN" and isinstance(module, (nn.RNN, nnx.RNN)):
        sides = [_rnn(module, params)]
        time_major = module.time_major
    else:
        raise TypeError("module must be a Flax linen or NNX RNN or Bidirectional (or nn.Sequential, "
                        f"nnx.Sequential or a list of them), got {_full_name(module)}")
    cells = [_cell(cell, p, is_nnx) for cell, p, _, is_nnx in sides]
    if len({(c[0], c[1], tuple(sorted(c[2].items())), c[4], c[5]) for c in cells}) != 1:
        raise ValueError("module: the forward and backward RNNs must have the same cell and sizes")
    cell_cls, layer_cls, kwargs, _, input_size, hidden = cells[0]
    params = [c[3] for c in cells]
    return {"layer": (layer_cls, tuple(sorted(kwargs.items())), hidden, len(cells) == 2, bool(time_major)),
            "input_size": input_size, "params": params[0] if len(params) == 1 else
            {"fwd": params[0], "bwd": params[1]}, "cell": (cell_cls, kwargs)}


def _linen_params(variables, name: str = "variables"):
    """The ``"params"`` of what a linen ``module.init`` returned (or those params themselves)."""
    if not isinstance(variables, Mapping):
        raise TypeError(f"{name} must be the dict that module.init returned (or its 'params'), got "
                        f"{type(variables).__name__}")
    return variables.get("params", variables)


def _stack_members(module, variables):
    """``[(module, params)]`` for one recurrent module or a stack of them."""
    nnx_only = isinstance(module, nnx.Module) or (
        isinstance(module, (list, tuple)) and all(isinstance(m, nnx.Module) for m in module))
    if nnx_only and variables is not None:
        raise ValueError("variables: NNX modules hold their weights; call from_flax(module) without variables, "
                         f"got {type(variables).__name__}")
    if isinstance(module, (list, tuple)):
        if nnx_only:
            return [(m, None) for m in module]
        if not isinstance(variables, (list, tuple)) or len(variables) != len(module):
            raise ValueError("variables: a list of linen modules needs a list with each one's variables, "
                             f"got {type(variables).__name__}")
        return [(m, _linen_params(v, f"variables[{i}]")) for i, (m, v) in enumerate(zip(module, variables))]
    if isinstance(module, nnx.Sequential):
        return [(m, None) for m in module.layers]
    if isinstance(module, nnx.Module):
        return [(module, None)]
    if variables is None:
        raise ValueError(f"variables: a linen module needs the variables from module.init, got None "
                         f"(module {_full_name(module)})")
    params = _linen_params(variables)
    if isinstance(module, nn.Sequential):
        return [(m, params.get(f"layers_{i}", {})) for i, m in enumerate(module.layers)]
    return [(module, params)]


def from_flax(module, variables=None):
    """Converts Flax recurrent modules (linen or NNX) into ``(layer, params)``.

    Args:
      module: a linen ``nn.RNN`` or NNX ``nnx.RNN`` over ``SimpleCell`` (tanh/relu), ``LSTMCell``,
        ``OptimizedLSTMCell`` or ``GRUCell`` (default gate functions); a linen or NNX
        ``Bidirectional`` of two such RNNs (default concatenating merge); a stack of them
        (``nn.Sequential``, ``nnx.Sequential``, or a list); or a linen cell alone.
      variables: for linen, what ``module.init`` returned (``{"params": ...}``), or its ``"params"``
        entry (a list of those for a list of linen modules); NNX modules hold their weights, so
        ``from_flax(module)``. Also recurrentgemma's linen ``RecurrentBlock`` (Griffin's
        temporal mixer) with its variables.

    Returns:
      For recurrent modules: one :class:`jaxrnn.RNN`/``LSTM``/``GRU`` with ``num_layers`` and
      ``bidirectional`` as the stack has them, ``double_bias=False``, ``batch_first = not
      time_major``, and its params: its ``output`` equals the Flax outputs and ``h_n`` the Flax
      carries (Flax's LSTM ``(c, h)`` becomes ``(h_n, c_n)``). NNX's ``GRUCell`` has no bias on
      the hidden side, so the jaxrnn GRU's ``b_hn`` is 0 (H more parameters, same function). For
      a linen cell: the jaxrnn cell and its params, ``cell.apply`` matching one step. A cell with
      a ``dtype`` other than float32 (``dtype=jnp.bfloat16``) keeps it as ``compute_dtype`` (equal
      to that dtype's precision: jaxrnn carries the state in float32). For a ``RecurrentBlock``:
      a :class:`jaxrnn.blocks.GriffinBlock` and its params (see
      :func:`jaxrnn.interop.recurrentgemma.from_recurrent_block`).

    Examples:
      >>> from jaxrnn import param_count
      >>> rnn = nn.RNN(nn.GRUCell(8))
      >>> variables = rnn.init(jax.random.key(0), jnp.ones((1, 10, 5)))
      >>> layer, params = from_flax(rnn, variables)
      >>> layer.hidden_size, layer.batch_first, param_count(params)
      (8, True, 344)
      >>> layer, params = from_flax(nnx.RNN(nnx.LSTMCell(5, 8, rngs=nnx.Rngs(0))))
      >>> type(layer).__name__, layer.num_layers
      ('LSTM', 1)
    """
    if recurrentgemma.is_recurrent_block(module):  # a peer's block, not a recurrent layer
        return recurrentgemma.from_recurrent_block(module, variables)
    if type(module).__name__ in _KINDS and isinstance(module, nn.Module):  # a linen cell alone
        if variables is None:
            raise ValueError("variables: a linen cell needs the variables from cell.init, got None")
        cell_cls, _, kwargs, converted, _, hidden = _cell(module, _linen_params(variables), False)
        return cell_cls(hidden, double_bias=False, **kwargs), converted
    layers = [_recurrent_layer(m, p) for m, p in _stack_members(module, variables)]
    first = layers[0]
    (layer_cls, kwargs, hidden, bidirectional, time_major) = first["layer"]
    for i, layer in enumerate(layers[1:], 1):
        if layer["layer"] != first["layer"]:
            raise ValueError(f"module: every layer of a stack must have the same cell, size, direction and "
                             f"time_major; layer {i} differs from layer 0")
        expected = hidden * (2 if bidirectional else 1)
        if layer["input_size"] != expected:
            raise ValueError(f"module: layer {i} takes {layer['input_size']} inputs, expected {expected} "
                             "(the previous layer's output)")
    out = layer_cls(first["input_size"], hidden, num_layers=len(layers), bidirectional=bidirectional,
                    batch_first=not time_major, double_bias=False, **dict(kwargs))
    return out, [layer["params"] for layer in layers]


# -- Flax modules wrapping any jaxrnn layer ------------------------------------------------------------


class LinenRNN(nn.Module):
    """A Flax linen module running any jaxrnn layer; its params are the layer's params pytree.

    ``layer`` is a :class:`jaxrnn.RNN`/``LSTM``/``GRU`` (shapes as in ``layer.apply``) or a
    sequence layer (``Recurrent``, ``Bidirectional``, ``Stack``; ``x: (B, T, I)`` or ``(T, I)``,
    its input size read from ``x``) or a block of :mod:`jaxrnn.blocks` (``x: (B, T, D)`` or
    ``(T, D)``, ``hx`` its state). The params live under ``params["layer"]`` in exactly
    ``layer.init``'s structure, so ``module.apply(variables, x) == layer.apply(variables["params"]["layer"], x)``.
    Inter-layer dropout runs when ``deterministic=False``, with the ``"dropout"`` PRNG stream; as
    for ``nn.Dropout``, a layer that drops out (``dropout > 0``, several layers) needs the call
    to say ``deterministic=True`` or ``False``.

    Attributes:
      layer: a :class:`jaxrnn.RNN`/``LSTM``/``GRU``, a sequence layer or a block.
      preset: the initialisation preset, ``"torch"`` or ``"keras"``.

    (``parent`` and ``name`` are every linen module's own fields.)

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
    def __call__(self, x, hx=None, *, seq_lengths=None, deterministic: bool | None = None):
        """``x`` as the layer takes it; returns the layer's ``(output, state)``.

        ``deterministic``: ``True`` no dropout, ``False`` dropout from the ``"dropout"`` stream;
        ``None`` (default) is refused with ``ValueError`` for a layer that drops out.
        """
        params = self.param("layer", lambda key: init_layer(self.layer, key, x.shape[-1], self.preset))
        if deterministic is None:
            if drops_out(self.layer):
                raise ValueError(f"deterministic must be True or False for a layer with dropout="
                                 f"{self.layer.dropout} (as for nn.Dropout), got None: False trains with "
                                 "dropout from the 'dropout' PRNG stream, True evaluates without")
            deterministic = True
        key = None if deterministic else self.make_rng("dropout")
        return apply_layer(self.layer, params, x, hx, seq_lengths=seq_lengths, key=key, deterministic=deterministic)


def _is_variable(v) -> bool:
    return isinstance(v, nnx.Variable)


class NNXRNN(nnx.Module):
    """A Flax NNX module running any jaxrnn layer; every array of its params is an ``nnx.Param``.

    Args:
      layer: a :class:`jaxrnn.RNN`/``LSTM``/``GRU``, a sequence layer (``Recurrent``,
        ``Bidirectional``, ``Stack``) or a block of :mod:`jaxrnn.blocks`.
      rngs: ``nnx.Rngs``: its ``params`` stream initialises the module, and it is kept for the
        inter-layer dropout (its ``dropout`` stream, or the default one), as ``nnx.Dropout`` does.
      input_size: I, required for sequence layers (torch-shaped layers and blocks know theirs).
      preset: the initialisation preset, ``"torch"`` or ``"keras"``.
      deterministic: no dropout when True. ``model.train()`` and ``model.eval()`` set it, as for
        ``nnx.Dropout`` (default False: dropout on, as in training).

    ``module.params`` mirrors ``layer.init``'s structure; :meth:`layer_params` returns it as plain
    arrays. ``module(x, hx, seq_lengths=...)`` equals ``layer.apply`` (with dropout drawn from the
    module's rngs while it is not deterministic; ``deterministic=`` or ``rngs=`` at the call
    override the module's for that call).

    Examples:
      >>> module = NNXRNN(GRU(5, 8, batch_first=True), rngs=nnx.Rngs(0))
      >>> out, h_n = module(jnp.ones((2, 10, 5)))
      >>> out.shape
      (2, 10, 8)
    """

    def __init__(self, layer, *, rngs: nnx.Rngs, input_size: int | None = None, preset: str = "torch",
                 deterministic: bool = False):
        if input_size is None and not knows_input_size(layer):
            raise ValueError(f"input_size is required for a {type(layer).__name__} (only torch-shaped "
                             "layers and blocks know theirs), got None")
        self.layer = layer
        self.params = nnx.data(jax.tree.map(nnx.Param, init_layer(layer, rngs.params(), input_size, preset)))
        self.rngs = rngs
        self.deterministic = deterministic

    def layer_params(self):
        """The params as plain arrays, in ``layer.init``'s structure."""
        return jax.tree.map(lambda v: v[...], self.params, is_leaf=_is_variable)

    def __call__(self, x, hx=None, *, seq_lengths=None, deterministic: bool | None = None,
                 rngs: nnx.Rngs | None = None):
        deterministic = self.deterministic if deterministic is None else deterministic
        key = None
        if not deterministic and drops_out(self.layer):
            key = (self.rngs if rngs is None else rngs).dropout()
        return apply_layer(self.layer, self.layer_params(), x, hx, seq_lengths=seq_lengths, key=key,
                           deterministic=bool(deterministic))
