"""The mLSTM, chunked (parallel inside chunks, recurrent across chunks), equal to the ``"recurrent"``
method (:class:`jaxrnn.cells.mlstm.MLSTMStepCell`'s step under :mod:`jaxrnn.driver.padding`'s rule)
and tested so, the stabiliser included.

Unrolled, the step gives at step ``t`` of a chunk (``b_t``: the cumulative log forget gate from the
state the step reads from, ``(C0, n0, m0)``: that state)::

    m_t = max(b_t + m0, max_{j <= t} (b_t - b_j + i_j))
    C_t = exp(b_t + m0 - m_t) C0 + sum_{j <= t} exp(b_t - b_j + i_j - m_t) k_j v_j^T

and ``n_t`` likewise, so the outputs of a chunk are one masked attention product with weights
``exp(log weight - m_t)`` (each in ``[0, 1]``) plus the read of the state entering the chunk. Across
chunks, the state at a chunk's end is :func:`jaxrnn.cells.mlstm.update` with the chunk's total log
forget gate, the largest log weight of its writes and the writes summed at that scale: a scan over
N chunks of the step itself. A reset starts a segment from the zero state (whose ``m`` is 0 and
still takes part in the maximum); a padded step keeps the state (``log f = 0``, no write).

Shapes: B batch, T time, H heads, K key dim, V value dim, C the chunk size, N = ceil(T / C) chunks.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxrnn.cells.mlstm import gates, log_forget, readout, update
from jaxrnn.driver import padding
from jaxrnn.driver.chunked import _chunks, _unchunk


def stabilised_attention(q, k, v, i, f, state, valid, start, *, scale: float, eps: float, chunk: int):
    """The mLSTM, chunked; see the module docstring.

    Args:
      q, k: ``(B, T, H, K)``; v: ``(B, T, H, V)``; i, f: ``(B, T, H)`` gate pre-activations (state
        dtype).
      state: ``(C: (B, H, K, V), n: (B, H, K), m: (B, H))``, the state before step 0.
      valid, start: ``(B, T)`` bools or ``None`` (see :func:`jaxrnn.ops.common.flags`).

    Returns:
      ``(h: (B, T, H, V), final state)``, the state exactly the recurrent method's ``(C, n, m)``.
    """
    steps = q.shape[1]
    q, k, v, i, f = padding.zero_padding((q, k, v, i, f), valid)
    valid = jnp.ones(q.shape[:2], bool) if valid is None else valid
    start = jnp.zeros(q.shape[:2], bool) if start is None else start
    log_f = jnp.where(valid[..., None], log_forget(f), 0.0)  # a padded step keeps the state: no decay
    q, k, v, i, log_f, valid, start = _chunks((q, k, v, i, log_f, valid, start), steps, chunk)
    log_f, i = jnp.moveaxis(log_f, -1, 2), jnp.moveaxis(i, -1, 2)  # (B, N, H, C)
    cum = jnp.cumsum(log_f, axis=-1)  # b: log forget from the chunk's start through step c
    seg = jnp.cumsum(start, axis=2)  # (B, N, C): reset segment inside the chunk (0: the incoming state lives)
    same = (seg[..., :, None] == seg[..., None, :]) & jnp.tril(jnp.ones((chunk, chunk), bool))
    writes = (same & valid[..., None, :])[:, :, None]  # (B, N, 1, C, C): step t reads the write of step j
    log_w = jnp.where(writes, cum[..., :, None] - cum[..., None, :] + i[..., None, :], -jnp.inf)  # (B, N, H, C, C)
    local = jnp.einsum("bnij,bnhj->bnhi", same.astype(log_f.dtype), log_f)  # log forget since the segment began
    fresh = (seg > 0)[:, :, None, :]  # (B, N, 1, C): the segment began inside the chunk, from the zero state

    # across chunks: the step itself, with the chunk's last segment as one write at scale top
    top = jnp.max(log_w[..., -1, :], axis=-1)  # (B, N, H): -inf only for a chunk of padding
    w_end = jnp.exp(log_w[..., -1, :] - jnp.where(jnp.isfinite(top), top, 0.0)[..., None])  # (B, N, H, C)
    kv = jnp.einsum("bnhj,bnjhk,bnjhv->bnhkv", w_end, k, v)
    kk = jnp.einsum("bnhj,bnjhk->bnhk", w_end, k)
    zeros = jax.tree.map(jnp.zeros_like, state)

    def across(s, inp):
        restart, log_f, log_i, kv, k = inp
        return update(padding.restart(restart, zeros, s), log_f, log_i, kv, k), s

    per_chunk = (fresh[:, :, 0, -1], local[..., -1], top, kv, kk)
    final, (c_in, n_in, m_in) = jax.lax.scan(across, state, jax.tree.map(lambda a: jnp.moveaxis(a, 1, 0), per_chunk))
    c_in, n_in, m_in = (jnp.moveaxis(a, 0, 1) for a in (c_in, n_in, m_in))  # the state entering each chunk

    # inside chunks: step t reads the incoming state (zeros after a reset) and the writes before it
    m0 = jnp.where(fresh, 0.0, m_in[..., None])  # (B, N, H, C)
    keep, _, m = gates(local, jnp.max(log_w, axis=-1), m0)
    keep = jnp.where(fresh, 0.0, keep)  # the zero state reads nothing
    qs = jnp.moveaxis(scale * q, 3, 2)  # (B, N, H, C, K)
    attn = jnp.einsum("bnhik,bnjhk->bnhij", qs, k) * jnp.exp(log_w - m[..., None])
    num = jnp.einsum("bnhij,bnjhv->bnhiv", attn, v) + keep[..., None] * jnp.einsum("bnhik,bnhkv->bnhiv", qs, c_in)
    den = jnp.sum(attn, axis=-1) + keep * jnp.einsum("bnhik,bnhk->bnhi", qs, n_in)
    h = jnp.moveaxis(readout(num, den, m, eps), 2, 3)  # (B, N, C, H, V)
    return padding.outputs(_unchunk(valid, steps), _unchunk(h, steps)), final
