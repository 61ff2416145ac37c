"""Equinox: :class:`EqxRNN`, a jaxrnn layer as an ``equinox.Module`` (equinox is optional).

Equinox code applies a model to ONE example and batches with ``jax.vmap``. ``EqxRNN`` takes that
per-example call, ``module(x: (T, I))``, and gives it a batching rule
(``jax.custom_batching.custom_vmap``): ``jax.vmap(module)(xs)`` runs the layer's batched engine
on the whole batch instead of vmapping a batch of one, with exactly the same result (dropout
masks included: each example draws its mask from its own key, as unbatched).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import custom_batching

from jaxrnn.interop.wrapping import apply_layer, init_layer, knows_input_size
from jaxrnn.layers import GRU, LSTM, RNN


class EqxRNN(eqx.Module):
    """An ``equinox.Module`` holding a jaxrnn ``layer`` (static) and its ``params``.

    Args:
      layer: a :class:`jaxrnn.RNN`/``LSTM``/``GRU``, a block of :mod:`jaxrnn.blocks`, or a
        sequence layer with ``input_size``.
      key: PRNG key for the initialisation.
      input_size: I, for sequence layers (torch-shaped layers and blocks know theirs).
      preset: ``"torch"`` or ``"keras"``.
      fast_vmap: give per-example calls the batched engine under ``jax.vmap`` (default; also for
        ``jax.grad`` of ``jax.vmap``, the usual training step). JAX cannot differentiate such a
        batching rule before it is applied, so a gradient taken inside the vmap (per-example
        gradients, ``jax.vmap(jax.grad(...))``) or of one unbatched call runs the plain
        per-example call instead, with the same result; ``False`` always runs that call.

    ``module(x, hx=None, *, seq_lengths=None, key=None, deterministic=False)`` equals
    ``layer.apply(module.params, x, hx, seq_lengths=seq_lengths, key=key, deterministic=deterministic)``:
    ``key`` draws the layer's inter-layer dropout (training), and a layer that drops out needs it
    unless the call says ``deterministic=True`` (evaluation), as ``eqx.nn.Dropout`` needs a key
    or ``inference=True``.

    Examples:
      >>> module = EqxRNN(GRU(5, 8, batch_first=True), key=jax.random.key(0))
      >>> out, h_n = jax.vmap(module)(jnp.ones((4, 10, 5)))   # per example (10, 5), batched engine
      >>> out.shape, h_n.shape
      ((4, 10, 8), (4, 1, 8))
    """

    layer: Any = eqx.field(static=True)
    params: Any
    fast_vmap: bool = eqx.field(static=True)

    def __init__(self, layer, *, key, input_size: int | None = None, preset: str = "torch",
                 fast_vmap: bool = True):
        if input_size is None and not knows_input_size(layer):
            raise ValueError(f"input_size is required for a {type(layer).__name__} (only torch-shaped "
                             "layers and blocks know theirs), got None")
        self.layer = layer
        self.params = init_layer(layer, key, input_size, preset)
        self.fast_vmap = bool(fast_vmap)

    def __call__(self, x, hx=None, *, seq_lengths=None, key=None, deterministic: bool = False):
        torch_shaped = isinstance(self.layer, (RNN, LSTM, GRU))
        if not (self.fast_vmap and torch_shaped and jnp.ndim(x) == 2):
            return apply_layer(self.layer, self.params, x, hx, seq_lengths=seq_lengths, key=key,
                               deterministic=deterministic)
        try:
            return _per_example(self.layer, deterministic)(self.params, x, hx, seq_lengths, key)
        except ValueError:
            # JAX cannot differentiate a batching rule that has not been applied yet: a gradient
            # taken inside the vmap, or of an unbatched call. The plain call computes the same
            # function (and raises the same error, if the inputs are wrong).
            return apply_layer(self.layer, self.params, x, hx, seq_lengths=seq_lengths, key=key,
                               deterministic=deterministic)


def _per_example(layer, deterministic: bool):
    """The per-example call of a torch-shaped ``layer`` with its batching rule."""
    def one(params, x, hx, lengths, key):
        return layer.apply(params, x, hx, seq_lengths=lengths, key=key, deterministic=deterministic)

    fn = custom_batching.custom_vmap(one)

    @fn.def_vmap
    def rule(size, in_batched, params, x, hx, lengths, key):
        p_b, x_b, hx_b, len_b, key_b = in_batched
        if any(jax.tree.leaves(p_b)):  # an ensemble of params: no batched engine for that
            axes = (jax.tree.map(lambda b: 0 if b else None, p_b), 0 if x_b else None,
                    jax.tree.map(lambda b: 0 if b else None, hx_b), 0 if len_b else None, 0 if key_b else None)
            out = jax.vmap(one, in_axes=axes)(params, x, hx, lengths, key)
            return out, jax.tree.map(lambda _: True, out)

        def rows(a, is_batched):  # every batched-or-not input as (B, ...)
            return a if is_batched else jnp.broadcast_to(a, (size,) + jnp.shape(a))

        x_tm = jnp.swapaxes(rows(x, x_b), 0, 1)  # (T, B, I)
        hx_tm = None if hx is None else jax.tree.map(lambda a, b: jnp.swapaxes(rows(a, b), 0, 1), hx, hx_b)
        lengths = None if lengths is None else rows(lengths, len_b)
        row_keys = None
        if key is not None:  # each example's key gives its one row's key, as its own call would
            keys = jax.vmap(lambda k: layer.row_keys(k, 1, deterministic))(rows(key, key_b))
            row_keys = None if keys is None else keys[:, 0]
        out, state = layer.run_time_major(params, x_tm, hx_tm, lengths, row_keys)
        result = (jnp.swapaxes(out, 0, 1), jax.tree.map(lambda s: jnp.swapaxes(s, 0, 1), state))
        return result, jax.tree.map(lambda _: True, result)

    return fn
