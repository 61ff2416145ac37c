"""A character language model over any block of :mod:`jaxrnn.blocks`: embedding -> a residual stack
of the block (pre-norm, optional MLP) -> linear head.

Shapes: ``tokens: (B, T)``, ``logits: (B, T, V)``; D the width of the residual stream (the blocks'
``d_model``), L layers, F the MLP's width. The state is each layer's :class:`jaxrnn.blocks.BlockState`
(the conv cache and the recurrent state) stacked: every leaf is ``(L, B, ...)``, its batch axis 1 as
in the classic model's ``h_n: (L, B, H)``, so truncated BPTT (:func:`jaxrnn.train.reset_carry`), the
data-parallel split and the checkpoints treat both alike. Every block's initial state is zeros, so a
row zeroed by a reset starts afresh.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp

import jaxrnn
from jaxrnn import _checks, blocks
from jaxrnn.app.charlm import LanguageModel, ends_init
from jaxrnn.app.config import BLOCK_CELLS
from jaxrnn.blocks.common import Block, block_input, linear, linear_init, rms_norm, state_like


def block_of(cell: str, d_model: int) -> Any:
    """The block of ``--cell`` ``cell`` (:data:`jaxrnn.app.config.BLOCK_CELLS`) of width ``d_model``.

    Examples:
      >>> block = block_of("deltanet", 32)
      >>> type(block).__name__, block.d_model, block.decay
      ('GatedDeltaNet', 32, False)
    """
    _checks.one_of("cell", cell, tuple(BLOCK_CELLS))
    spec = BLOCK_CELLS[cell]
    return getattr(blocks, spec.block)(d_model, **spec.options)


@dataclasses.dataclass(frozen=True)
class ResidualStack:
    """``num_layers`` residual layers of ``block`` (each with its own params and state), then a norm::

        x = x + block(rms_norm(x))                                # every layer
        x = x + (gelu(u W_gate^T) * (u W_up^T)) W_down^T           # mlp_ratio > 0, u = rms_norm(x)
        y = rms_norm(x)

    Args:
      block: a block of :mod:`jaxrnn.blocks` (its ``d_model`` is D).
      num_layers: L.
      mlp_ratio: F / D, the gated (GeGLU) MLP's width (F = ceil(mlp_ratio D)); 0: no MLP.
      norm_eps: the RMSNorms' epsilon.

    Params: ``{"layers": [{"norm": (D,), "block": ..., "mlp_norm": (D,), "mlp": {"gate": (F, D),
    "up": (F, D), "down": (D, F)}}] * L, "norm": (D,)}`` (no ``mlp_norm``, ``mlp`` without an MLP).
    State: the layers' ``BlockState`` stacked, every leaf ``(L, B, ...)``.

    Examples:
      >>> stack = ResidualStack(blocks.Mamba(8, d_state=4), num_layers=2, mlp_ratio=2)
      >>> params = stack.init(jax.random.key(0))
      >>> y, state = stack.apply(params, jnp.ones((3, 5, 8)))
      >>> y.shape, state.recurrent.shape, state.conv.shape
      ((3, 5, 8), (2, 3, 16, 4), (2, 3, 3, 16))
    """

    block: Any
    num_layers: int = 1
    mlp_ratio: float = 0.0
    norm_eps: float = 1e-5

    def __post_init__(self):
        if not isinstance(self.block, Block):
            raise TypeError(f"block must be a block of jaxrnn.blocks, got {type(self.block).__name__}")
        _checks.positive_int("num_layers", self.num_layers)
        if isinstance(self.mlp_ratio, bool) or not isinstance(self.mlp_ratio, (int, float)) \
                or not 0 <= self.mlp_ratio < math.inf:
            raise ValueError(f"mlp_ratio must be a finite number >= 0, got {self.mlp_ratio!r}")

    @property
    def d_model(self) -> int:
        """D."""
        return self.block.d_model

    @property
    def mlp_size(self) -> int:
        """F, the MLP's width (0: no MLP)."""
        return math.ceil(self.mlp_ratio * self.d_model)

    def init(self, key) -> dict:
        """The block's own initialisation, torch's ``nn.Linear`` default for the MLP, unit norm gains."""
        d, f = self.d_model, self.mlp_size
        keys = jax.random.split(key, self.num_layers)
        layers = []
        for k in keys:
            k_block, k_gate, k_up, k_down = jax.random.split(k, 4)
            layer = {"norm": jnp.ones((d,)), "block": self.block.init(k_block)}
            if f:
                layer["mlp_norm"] = jnp.ones((d,))
                layer["mlp"] = {"gate": linear_init(k_gate, f, d), "up": linear_init(k_up, f, d),
                                "down": linear_init(k_down, d, f)}
            layers.append(layer)
        return {"layers": layers, "norm": jnp.ones((d,))}

    def initial_state(self, batch_size: int):
        """Zeros: the block's initial state for ``batch_size`` rows, stacked over the layers."""
        one = self.block.initial_state(batch_size)
        return jax.tree.map(lambda leaf: jnp.stack([leaf] * self.num_layers), one)

    def apply(self, params, x, state=None):
        """``x: (B, T, D)`` -> ``(y: (B, T, D), state)``; ``state=None`` starts at zeros."""
        x = block_input("x", x, self.d_model)
        state = state_like("state", state, self.initial_state(x.shape[0]))
        return self._layers(params, x, state, lambda p, h, s: self.block.apply(p, h, initial_state=s))

    def step(self, params, x_t, state):
        """One step of every row through each block's ``step``: ``x_t: (B, D)`` -> ``(y_t: (B, D),
        state)``, equal to :meth:`apply` one step at a time."""
        x_t = _checks.float_array("x_t", x_t)
        if x_t.ndim != 2 or x_t.shape[1] != self.d_model:
            raise ValueError(f"x_t must have shape (B, d_model) = (B, {self.d_model}), got {tuple(x_t.shape)}")
        state = state_like("state", state, self.initial_state(x_t.shape[0]))
        return self._layers(params, x_t, state, self.block.step)

    def _layers(self, params, x, state, mix):
        """The layers over ``x: (B, ..., D)`` from the checked ``state``, each block run as ``mix(params,
        h, state)``."""
        if len(params["layers"]) != self.num_layers:
            raise ValueError(f"params['layers'] must hold num_layers = {self.num_layers} layers, "
                             f"got {len(params['layers'])}")
        states = []
        for i, layer in enumerate(params["layers"]):
            y, s = mix(layer["block"], rms_norm(x, layer["norm"], self.norm_eps),
                       jax.tree.map(lambda leaf, i=i: leaf[i], state))
            x = x + y.astype(x.dtype)
            if self.mlp_size:
                u = rms_norm(x, layer["mlp_norm"], self.norm_eps)
                w = layer["mlp"]
                x = x + linear(jax.nn.gelu(linear(u, w["gate"])) * linear(u, w["up"]), w["down"])
            states.append(s)
        return rms_norm(x, params["norm"], self.norm_eps), jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)


@dataclasses.dataclass(frozen=True)
class BlockLM(LanguageModel):
    """Next-character model over a block cell: params ``{"embed": (V, D), "rnn": ``
    :class:`ResidualStack` ``params, "head": {"w": (V, D), "b": (V,)}}``.

    ``cell`` names the block and the stack's MLP (:data:`jaxrnn.app.config.BLOCK_CELLS`). It has no
    dropout: ``key`` and ``deterministic`` are taken as the training loop passes them to every model,
    and change nothing.

    Examples:
      >>> model = BlockLM(vocab_size=30, cell="griffin", hidden_size=16)
      >>> params = model.init(jax.random.key(0))
      >>> logits, state = model.apply(params, jnp.zeros((2, 5), jnp.int32))
      >>> logits.shape, state.recurrent.h.shape
      ((2, 5, 30), (1, 2, 16))
    """

    vocab_size: int
    cell: str = "gdn"
    hidden_size: int = 256
    num_layers: int = 1

    def __post_init__(self):
        _checks.positive_int("vocab_size", self.vocab_size)
        _checks.one_of("cell", self.cell, tuple(BLOCK_CELLS))
        _checks.positive_int("hidden_size", self.hidden_size)
        _checks.positive_int("num_layers", self.num_layers)

    @property
    def rnn(self) -> ResidualStack:
        """The recurrent part: a :class:`ResidualStack` of the cell's block."""
        return ResidualStack(block_of(self.cell, self.hidden_size), self.num_layers,
                             BLOCK_CELLS[self.cell].mlp_ratio)

    def init(self, key) -> dict:
        k_embed, k_rnn, k_head = jax.random.split(key, 3)
        ends = ends_init(k_embed, k_head, self.vocab_size, self.hidden_size, self.hidden_size)
        return {"embed": ends["embed"], "rnn": self.rnn.init(k_rnn), "head": ends["head"]}

    def apply(self, params, tokens, state=None, *, key=None, deterministic: bool = False):
        """``tokens: (B, T)`` -> ``(logits: (B, T, V), state)``; ``state=None`` starts at zeros."""
        del key, deterministic  # no dropout
        out, state = self.rnn.apply(params["rnn"], self.embed(params, tokens), state)
        return self.head(params, out), state

    def initial_state(self, batch_size: int):
        """Zeros shaped like the state :meth:`apply` returns for ``batch_size`` rows."""
        return self.rnn.initial_state(batch_size)

    def summary(self, params, batch_size: int, seq_len: int) -> str:
        """A table of the parameters of each piece (embedding, each layer's norms, block and MLP,
        the final norm, the head) with its output shape for ``(batch_size, seq_len)`` tokens, and
        the total."""
        count = jaxrnn.param_count
        d, v = self.hidden_size, self.vocab_size
        stream = (batch_size, seq_len, d)
        rows = [("embedding", stream, count(params["embed"]))]
        for i, layer in enumerate(params["rnn"]["layers"]):
            rows += [(f"layer {i}: {name}", stream, count(layer[key]))
                     for name, key in (("norm", "norm"), (type(self.rnn.block).__name__, "block"),
                                       ("mlp_norm", "mlp_norm"), (f"mlp ({self.rnn.mlp_size})", "mlp"))
                     if key in layer]
        rows += [("norm", stream, count(params["rnn"]["norm"])),
                 ("head (linear)", (batch_size, seq_len, v), count(params["head"]))]
        widths = [max(len(str(row[j])) for row in [("Piece", "Output shape"), *rows]) + 4 for j in range(2)]
        title = (f"Model: BlockLM (--cell {self.cell}: {self.num_layers} residual layer"
                 f"{'s' * (self.num_layers > 1)} of {type(self.rnn.block).__name__}, d_model {d})")
        rule = "=" * (sum(widths) + 12)
        return "\n".join([title, rule, f"{'Piece':<{widths[0]}}{'Output shape':<{widths[1]}}{'Param #':>12}", rule]
                         + [f"{name:<{widths[0]}}{shape!s:<{widths[1]}}{n:>12,}" for name, shape, n in rows]
                         + [rule, f"Total params: {count(params):,}"])
