"""jaxrnn: recurrent neural networks in JAX.

Cells are pure functions on one example, :func:`scan` runs them over time, combinators stack
them, and :class:`RNN`, :class:`LSTM`, :class:`GRU` are shaped like ``torch.nn``.
"""

from jaxrnn.cells import Cell, ElmanCell, GRUCell, LSTMCell, LSTMState
from jaxrnn.combinators import Bidirectional, Recurrent, Stack
from jaxrnn.layers import GRU, LSTM, RNN
from jaxrnn.linear_cells import LRUCell, MinGRUCell, MinLSTMCell
from jaxrnn.newton import Newton, NewtonInfo
from jaxrnn.parallel import Associative, linear_recurrence
from jaxrnn.scan import newton_scan, scan
from jaxrnn.summary import param_count, summary
from jaxrnn import train  # the module: jaxrnn.train.make_step

__version__ = "0.1.0"

__all__ = [
    "Associative",
    "Bidirectional",
    "Cell",
    "ElmanCell",
    "GRU",
    "GRUCell",
    "LRUCell",
    "LSTM",
    "LSTMCell",
    "LSTMState",
    "MinGRUCell",
    "MinLSTMCell",
    "Newton",
    "NewtonInfo",
    "RNN",
    "Recurrent",
    "Stack",
    "linear_recurrence",
    "newton_scan",
    "param_count",
    "scan",
    "summary",
]
