"""Sequence layers built from cells: one direction, both directions, and stacks.

A *sequence layer* is a frozen, hashable dataclass with ``output_size``,
``init(key, input_size, *, preset="torch", dtype=float32) -> params``,
``initial_carry(dtype=float32) -> carry`` and
``apply(params, xs, carry=None, *, seq_length=None, key=None) -> (ys, carry)`` on ONE unbatched
sequence ``xs: (T, I)`` -> ``ys: (T, output_size)``. Their params are plain pytrees:
:class:`Recurrent` has its cell's params, :class:`Bidirectional` ``{"fwd": ..., "bwd": ...}`` and
:class:`Stack` a ``list`` with one entry per layer. Batching is ``jax.vmap``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from jaxrnn import _checks
from jaxrnn.scan import scan

MERGE_MODES = ("concat", "sum", "mul", "ave")


@dataclasses.dataclass(frozen=True)
class Recurrent:
    """A cell run over time by :func:`jaxrnn.scan`.

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

    @property
    def output_size(self) -> int:
        return self.cell.output_size

    def init(self, key, input_size: int, *, preset: str = "torch", dtype=jnp.float32):
        return self.cell.init(key, input_size, preset=preset, dtype=dtype)

    def initial_carry(self, dtype=jnp.float32):
        return self.cell.initial_carry(dtype)

    def apply(self, params, xs, carry=None, *, seq_length=None, key=None):
        """``xs: (T, I)`` -> ``(ys: (T, output_size), carry)``; ``key`` is unused."""
        return scan(self.cell, params, xs, carry, seq_length=seq_length, reverse=self.reverse,
                    unroll=self.unroll)


@dataclasses.dataclass(frozen=True)
class Bidirectional:
    """Runs ``cell`` forward and (from each sequence's last valid step) backward, then merges.

    ``merge``: ``"concat"`` (``[fwd, bwd]`` on the feature axis, torch's layout), ``"sum"``,
    ``"mul"`` or ``"ave"``. Params ``{"fwd": p, "bwd": p}``; carry ``(fwd_carry, bwd_carry)``.

    Examples:
      >>> layer = Bidirectional(GRUCell(8))
      >>> params = layer.init(jax.random.key(0), 5)
      >>> layer.apply(params, jnp.ones((10, 5)))[0].shape
      (10, 16)
    """

    cell: Any
    merge: str = "concat"
    unroll: int = 1

    def __post_init__(self):
        _checks.one_of("merge", self.merge, MERGE_MODES)

    @property
    def output_size(self) -> int:
        return self.cell.output_size * (2 if self.merge == "concat" else 1)

    def init(self, key, input_size: int, *, preset: str = "torch", dtype=jnp.float32):
        k_fwd, k_bwd = jax.random.split(key)
        return {"fwd": self.cell.init(k_fwd, input_size, preset=preset, dtype=dtype),
                "bwd": self.cell.init(k_bwd, input_size, preset=preset, dtype=dtype)}

    def initial_carry(self, dtype=jnp.float32):
        return (self.cell.initial_carry(dtype), self.cell.initial_carry(dtype))

    def apply(self, params, xs, carry=None, *, seq_length=None, key=None):
        """``xs: (T, I)`` -> ``(ys: (T, output_size), (fwd_carry, bwd_carry))``."""
        c_fwd, c_bwd = (None, None) if carry is None else carry
        kw = dict(seq_length=seq_length, unroll=self.unroll)
        y_fwd, c_fwd = scan(self.cell, params["fwd"], xs, c_fwd, **kw)
        y_bwd, c_bwd = scan(self.cell, params["bwd"], xs, c_bwd, reverse=True, **kw)
        merged = {"concat": lambda a, b: jnp.concatenate([a, b], axis=-1), "sum": jnp.add,
                  "mul": jnp.multiply, "ave": lambda a, b: (a + b) / 2}[self.merge](y_fwd, y_bwd)
        return merged, (c_fwd, c_bwd)


def dropout(key, x, rate: float):
    """Inverted dropout: zeroes each element of ``x`` with probability ``rate``, scales the rest.

    Examples:
      >>> dropout(jax.random.key(0), jnp.ones(4), 0.0).tolist()
      [1.0, 1.0, 1.0, 1.0]
    """
    if rate == 0.0:
        return x
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), jnp.zeros_like(x))


def check_dropout(value) -> float:
    """Returns ``value`` as a float if it lies in [0, 1), else raises naming ``dropout``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"dropout must be a float in [0, 1), got {type(value).__name__} {value!r}")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"dropout must be a float in [0, 1), got {value}")
    return float(value)


@dataclasses.dataclass(frozen=True)
class Stack:
    """Layers applied one after another; layer l+1 reads layer l's outputs.

    With a ``key`` and ``dropout > 0``, every layer's output but the last goes through dropout.
    Params: a ``list`` of per-layer params; carry: a ``tuple`` of per-layer carries.

    Examples:
      >>> net = Stack((Bidirectional(LSTMCell(8)), Bidirectional(LSTMCell(8))))
      >>> params = net.init(jax.random.key(0), 5)
      >>> net.apply(params, jnp.ones((10, 5)))[0].shape
      (10, 16)
    """

    layers: tuple
    dropout: float = 0.0

    def __post_init__(self):
        if not isinstance(self.layers, tuple) or not self.layers:
            raise TypeError(f"layers must be a non-empty tuple of sequence layers, got {self.layers!r}")
        check_dropout(self.dropout)

    @property
    def output_size(self) -> int:
        return self.layers[-1].output_size

    def init(self, key, input_size: int, *, preset: str = "torch", dtype=jnp.float32) -> list:
        params = []
        for layer, k in zip(self.layers, jax.random.split(key, len(self.layers))):
            params.append(layer.init(k, input_size, preset=preset, dtype=dtype))
            input_size = layer.output_size
        return params

    def initial_carry(self, dtype=jnp.float32) -> tuple:
        return tuple(layer.initial_carry(dtype) for layer in self.layers)

    def apply(self, params, xs, carry=None, *, seq_length=None, key=None):
        """``xs: (T, I)`` -> ``(ys: (T, output_size), per-layer carries)``."""
        carry = (None,) * len(self.layers) if carry is None else carry
        n = len(self.layers)
        keys = [(None, None)] * n if key is None else jax.random.split(key, (n, 2))
        finals = []
        for i, (layer, p, c, (k_layer, k_drop)) in enumerate(zip(self.layers, params, carry, keys)):
            xs, c = layer.apply(p, xs, c, seq_length=seq_length, key=k_layer)
            finals.append(c)
            if k_drop is not None and i < n - 1:
                xs = dropout(k_drop, xs, self.dropout)
        return xs, tuple(finals)
