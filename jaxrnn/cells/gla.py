"""The simple gated linear attention step (Mamba-2's SSD, RetNet with a constant gate), one example.

``S_t = exp(g_t) S_{t-1} + k_t v_t^T``, ``o_t = scale * S_t^T q_t`` per head, with a scalar log-decay
``g_t`` per head (flash-linear-attention's ``naive_recurrent_simple_gla``). Mamba-2's SSD is this
with ``q = C``, ``k = B``, ``v = dt * x``, ``g = dt * A`` and ``scale = 1``.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from jaxrnn.cells.attention import AttentionStep


@dataclasses.dataclass(frozen=True)
class SimpleGLACell(AttentionStep):
    """One step of simple GLA for all heads of one example (a cell of the protocol, no params).

    ``x = (q: (H, K), k: (H, K), v: (H, V), g: (H,))``; carry ``S: (H, K, V)``; ``y = o: (H, V)``.

    Examples:
      >>> cell = SimpleGLACell(num_heads=2, key_dim=3, value_dim=4, scale=1.0)
      >>> x = (jnp.ones((2, 3)), jnp.ones((2, 3)), jnp.ones((2, 4)), jnp.zeros(2))
      >>> state, o = cell.apply({}, cell.initial_carry(), x)
      >>> state.shape, o[0].tolist()
      ((2, 3, 4), [3.0, 3.0, 3.0, 3.0])
    """

    def apply(self, params, carry, x):
        """``S' = exp(g) S + k v^T``; ``o = scale S'^T q`` (per head)."""
        q, k, v, g = x
        state = jnp.exp(g)[..., None, None] * carry + k[..., :, None] * v[..., None, :]
        return state, self.resolved_scale * jnp.einsum("...hk,...hkv->...hv", q, state)
