"""jaxrnn: recurrent neural networks in JAX.

Cells are pure functions on one example, :func:`scan` runs them over time, combinators stack
them, and :class:`RNN`, :class:`LSTM`, :class:`GRU` are shaped like ``torch.nn``.

The public names load on first use (PEP 562), so ``import jaxrnn`` and the ``jaxrnn`` command's
``--help`` do not wait for jax.
"""

import importlib
import sys
import types

__version__ = "0.1.0"

_SOURCES = {
    "jaxrnn.cells": ("Cell", "ElmanCell", "GRUCell", "LSTMCell", "LSTMState"),
    "jaxrnn.combinators": ("Bidirectional", "Recurrent", "Stack"),
    "jaxrnn.layers": ("GRU", "LSTM", "RNN"),
    "jaxrnn.linear_cells": ("LRUCell", "MinGRUCell", "MinLSTMCell"),
    "jaxrnn.newton": ("Newton", "NewtonInfo"),
    "jaxrnn.parallel": ("Associative", "linear_recurrence"),
    "jaxrnn.scan": ("newton_scan", "scan"),
    "jaxrnn.summary": ("param_count", "summary"),
}
_WHERE = {name: module for module, names in _SOURCES.items() for name in names}

__all__ = sorted(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
    elif name in ("train", "precision", "engines"):  # modules reached as attributes
        value = importlib.import_module(f"jaxrnn.{name}")
    else:
        raise AttributeError(f"module 'jaxrnn' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """Importing the submodules ``jaxrnn.scan`` and ``jaxrnn.summary`` must not hide the functions
    ``jaxrnn.scan`` and ``jaxrnn.summary`` (the import system sets a package attribute per
    submodule; the submodules stay reachable through ``sys.modules`` and ``from ... import``)."""

    def __setattr__(self, name, value):
        if not (name in _WHERE and isinstance(value, types.ModuleType)):
            super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
