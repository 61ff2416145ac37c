"""The gated delta rule step (Gated DeltaNet; DeltaNet when ``g = 0``), one example.

Per head, with a scalar log-decay ``g_t`` and a write strength ``beta_t``:
``S <- exp(g_t) S``; ``S <- S + k_t (beta_t (v_t - S^T k_t))^T``; ``o_t = scale * S^T q_t``
(flash-linear-attention's ``naive_recurrent_gated_delta_rule``). The write replaces the value read
at ``k_t`` by ``v_t`` in proportion ``beta_t``: with a unit-norm key and ``beta_t = 1`` the state
then reads ``v_t`` back at ``k_t`` exactly, whatever it held before.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from jaxrnn.cells.attention import AttentionStep


@dataclasses.dataclass(frozen=True)
class GatedDeltaCell(AttentionStep):
    """One step of the gated delta rule for all heads of one example (a cell of the protocol, no
    params).

    ``x = (q: (H, K), k: (H, K), v: (H, V), g: (H,), beta: (H,))``; carry ``S: (H, K, V)``;
    ``y = o: (H, V)``.

    Examples:
      >>> cell = GatedDeltaCell(num_heads=1, key_dim=2, value_dim=2, scale=1.0)
      >>> x = (jnp.array([[1.0, 0.0]]), jnp.array([[1.0, 0.0]]), jnp.array([[3.0, 4.0]]),
      ...      jnp.zeros(1), jnp.ones(1))
      >>> state, o = cell.apply({}, jnp.ones((1, 2, 2)), x)
      >>> state[0].tolist(), o[0].tolist()
      ([[3.0, 4.0], [1.0, 1.0]], [3.0, 4.0])
    """

    def apply(self, params, carry, x):
        """``S = exp(g) S``; ``S' = S + k (beta (v - S^T k))^T``; ``o = scale S'^T q`` (per head)."""
        q, k, v, g, beta = x
        state = jnp.exp(g)[..., None, None] * carry
        write = beta[..., None] * (v - jnp.einsum("...hk,...hkv->...hv", k, state))
        state = state + k[..., :, None] * write[..., None, :]
        return state, self.resolved_scale * jnp.einsum("...hk,...hkv->...hv", q, state)
