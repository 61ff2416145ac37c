"""The library's training pieces: a pure optax train step (:mod:`jaxrnn.train.step`) and
data-parallel training across devices and hosts (:mod:`jaxrnn.train.distributed`).

``jaxrnn.train.make_step``, ``reset_carry`` and ``cross_entropy`` are the step's public names.
"""

from jaxrnn.train.step import cross_entropy, make_step, reset_carry

__all__ = ["cross_entropy", "make_step", "reset_carry"]
