"""jaxrnn: recurrent neural networks in JAX.

Cells are pure functions on one example, :func:`scan` runs them over time, combinators stack
them, and :class:`RNN`, :class:`LSTM`, :class:`GRU` are shaped like ``torch.nn``.
"""

from jaxrnn.cells import Cell, ElmanCell, GRUCell, LSTMCell, LSTMState
from jaxrnn.combinators import Bidirectional, Recurrent, Stack
from jaxrnn.layers import GRU, LSTM, RNN
from jaxrnn.scan import scan
from jaxrnn.summary import param_count
from jaxrnn import train  # the module: jaxrnn.train.make_step

__version__ = "0.1.0"

__all__ = [
    "Bidirectional",
    "Cell",
    "ElmanCell",
    "GRU",
    "GRUCell",
    "LSTM",
    "LSTMCell",
    "LSTMState",
    "RNN",
    "Recurrent",
    "Stack",
    "param_count",
    "scan",
]
