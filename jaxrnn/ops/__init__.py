"""Modern recurrences as tensor-level ops, in flash-linear-attention's layout.

Tensors are ``(batch, time, heads, dim)``, gates ``(batch, time, heads)``; every op returns
``(output, final_state)`` and takes ``initial_state=None``, ``seq_lengths=None``, ``resets=None`` and
``method="auto"`` (see :mod:`jaxrnn.ops.common`). ``method="recurrent"`` is the specification, a
scan of the op's cell step; the parallel methods are tested equal to it.
"""

from jaxrnn.ops.delta import gated_delta_rule
from jaxrnn.ops.gla import simple_gla
from jaxrnn.ops.rglru import rg_lru
from jaxrnn.ops.selective import selective_scan
from jaxrnn.ops.xlstm import mlstm

__all__ = ["gated_delta_rule", "mlstm", "rg_lru", "selective_scan", "simple_gla"]
