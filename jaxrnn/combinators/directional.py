"""One direction and both directions of a cell over time: :class:`Recurrent`, :class:`Bidirectional`.

See :mod:`jaxrnn.combinators` for sequence layers and runners.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from jaxrnn import _checks
from jaxrnn.driver.run import scan, valid_steps

MERGE = {"concat": lambda a, b: jnp.concatenate([a, b], axis=-1), "sum": jnp.add,
         "mul": jnp.multiply, "ave": lambda a, b: (a + b) / 2,
         None: lambda a, b: (a, b)}  # Keras's merge_mode=None: the two outputs, forward first
MERGE_MODES = tuple(MERGE)


def scan_runner(cell, params, xs, carries, valid, reverses, unroll):
    """The reference runner: :func:`jaxrnn.scan` for each direction of one sequence ``xs: (T, I)``.

    Args:
      cell: the cell every direction runs.
      params: one cell params per direction.
      xs: ``(T, I)``, read by every direction.
      carries: one initial carry (or ``None``) per direction.
      valid: the sequence's valid steps, ``(T,) bool`` (its length as ``t < length``, or a mask
        with holes), or ``None`` (all T steps); padded steps output 0.
      reverses: one bool per direction (``True``: from the last valid step backward).
      unroll: passed to :func:`jaxrnn.scan`.

    Returns:
      One ``(ys: (T, output_size), carry)`` per direction.
    """
    return tuple(scan(cell, p, xs, c, mask=valid, zero_output_for_mask=True, reverse=r, unroll=unroll)
                 for p, c, r in zip(params, carries, reverses))


def sequence_valid(xs, seq_length):
    """The valid steps ``(T,) bool`` of one sequence ``xs`` of length ``seq_length`` (checked; see
    :func:`jaxrnn.driver.run.valid_steps`), or ``None`` when ``seq_length`` is."""
    if seq_length is None:
        return None
    leaf = jax.tree.leaves(xs)[0]
    return valid_steps(jnp.shape(leaf)[0] if jnp.ndim(leaf) else 0, seq_length)


@dataclasses.dataclass(frozen=True)
class Recurrent:
    """A cell run over time by :func:`jaxrnn.scan`.

    Args:
      cell: any cell of the protocol (:mod:`jaxrnn.cells.classic`).
      reverse: ``True`` runs from each sequence's last valid step back to its first.
      unroll: steps per loop iteration of the scan (``jax.lax.scan``'s ``unroll``).

    Examples:
      >>> layer = Recurrent(LSTMCell(8))
      >>> params = layer.init(jax.random.key(0), 5)
      >>> ys, carry = layer.apply(params, jnp.ones((10, 5)))
      >>> ys.shape
      (10, 8)
    """

    cell: Any
    reverse: bool = False
    unroll: int = 1

    def __post_init__(self):
        _checks.cell("cell", self.cell)
        _checks.boolean("reverse", self.reverse)
        _checks.positive_int("unroll", self.unroll)

    @property
    def output_size(self) -> int:
        return self.cell.output_size

    def init(self, key, input_size: int, *, preset: str = "torch", dtype=jnp.float32):
        return self.cell.init(key, input_size, preset=preset, dtype=dtype)

    def initial_carry(self, dtype=jnp.float32):
        return self.cell.initial_carry(dtype)

    def apply(self, params, xs, carry=None, *, seq_length=None, key=None):
        """``xs: (T, I)`` -> ``(ys: (T, output_size), carry)``; ``key`` is unused."""
        return self.run(scan_runner, params, xs, carry, sequence_valid(xs, seq_length))

    def run(self, runner, params, xs, carry, valid, key=None):
        """:meth:`apply` with ``runner`` evaluating time (see the module docstring); ``valid``: the
        valid steps, ``(T, *batch) bool`` or ``None``."""
        ((ys, carry),) = runner(self.cell, (params,), xs, (carry,), valid, (self.reverse,), self.unroll)
        return ys, carry


@dataclasses.dataclass(frozen=True)
class Bidirectional:
    """Runs ``cell`` forward and (from each sequence's last valid step) backward, then merges.

    Params ``{"fwd": p, "bwd": p}``; carry ``(fwd_carry, bwd_carry)``.

    Args:
      cell: any cell of the protocol; both directions have their own params for it.
      merge: ``"concat"`` (``[fwd, bwd]`` on the feature axis, torch's layout), ``"sum"``,
        ``"mul"``, ``"ave"`` or ``None`` (Keras's merge modes, :data:`MERGE`); ``None`` outputs
        the pair ``(ys_fwd, ys_bwd)``, each ``(T, cell.output_size)`` in time order, so such a
        layer can only be the last of a :class:`Stack`.
      unroll: steps per loop iteration of each direction's scan.

    Examples:
      >>> layer = Bidirectional(GRUCell(8))
      >>> params = layer.init(jax.random.key(0), 5)
      >>> layer.apply(params, jnp.ones((10, 5)))[0].shape
      (10, 16)
    """

    cell: Any
    merge: str | None = "concat"
    unroll: int = 1

    def __post_init__(self):
        _checks.cell("cell", self.cell)
        _checks.one_of("merge", self.merge, MERGE_MODES)
        _checks.positive_int("unroll", self.unroll)

    @property
    def output_size(self) -> int:
        """The features of the output (of each of the two outputs when ``merge`` is None)."""
        return self.cell.output_size * (2 if self.merge == "concat" else 1)

    def init(self, key, input_size: int, *, preset: str = "torch", dtype=jnp.float32):
        k_fwd, k_bwd = jax.random.split(_checks.prng_key("key", key))
        return {"fwd": self.cell.init(k_fwd, input_size, preset=preset, dtype=dtype),
                "bwd": self.cell.init(k_bwd, input_size, preset=preset, dtype=dtype)}

    def initial_carry(self, dtype=jnp.float32):
        return (self.cell.initial_carry(dtype), self.cell.initial_carry(dtype))

    def apply(self, params, xs, carry=None, *, seq_length=None, key=None):
        """``xs: (T, I)`` -> ``(ys: (T, output_size), (fwd_carry, bwd_carry))``."""
        self.check(params, carry)
        return self.run(scan_runner, params, xs, carry, sequence_valid(xs, seq_length))

    def check(self, params, carry) -> None:
        """Raises unless ``params`` has the keys ``fwd`` and ``bwd`` and ``carry`` is None or a pair."""
        _checks.keys_match("params", params, ("fwd", "bwd"))
        if carry is not None and (not isinstance(carry, (tuple, list)) or len(carry) != 2):
            got = f"{len(carry)} entries" if isinstance(carry, (tuple, list)) else type(carry).__name__
            raise ValueError(f"carry must be a pair (forward carry, backward carry), got {got}")

    def run(self, runner, params, xs, carry, valid, key=None):
        """:meth:`apply` on checked arguments, with ``runner`` evaluating time (module docstring);
        ``valid``: the valid steps, ``(T, *batch) bool`` or ``None``."""
        c_fwd, c_bwd = (None, None) if carry is None else carry
        (y_fwd, c_fwd), (y_bwd, c_bwd) = runner(self.cell, (params["fwd"], params["bwd"]), xs,
                                                (c_fwd, c_bwd), valid, (False, True), self.unroll)
        return MERGE[self.merge](y_fwd, y_bwd), (c_fwd, c_bwd)


def directions(layer) -> int:
    """How many directions (pseudo-layers of torch's state) a built-in layer runs: 2 for
    :class:`Bidirectional`, 1 for :class:`Recurrent`.

    Args:
      layer: a sequence layer.
    """
    return 2 if isinstance(layer, Bidirectional) else 1
