"""xLSTM's stabilised mLSTM step (matrix memory, exponential input gate), one example.

Per head, with the input and forget gate pre-activations ``i_t, f_t`` (scalars) and the stabiliser
``m`` (the log of the scale the state is stored at)::

    m_t = max(logsigmoid(f_t) + m_{t-1}, i_t)
    C_t = exp(logsigmoid(f_t) + m_{t-1} - m_t) C_{t-1} + exp(i_t - m_t) k_t v_t^T
    n_t = exp(logsigmoid(f_t) + m_{t-1} - m_t) n_{t-1} + exp(i_t - m_t) k_t
    h_t = (scale q_t)^T C_t / (max(|(scale q_t)^T n_t|, exp(-m_t)) + eps)

exactly mlstm_kernels' ``mlstm_recurrent_step__native_fw`` (whose scale is ``1 / sqrt(K)``). The
pieces below (:func:`log_forget`, :func:`gates`, :func:`update`, :func:`readout`) are the one
definition of this math: the chunked form (:mod:`jaxrnn.driver.chunked_mlstm`) calls them too.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from jaxrnn.cells.attention import AttentionStep


def log_forget(f):
    """The forget gate in log space: ``logsigmoid(f)`` (``<= 0``; finite for any finite ``f``).

    Examples:
      >>> float(log_forget(jnp.array(0.0)))  # log(1/2)
      -0.6931...
    """
    return jax.nn.log_sigmoid(f)


def gates(log_f, log_i, m):
    """The stabilised gates of a step: ``(keep, write, m')`` with ``m' = max(log_f + m, log_i)``,
    ``keep = exp(log_f + m - m')`` (on the old state) and ``write = exp(log_i - m')`` (on the new
    write); both lie in ``[0, 1]``, so neither overflows. ``log_i = -inf`` writes nothing.

    Examples:
      >>> keep, write, m = gates(jnp.array(-1.0), jnp.array(2.0), jnp.array(0.0))
      >>> round(float(keep), 4), float(write), float(m)
      (0.0498, 1.0, 2.0)
    """
    m_new = jnp.maximum(log_f + m, log_i)
    return jnp.exp(log_f + m - m_new), jnp.exp(log_i - m_new), m_new


def update(state, log_f, log_i, kv, k):
    """The state after a step: ``C' = keep C + write kv``, ``n' = keep n + write k`` with
    :func:`gates`' ``(keep, write, m')``.

    Args:
      state: ``(C: (..., K, V), n: (..., K), m: (...))``.
      log_f: ``(...)`` log forget gate; log_i: ``(...)`` log input gate.
      kv: ``(..., K, V)`` the write (``k v^T``); k: ``(..., K)`` the normaliser's write.

    Returns:
      ``(C', n', m')``.
    """
    c, n, m = state
    keep, write, m = gates(log_f, log_i, m)
    return keep[..., None, None] * c + write[..., None, None] * kv, keep[..., None] * n + write[..., None] * k, m


def readout(num, den, m, eps):
    """The normalised output ``num / (max(|den|, exp(-m)) + eps)``.

    Args:
      num: ``(..., V)`` the read ``(scale q)^T C``; den: ``(...)`` the normaliser ``(scale q)^T n``;
      m: ``(...)`` the stabiliser the state is stored at; eps: a float.

    Examples:
      >>> readout(jnp.array([3.0, 6.0]), jnp.array(-2.0), jnp.array(0.0), 1.0).tolist()
      [1.0, 2.0]
    """
    return num / (jnp.maximum(jnp.abs(den), jnp.exp(-m)) + eps)[..., None]


@dataclasses.dataclass(frozen=True)
class MLSTMStepCell(AttentionStep):
    """One mLSTM step for all heads of one example (a cell of the protocol, no params).

    ``x = (q: (H, K), k: (H, K), v: (H, V), i: (H,), f: (H,))`` (``i``, ``f``: gate
    pre-activations); carry ``(C: (H, K, V), n: (H, K), m: (H,))``; ``y = h: (H, V)``.
    ``scale=None`` is ``1 / sqrt(K)``.

    Examples:
      >>> cell = MLSTMStepCell(num_heads=1, key_dim=2, value_dim=2, scale=1.0, eps=0.0)
      >>> x = (jnp.array([[1.0, 0.0]]), jnp.array([[1.0, 0.0]]), jnp.array([[3.0, 4.0]]),
      ...      jnp.zeros(1), jnp.zeros(1))
      >>> (c, n, m), h = cell.apply({}, cell.initial_carry(), x)
      >>> h[0].tolist(), n[0].tolist(), m.tolist()
      ([3.0, 4.0], [1.0, 0.0], [0.0])
    """

    eps: float = 1e-6

    def __post_init__(self):
        super().__post_init__()
        if isinstance(self.eps, bool) or not isinstance(self.eps, (int, float)):
            raise TypeError(f"eps must be a float, got {type(self.eps).__name__} {self.eps!r}")
        if not self.eps >= 0:
            raise ValueError(f"eps must be >= 0, got {self.eps}")
        object.__setattr__(self, "eps", float(self.eps))

    @property
    def hidden_size(self) -> int:
        return self.num_heads * (self.key_dim * self.value_dim + self.key_dim + 1)

    def initial_carry(self, dtype=jnp.float32):
        """Zeros ``(C: (H, K, V), n: (H, K), m: (H,))``."""
        h, k, v = self.num_heads, self.key_dim, self.value_dim
        return jnp.zeros((h, k, v), dtype), jnp.zeros((h, k), dtype), jnp.zeros((h,), dtype)

    def apply(self, params, carry, x):
        """:func:`update` with ``log_f = logsigmoid(f)``, ``log_i = i``, the write ``k v^T``; then
        :func:`readout` of ``scale q`` against the new state."""
        q, k, v, i, f = x
        state = update(carry, log_forget(f), i, k[..., :, None] * v[..., None, :], k)
        c, n, m = state
        q = self.resolved_scale * q
        return state, readout(jnp.einsum("...hk,...hkv->...hv", q, c), jnp.einsum("...hk,...hk->...h", q, n),
                              m, self.eps)
