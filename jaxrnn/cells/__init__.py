"""Cells: the math of one time step, stated once (see :mod:`jaxrnn.cells.classic` for the
protocol every driver, combinator and engine relies on).

- :mod:`jaxrnn.cells.classic`: Elman RNN, LSTM, GRU (torch's layout and numerics);
- :mod:`jaxrnn.cells.linear`: linear-recurrence cells (minGRU, minLSTM, LRU);
- :mod:`jaxrnn.cells.slstm`: xLSTM's sLSTM;
- the steps of :mod:`jaxrnn.ops` (e.g. :mod:`jaxrnn.cells.gla`), one example each;
- :mod:`jaxrnn.cells.initializers`: the named initialisation presets.
"""

from jaxrnn.cells.classic import Cell, ElmanCell, GRUCell, LSTMCell, LSTMState
from jaxrnn.cells.linear import LRUCell, MinGRUCell, MinLSTMCell
from jaxrnn.cells.slstm import SLSTMCell, SLSTMState

__all__ = ["Cell", "ElmanCell", "GRUCell", "LRUCell", "LSTMCell", "LSTMState", "MinGRUCell", "MinLSTMCell", "SLSTMCell",
           "SLSTMState"]
