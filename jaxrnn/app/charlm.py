"""A character language model: embedding -> ``jaxrnn.RNN/LSTM/GRU`` -> linear head, and what every
character model of the command shares (:class:`LanguageModel`: ids in, logits out, the loss, one
step; sampling, bits per character).

Shapes: ``tokens: (B, T)`` ints in ``[0, V)`` (others refused), ``logits: (B, T, V)``; the recurrent state is the
layer's torch-shaped ``h_n: (L, B, H)`` (LSTM ``(h_n, c_n)``). The block models are
:class:`jaxrnn.app.blocklm.BlockLM`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp

import jaxrnn
from jaxrnn import _checks, layers
from jaxrnn.app.config import CLASSIC_CELLS
from jaxrnn.combinators import check_dropout
from jaxrnn.train import cross_entropy

BITS = 1 / math.log(2)  # nats -> bits
LAYERS = {cell: getattr(layers, cell.upper()) for cell in CLASSIC_CELLS}  # "lstm": jaxrnn.LSTM, ...


class LanguageModel:
    """What the character models share: params ``{"embed": (V, E), "rnn": ..., "head": {"w": (V, H),
    "b": (V,)}}``, ids embedded, hidden states read out by a linear head, the loss and one step.

    A subclass has ``vocab_size`` and defines ``rnn`` (its recurrent part, with ``step(params, x_t,
    state) -> (h_t, state)``), ``init``, ``apply(params, tokens, state=None, *, key=None,
    deterministic=False) -> (logits, state)``, ``initial_state(batch_size)`` (a pytree whose batch
    axis is 1, as :func:`jaxrnn.train.make_bptt_step` carries it) and ``summary``.
    """

    vocab_size: int

    @property
    def rnn(self) -> Any:
        """The recurrent part."""
        raise NotImplementedError

    def init(self, key) -> dict:
        """The params, initialised from ``key``."""
        raise NotImplementedError

    def apply(self, params, tokens, state=None, *, key=None, deterministic: bool = False):
        """``tokens: (B, T)`` -> ``(logits: (B, T, V), state)``."""
        raise NotImplementedError

    def initial_state(self, batch_size: int) -> Any:
        """Zeros shaped like the state :meth:`apply` returns for ``batch_size`` rows."""
        raise NotImplementedError

    def summary(self, params, batch_size: int, seq_len: int) -> str:
        """The parameter table (``jaxrnn summary``), output shapes for ``(batch_size, seq_len)`` tokens."""
        raise NotImplementedError

    def embed(self, params, tokens):
        """``tokens: (...)`` ids in ``[0, V)`` -> ``(..., E)``. Ids outside ``[0, V)`` raise
        ``ValueError`` when concrete; traced ones (under jit) give NaN rows, never another row.
        """
        ids("tokens", tokens, self.vocab_size)
        inside = (tokens >= 0) & (tokens < self.vocab_size)
        return jnp.take(params["embed"], jnp.where(inside, tokens, self.vocab_size), axis=0,
                        mode="fill", fill_value=jnp.nan)

    def head(self, params, h):
        """``h: (..., H)`` -> logits ``(..., V)``."""
        return h @ params["head"]["w"].T + params["head"]["b"]

    def step(self, params, tokens, state):
        """One step of every row: ``tokens: (B,)`` -> ``(logits: (B, V), state)``, through the
        recurrent part's ``step`` (equal to :meth:`apply` one step at a time)."""
        h, state = self.rnn.step(params["rnn"], self.embed(params, tokens), state)
        return self.head(params, h), state

    def loss(self, params, batch, state, *, deterministic: bool = False):
        """Truncated-BPTT loss for :func:`jaxrnn.train.make_bptt_step`, in nats/char: ``batch = (x,
        y)`` or ``(x, y, key)``, ``key`` drawing the dropout masks (training); evaluation says
        ``deterministic=True``."""
        x, y, *key = batch
        ids("labels", y, self.vocab_size)
        logits, state = self.apply(params, x, state, key=key[0] if key else None, deterministic=deterministic)
        return cross_entropy(logits, y), state


def ends_init(k_embed, k_head, vocab_size: int, embed_size: int, hidden_size: int) -> dict:
    """The params of both ends: ``{"embed": (V, E)`` normal, ``"head": {"w": (V, H)`` uniform in
    ``±1/sqrt(H)``, ``"b": (V,)`` zeros``}}``."""
    bound = 1.0 / jnp.sqrt(hidden_size)
    return {
        "embed": jax.random.normal(k_embed, (vocab_size, embed_size)),
        "head": {
            "w": jax.random.uniform(k_head, (vocab_size, hidden_size), minval=-bound, maxval=bound),
            "b": jnp.zeros((vocab_size,)),
        },
    }


@dataclasses.dataclass(frozen=True)
class CharLM(LanguageModel):
    """Next-character model. Params ``{"embed": (V, E), "rnn": [...], "head": {"w": (V, H), "b": (V,)}}``.

    ``dropout`` acts between the recurrent layers (``num_layers > 1``): training passes a key
    (:meth:`loss` reads it from the batch), evaluation and sampling say ``deterministic=True``.

    Examples:
      >>> model = CharLM(vocab_size=30, cell="gru", hidden_size=16)
      >>> params = model.init(jax.random.key(0))
      >>> logits, state = model.apply(params, jnp.zeros((2, 5), jnp.int32))
      >>> logits.shape, state.shape
      ((2, 5, 30), (1, 2, 16))
    """

    vocab_size: int
    cell: str = "lstm"
    hidden_size: int = 256
    num_layers: int = 1
    embed_size: int = 64
    dropout: float = 0.0

    def __post_init__(self):
        _checks.positive_int("vocab_size", self.vocab_size)
        _checks.one_of("cell", self.cell, CLASSIC_CELLS)
        _checks.positive_int("hidden_size", self.hidden_size)
        _checks.positive_int("num_layers", self.num_layers)
        _checks.positive_int("embed_size", self.embed_size)
        check_dropout(self.dropout)

    @property
    def rnn(self):
        """The recurrent part: a batch-first ``jaxrnn.LSTM``/``GRU``/``RNN``."""
        return LAYERS[self.cell](self.embed_size, self.hidden_size, num_layers=self.num_layers,
                                 batch_first=True, dropout=self.dropout if self.num_layers > 1 else 0.0)

    def init(self, key) -> dict:
        k_embed, k_rnn, k_head = jax.random.split(key, 3)
        ends = ends_init(k_embed, k_head, self.vocab_size, self.embed_size, self.hidden_size)
        return {"embed": ends["embed"], "rnn": self.rnn.init(k_rnn), "head": ends["head"]}

    def apply(self, params, tokens, state=None, *, key=None, deterministic: bool = False):
        """``tokens: (B, T)`` -> ``(logits: (B, T, V), state)``; ``state=None`` starts at zeros.
        ``key`` draws the dropout masks (training); with ``dropout > 0`` a call without one must
        say ``deterministic=True`` (see :meth:`jaxrnn.LSTM.apply`)."""
        out, state = self.rnn.apply(params["rnn"], self.embed(params, tokens), state, key=key,
                                    deterministic=deterministic)
        return self.head(params, out), state

    def initial_state(self, batch_size: int):
        """Zeros shaped like the state :meth:`apply` returns for ``batch_size`` rows."""
        return self.rnn.initial_state(batch_size)

    def summary(self, params, batch_size: int, seq_len: int) -> str:
        """The recurrent part's :func:`jaxrnn.summary` table framed by the embedding and the head,
        with one total (the recurrent table's own total is labelled as the recurrent part's)."""
        count = jaxrnn.param_count
        recurrent = jaxrnn.summary(self.rnn, params["rnn"], (batch_size, seq_len, self.embed_size))
        return "\n".join([
            f"embedding: ({self.vocab_size}, {self.embed_size}), {count(params['embed']):,} params",
            recurrent.replace("Total params:", "Recurrent params:"),
            f"head (linear): ({self.hidden_size} -> {self.vocab_size}), {count(params['head']):,} params",
            f"Total params (embedding + recurrent + head): {count(params):,}",
        ])


def ids(name: str, value, vocab_size: int) -> None:
    """Checks that ``value`` holds integer ids, and (when concrete) that they lie in ``[0, vocab_size)``.

    Examples:
      >>> ids("tokens", jnp.array([0, 10]), 10)
      Traceback (most recent call last):
      ValueError: tokens must be ids in [0, 10) (the vocabulary size), got values from 0 to 10
    """
    dtype = getattr(value, "dtype", None)
    if dtype is None or not jnp.issubdtype(dtype, jnp.integer):
        raise TypeError(f"{name} must be an integer array of ids, got {dtype or type(value).__name__}")
    if _checks.is_concrete(value) and jnp.size(value):
        low, high = int(jnp.min(value)), int(jnp.max(value))
        if low < 0 or high >= vocab_size:
            raise ValueError(f"{name} must be ids in [0, {vocab_size}) (the vocabulary size), got values "
                             f"from {low} to {high}")


def sample(model: LanguageModel, params, prime, length: int, key, temperature: float = 1.0):
    """Feeds ``prime: (P,)`` ids (P >= 1) and samples ``length`` more ids -> ``(length,)``.

    The prime runs through :meth:`~LanguageModel.apply`, the sampled ids one at a time through
    :meth:`~LanguageModel.step`. ``temperature`` divides the logits; 0 picks the most likely id at
    every step (greedy).

    Examples:
      >>> model = CharLM(10, hidden_size=8)
      >>> sample(model, model.init(jax.random.key(0)), jnp.array([1, 2]), 5, jax.random.key(1)).shape
      (5,)
    """
    if jnp.ndim(prime) != 1 or jnp.shape(prime)[0] < 1:
        raise ValueError(f"prime must be (P,) ids with P >= 1, got shape {jnp.shape(prime)}")
    _logits, state = model.apply(params, prime[None, :-1], None, deterministic=True)  # T = 0 gives zeros

    def one(carry, k):
        state, token = carry
        logits, state = model.step(params, token[None], state)  # one step
        logits = logits[0]
        drawn = jax.random.categorical(k, logits / jnp.maximum(temperature, 1e-6))
        nxt = jnp.where(temperature > 0, drawn, jnp.argmax(logits))  # 0: the most likely
        return (state, nxt), nxt

    _, out = jax.lax.scan(one, (state, prime[-1]), jax.random.split(key, length))
    return out


def bits_per_char(model: LanguageModel, params, ids, rows: int = 32) -> float:
    """Bits per character on ``ids: (N,)``, read as ``rows`` equal sequences from a zero state.

    Examples:
      >>> model = CharLM(4, hidden_size=8)
      >>> round(bits_per_char(model, model.init(jax.random.key(0)), jnp.arange(65) % 4), 1) > 0
      True
    """
    rows = max(1, min(rows, len(ids) - 1))
    n = (len(ids) - 1) // rows
    x = jnp.asarray(ids[: rows * n]).reshape(rows, n)
    y = jnp.asarray(ids[1 : rows * n + 1]).reshape(rows, n)
    _check_ids("labels", y, model.vocab_size)  # as the loss checks them, before they are traced
    _check_ids("tokens", x, model.vocab_size)
    return float(_loss(model, params, x, y)) * BITS


_check_ids = ids  # bits_per_char's argument hides the function


@functools.partial(jax.jit, static_argnums=0)
def _loss(model: LanguageModel, params, x, y):
    """``model``'s loss on ``(x, y)`` from a zero state, deterministic, as one compiled program (a
    block model's apply is many small ops)."""
    return model.loss(params, (x, y), None, deterministic=True)[0]
