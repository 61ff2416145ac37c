"""xLSTM's sLSTM cell (Beck et al. 2024): a scalar-memory LSTM with an exponential input gate, a
stabiliser state and a normaliser state, and a block-diagonal (per-head) recurrent matrix.

It is a cell of the protocol with the pieces every engine calls (:mod:`jaxrnn.cells.classic`), so
``jaxrnn.scan`` (sequential and Newton), the combinators and the ``xla`` engine run it. The step is
the xlstm package's vanilla ``slstm_forward_pointwise`` (the tests compare with it).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from jaxrnn import _checks
from jaxrnn.cells.classic import _GatedCell


class SLSTMState(NamedTuple):
    """The sLSTM carry, each ``(..., H)``.

    Attributes:
      h: the output (hidden state).
      c: the cell state.
      n: the normaliser state.
      m: the stabiliser (a log-scale running maximum of the gates).
    """

    h: jax.Array
    c: jax.Array
    n: jax.Array
    m: jax.Array


@dataclasses.dataclass(frozen=True)
class SLSTMCell(_GatedCell):
    """sLSTM with ``num_heads`` heads of ``hidden_size / num_heads`` units each.

    ``i, f, z, o = W_ih x + b_ih + R h`` (gate blocks in that order, each ``(H,)``; ``R`` block-diagonal:
    head ``j`` of each gate reads head ``j`` of ``h`` only);
    ``m' = max(i, m + log sigmoid(f))`` (``m' = i`` from a zero normaliser);
    ``i' = exp(i - m')``, ``f' = exp(m + log sigmoid(f) - m')`` (both <= 1);
    ``c' = f' c + i' tanh(z)``, ``n' = f' n + i'``, ``h' = sigmoid(o) c' / n'``; ``y = h'``.

    Args:
      hidden_size: H, divisible by ``num_heads``.
      num_heads: the number of diagonal blocks of the recurrent matrix.
      bias: whether the cell has a bias (one, ``b_ih``, as xlstm's).
      compute_dtype: as for :class:`jaxrnn.ElmanCell`.

    Params: ``w_ih: (4H, I)``, ``w_hh: (num_heads, 4 * H / num_heads, H / num_heads)`` (head ``j``'s
    block, gate-major rows as in xlstm's ``R``), ``b_ih: (4H,)``. Carry: :class:`SLSTMState`.

    Examples:
      >>> cell = SLSTMCell(hidden_size=8, num_heads=2)
      >>> params = cell.init(jax.random.key(0), input_size=5)
      >>> ys, state = jaxrnn.scan(cell, params, jnp.ones((10, 5)))
      >>> ys.shape, state.m.shape
      ((10, 8), (8,))
    """

    hidden_size: int
    num_heads: int = 1
    bias: bool = True
    compute_dtype: Any = None

    gates: ClassVar[int] = 4
    additive: ClassVar[bool] = True
    double_bias: ClassVar[bool] = False

    def __post_init__(self):
        self._validate()
        _checks.positive_int("num_heads", self.num_heads)
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be divisible by num_heads, got "
                             f"num_heads={self.num_heads}")

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_heads

    def param_spec(self, input_size: int) -> dict:
        spec = super().param_spec(input_size)
        spec["w_hh"] = ((self.num_heads, 4 * self.head_size, self.head_size), "recurrent")
        return spec

    def initial_carry(self, dtype=jnp.float32) -> SLSTMState:
        """Zeros ``(H,)`` for each of ``h, c, n, m``."""
        zeros = super().initial_carry(dtype)
        return SLSTMState(zeros, zeros, zeros, zeros)

    def recurrent_input(self, carry: SLSTMState):
        return carry.h

    def _fold(self, p: dict) -> dict:
        """The one bias enters with the inputs; ``w_hh`` becomes the dense block-diagonal ``(4H, H)``
        matrix (its gradient reaches the blocks only)."""
        blocks = p["w_hh"].reshape(self.num_heads, 4, self.head_size, self.head_size)  # [head, gate, out, in]
        dense = jnp.einsum("jgac,jk->gjakc", blocks, jnp.eye(self.num_heads, dtype=blocks.dtype))
        return {"w_ih": p["w_ih"], "b_in": p.get("b_ih"), "w_hh": dense.reshape(4 * self.hidden_size, self.hidden_size),
                "b_rec": None}

    def pointwise(self, w: dict, gi: tuple, gh: tuple, carry: SLSTMState) -> tuple[SLSTMState, jax.Array]:
        """The gates and the stabilised update (see the class docstring)."""
        i, f, z, o = (a + b for a, b in zip(gi, gh))
        log_f = carry.m + jax.nn.log_sigmoid(f)
        fresh = jnp.all(carry.n == 0.0, axis=-1, keepdims=True)
        m = jnp.where(fresh, i, jnp.maximum(i, log_f))
        i_gate = jnp.minimum(jnp.exp(i - m), 1.0)
        f_gate = jnp.minimum(jnp.exp(log_f - m), 1.0)
        c = f_gate * carry.c + i_gate * jnp.tanh(z)
        n = f_gate * carry.n + i_gate
        h = jax.nn.sigmoid(o) * c / n
        return SLSTMState(h, c, n, m), h
