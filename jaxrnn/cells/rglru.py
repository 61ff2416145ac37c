"""Griffin's Real-Gated Linear Recurrent Unit (RG-LRU) step, one example, as recurrentgemma computes it.

Gates arrive as pre-activations (recurrentgemma's ``BlockDiagonalLinear`` outputs):
``log a = -8 sigmoid(a_gate) softplus(a_param)``, ``a = exp(log a)``,
``h' = a h + sqrt(1 - a^2) (sigmoid(input_gate) x)``, ``y = h'``. At a segment start
(recurrentgemma's ``segment_pos == 0``) ``a = 0`` and the multiplier is 1, so ``h' =
sigmoid(input_gate) x``. ``a^2`` is ``exp(2 log a)`` and the square root's derivative is capped
(:func:`bounded_sqrt`), as in recurrentgemma, so gates up to +-30 give finite gradients.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from jaxrnn import _checks

Array = jax.Array

# recurrentgemma's ``sqrt_bound_derivative(1 - a^2, 1000)``: the derivative of the multiplier is at most 1000.
MAX_SQRT_GRADIENT = 1000.0


@jax.custom_jvp
def bounded_sqrt(x):
    """``sqrt(x)`` whose derivative ``0.5 / sqrt(x)`` reads ``x`` floored at ``1 / (4 * 1000^2)``, so it
    is at most 1000 (finite at ``x = 0``); recurrentgemma's ``sqrt_bound_derivative``.

    Examples:
      >>> float(bounded_sqrt(0.25)), round(float(jax.grad(bounded_sqrt)(0.0)))
      (0.5, 1000)
    """
    return jnp.sqrt(x)


@bounded_sqrt.defjvp
def _bounded_sqrt_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    floor = 1.0 / (4.0 * MAX_SQRT_GRADIENT ** 2)
    return jnp.sqrt(x), dx * (0.5 / jnp.sqrt(jnp.maximum(x, floor)))


@dataclasses.dataclass(frozen=True)
class RGLRUCell:
    """One RG-LRU step of one example: ``h' = a h + sqrt(1 - a^2) (sigmoid(input_gate) x)``.

    ``x = (x: (D,), input_gate: (D,), a_gate: (D,), segment_start: ())`` (one step; any leading axes
    broadcast): the gates are pre-sigmoid, ``segment_start`` is 1.0 where a segment begins
    (``a = 0``, multiplier 1) and 0.0 elsewhere. Carry ``h: (D,)``; ``y = h'``. Params
    ``{"a_param": (D,)}`` with ``log a = -8 sigmoid(a_gate) softplus(a_param)``.

    Args:
      width: D, the channels (recurrentgemma's ``lru_width``).

    Examples:
      >>> cell = RGLRUCell(width=2)
      >>> params = {"a_param": jnp.zeros(2)}
      >>> x = (jnp.ones(2), jnp.full(2, 30.0), jnp.zeros(2), jnp.float32(1.0))
      >>> h, y = cell.apply(params, jnp.full(2, 5.0), x)   # a segment start: h = sigmoid(30) * 1
      >>> y.tolist()
      [1.0, 1.0]
    """

    width: int

    def __post_init__(self):
        _checks.positive_int("width", self.width)

    @property
    def hidden_size(self) -> int:
        return self.width

    @property
    def output_size(self) -> int:
        return self.width

    def init(self, key, input_size=None, *, preset: str = "torch", dtype=jnp.float32) -> dict:
        """recurrentgemma's initialisation: ``exp(-softplus(a_param))`` uniform in area on the ring of
        radii ``[0.9, 0.999]``."""
        key = _checks.prng_key("key", key)
        u = jax.random.uniform(key, (self.width,), dtype)
        a_real = 0.5 * jnp.log(u * (0.999 ** 2 - 0.9 ** 2) + 0.9 ** 2 + 1e-8)
        return {"a_param": jnp.log(jnp.exp(-a_real) - 1.0)}

    def initial_carry(self, dtype=jnp.float32) -> Array:
        """Zeros ``(D,)``."""
        return jnp.zeros((self.width,), dtype)

    def linear_terms(self, params, xs) -> tuple[Array, Array]:
        """``xs = (x, input_gate, a_gate: (..., D), segment_start: (...))`` -> ``(a, b)``, both
        ``(..., D)``: ``a = exp(log a)``, ``b = sqrt(1 - exp(2 log a)) sigmoid(input_gate) x``, and
        ``a = 0``, ``b = sigmoid(input_gate) x`` at a segment start."""
        x, input_gate, a_gate, segment_start = xs
        log_a = -8.0 * jax.nn.sigmoid(a_gate) * jax.nn.softplus(params["a_param"])
        multiplier = bounded_sqrt(1.0 - jnp.exp(2.0 * log_a))
        start = (jnp.asarray(segment_start) != 0)[..., None]
        a = jnp.where(start, jnp.zeros_like(log_a), jnp.exp(log_a))
        multiplier = jnp.where(start, jnp.ones_like(multiplier), multiplier)
        return a, multiplier * (jax.nn.sigmoid(input_gate) * x)

    def readout(self, params, hs, xs) -> Array:
        """``y = h``."""
        return hs

    def apply(self, params, carry: Array, x) -> tuple[Array, Array]:
        """One step: ``h' = a h + b`` from :meth:`linear_terms`; ``y = h'``."""
        a, b = self.linear_terms(params, x)
        carry = a * carry + b
        return carry, self.readout(params, carry, x)
