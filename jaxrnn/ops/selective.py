"""``jaxrnn.ops.selective_scan``: Mamba-1's selective scan (S6)."""

from __future__ import annotations

from jaxrnn._compile import compiled
from jaxrnn.cells.selective import SelectiveScanCell
from jaxrnn.ops import common, diagonal

# Measured on CPU (2 shared cores, jitted, B=4, T=2048, D=256, N=16): the scan of the step took
# 0.08 s forward and 1.35 s forward+backward, the associative scan 1.05 s and 3.1 s (it moves every
# (B, T, D, N) tensor through memory log-many times).
AUTO = "recurrent"


def selective_scan(x, dt, A, B, C, D=None, *, initial_state=None, seq_lengths=None, resets=None,
                   method: str = "auto"):
    """Mamba-1's S6: ``h_t = exp(dt_t A) h_{t-1} + (dt_t x_t) B_t``, ``y_t = h_t C_t + D x_t``.

    Per channel ``d`` and state entry ``n``: ``h_dn = exp(dt_d A_dn) h_dn + dt_d x_d B_n``,
    ``y_d = sum_n C_n h_dn + D_d x_d``; mambapy's ``selective_scan_seq`` (which the tests compare
    with) and the step of :class:`jaxrnn.cells.selective.SelectiveScanCell`.

    Args:
      x: ``(B, T, D)`` inputs.
      dt: ``(B, T, D)`` step sizes, already through the softplus.
      A: ``(D, N)`` (negative for a decaying state; Mamba's ``-exp(A_log)``).
      B: ``(B, T, N)`` input projections.
      C: ``(B, T, N)`` output projections.
      D: ``(D,)`` skip, or ``None`` (none).
      initial_state: ``(B, D, N)`` or ``None`` (zeros).
      seq_lengths: ``(B,)`` ints in ``[0, T]``: outputs 0 beyond, final state after each row's
        last valid step. Under ``jax.jit`` (traced) lengths are clamped to ``[0, T]``.
      resets: ``(B, T)`` bools: the state is zeroed before a marked step (packed sequences).
      method: ``"recurrent"`` (the specification: a scan of the step), ``"associative"`` (a
        parallel scan over time) or ``"auto"`` (the faster on CPU: ``"recurrent"``).

    Returns:
      ``(y: (B, T, D), final_state: (B, D, N))``; ``y`` in the inputs' dtype, the state in float32
      for 16-bit inputs.

    Examples:
      >>> x = dt = jnp.ones((1, 5, 3))
      >>> y, h = selective_scan(x, 0.1 * dt, -jnp.ones((3, 4)), jnp.ones((1, 5, 4)), jnp.ones((1, 5, 4)))
      >>> y.shape, h.shape
      ((1, 5, 3), (1, 3, 4))
    """
    x = common.tensor("x", x, 3)
    batch, steps, width = x.shape
    A = common.array("A", A, (width, None), "(D, N)")
    size = A.shape[1]
    dt = common.array("dt", dt, x.shape, "(B, T, D)")
    B = common.array("B", B, (batch, steps, size), "(B, T, N)")
    C = common.array("C", C, (batch, steps, size), "(B, T, N)")
    D = None if D is None else common.array("D", D, (width,), "(D,)")
    cell = SelectiveScanCell(width, size)
    call = common.prepare(cell, (x, dt, B, C, A, D), initial_state=initial_state, seq_lengths=seq_lengths,
                          resets=resets, method=method, methods=diagonal.METHODS, auto=AUTO)
    *xs, A, D = call.xs
    params = {"A": A} if D is None else {"A": A, "D": D}
    y, state = compiled(diagonal.run, params, tuple(xs), call.state, call.lengths, call.resets, cell=cell,
                               method=call.method)
    return y.astype(call.policy.compute), state
