"""What the steps of the linear-attention ops share (:mod:`jaxrnn.cells.gla`,
:mod:`jaxrnn.cells.delta`, :mod:`jaxrnn.cells.mlstm`): heads with a key and a value dimension, a
scale, no params, and a matrix state per head.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from jaxrnn import _checks


def default_scale(key_dim: int, scale) -> float:
    """``scale``, or ``1 / sqrt(K)`` when it is ``None`` (every attention-like op's default)."""
    if scale is None:
        return key_dim ** -0.5
    if isinstance(scale, bool) or not isinstance(scale, (int, float)):
        raise TypeError(f"scale must be a float or None, got {type(scale).__name__} {scale!r}")
    return float(scale)


@dataclasses.dataclass(frozen=True)
class AttentionStep:
    """The base of a linear-attention step for all heads of one example (a cell of the protocol
    without params): ``num_heads`` H, ``key_dim`` K, ``value_dim`` V, and ``scale`` (``None``:
    ``1 / sqrt(K)``); the carry is a ``(H, K, V)`` state, ``y`` is ``(H, V)``. Subclasses define
    ``apply`` (and a larger carry if they have one)."""

    num_heads: int
    key_dim: int
    value_dim: int
    scale: float | None = None

    def __post_init__(self):
        for name in ("num_heads", "key_dim", "value_dim"):
            _checks.positive_int(name, getattr(self, name))
        object.__setattr__(self, "scale", default_scale(self.key_dim, self.scale))

    @property
    def resolved_scale(self) -> float:
        """``scale`` as a float (``__post_init__`` has replaced ``None`` by ``1 / sqrt(K)``)."""
        return default_scale(self.key_dim, self.scale)

    @property
    def hidden_size(self) -> int:
        return self.num_heads * self.key_dim * self.value_dim

    @property
    def output_size(self) -> int:
        return self.num_heads * self.value_dim

    def init(self, key, input_size=None, *, preset: str = "torch", dtype=jnp.float32) -> dict:
        """No params: the step reads its inputs only."""
        return {}

    def initial_carry(self, dtype=jnp.float32):
        """Zeros ``(H, K, V)``."""
        return jnp.zeros((self.num_heads, self.key_dim, self.value_dim), dtype)
