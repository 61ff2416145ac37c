"""Chunked (parallel inside chunks, recurrent across chunks) forms of the linear-attention recurrences
of :mod:`jaxrnn.ops`. Each equals the ``"recurrent"`` method (the cell's step under
:mod:`jaxrnn.driver.padding`'s rule) and is tested so.

Shapes: B batch, T time, H heads, K key dim, V value dim, C the chunk size, N = ceil(T / C) chunks.
Inputs arrive time-major per row as the ops give them: ``(B, T, H, D)`` tensors, ``(B, T, H)``
gates, ``valid, start: (B, T)`` flags or ``None`` (see :func:`jaxrnn.ops.common.flags`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxrnn.driver import padding


def _chunks(tree, steps: int, chunk: int):
    """Pads the time axis (1) of every leaf to a multiple of ``chunk`` with zeros (identity steps for
    a decay in log space, no writes) and splits it: ``(B, T, ...)`` -> ``(B, N, C, ...)``."""
    n = -(-steps // chunk)

    def split(a):
        a = jnp.pad(a, [(0, 0), (0, n * chunk - steps)] + [(0, 0)] * (a.ndim - 2))
        return a.reshape((a.shape[0], n, chunk) + a.shape[2:])

    return jax.tree.map(split, tree)


def _unchunk(a, steps: int):
    """``(B, N, C, ...)`` -> ``(B, T, ...)``, the padding dropped."""
    return a.reshape((a.shape[0], a.shape[1] * a.shape[2]) + a.shape[3:])[:, :steps]


def _decay(cum_i, cum_j, mask):
    """``exp(cum_i - cum_j)`` where ``mask``, else 0, never evaluating a masked exponent (so neither an
    overflow nor its gradient appears where the mask is False)."""
    return jnp.exp(jnp.where(mask, cum_i - cum_j, -jnp.inf))


def decayed_attention(q, k, v, g, state, valid, start, *, scale: float, chunk: int):
    """Simple GLA, chunked: ``S_t = exp(g_t) S_{t-1} + k_t v_t^T``, ``o_t = scale S_t^T q_t``.

    Inside a chunk the outputs are one masked attention product (``exp`` of log-decay differences
    within each reset segment); across chunks the state follows ``S_n = a_n S_{n-1} + U_n`` (a scan
    over N chunks of ``(H, K, V)`` states).

    Args:
      q, k: ``(B, T, H, K)``; v: ``(B, T, H, V)``; g: ``(B, T, H)`` log-decay (state dtype).
      state: ``(B, H, K, V)``, the state before step 0.
      valid, start: ``(B, T)`` bools or ``None``.

    Returns:
      ``(o: (B, T, H, V), final state: (B, H, K, V))``.
    """
    steps = q.shape[1]
    q, k, v, g = padding.zero_padding((q, k, v, g), valid)  # a padded step: no decay, no write
    start = jnp.zeros(q.shape[:2], bool) if start is None else start
    q, k, v, g, start = _chunks((q, k, v, g, start), steps, chunk)  # (B, N, C, ...)
    cum = jnp.cumsum(g, axis=2)  # (B, N, C, H): log-decay from the chunk's start through step c
    seg = jnp.cumsum(start, axis=2)  # (B, N, C): reset segment inside the chunk (0: the incoming state lives)
    causal = jnp.tril(jnp.ones((chunk, chunk), bool))
    same = (seg[..., :, None] == seg[..., None, :]) & causal  # (B, N, C, C): i reads j
    cum_h = jnp.moveaxis(cum, -1, 2)  # (B, N, H, C)
    decay = _decay(cum_h[..., :, None], cum_h[..., None, :], same[:, :, None])  # (B, N, H, C, C)
    attn = jnp.einsum("bnihk,bnjhk->bnhij", q, k) * decay
    o_intra = jnp.einsum("bnhij,bnjhv->bnihv", attn, v)
    lives = (seg == 0)[:, :, None, :]  # (B, N, 1, C): no reset yet, the incoming state reaches step i
    w_in = jnp.exp(jnp.where(lives, cum_h, -jnp.inf))  # (B, N, H, C)
    last = seg[..., -1:]  # (B, N, 1)
    w_out = _decay(cum_h[..., -1:], cum_h, (seg == last)[:, :, None, :])  # (B, N, H, C)
    writes = jnp.einsum("bnhj,bnjhk,bnjhv->bnhkv", w_out, k, v)  # U_n
    carry_on = jnp.exp(jnp.where(last == 0, cum_h[..., -1], -jnp.inf))  # a_n: (B, N, H)

    def across(s, inp):
        a, u = inp
        return a[..., None, None] * s + u, s

    final, s_in = jax.lax.scan(across, state, (jnp.moveaxis(carry_on, 1, 0), jnp.moveaxis(writes, 1, 0)))
    s_in = jnp.moveaxis(s_in, 0, 1)  # (B, N, H, K, V): the state entering each chunk
    o_inter = jnp.einsum("bnih,bnihk,bnhkv->bnihv", jnp.moveaxis(w_in, 2, 3), q, s_in)
    o = padding.outputs(valid, _unchunk(scale * (o_intra + o_inter), steps))
    return o, final
