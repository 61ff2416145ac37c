"""jaxrnn: recurrent neural networks in JAX.

Cells are pure functions on one example, :func:`scan` runs them over time, combinators stack
them, and :class:`RNN`, :class:`LSTM`, :class:`GRU` are shaped like ``torch.nn``. The folders are
the layers of the design: ``cells`` -> ``driver`` (and ``ops``) -> ``combinators`` -> ``layers`` (run by
``engines``) and ``blocks`` -> ``interop`` -> ``train``; the ``jaxrnn`` command lives apart in ``app``.

The public names load on first use (PEP 562), so ``import jaxrnn`` and the ``jaxrnn`` command's
``--help`` do not wait for jax; type checkers read the imports below instead.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# The public names. Each is imported on first use by ``__getattr__`` below from the module that
# ``_SOURCES`` names, and imported from that same module under ``TYPE_CHECKING``, which is what
# type checkers and IDEs read (they never see ``__getattr__``, so a misspelt name is an error).
# tests/test_typing.py checks that the three lists agree.
__all__ = ["GRU", "LSTM", "RNN", "Associative", "Bidirectional", "Cell", "ElmanCell", "GRUCell", "LRUCell",
           "LSTMCell", "LSTMState", "MinGRUCell", "MinLSTMCell", "Newton", "NewtonInfo", "Recurrent", "SLSTMCell",
           "SLSTMState", "Stack", "linear_recurrence", "load_run", "newton_scan", "param_count", "scan", "summary"]

if TYPE_CHECKING:
    from jaxrnn import (
        blocks as blocks,
        cells as cells,
        combinators as combinators,
        driver as driver,
        engines as engines,
        interop as interop,
        layers as layers,
        ops as ops,
        precision as precision,
        train as train,
    )
    from jaxrnn.app.model import load_run
    from jaxrnn.cells import (
        Cell,
        ElmanCell,
        GRUCell,
        LRUCell,
        LSTMCell,
        LSTMState,
        MinGRUCell,
        MinLSTMCell,
        SLSTMCell,
        SLSTMState,
    )
    from jaxrnn.combinators import Bidirectional, Recurrent, Stack
    from jaxrnn.driver import Associative, Newton, NewtonInfo, linear_recurrence, newton_scan, scan
    from jaxrnn.layers import GRU, LSTM, RNN
    from jaxrnn.layers.inspection import param_count, summary
else:
    _SOURCES = {
        "jaxrnn.cells": ("Cell", "ElmanCell", "GRUCell", "LRUCell", "LSTMCell", "LSTMState", "MinGRUCell",
                         "MinLSTMCell", "SLSTMCell", "SLSTMState"),
        "jaxrnn.combinators": ("Bidirectional", "Recurrent", "Stack"),
        "jaxrnn.driver": ("Associative", "Newton", "NewtonInfo", "linear_recurrence", "newton_scan", "scan"),
        "jaxrnn.layers": ("GRU", "LSTM", "RNN"),
        "jaxrnn.layers.inspection": ("param_count", "summary"),
        "jaxrnn.app.model": ("load_run",),  # a trained run of the jaxrnn command, as data
    }
    _MODULES = ("blocks", "cells", "combinators", "driver", "engines", "interop", "layers", "ops", "precision", "train")
    _WHERE = {name: module for module, names in _SOURCES.items() for name in names}

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
