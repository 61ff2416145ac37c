"""Combinators: sequence layers built from cells: one direction, both directions, and stacks.

A *sequence layer* is a frozen, hashable dataclass with ``output_size``,
``init(key, input_size, *, preset="torch", dtype=float32) -> params``,
``initial_carry(dtype=float32) -> carry`` and
``apply(params, xs, carry=None, *, seq_length=None, key=None) -> (ys, carry)`` on ONE unbatched
sequence ``xs: (T, I)`` -> ``ys: (T, output_size)``. Their params are plain pytrees:
:class:`Recurrent` has its cell's params, :class:`Bidirectional` ``{"fwd": ..., "bwd": ...}`` and
:class:`Stack` a ``list`` with one entry per layer. Batching is ``jax.vmap``.

How the directions run over time is left to a *runner* (``apply`` uses :func:`scan_runner`, i.e.
:func:`jaxrnn.scan`); an engine (:mod:`jaxrnn.engines`) passes its own runner to run the same
combinators on a whole time-major batch ``xs: (T, B, I)``, so the merge modes, the dropout key
scheme and the layer loop below are the only ones in the library. A runner is called as
``runner(cell, params, xs, carries, valid, reverses, unroll)`` with one entry per direction in
``params``, ``carries`` and ``reverses`` (all directions read the same ``xs``), ``valid`` the valid
steps ``(T, *batch) bool`` (lengths as ``t < length``, or a mask with holes; ``None``: all), and
returns one ``(ys, carry)`` per direction, its padded steps under the padding rule
(:mod:`jaxrnn.driver.padding`: carry kept, output 0).
"""

from jaxrnn.combinators.directional import MERGE, MERGE_MODES, Bidirectional, Recurrent, directions, scan_runner
from jaxrnn.combinators.stack import Stack, check_dropout, dropout, dropout_key, restack, unstack

__all__ = ["MERGE", "MERGE_MODES", "Bidirectional", "Recurrent", "Stack", "check_dropout", "directions", "dropout", "dropout_key",
           "restack", "scan_runner", "unstack"]
