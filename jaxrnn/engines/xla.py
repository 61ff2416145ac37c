"""The ``"xla"`` engine: a whole time-major batch per direction, with a cuDNN-style backward pass.

Forward: one ``jax.lax.scan`` whose step is the recurrent GEMM ``h @ W_hh^T`` and the cell's
pointwise update. The input projection ``x @ W_ih^T`` is one GEMM over all T steps before the loop
on accelerators; on CPU it stays in the loop (measured faster there: reading the precomputed gates
back step by step cost more than the bigger GEMM saved, see benchmarks/RESULTS.md). Backward (a
custom VJP): the loop only carries the state's cotangent back through the pointwise VJP and the
recurrent GEMM ``d_gh @ W_hh``; ``d_x = d_gi @ W_ih``, ``dW_ih = sum_t d_gi_t^T x_t``,
``dW_hh = sum_t d_gh_t^T h_{t-1}`` and the bias gradients are each one GEMM (or sum) over all
steps after the loop. Cotangents of the other weights a cell's ``pointwise`` reads (the LSTM
projection, the reset-before GRU's ``W_hn``) are accumulated in the loop in the state dtype.
Residuals keep each gate block contiguous over time (``(T, B, H)`` per block), so a step reads
dense blocks.

Every formula comes from the cell's pieces (:mod:`jaxrnn.cells`); this module holds none.
Shape letters: T time, B batch, I input, H hidden, k gates.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxrnn import precision
from jaxrnn.combinators import restack, unstack
from jaxrnn.driver import padding

_CORE = ("w_ih", "b_in", "w_hh", "b_rec")  # the entries the GEMMs outside pointwise read


def run(network, params, x, state, valid, row_keys, policy):
    """Runs ``network`` on the whole batch ``x: (T, B, I)`` (see :mod:`jaxrnn.engines` for the
    contract): the network's combinators with :func:`direction` evaluating each direction.

    Examples:
      >>> from jaxrnn import precision
      >>> layer = jaxrnn.LSTM(5, 8, bidirectional=True)
      >>> x, params = jnp.ones((10, 3, 5)), layer.init(jax.random.key(0))
      >>> state = jaxrnn.LSTMState(*layer.initial_state(3))   # the carry structure, (L*D, B, H) leaves
      >>> ys, (h_n, c_n) = run(layer.network(), params, x, state, None, None, precision.policy(None, x, params))
      >>> ys.shape, c_n.shape
      ((10, 3, 16), (2, 3, 8))
    """
    ys, finals = network.run(runner(policy), params, x, unstack(network, state), valid, row_keys)
    return ys, restack(network, finals)


def runner(policy):
    """The runner (see :mod:`jaxrnn.combinators`) of this engine under ``policy``: each direction of
    a time-major batch ``xs: (T, B, I)`` by :func:`direction`, padded steps under the padding rule."""
    def run_directions(cell, params, xs, carries, valid, reverses, unroll):
        xs = padding.zero_padding(xs, valid)
        return tuple(direction(cell, p, xs, c, valid, r, policy, unroll)
                     for p, c, r in zip(params, carries, reverses))

    return run_directions


def direction(cell, params, xs, carry, valid, reverse: bool, policy, unroll: int = 1):
    """One direction: ``xs: (T, B, I)`` (padding already zeroed), ``carry`` with a leading B axis
    (``None``: zeros), ``valid: (T, B) bool`` or None -> ``(ys: (T, B, output_size), final carry)``.

    Examples:
      >>> from jaxrnn import LSTMCell, precision
      >>> cell, xs = LSTMCell(8), jnp.ones((10, 3, 5))
      >>> ys, final = direction(cell, cell.init(jax.random.key(0), 5), xs, None, None, False,
      ...                       precision.policy(None, xs))
      >>> ys.shape, final.c.shape
      ((10, 3, 8), (3, 8))
    """
    w = cell.weights(params, policy)
    if carry is None:
        carry = jax.tree.map(lambda z: jnp.zeros((xs.shape[1],) + z.shape, z.dtype), cell.initial_carry(policy.state))
    return _recurrence(cell, reverse, unroll, policy, w, xs, precision.cast_tree(carry, policy.state), valid)


def _pointwise(cell, policy, w, gi, gh, s, valid):
    """The cell's pointwise update of one step under the padding rule, ``y`` in the compute dtype."""
    new, y = cell.pointwise(w, gi, gh, s)
    return padding.select(valid, new, s, y.astype(policy.compute))


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2, 3))
def _recurrence(cell, reverse, unroll, policy, w, xs, carry, valid):
    return _forward(cell, reverse, unroll, policy, w, xs, carry, valid)[0]


def hoist_input_projection() -> bool:
    """Whether the forward computes ``x @ W_ih^T`` for all steps before the loop (not on CPU)."""
    return jax.default_backend() != "cpu"


def _forward(cell, reverse, unroll, policy, w, xs, carry, valid):
    hoist = hoist_input_projection()

    def body(s, inp):
        x_t, v_t = inp
        gi_t = x_t if hoist else cell.input_projection(w, x_t)
        gh_t = cell.recurrent_projection(w, cell.recurrent_input(s))
        new, y = _pointwise(cell, policy, w, gi_t, gh_t, s, v_t)
        # An additive cell reads gi + gh only: keep that sum as the residual (and no gh).
        g_t = tuple(a + b for a, b in zip(gi_t, gh_t))
        return new, (y, s, (g_t, None) if cell.additive else (gi_t, gh_t))

    inputs = cell.input_projection(w, xs) if hoist else xs
    final, (ys, states, (gi, gh)) = jax.lax.scan(body, carry, (inputs, valid), reverse=reverse, unroll=unroll)
    return (ys, final), (w, xs, valid, gi, gh, states)


def _backward(cell, reverse, unroll, policy, res, cts):
    w, xs, valid, gi, gh, states = res
    d_ys, d_final = cts
    state = policy.state
    extra = {k: v for k, v in w.items() if k not in _CORE}

    def body(carry, inp):
        d_s, d_extra = carry
        gi_t, gh_t, s_t, v_t, dy_t = inp

        def step(gi_t, gh_t, s_t, extra):
            return _pointwise(cell, policy, {**w, **extra}, gi_t, gh_t, s_t, v_t)

        if gh_t is None:  # additive: gi_t holds gi + gh, so d_gh = d_gi
            zeros = (0.0,) * len(gi_t)
            d_gi, d_prev, d_ex = jax.vjp(lambda g, s, e: step(g, zeros, s, e), gi_t, s_t, extra)[1]((d_s, dy_t))
            d_gi = d_gh = jnp.concatenate(d_gi, -1)
        else:
            d_gi, d_gh, d_prev, d_ex = jax.vjp(step, gi_t, gh_t, s_t, extra)[1]((d_s, dy_t))
            d_gi, d_gh = jnp.concatenate(d_gi, -1), jnp.concatenate(d_gh, -1)
        (d_rec,) = jax.vjp(cell.recurrent_input, s_t)[1](precision.matmul(d_gh, w["w_hh"]))
        d_prev = jax.tree.map(jnp.add, d_prev, d_rec)
        d_extra = jax.tree.map(jnp.add, d_extra, precision.cast_tree(d_ex, state))
        return (d_prev, d_extra), (d_gi, None if cell.additive else d_gh)

    d_extra0 = precision.cast_tree(jax.tree.map(jnp.zeros_like, extra), state)
    (d_carry, d_extra), outs = jax.lax.scan(body, (d_final, d_extra0), (gi, gh, states, valid, d_ys),
                                            reverse=not reverse, unroll=unroll)
    d_gi, d_gh = outs
    if d_gh is None:  # additive: gi, gh enter as gi + gh
        d_gh = d_gi
    d_w = {
        "w_ih": _sum_outer(d_gi, xs, policy),
        "b_in": None if w["b_in"] is None else d_gi.sum((0, 1)).astype(w["b_in"].dtype),
        "w_hh": _sum_outer(d_gh, cell.recurrent_input(states), policy),
        "b_rec": None if w["b_rec"] is None else d_gh.sum((0, 1)).astype(w["b_rec"].dtype),
        **jax.tree.map(lambda d, v: d.astype(v.dtype), d_extra, extra),
    }
    d_xs = precision.matmul(d_gi, w["w_ih"]).astype(xs.dtype)
    return d_w, d_xs, d_carry, None


def _sum_outer(a, b, policy):
    """``sum_t a_t^T b_t`` as one GEMM with operands in the compute dtype, accumulated in the state dtype: ``a: (T, B, K)``, ``b: (T, B, N)``
    -> ``(K, N)``.

    It is computed as ``(b^T a)^T``: XLA:CPU runs ``b^T a`` (gates on the output's fast axis) about
    1.3x faster, and the barrier keeps XLA from folding the small transpose back into the GEMM.
    """
    a = a.reshape(-1, a.shape[-1]).astype(policy.compute)
    b = b.reshape(-1, b.shape[-1]).astype(policy.compute)
    out = jax.lax.dot_general(b, a, (((0,), (0,)), ((), ())), preferred_element_type=policy.state)
    return jax.lax.optimization_barrier(out).T.astype(policy.compute)


_recurrence.defvjp(_forward, _backward)
