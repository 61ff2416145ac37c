"""``jaxrnn.ops.simple_gla``: simple gated linear attention (Mamba-2's SSD, RetNet)."""

from __future__ import annotations

import jax.numpy as jnp

from jaxrnn._compile import compiled
from jaxrnn.cells.gla import SimpleGLACell
from jaxrnn.driver.chunked import decayed_attention
from jaxrnn.ops import common

METHODS = ("recurrent", "chunked")


def simple_gla(q, k, v, g, *, scale=None, initial_state=None, seq_lengths=None, resets=None,
               method: str = "auto", chunk_size: int = 64):
    """Simple GLA: ``S_t = exp(g_t) S_{t-1} + k_t v_t^T``, ``o_t = scale S_t^T q_t`` per head.

    flash-linear-attention's ``simple_gla`` (its ``naive_recurrent_simple_gla`` is the reference the
    tests compare with). Mamba-2's SSD is ``q = C``, ``k = B``, ``v = dt * x``, ``g = dt * A``,
    ``scale = 1``; RetNet is a constant ``g``.

    Args:
      q: ``(B, T, H, K)`` queries.
      k: ``(B, T, H, K)`` keys.
      v: ``(B, T, H, V)`` values.
      g: ``(B, T, H)`` log-decay (``<= 0`` for a decaying state), or ``None`` (no decay).
      scale: multiplies ``q``; ``None`` is ``1 / sqrt(K)``.
      initial_state: ``(B, H, K, V)`` or ``None`` (zeros).
      seq_lengths: ``(B,)`` ints in ``[0, T]``: outputs 0 beyond, final state after each row's
        last valid step. Under ``jax.jit`` (traced) lengths are clamped to ``[0, T]``.
      resets: ``(B, T)`` bools: the state is zeroed before a marked step (packed sequences).
      method: ``"recurrent"`` (the specification: a scan of the step), ``"chunked"`` (parallel
        inside chunks of ``chunk_size`` steps) or ``"auto"`` (``"chunked"``).
      chunk_size: C for ``"chunked"``.

    Returns:
      ``(o: (B, T, H, V), final_state: (B, H, K, V))``; ``o`` in the inputs' dtype, the state in
      float32 for 16-bit inputs.

    Examples:
      >>> q = k = jnp.ones((1, 5, 2, 4))
      >>> o, s = simple_gla(q, k, jnp.ones((1, 5, 2, 3)), jnp.full((1, 5, 2), -0.1))
      >>> o.shape, s.shape
      ((1, 5, 2, 3), (1, 2, 4, 3))
    """
    q, k, v = common.attention_inputs(q, k, v)
    g = jnp.zeros(q.shape[:3], q.dtype) if g is None else common.tensor("g", g, 3, q)
    cell = SimpleGLACell(q.shape[2], q.shape[3], v.shape[3], scale=scale)
    call = common.prepare(cell, (q, k, v, g), initial_state=initial_state, seq_lengths=seq_lengths, resets=resets,
                          method=method, methods=METHODS, auto="chunked", chunk_size=chunk_size)
    o, state = compiled(common.attention, call.xs, call.state, call.lengths, call.resets, cell=cell,
                               method=call.method, chunked=decayed_attention, scale=cell.scale, chunk=chunk_size)
    return o.astype(call.policy.compute), state
