"""Linear-recurrence cells: the carry follows ``h_t = a_t * h_{t-1} + b_t`` (elementwise).

Besides the cell protocol (:mod:`jaxrnn.cells`) each cell has ``linear_terms(params, xs) -> (a, b)``
and ``readout(params, hs, xs) -> ys`` (see :mod:`jaxrnn.driver.associative`), so ``jaxrnn.scan`` can evaluate it
with ``method="associative"``; ``apply`` is defined from the same two functions, so the sequential
and parallel methods compute one function.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import jax
import jax.numpy as jnp

from jaxrnn import _checks
from jaxrnn.cells.initializers import PRESETS, init_params

Array = jax.Array


def _check_xs(params, xs, rows: int, name: str = "w_ih") -> None:
    """Checks ``xs: (T, I)`` against ``params[name]: (rows, I)``."""
    w = params[name]
    if w.ndim != 2 or w.shape[0] != rows:
        raise ValueError(f"params['{name}'] must have shape ({rows}, input_size), got {tuple(w.shape)}")
    if xs.ndim != 2 or xs.shape[1] != w.shape[1]:
        raise ValueError(f"xs must have shape (T, {w.shape[1]}), got {tuple(xs.shape)}")


def _apply(cell, params, carry, x):
    """One step of a linear-recurrence cell from its ``linear_terms`` and ``readout``."""
    if x.ndim != 1:
        raise ValueError(f"x must have shape (input_size,) (one unbatched step), got {tuple(x.shape)}")
    a, b = cell.linear_terms(params, x[None])
    h = a[0] * carry + b[0]
    return h, cell.readout(params, h[None], x[None])[0]


def _affine(params, xs):
    return xs @ params["w_ih"].T + params["b_ih"]


@dataclasses.dataclass(frozen=True)
class _MinCell:
    """What minGRU and minLSTM share: ``k`` gate blocks of one affine map of ``x_t``, ``y_t = h_t``."""

    hidden_size: int
    _blocks: ClassVar[int]

    def __post_init__(self):
        _checks.positive_int("hidden_size", self.hidden_size)

    @property
    def output_size(self) -> int:
        return self.hidden_size

    def init(self, key, input_size: int, *, preset: str = "torch", dtype=jnp.float32) -> dict:
        """Returns ``{"w_ih": (kH, I), "b_ih": (kH,)}`` (k = 2 for minGRU, 3 for minLSTM)."""
        input_size = _checks.positive_int("input_size", input_size)
        rows = self._blocks * self.hidden_size
        spec = {"w_ih": ((rows, input_size), "input"), "b_ih": ((rows,), "bias")}
        return init_params(key, spec, self.hidden_size, preset, dtype)

    def initial_carry(self, dtype=jnp.float32) -> Array:
        """Returns zeros of shape ``(H,)``."""
        return jnp.zeros((self.hidden_size,), dtype)

    def _gates(self, params, xs) -> list[Array]:
        """``xs: (T, I)`` -> the ``k`` pre-activation blocks, each ``(T, H)``."""
        _checks.keys_match("params", params, ("w_ih", "b_ih"))
        _check_xs(params, xs, self._blocks * self.hidden_size)
        return jnp.split(_affine(params, xs), self._blocks, axis=-1)

    def readout(self, params, hs, xs) -> Array:
        """``y_t = h_t``: ``hs: (T, H)`` -> ``(T, H)``."""
        return hs

    def apply(self, params, carry: Array, x: Array) -> tuple[Array, Array]:
        """One step: ``carry: (H,)``, ``x: (I,)`` -> ``(carry', y)``, both ``(H,)``."""
        return _apply(self, params, carry, x)


@dataclasses.dataclass(frozen=True)
class MinGRUCell(_MinCell):
    """minGRU (Feng et al. 2024, "Were RNNs All We Needed?"), the plain (not log-space) form.

    ``z_t = sigmoid(W_z x_t + b_z)``, ``h~_t = W_h x_t + b_h``, ``h_t = (1 - z_t) * h_{t-1} + z_t * h~_t``;
    ``y_t = h_t``. Gate blocks z, h. No gate reads ``h_{t-1}``, so the recurrence is linear.

    Args:
      hidden_size: H.

    Params: ``w_ih: (2H, I)``, ``b_ih: (2H,)``. Carry: ``(H,)``.

    Examples:
      >>> cell = MinGRUCell(hidden_size=8)
      >>> params = cell.init(jax.random.key(0), input_size=5)
      >>> ys, h = jaxrnn.scan(cell, params, jnp.ones((10, 5)), method="associative")
      >>> ys.shape
      (10, 8)
    """

    _blocks: ClassVar[int] = 2

    def linear_terms(self, params, xs) -> tuple[Array, Array]:
        """``xs: (T, I)`` -> ``(a, b)``, both ``(T, H)``: ``a = 1 - z``, ``b = z * h~``."""
        z_pre, h_tilde = self._gates(params, xs)
        z = jax.nn.sigmoid(z_pre)
        return 1.0 - z, z * h_tilde


@dataclasses.dataclass(frozen=True)
class MinLSTMCell(_MinCell):
    """minLSTM (Feng et al. 2024), the plain (not log-space) form with normalised gates.

    ``f_t = sigmoid(W_f x_t + b_f)``, ``i_t = sigmoid(W_i x_t + b_i)``, ``h~_t = W_h x_t + b_h``;
    ``f'_t = f_t / (f_t + i_t)``, ``i'_t = i_t / (f_t + i_t)``; ``h_t = f'_t * h_{t-1} + i'_t * h~_t``;
    ``y_t = h_t``. Gate blocks f, i, h.

    Args:
      hidden_size: H.

    Params: ``w_ih: (3H, I)``, ``b_ih: (3H,)``. Carry: ``(H,)``.

    Examples:
      >>> cell = MinLSTMCell(hidden_size=8)
      >>> params = cell.init(jax.random.key(0), input_size=5)
      >>> cell.apply(params, cell.initial_carry(), jnp.ones(5))[1].shape
      (8,)
    """

    _blocks: ClassVar[int] = 3

    def linear_terms(self, params, xs) -> tuple[Array, Array]:
        """``xs: (T, I)`` -> ``(a, b)``, both ``(T, H)``: ``a = f'``, ``b = i' * h~``."""
        f_pre, i_pre, h_tilde = self._gates(params, xs)
        f, i = jax.nn.sigmoid(f_pre), jax.nn.sigmoid(i_pre)
        return f / (f + i), i / (f + i) * h_tilde


@dataclasses.dataclass(frozen=True)
class LRUCell:
    """Linear Recurrent Unit (Orvieto et al. 2023, "Resurrecting Recurrent Neural Networks").

    A complex diagonal recurrence with exponential parametrisation and normalisation:
    ``lambda = exp(-exp(nu_log) + 1j * exp(theta_log))``, ``gamma = exp(gamma_log)`` (initialised to
    ``sqrt(1 - |lambda|^2)``); ``s_t = lambda * s_{t-1} + gamma * (B u_t)``;
    ``y_t = Re(C s_t) + D * u_t`` (real outputs) with ``B = B_re + 1j B_im``, ``C = C_re + 1j C_im``.

    Args:
      hidden_size: N, the size of the complex state.
      output_size: H, the size of ``y``; equal to the input size (the skip ``D * u_t`` is
        elementwise, as in the paper).
      r_min: the inner radius of the ring ``[r_min, r_max]`` on which ``|lambda|`` is drawn
        uniformly at init.
      r_max: the ring's outer radius.
      max_phase: ``arg(lambda)`` is drawn uniformly in ``[0, max_phase]`` at init.

    Params: ``nu_log, theta_log, gamma_log: (N,)``, ``B_re, B_im: (N, H)``, ``C_re, C_im: (H, N)``,
    ``D: (H,)``. Carry: complex ``(N,)``. ``preset`` is validated but the paper's init is used.

    Examples:
      >>> cell = LRUCell(hidden_size=16, output_size=4)
      >>> params = cell.init(jax.random.key(0), input_size=4)
      >>> ys, s = jaxrnn.scan(cell, params, jnp.ones((10, 4)), method="associative")
      >>> ys.shape, ys.dtype, s.dtype
      ((10, 4), dtype('float32'), dtype('complex64'))
    """

    hidden_size: int
    output_size: int
    r_min: float = 0.0
    r_max: float = 1.0
    max_phase: float = 2 * math.pi

    def __post_init__(self):
        _checks.positive_int("hidden_size", self.hidden_size)
        _checks.positive_int("output_size", self.output_size)
        if not 0.0 <= self.r_min < self.r_max <= 1.0:
            raise ValueError(f"r_min and r_max must satisfy 0 <= r_min < r_max <= 1, got {self.r_min}, {self.r_max}")
        if not self.max_phase > 0:
            raise ValueError(f"max_phase must be > 0, got {self.max_phase}")

    def init(self, key, input_size: int, *, preset: str = "torch", dtype=jnp.float32) -> dict:
        """Returns the paper's initialisation (see the class docstring for shapes)."""
        input_size = _checks.positive_int("input_size", input_size)
        _checks.one_of("preset", preset, PRESETS)
        if input_size != self.output_size:
            raise ValueError(
                f"input_size must equal output_size ({self.output_size}) for LRUCell's skip D * u, "
                f"got {input_size}"
            )
        n, h = self.hidden_size, self.output_size
        k = jax.random.split(key, 7)
        u1 = jax.random.uniform(k[0], (n,), dtype)
        u2 = jax.random.uniform(k[1], (n,), dtype)
        nu_log = jnp.log(-0.5 * jnp.log(u1 * (self.r_max**2 - self.r_min**2) + self.r_min**2))
        theta_log = jnp.log(self.max_phase * u2)
        mod = jnp.exp(-jnp.exp(nu_log))
        normal = jax.random.normal
        return {
            "nu_log": nu_log, "theta_log": theta_log,
            "gamma_log": jnp.log(jnp.sqrt(1.0 - mod**2)),
            "B_re": normal(k[2], (n, h), dtype) / math.sqrt(2 * h),
            "B_im": normal(k[3], (n, h), dtype) / math.sqrt(2 * h),
            "C_re": normal(k[4], (h, n), dtype) / math.sqrt(n),
            "C_im": normal(k[5], (h, n), dtype) / math.sqrt(n),
            "D": normal(k[6], (h,), dtype),
        }

    def initial_carry(self, dtype=jnp.float32) -> Array:
        """Returns complex zeros of shape ``(N,)`` (complex64 for float32)."""
        return jnp.zeros((self.hidden_size,), jnp.result_type(dtype, jnp.complex64))

    def linear_terms(self, params, xs) -> tuple[Array, Array]:
        """``xs: (T, H)`` -> ``(a, b)``, both complex ``(T, N)``: ``a = lambda``, ``b = gamma * B u``."""
        _check_xs(params, xs, self.hidden_size, "B_re")
        lam = jnp.exp(-jnp.exp(params["nu_log"]) + 1j * jnp.exp(params["theta_log"]))
        bu = xs @ params["B_re"].T + 1j * (xs @ params["B_im"].T)
        b = jnp.exp(params["gamma_log"]) * bu
        return jnp.broadcast_to(lam, b.shape), b

    def readout(self, params, hs, xs) -> Array:
        """``y_t = Re(C s_t) + D * u_t``: ``hs: (T, N)`` complex -> ``(T, H)`` real."""
        return hs.real @ params["C_re"].T - hs.imag @ params["C_im"].T + params["D"] * xs

    def apply(self, params, carry: Array, x: Array) -> tuple[Array, Array]:
        """One step: ``carry: (N,)`` complex, ``x: (H,)`` -> ``(carry', y: (H,))``."""
        return _apply(self, params, carry, x)
