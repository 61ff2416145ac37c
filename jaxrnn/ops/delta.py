"""``jaxrnn.ops.gated_delta_rule``: the gated delta rule (Gated DeltaNet; DeltaNet without a gate)."""

from __future__ import annotations

import jax.numpy as jnp

from jaxrnn._compile import compiled
from jaxrnn.cells.delta import GatedDeltaCell
from jaxrnn.driver.chunked_delta import wy_delta_rule
from jaxrnn.ops import common

METHODS = ("recurrent", "chunked")


def gated_delta_rule(q, k, v, g, beta, *, scale=None, initial_state=None, seq_lengths=None, resets=None,
                     method: str = "auto", chunk_size: int = 64):
    """The gated delta rule: ``S = exp(g_t) S``; ``S += k_t (beta_t (v_t - S^T k_t))^T``;
    ``o_t = scale S^T q_t`` per head.

    flash-linear-attention's ``gated_delta_rule`` (its ``naive_recurrent_gated_delta_rule`` is the
    reference the tests compare with); ``g = None`` is DeltaNet. Gated DeltaNet L2-normalises q and
    k and takes ``beta = sigmoid(...)``: with a unit-norm key and ``beta = 1`` a write reads back
    its value exactly.

    Args:
      q: ``(B, T, H, K)`` queries.
      k: ``(B, T, H, K)`` keys.
      v: ``(B, T, H, V)`` values.
      g: ``(B, T, H)`` log-decay (``<= 0`` for a decaying state), or ``None`` (DeltaNet: no decay).
      beta: ``(B, T, H)`` write strength (in ``(0, 1)`` after a sigmoid; up to 2 stays stable).
      scale: multiplies ``q``; ``None`` is ``1 / sqrt(K)``.
      initial_state: ``(B, H, K, V)`` or ``None`` (zeros).
      seq_lengths: ``(B,)`` ints in ``[0, T]``: outputs 0 beyond, final state after each row's
        last valid step. Under ``jax.jit`` (traced) lengths are clamped to ``[0, T]``.
      resets: ``(B, T)`` bools: the state is zeroed before a marked step (packed sequences).
      method: ``"recurrent"`` (the specification: a scan of the step), ``"chunked"`` (the WY
        transform inside chunks of ``chunk_size`` steps, a scan of chunk states across) or
        ``"auto"`` (``"chunked"``).
      chunk_size: C for ``"chunked"``.

    Returns:
      ``(o: (B, T, H, V), final_state: (B, H, K, V))``; ``o`` in the inputs' dtype, the state in
      float32 for 16-bit inputs.

    Examples:
      >>> q = k = jnp.full((1, 5, 2, 4), 0.5)  # unit-norm keys
      >>> v = jnp.ones((1, 5, 2, 3))
      >>> o, s = gated_delta_rule(q, k, v, jnp.full((1, 5, 2), -0.1), jnp.full((1, 5, 2), 0.5))
      >>> o.shape, s.shape
      ((1, 5, 2, 3), (1, 2, 4, 3))
    """
    q, k, v = common.attention_inputs(q, k, v)
    g = jnp.zeros(q.shape[:3], q.dtype) if g is None else common.tensor("g", g, 3, q)
    beta = common.tensor("beta", beta, 3, q)
    cell = GatedDeltaCell(q.shape[2], q.shape[3], v.shape[3], scale=scale)
    call = common.prepare(cell, (q, k, v, g, beta), initial_state=initial_state, seq_lengths=seq_lengths,
                          resets=resets, method=method, methods=METHODS, auto="chunked", chunk_size=chunk_size)
    o, state = compiled(common.attention, call.xs, call.state, call.lengths, call.resets, cell=cell,
                               method=call.method, chunked=wy_delta_rule, scale=cell.scale, chunk=chunk_size)
    return o.astype(call.policy.compute), state
