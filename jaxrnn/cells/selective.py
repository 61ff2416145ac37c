"""Mamba-1's selective scan (S6) step, one example.

Per channel ``d`` (of D) and state entry ``n`` (of N), with ``dt`` already through the softplus:
``h_dn = exp(dt_d A_dn) h_dn + dt_d x_d B_n``, ``y_d = sum_n C_n h_dn + D_d x_d`` (mambapy's
``selective_scan_seq``). The step is linear in the state, so the cell also has the pieces
``linear_terms`` and ``readout`` of :mod:`jaxrnn.cells.linear` (``method="associative"``).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from jaxrnn import _checks

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class SelectiveScanCell:
    """One S6 step of one example: ``h' = exp(dt A) h + (dt x) B``, ``y = h' C + D x``.

    ``x = (x: (D,), dt: (D,), B: (N,), C: (N,))`` (one step; any leading axes broadcast); carry
    ``h: (D, N)``; ``y: (D,)``. Params ``{"A": (D, N), "D": (D,)}``; without ``"D"`` there is no
    skip term.

    Args:
      width: D, the channels (Mamba's ``d_inner``).
      state_size: N, the state entries per channel (Mamba's ``d_state``).

    Examples:
      >>> cell = SelectiveScanCell(width=3, state_size=2)
      >>> params = cell.init()
      >>> params["A"][0].tolist(), params["D"].tolist()
      ([-1.0, -2.0], [1.0, 1.0, 1.0])
      >>> x = (jnp.ones(3), jnp.full(3, 0.5), jnp.ones(2), jnp.ones(2))
      >>> h, y = cell.apply(params, cell.initial_carry(), x)
      >>> h.shape, y.tolist()
      ((3, 2), [2.0, 2.0, 2.0])
    """

    width: int
    state_size: int = 16

    def __post_init__(self):
        _checks.positive_int("width", self.width)
        _checks.positive_int("state_size", self.state_size)

    @property
    def hidden_size(self) -> int:
        return self.width * self.state_size

    @property
    def output_size(self) -> int:
        return self.width

    def init(self, key=None, input_size=None, *, preset: str = "torch", dtype=jnp.float32) -> dict:
        """Mamba's initialisation (no randomness): ``A = -[1, ..., N]`` on every channel (S4D-real),
        ``D = 1``."""
        a = -jnp.broadcast_to(jnp.arange(1, self.state_size + 1, dtype=dtype), (self.width, self.state_size))
        return {"A": a, "D": jnp.ones((self.width,), dtype)}

    def initial_carry(self, dtype=jnp.float32) -> Array:
        """Zeros ``(D, N)``."""
        return jnp.zeros((self.width, self.state_size), dtype)

    def linear_terms(self, params, xs) -> tuple[Array, Array]:
        """``xs = (x, dt: (..., D), B, C: (..., N))`` -> ``(a, b)``, both ``(..., D, N)``:
        ``a = exp(dt A)``, ``b = (dt x) B``."""
        x, dt, b, _ = xs
        return jnp.exp(dt[..., None] * params["A"]), (dt * x)[..., None] * b[..., None, :]

    def readout(self, params, hs, xs) -> Array:
        """``y = sum_n C_n h_dn + D x``: ``hs: (..., D, N)`` -> ``(..., D)``."""
        x, _, _, c = xs
        y = jnp.einsum("...dn,...n->...d", hs, c)
        return y + params["D"] * x if "D" in params else y

    def apply(self, params, carry: Array, x) -> tuple[Array, Array]:
        """One step: ``h' = a h + b`` from :meth:`linear_terms`, ``y`` from :meth:`readout`."""
        a, b = self.linear_terms(params, x)
        carry = a * carry + b
        return carry, self.readout(params, carry, x)
