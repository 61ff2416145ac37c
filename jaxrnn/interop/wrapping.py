"""What every framework wrapper of a jaxrnn layer (Flax linen and NNX, Equinox) does the same way:
create the layer's params and run the layer on a batch, whatever kind of layer it is (a torch-shaped
layer, a sequence layer, or a block of :mod:`jaxrnn.blocks`)."""

from __future__ import annotations

from typing import Any

import jax

from jaxrnn.blocks.common import Block
from jaxrnn.cells import ElmanCell, GRUCell, LSTMCell
from jaxrnn.combinators import Stack
from jaxrnn.layers import GRU, LSTM, RNN


def knows_input_size(layer) -> bool:
    """Whether ``layer`` knows its input size (torch-shaped layers and blocks; sequence layers read it
    from the input)."""
    return isinstance(layer, (RNN, LSTM, GRU, Block))


def init_layer(layer, key, input_size: int | None, preset: str = "torch"):
    """Params of a torch-shaped layer (``layer.init(key)``), a sequence layer (``init(key, I)``) or a
    block (``init(key)``: its peer's initialisation, so only the default ``preset``)."""
    if isinstance(layer, Block):
        if preset != "torch":
            raise ValueError(f"preset must be 'torch' for a block (it initialises as its peer does), got {preset!r}")
        return layer.init(key)
    if isinstance(layer, (RNN, LSTM, GRU)):
        return layer.init(key, preset=preset)
    is_cell = isinstance(layer, (ElmanCell, LSTMCell, GRUCell))
    if is_cell or not (hasattr(layer, "init") and hasattr(layer, "apply") and hasattr(layer, "output_size")):
        raise TypeError("layer must be a jaxrnn RNN/LSTM/GRU or a sequence layer (Recurrent, "
                        f"Bidirectional, Stack; wrap a cell in jaxrnn.Recurrent), got {type(layer).__name__}")
    return layer.init(key, input_size, preset=preset)


def drops_out(layer) -> bool:
    """Whether ``layer`` draws dropout masks when trained (a torch-shaped layer or a ``Stack`` with
    ``dropout > 0`` and more than one layer), so a call must give a key or say it is deterministic."""
    if isinstance(layer, (RNN, LSTM, GRU)):
        return layer.dropout > 0 and layer.num_layers > 1
    return isinstance(layer, Stack) and layer.dropout > 0 and len(layer.layers) > 1


def apply_layer(layer, params, x, hx=None, *, seq_lengths=None, key=None,
                deterministic: bool = False) -> tuple[Any, Any]:
    """Runs ``layer``; sequence layers take ``x: (T, I)`` or ``(B, T, I)`` (``jax.vmap`` over B), blocks
    ``(B, T, D)`` or one sequence ``(T, D)`` with ``hx`` their state (``initial_state``).
    ``key`` and ``deterministic`` go to the layers that drop out (torch-shaped layers, ``Stack``)."""
    if isinstance(layer, Block):
        return _apply_block(layer, params, x, hx, seq_lengths)
    if isinstance(layer, (RNN, LSTM, GRU)):
        return layer.apply(params, x, hx, seq_lengths=seq_lengths, key=key, deterministic=deterministic)
    explicit = {"deterministic": deterministic} if isinstance(layer, Stack) else {}
    if x.ndim == 2:
        return layer.apply(params, x, hx, seq_length=seq_lengths, key=key, **explicit)
    keys = None if key is None else jax.random.split(key, x.shape[0])

    def one(x_b, c_b, len_b, k_b):
        return layer.apply(params, x_b, c_b, seq_length=len_b, key=k_b, **explicit)

    axes = tuple(None if a is None else 0 for a in (hx, seq_lengths, keys))
    return jax.vmap(one, in_axes=(0, *axes))(x, hx, seq_lengths, keys)


def _apply_block(block, params, x, state, seq_lengths):
    """``block.apply`` on ``x: (B, T, D)``, or on one sequence ``x: (T, D)`` (its state and length
    unbatched too) as a batch of one."""
    if getattr(x, "ndim", None) != 2:
        return block.apply(params, x, seq_lengths=seq_lengths, initial_state=state)
    state = None if state is None else jax.tree.map(lambda a: a[None], state)
    lengths = None if seq_lengths is None else jax.numpy.reshape(seq_lengths, (1,))
    y, state = block.apply(params, x[None], seq_lengths=lengths, initial_state=state)
    return y[0], jax.tree.map(lambda a: a[0], state)
