"""Conversion to and from ``torch.nn`` recurrent modules (torch is imported lazily).

Supported: ``nn.RNN``, ``nn.LSTM``, ``nn.GRU`` (every option: layers, directions, ``bias``,
``batch_first``, ``dropout``, ``proj_size``, ``nonlinearity``) and ``nn.RNNCell``,
``nn.LSTMCell``, ``nn.GRUCell``. Cell params ``w_ih, w_hh, b_ih, b_hh, w_hr`` map to torch's
``weight_ih, weight_hh, bias_ih, bias_hh, weight_hr`` with the suffix ``_l{layer}[_reverse]``.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from jaxrnn.cells import ElmanCell, GRUCell, LSTMCell
from jaxrnn.layers import GRU, LSTM, RNN

_TORCH_NAME = {"w_ih": "weight_ih", "w_hh": "weight_hh", "b_ih": "bias_ih", "b_hh": "bias_hh",
               "w_hr": "weight_hr"}
_CELLS = {"RNNCell": ElmanCell, "LSTMCell": LSTMCell, "GRUCell": GRUCell}
_LAYERS = {"RNN": RNN, "LSTM": LSTM, "GRU": GRU}


def _param_names(layer) -> list[tuple[tuple, str, str]]:
    """``[(path into params, cell key, torch name)]`` for every torch parameter of ``layer``."""
    if isinstance(layer, (ElmanCell, LSTMCell, GRUCell)):
        keys = _torch_keys(layer)
        return [((), k, _TORCH_NAME[k]) for k in keys]
    keys = _torch_keys(layer.cell())
    out = []
    for l in range(layer.num_layers):
        for direction, suffix in (("fwd", ""), ("bwd", "_reverse"))[: layer.num_directions]:
            path = (l, direction) if layer.bidirectional else (l,)
            out += [(path, k, f"{_TORCH_NAME[k]}_l{l}{suffix}") for k in keys]
    return out


def _torch_keys(cell) -> list[str]:
    keys = ["w_ih", "w_hh"]
    if cell.bias:
        keys += ["b_ih", "b_hh"]
    if getattr(cell, "proj_size", 0):
        keys.append("w_hr")
    return keys


def _at(params, path) -> dict:
    for p in path:
        params = params[p]
    return params


def from_torch(module):
    """Converts a ``torch.nn`` recurrent module into ``(layer, params)``.

    Args:
      module: ``nn.RNN``, ``nn.LSTM``, ``nn.GRU``, ``nn.RNNCell``, ``nn.LSTMCell`` or ``nn.GRUCell``.

    Returns:
      ``(layer, params)``: a :class:`jaxrnn.RNN`/``LSTM``/``GRU`` with the same arguments (or a
      cell for the ``*Cell`` modules) and its params holding the module's weights.

    Examples:
      >>> import torch
      >>> layer, params = from_torch(torch.nn.LSTM(5, 8, num_layers=2))
      >>> layer
      LSTM(input_size=5, hidden_size=8, num_layers=2, bias=True, batch_first=False, dropout=0.0, bidirectional=False, proj_size=0, double_bias=True, merge_mode='concat', engine='auto', compute_dtype=None, go_backwards=False, zero_output_for_mask=False)
    """
    kind = _torch_kind(module)
    if kind in _CELLS:
        kwargs: dict[str, Any] = {"hidden_size": module.hidden_size, "bias": module.bias}
        if kind == "RNNCell":
            kwargs["nonlinearity"] = module.nonlinearity
        layer = _CELLS[kind](**kwargs)
    elif kind in _LAYERS:
        kwargs = {"input_size": module.input_size, "hidden_size": module.hidden_size,
                  "num_layers": module.num_layers, "bias": module.bias, "batch_first": module.batch_first,
                  "dropout": float(module.dropout), "bidirectional": module.bidirectional}
        if kind == "RNN":
            kwargs["nonlinearity"] = module.nonlinearity
        if kind == "LSTM":
            kwargs["proj_size"] = module.proj_size
        layer = _LAYERS[kind](**kwargs)
    else:
        raise TypeError(
            "module must be a torch.nn RNN, LSTM, GRU, RNNCell, LSTMCell or GRUCell, "
            f"got {type(module).__name__} (from {type(module).__module__})"
        )
    params = _empty_params(layer)
    state = dict(module.named_parameters())
    meta = [name for name, t in state.items() if t.is_meta]
    if meta:
        raise ValueError(f"module: its parameters are on the meta device (shapes without values: {meta[0]}, ...); "
                         "give them values first, e.g. module.to_empty(device='cpu') then reset_parameters()")
    for path, key, name in _param_names(layer):
        # the module's attribute, not its parameter: a pruned weight (torch.nn.utils.prune) is a
        # parameter "{name}_orig" and a mask, and the attribute holds the pruned values
        _at(params, path)[key] = _from_tensor(getattr(module, name))
    return layer, params


def _torch_kind(module) -> str | None:
    """The ``torch.nn`` class (its name) that ``module`` is an instance of, among the recurrent
    ones (a subclass counts); None for anything else (a Keras ``LSTM`` has the same name)."""
    for cls in type(module).__mro__:
        if cls.__module__.startswith("torch.nn.") and (cls.__name__ in _CELLS or cls.__name__ in _LAYERS):
            return cls.__name__
    return None


def _from_tensor(t):
    """A torch tensor as a jax array of the same dtype (bfloat16 and float16 included)."""
    dtype = jnp.dtype(str(t.dtype).removeprefix("torch."))
    values = t.detach().cpu()
    return jnp.asarray(values.numpy() if dtype.itemsize >= 4 else values.float().numpy(), dtype)


def _empty_params(layer):
    if not hasattr(layer, "num_layers"):
        return {}
    if layer.bidirectional:
        return [{"fwd": {}, "bwd": {}} for _ in range(layer.num_layers)]
    return [{} for _ in range(layer.num_layers)]


def _torch_bias_hh(cell, p: dict, dtype):
    """torch's ``b_hh`` for a cell whose params lack it (``double_bias=False``)."""
    if isinstance(cell, GRUCell) and not cell.reset_after:
        raise ValueError("layer: GRU(reset_after=False) has no torch.nn equivalent (torch resets after)")
    b_hh = cell.recurrent_bias(p)
    return np.zeros(np.shape(p["b_ih"]), dtype) if b_hh is None else np.asarray(b_hh, dtype)


def to_torch(layer, params):
    """Builds the ``torch.nn`` module equivalent to ``layer`` holding ``params``.

    Works for any params-shaped pytree (e.g. gradients from ``jax.grad``): the module's parameters
    then hold those values under torch's names. Params with one bias (``double_bias=False``) get
    ``bias_hh = 0`` (``[0, 0, b_hn]`` for a GRU), which computes the same function.

    Args:
      layer: a :class:`jaxrnn.RNN`/``LSTM``/``GRU`` or ``ElmanCell``/``LSTMCell``/``GRUCell``.
      params: a pytree shaped like ``layer.init(key)``.

    Returns:
      A ``torch.nn.Module`` (``nn.RNN``/``LSTM``/``GRU`` or ``nn.RNNCell``/``LSTMCell``/``GRUCell``).

    Examples:
      >>> import jax
      >>> layer = GRU(5, 8)
      >>> module = to_torch(layer, layer.init(jax.random.key(0)))
      >>> type(module).__name__
      'GRU'
    """
    import torch

    module, cell = _empty_module(torch, layer, params)

    dtype = jnp.dtype((params["w_ih"] if isinstance(params, dict) else _first_weight(params)).dtype)
    torch_dtype = getattr(torch, dtype.name)
    wide = np.float64 if dtype == np.float64 else np.float32  # what numpy hands to torch
    module = module.to(torch_dtype)
    state = {}
    for path, key, name in _param_names(layer):
        p = _at(params, path)
        value = np.asarray(p[key], wide) if key in p else _torch_bias_hh(cell, p, wide)
        state[name] = torch.from_numpy(np.array(value, wide)).to(torch_dtype)
    module.load_state_dict(state, strict=True)
    return module


def _first_weight(params):
    first = params[0]
    return first["fwd"]["w_ih"] if "fwd" in first else first["w_ih"]


def _empty_module(torch, layer, params):
    """``(torch module shaped like layer, its cell)`` after checking ``params`` against ``layer``."""
    if isinstance(layer, (ElmanCell, LSTMCell, GRUCell)):
        cell = layer
        if isinstance(layer, LSTMCell) and layer.proj_size:
            raise ValueError("layer: torch.nn.LSTMCell has no proj_size; use jaxrnn.LSTM instead")
        if isinstance(layer, GRUCell) and not layer.reset_after:
            raise ValueError("layer: GRUCell(reset_after=False) has no torch.nn equivalent (torch resets after)")
        input_size = np.shape(params["w_ih"])[-1] if isinstance(params, dict) and "w_ih" in params else 0
        layer.check_params(params, input_size)  # a wrong key names itself before any shape
        kwargs: dict[str, Any] = {"bias": layer.bias}
        if isinstance(layer, ElmanCell):
            kwargs["nonlinearity"] = layer.nonlinearity
        name = {ElmanCell: "RNNCell", LSTMCell: "LSTMCell", GRUCell: "GRUCell"}[type(layer)]
        module = getattr(torch.nn, name)(input_size, layer.hidden_size, **kwargs)
    elif isinstance(layer, (RNN, LSTM, GRU)):
        layer.check_params(params)
        cell = layer.cell()
        kwargs = {"num_layers": layer.num_layers, "bias": layer.bias, "batch_first": layer.batch_first,
                  "dropout": layer.dropout, "bidirectional": layer.bidirectional}
        if isinstance(layer, RNN):
            kwargs["nonlinearity"] = layer.nonlinearity
        if isinstance(layer, LSTM):
            kwargs["proj_size"] = layer.proj_size
        if isinstance(layer, GRU) and not layer.reset_after:
            raise ValueError("layer: GRU(reset_after=False) has no torch.nn equivalent (torch resets after)")
        if layer.merge_mode != "concat":
            raise ValueError(f"layer: merge_mode must be 'concat' for torch.nn (torch concatenates the "
                             f"directions), got {layer.merge_mode!r}")
        if layer.go_backwards:
            raise ValueError("layer: go_backwards must be False for torch.nn (torch has no reversed "
                             "one-direction layer), got True")
        module = getattr(torch.nn, type(layer).__name__)(layer.input_size, layer.hidden_size, **kwargs)
    else:
        raise TypeError(f"layer must be a jaxrnn RNN, LSTM, GRU or cell, got {type(layer).__name__}")
    return module, cell
