"""Newton's method over time for any cell: DEER, quasi-DEER and a damped (ELK-like) variant.

The states ``s_t`` (the flattened carries) of one sequence solve ``s_t = f_t(s_{t-1})`` for all t at
once. From a guess ``s``, one Newton step linearises ``f_t`` around ``s_{t-1}`` and solves the linear
recurrence ``delta_t = J_t delta_{t-1} + r_t`` (``r_t = f_t(s_{t-1}) - s_t``,
``J_t = df_t/ds_{t-1}``) with an associative scan, then sets ``s <- s + delta``
(Lim et al. 2024, "Parallelizing non-linear sequential models over the sequence length", DEER).

- ``"deer"``: full ``(D, D)`` Jacobians (``O(D^3 log T)`` work per step; exact after at most T
  iterations).
- ``"quasi"``: only the diagonal of ``J_t`` (quasi-DEER, Gonzalez et al. 2024): ``O(D)`` per combine.
- ``"damped"``: quasi-DEER with the diagonal clipped to ``[-1, 1]`` and a Levenberg-style damping
  ``(1 + damping) delta_t = J_t delta_{t-1} + r_t``, which keeps the linearised recurrence stable
  and shortens steps (in the spirit of ELK, Gonzalez et al. 2024; not its Kalman-smoother form).

The loop stops when ``max_t |f_t(s_{t-1}) - s_t| <= tol`` or after ``max_iters`` steps; with
``fallback=True`` an unconverged result is replaced by a sequential scan (``jax.lax.cond``; under
``jax.vmap`` both branches run). Gradients come from implicit differentiation: the adjoint
``lam_t = g_t + J_{t+1}^T lam_{t+1}`` is one parallel linear solve with full Jacobians (exact for
every variant), never a differentiation through the iterations.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from typing import NamedTuple, cast

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from jaxrnn import _checks
from jaxrnn.driver import padding
from jaxrnn.driver.associative import linear_recurrence

VARIANTS = ("deer", "quasi", "damped")


@dataclasses.dataclass(frozen=True)
class Newton:
    """Options of ``method="newton"`` (pass ``method=jaxrnn.Newton(...)``).

    Args:
      variant: ``"deer"`` (full Jacobians), ``"quasi"`` (diagonal) or ``"damped"`` (see module doc).
      tol: stop when the largest absolute residual ``|f_t(s_{t-1}) - s_t|`` is at most ``tol``.
      max_iters: the most Newton steps.
      damping: the damping of ``"damped"`` (>= 0; 0 is quasi-DEER with clipped Jacobians).
      fallback: run the sequential scan when the iterations did not converge.

    Examples:
      >>> Newton(variant="quasi", max_iters=20).variant
      'quasi'
    """

    variant: str = "deer"
    tol: float = 1e-5
    max_iters: int = 50
    damping: float = 0.5
    fallback: bool = True

    def __post_init__(self):
        _checks.one_of("variant", self.variant, VARIANTS)
        for name in ("tol", "damping"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"{name} must be a float, got {type(value).__name__} {value!r}")
        if not (self.tol > 0 and math.isfinite(self.tol)):
            raise ValueError(f"tol must be a finite number > 0, got {self.tol}")
        if not (self.damping >= 0 and math.isfinite(self.damping)):
            raise ValueError(f"damping must be a finite number >= 0, got {self.damping}")
        _checks.positive_int("max_iters", self.max_iters)
        _checks.boolean("fallback", self.fallback)


class NewtonInfo(NamedTuple):
    """What the Newton solve did.

    Attributes:
      iterations: the Newton iterations run (int).
      converged: whether the iterate met the tolerance (bool).
      residual: the largest absolute residual of the Newton iterate, before any sequential
        fallback (float).
    """

    iterations: jax.Array
    converged: jax.Array
    residual: jax.Array


def _matrix_combine(earlier, later):
    a1, b1 = earlier
    a2, b2 = later
    return a2 @ a1, (a2 @ b1[..., None])[..., 0] + b2


def matrix_recurrence(a, b):
    """Solves ``h_t = a_t @ h_{t-1} + b_t`` (``h_{-1} = 0``); ``a: (T, D, D)``, ``b: (T, D)``.

    Examples:
      >>> matrix_recurrence(jnp.zeros((3, 2, 2)), jnp.ones((3, 2))).shape
      (3, 2)
    """
    return jax.lax.associative_scan(_matrix_combine, (a, b))[1]


def _problem(step, params, xs, s0, valid, start):
    """Vectorised ``f`` and its Jacobian over all steps, and ``prev(S)``."""
    in_axes = (None, 0, 0, 0, 0, None)
    f_all = jax.vmap(step, in_axes)
    jac_all = jax.vmap(jax.jacfwd(step, argnums=1), in_axes)

    def prev(states):
        return jnp.concatenate([s0[None], states[:-1]])

    def evaluate(states):
        return f_all(params, prev(states), xs, valid, start, s0)

    def jacobians(states):
        return jac_all(params, prev(states), xs, valid, start, s0)

    return evaluate, jacobians, prev


def _newton_step(options, jac, r):
    if options.variant == "deer":
        return matrix_recurrence(jac, r)
    d = jnp.diagonal(jac, axis1=-2, axis2=-1)
    if options.variant == "damped":
        scale = 1.0 + options.damping
        d, r = jnp.clip(d, -1.0, 1.0) / scale, r / scale
    return linear_recurrence(d, r)


def _forward(step, options, params, xs, s0, valid, start):
    evaluate, jacobians, _ = _problem(step, params, xs, s0, valid, start)
    states = jnp.broadcast_to(s0, valid.shape + s0.shape)
    f = evaluate(states)
    init = (jnp.asarray(0), states, f, jnp.max(jnp.abs(f - states)))

    def cond(st):
        k, _, _, res = st
        return (res > options.tol) & (k < options.max_iters)

    def body(st):
        k, states, f, _ = st
        states = states + _newton_step(options, jacobians(states), f - states)
        f = evaluate(states)
        return k + 1, states, f, jnp.max(jnp.abs(f - states))

    k, states, _, res = jax.lax.while_loop(cond, body, init)
    converged = res <= options.tol
    if options.fallback:
        def sequential():
            def scan_step(s, inp):
                s = step(params, s, *inp, s0)
                return s, s
            return jax.lax.scan(scan_step, s0, (xs, valid, start))[1]

        states = jax.lax.cond(converged, lambda: states, sequential)
    return states, NewtonInfo(k, converged, res)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _solve(step, options, params, xs, s0, valid, start):
    return _forward(step, options, params, xs, s0, valid, start)


def _solve_fwd(step, options, params, xs, s0, valid, start):
    states, info = _forward(step, options, params, xs, s0, valid, start)
    return (states, info), (params, xs, s0, valid, start, states)


def _solve_bwd(step, options, res, cts):
    params, xs, s0, valid, start, states = res
    g = cts[0]
    _, jacobians, prev = _problem(step, params, xs, s0, valid, start)
    jac = jacobians(states)
    jac_next_t = jnp.concatenate([jnp.swapaxes(jac[1:], -1, -2), jnp.zeros_like(jac[:1])])
    lam = matrix_recurrence(jac_next_t[::-1], g[::-1])[::-1]
    f_all = jax.vmap(step, (None, 0, 0, 0, 0, None))
    _, vjp = jax.vjp(lambda p, sp, x, s: f_all(p, sp, x, valid, start, s), params, prev(states), xs, s0)
    d_params, d_prev, d_xs, d_s0 = vjp(lam)
    return d_params, d_xs, d_s0 + d_prev[0], None, None


_solve.defvjp(_solve_fwd, _solve_bwd)


def newton(cell, params, xs, carry, valid, start, options: Newton):
    """Runs any cell over ``xs: (T, I)`` by Newton's method; flags in processing order.

    Returns ``(ys: (T, O), final carry, NewtonInfo)`` in processing order.
    """
    s0, unravel = ravel_pytree(carry)
    if jnp.iscomplexobj(s0):
        raise ValueError(
            f"method 'newton' needs a real carry, got a {s0.dtype} carry from {type(cell).__name__}; "
            f"use method 'associative' or 'sequential' for it"
        )

    def guarded(p, s_prev, x, v, st, s_init):  # one step under the padding rule: (carry, y)
        step = padding.guard(lambda c, x_t: cell.apply(p, c, x_t), unravel(s_init))
        return step(unravel(s_prev), (x, v, st))

    def step(p, s_prev, x, v, st, s_init):
        return ravel_pytree(guarded(p, s_prev, x, v, st, s_init)[0])[0]

    # (functools.partial(jax.custom_vjp, ...) hides _forward's return type from type checkers)
    states, info = cast("tuple[jax.Array, NewtonInfo]", _solve(step, options, params, xs, s0, valid, start))
    prev = jnp.concatenate([s0[None], states[:-1]])
    ys = jax.vmap(lambda s, x, v, st: guarded(params, s, x, v, st, s0)[1])(prev, xs, valid, start)
    return ys, unravel(states[-1]), info
