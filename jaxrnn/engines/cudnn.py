"""The ``"cudnn"`` engine: an LSTM stack as one call of ``jax.experimental.rnn.lstm`` (cuDNN).

cuDNN takes every weight of the stack in one flat vector (:func:`flat_weights`): for each
pseudo-layer ``l * D + d`` (d = 0 forward, 1 reverse) ``W_ih, W_hh`` in torch's layout, then for
each pseudo-layer ``b_ih, b_hh``. jaxrnn's biases go in folded (``b_ih`` := the cell's ``b_in``,
``b_hh`` := 0), so the one bias folding of :mod:`jaxrnn.cells` also serves here.

What cuDNN (as JAX exposes it) cannot do is refused with the reason (:func:`unsupported`):
other cells, ``proj_size``, a non-concat merge, a compute dtype other than float32, jaxrnn's own
dropout masks, empty inputs. Rows of length 0 are run as length 1 and then given their initial
state and zero outputs, which is exact (their steps receive no cotangent).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxrnn.cells import LSTMCell, LSTMState


def backend_problem() -> str | None:
    """Why this process cannot run cuDNN's LSTM, or ``None`` if it can."""
    backend = jax.default_backend()
    if backend != "gpu":
        return f"it needs an NVIDIA GPU and jax.default_backend() is {backend!r}"
    from jax.experimental import rnn

    if rnn.gpu_rnn is None:
        return "this jaxlib has no cuDNN RNN kernels (jax._src.lib.gpu_rnn is missing)"
    if "rocm" in jax.devices()[0].client.platform_version.lower():
        return "the GPU is an AMD (ROCm) one; MIOpen's LSTM is not supported"
    return None


def unsupported_layer(layer) -> str | None:
    """Why no call of ``layer`` can run on cuDNN, whatever its input (its configuration), or ``None``."""
    cell = layer.cell()
    if not isinstance(cell, LSTMCell):
        return f"cuDNN runs LSTM only (jax.experimental.rnn), got {type(layer).__name__}"
    if cell.proj_size:
        return "jax.experimental.rnn's LSTM has no proj_size"
    if layer.merge_mode != "concat":
        return f"cuDNN concatenates the directions, got merge_mode={layer.merge_mode!r}"
    return None


def unsupported(layer, policy, dropout_key: bool, batch: int, steps: int) -> str | None:
    """Why ``layer`` cannot run on cuDNN for this call, or ``None`` if it can."""
    reason = unsupported_layer(layer)
    if reason is not None:
        return reason
    if policy.compute != jnp.float32:
        return f"jax.experimental.rnn's LSTM computes in float32 only, the compute dtype is {policy.compute}"
    if dropout_key:
        return "cuDNN draws its own dropout masks, not jaxrnn's (a key with dropout > 0)"
    if batch == 0 or steps == 0:
        return f"the input is empty (T={steps}, B={batch})"
    return backend_problem()


def flat_weights(layer, params, x) -> jax.Array:
    """The stack's params as cuDNN's flat weight vector (see the module docstring).

    ``x`` (any array of the input's dtype) sets the precision policy, as for the cell's weights.
    """
    cell, d = layer.cell(), layer.num_directions
    pseudo = [p[k] for p in params for k in ("fwd", "bwd")] if d == 2 else list(params)
    ws = [cell.weights(p, x) for p in pseudo]
    zeros = jnp.zeros((4 * cell.hidden_size,), jnp.float32)
    matrices = [m.ravel() for w in ws for m in (w["w_ih"], w["w_hh"])]
    biases = [b for w in ws for b in (zeros if w["b_in"] is None else w["b_in"], zeros)]
    return jnp.concatenate(matrices + biases).astype(jnp.float32)


def kernel(x, h_0, c_0, weights, seq_lengths, input_size, hidden_size, num_layers, bidirectional):
    """``jax.experimental.rnn.lstm``: batch-major ``x: (B, T, I)`` -> ``(y, h_n, c_n)``."""
    from jax.experimental import rnn

    return rnn.lstm(x, h_0, c_0, weights, seq_lengths, input_size, hidden_size, num_layers, 0.0,
                    bidirectional)


def run(layer, params, x, carry, lengths):
    """Runs ``layer``'s stack on ``x: (T, B, I)`` from per-layer carries (leading B axes).

    Returns ``(ys: (T, B, D*H), per-layer final carries)`` like the other engines.
    """
    steps, batch = x.shape[:2]
    pseudo = [c for layer_carry in carry for c in (layer_carry if layer.bidirectional else (layer_carry,))]
    h_0 = jnp.stack([c.h for c in pseudo]).astype(jnp.float32)  # (L*D, B, H)
    c_0 = jnp.stack([c.c for c in pseudo]).astype(jnp.float32)
    lengths = jnp.full((batch,), steps, jnp.int32) if lengths is None else lengths.astype(jnp.int32)
    valid = (jnp.arange(steps)[:, None] < lengths[None, :])[..., None]  # (T, B, 1)
    x_bm = jnp.swapaxes(jnp.where(valid, x, 0.0), 0, 1).astype(jnp.float32)  # padding reads zeros
    y, h_n, c_n = kernel(x_bm, h_0, c_0, flat_weights(layer, params, x), jnp.maximum(lengths, 1),
                         layer.input_size, layer.hidden_size, layer.num_layers, layer.bidirectional)
    ys = jnp.where(valid, jnp.swapaxes(y, 0, 1), 0.0)
    empty = (lengths == 0)[None, :, None]
    h_n, c_n = jnp.where(empty, h_0, h_n), jnp.where(empty, c_0, c_n)
    finals = [LSTMState(h, c) for h, c in zip(h_n, c_n)]
    if layer.bidirectional:
        return ys, tuple(zip(finals[::2], finals[1::2]))
    return ys, tuple(finals)
