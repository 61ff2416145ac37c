"""``jaxrnn.ops.mlstm``: xLSTM's stabilised mLSTM (matrix memory, exponential input gate).

(The module is not named ``mlstm``: a submodule of that name would hide the function on
``jaxrnn.ops``.)
"""

from __future__ import annotations

from jaxrnn._compile import compiled
from jaxrnn.cells.mlstm import MLSTMStepCell
from jaxrnn.driver.chunked_mlstm import stabilised_attention
from jaxrnn.ops import common

METHODS = ("recurrent", "chunked")


def mlstm(q, k, v, i, f, *, eps=1e-6, scale=None, initial_state=None, seq_lengths=None, resets=None,
          method: str = "auto", chunk_size: int = 64):
    """The stabilised mLSTM, per head (:class:`jaxrnn.cells.mlstm.MLSTMStepCell`'s step):

        m_t = max(logsigmoid(f_t) + m_{t-1}, i_t)
        C_t = exp(logsigmoid(f_t) + m_{t-1} - m_t) C_{t-1} + exp(i_t - m_t) k_t v_t^T
        n_t = exp(logsigmoid(f_t) + m_{t-1} - m_t) n_{t-1} + exp(i_t - m_t) k_t
        h_t = (scale q_t)^T C_t / (max(|(scale q_t)^T n_t|, exp(-m_t)) + eps)

    mlstm_kernels' ``mlstm_recurrent_sequence__native_fw`` (the reference the tests compare with).
    ``C`` and ``n`` are stored at the scale ``exp(-m)``; every method returns the same ``(C, n, m)``.

    Args:
      q: ``(B, T, H, K)`` queries.
      k: ``(B, T, H, K)`` keys.
      v: ``(B, T, H, V)`` values.
      i: ``(B, T, H)`` input gate pre-activations.
      f: ``(B, T, H)`` forget gate pre-activations.
      eps: added to the normaliser's denominator.
      scale: multiplies ``q``; ``None`` is ``1 / sqrt(K)``.
      initial_state: ``(C: (B, H, K, V), n: (B, H, K), m: (B, H))`` or ``None`` (zeros).
      seq_lengths: ``(B,)`` ints in ``[0, T]``: outputs 0 beyond, final state after each row's
        last valid step. Under ``jax.jit`` (traced) lengths are clamped to ``[0, T]``.
      resets: ``(B, T)`` bools: the state (``m`` included) is zeroed before a marked step.
      method: ``"recurrent"`` (the specification: a scan of the step), ``"chunked"`` (parallel
        inside chunks of ``chunk_size`` steps, the stabiliser carried across) or ``"auto"``
        (``"chunked"``).
      chunk_size: C for ``"chunked"``.

    Returns:
      ``(h: (B, T, H, V), (C, n, m))``; ``h`` in the inputs' dtype, the state in float32 for 16-bit
      inputs.

    Examples:
      >>> q = k = jnp.ones((1, 5, 2, 4))
      >>> h, (c, n, m) = mlstm(q, k, jnp.ones((1, 5, 2, 3)), jnp.zeros((1, 5, 2)), jnp.ones((1, 5, 2)))
      >>> h.shape, c.shape, n.shape, m.shape
      ((1, 5, 2, 3), (1, 2, 4, 3), (1, 2, 4), (1, 2))
    """
    q, k, v = common.attention_inputs(q, k, v)
    i = common.tensor("i", i, 3, q)
    f = common.tensor("f", f, 3, q)
    cell = MLSTMStepCell(q.shape[2], q.shape[3], v.shape[3], scale=scale, eps=eps)
    call = common.prepare(cell, (q, k, v, i, f), initial_state=initial_state, seq_lengths=seq_lengths,
                          resets=resets, method=method, methods=METHODS, auto="chunked", chunk_size=chunk_size)
    h, state = compiled(common.attention, call.xs, call.state, call.lengths, call.resets, cell=cell,
                               method=call.method, chunked=stabilised_attention, scale=cell.scale, eps=cell.eps,
                               chunk=chunk_size)
    return h.astype(call.policy.compute), state
