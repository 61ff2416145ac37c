"""The gated delta rule, chunked: the WY (UT) transform inside a chunk, a scan of chunk states across.

Equals the ``"recurrent"`` method (:class:`jaxrnn.cells.delta.GatedDeltaCell`'s step under
:mod:`jaxrnn.driver.padding`'s rule) and is tested so. Shapes as in :mod:`jaxrnn.driver.chunked`:
B batch, T time, H heads, K key dim, V value dim, C the chunk size, N = ceil(T / C) chunks.

Inside a chunk (steps ``i, j`` in ``0..C-1``, ``G_i`` the log-decay summed from the chunk's start
through step ``i``, ``S`` the state entering the chunk), each step writes ``k_i u_i^T`` with the
pseudo-value ``u_i = beta_i (v_i - (decayed state before i)^T k_i)``, that is

    u_i + beta_i sum_{j<i} exp(G_i - G_j) (k_i . k_j) u_j = beta_i v_i - beta_i exp(G_i) S^T k_i,

a unit-lower-triangular system ``(I + A) U = diag(beta) V - diag(beta exp(G)) K S``. Its inverse
(by blocks, matmuls only) gives ``U = W_v - W_k S`` (``W_v``, ``W_k``: the inverse times the two
right-hand sides, independent of ``S``), then

    o_i = scale (exp(G_i) q_i^T S + sum_{j<=i} exp(G_i - G_j) (q_i . k_j) u_j),
    S' = exp(G_last) S + sum_j exp(G_last - G_j) k_j u_j^T.

A reset splits a chunk into segments: pairs in different segments do not interact, the incoming
state reaches the first segment only, and only the last segment writes the outgoing state. Every
exponent is masked before ``exp`` (:func:`jaxrnn.driver.chunked._decay`), so strong gates neither
overflow nor give NaN gradients. The scan over chunks is checkpointed: its backward keeps one
``(H, K, V)`` state per chunk and recomputes the chunk, never a state per step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxrnn.driver import padding
from jaxrnn.driver.chunked import _chunks, _decay, _unchunk


@jax.custom_vjp
def _unit_lower_inverse(a):
    """``(I + tril(a, -1))^{-1}`` for ``a: (..., n, n)``, by blocks: the two diagonal halves are
    inverted together (stacked, recursively: log2(n) levels of batched matmuls) and the lower-left
    block is ``-T22 A21 T11``. Matmuls only, so it runs at matmul speed (a triangular solve is
    several times slower on CPU). Its gradient is the inverse's own, ``dA = -tril(T^T dT T^T, -1)``:
    two products, where differentiating through the levels cost more than the rest of the op's
    backward pass (B=4, T=2048, H=4, C=64: 120 of 290 ms)."""
    n = a.shape[-1]
    size = 1 << (n - 1).bit_length()  # a power of two: the padding is the identity
    a = jnp.pad(jnp.tril(a, -1), [(0, 0)] * (a.ndim - 2) + [(0, size - n)] * 2)
    return _inverse_blocks(a)[..., :n, :n]


def _unit_lower_inverse_fwd(a):
    inverse = _unit_lower_inverse(a)
    return inverse, inverse


def _unit_lower_inverse_bwd(inverse, cotangent):
    transposed = jnp.swapaxes(inverse, -1, -2)
    return (-jnp.tril(transposed @ cotangent @ transposed, -1),)


_unit_lower_inverse.defvjp(_unit_lower_inverse_fwd, _unit_lower_inverse_bwd)


def _inverse_blocks(a):
    """:func:`_unit_lower_inverse` of a strictly lower ``a: (..., n, n)`` with ``n`` a power of two."""
    n = a.shape[-1]
    if n == 1:
        return jnp.ones_like(a)
    h = n // 2
    t11, t22 = _inverse_blocks(jnp.stack([a[..., :h, :h], a[..., h:, h:]]))
    t21 = -t22 @ (a[..., h:, :h] @ t11)
    top = jnp.concatenate([t11, jnp.zeros_like(t21)], axis=-1)
    return jnp.concatenate([top, jnp.concatenate([t21, t22], axis=-1)], axis=-2)


def _chunk_step(scale: float):
    """The step ``(S: (H, K, V), chunk) -> (S', o: (C, H, V))`` over one chunk of one row, with
    ``chunk = (q: (C, H, K), k: (C, H, K), v: (C, H, V), g: (C, H), beta: (C, H), start: (C,))``."""

    def step(state, chunk):
        q, k, v, g, beta, start = chunk
        steps = start.shape[0]
        cum = jnp.cumsum(g, axis=0).T  # (H, C): log-decay from the chunk's start through step i
        seg = jnp.cumsum(start)  # (C,): reset segment (0: the incoming state lives)
        same = (seg[:, None] == seg[None, :]) & jnp.tril(jnp.ones((steps, steps), bool))  # i reads j
        decay = _decay(cum[:, :, None], cum[:, None, :], same[None])  # (H, C, C)
        beta = beta.T  # (H, C)
        w_in = jnp.exp(jnp.where(seg == 0, cum, -jnp.inf))  # (H, C): the incoming state's decay at i
        lower = jnp.tril(beta[..., None] * jnp.einsum("ihk,jhk->hij", k, k) * decay, -1)  # A
        rhs = jnp.concatenate([beta[..., None] * jnp.moveaxis(v, 0, 1),
                               (beta * w_in)[..., None] * jnp.moveaxis(k, 0, 1)], axis=-1)
        solved = _unit_lower_inverse(lower) @ rhs
        w_v, w_k = solved[..., :v.shape[-1]], solved[..., v.shape[-1]:]  # (H, C, V), (H, C, K)
        u = w_v - w_k @ state  # (H, C, V): the pseudo-values
        attn = jnp.einsum("ihk,jhk->hij", q, k) * decay
        o = scale * (jnp.einsum("hi,ihk,hkv->ihv", w_in, q, state) + jnp.einsum("hij,hjv->ihv", attn, u))
        w_out = _decay(cum[:, -1:], cum, (seg == seg[-1])[None])  # (H, C): step j's write at the end
        carry_on = jnp.exp(jnp.where(seg[-1] == 0, cum[:, -1], -jnp.inf))  # (H,)
        state = carry_on[:, None, None] * state + jnp.einsum("hj,jhk,hjv->hkv", w_out, k, u)
        return state, o

    return step


def wy_delta_rule(q, k, v, g, beta, state, valid, start, *, scale: float, chunk: int):
    """The gated delta rule, chunked: ``S = exp(g_t) S``; ``S += k_t (beta_t (v_t - S^T k_t))^T``;
    ``o_t = scale S^T q_t``.

    Args:
      q, k: ``(B, T, H, K)``; v: ``(B, T, H, V)``; g, beta: ``(B, T, H)`` (state dtype).
      state: ``(B, H, K, V)``, the state before step 0.
      valid, start: ``(B, T)`` bools or ``None``.

    Returns:
      ``(o: (B, T, H, V), final state: (B, H, K, V))``.
    """
    steps = q.shape[1]
    if steps == 0:  # no chunk to read
        return jnp.zeros(q.shape[:3] + v.shape[3:], q.dtype), state
    flags = (jnp.ones(q.shape[:2], bool) if valid is None else valid,
             jnp.zeros(q.shape[:2], bool) if start is None else start)
    xs = _chunks((q, k, v, g, beta) + flags, steps, chunk)  # (B, N, C, ...); the time padding is invalid
    step = jax.vmap(_chunk_step(scale))

    def body(state, n):  # chunk n, read in place: the scan copies no input
        *inputs, ok, begins = (jax.lax.dynamic_index_in_dim(a, n, axis=1, keepdims=False) for a in xs)
        return step(state, padding.zero_padding(tuple(inputs), ok) + (begins,))  # beta = g = 0: S kept

    final, o = jax.lax.scan(jax.checkpoint(body), state, jnp.arange(xs[0].shape[1]))
    return padding.outputs(valid, _unchunk(jnp.moveaxis(o, 0, 1), steps)), final
