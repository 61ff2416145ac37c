"""jaxrnn: recurrent neural networks in JAX.

Cells are pure functions on one example, :func:`scan` runs them over time, combinators stack
them, and :class:`RNN`, :class:`LSTM`, :class:`GRU` are shaped like ``torch.nn``. The folders are
the layers of the design: ``cells`` -> ``driver`` (and ``ops``) -> ``combinators`` -> ``layers`` (run by
``engines``) -> ``interop`` -> ``train``; the ``jaxrnn`` command lives apart in ``app``.

The public names load on first use (PEP 562), so ``import jaxrnn`` and the ``jaxrnn`` command's
``--help`` do not wait for jax; type checkers read the imports below instead.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_SOURCES = {
    "jaxrnn.cells": ("Cell", "ElmanCell", "GRUCell", "LRUCell", "LSTMCell", "LSTMState", "MinGRUCell",
                     "MinLSTMCell", "SLSTMCell", "SLSTMState"),
    "jaxrnn.combinators": ("Bidirectional", "Recurrent", "Stack"),
    "jaxrnn.driver": ("Associative", "Newton", "NewtonInfo", "linear_recurrence", "newton_scan", "scan"),
    "jaxrnn.layers": ("GRU", "LSTM", "RNN"),
    "jaxrnn.layers.inspection": ("param_count", "summary"),
}
_MODULES = ("cells", "combinators", "driver", "engines", "interop", "layers", "ops", "precision", "train")
_WHERE = {name: module for module, names in _SOURCES.items() for name in names}

__all__ = sorted(_WHERE)

if TYPE_CHECKING:  # what the lazy loader below returns, spelled out for type checkers and IDEs
    # ruff: noqa: F401 (re-exports)
    from jaxrnn import cells, combinators, driver, engines, interop, layers, ops, precision, train
    from jaxrnn.cells import (Cell, ElmanCell, GRUCell, LRUCell, LSTMCell, LSTMState, MinGRUCell,
                              MinLSTMCell, SLSTMCell, SLSTMState)
    from jaxrnn.combinators import Bidirectional, Recurrent, Stack
    from jaxrnn.driver import Associative, Newton, NewtonInfo, linear_recurrence, newton_scan, scan
    from jaxrnn.layers import GRU, LSTM, RNN
    from jaxrnn.layers.inspection import param_count, summary


def __getattr__(name):
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
    elif name in _MODULES:
        value = importlib.import_module(f"jaxrnn.{name}")
    else:
        raise AttributeError(f"module 'jaxrnn' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
