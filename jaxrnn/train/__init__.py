"""The library's training pieces: a pure optax train step (:mod:`jaxrnn.train.step`) and
data-parallel training across devices and hosts (:mod:`jaxrnn.train.distributed`).

``jaxrnn.train.make_step`` (``loss_fn(params, batch)``), ``make_bptt_step`` (truncated BPTT:
``loss_fn(params, batch, carry)``), ``reset_carry`` and ``cross_entropy`` are the step's public names.
"""

from jaxrnn.train.step import cross_entropy, make_bptt_step, make_step, reset_carry

__all__ = ["cross_entropy", "make_bptt_step", "make_step", "reset_carry"]
