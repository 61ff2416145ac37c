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

from typing import cast

import jax
import jax.numpy as jnp

from jaxrnn.cells import LSTMCell, LSTMState
from jaxrnn.combinators import Bidirectional
from jaxrnn.driver import padding


def backend_problem() -> str | None:
    """Why this process cannot run cuDNN's LSTM, or ``None`` if it can."""
    backend = jax.default_backend()
    if backend != "gpu":
        return f"it needs an NVIDIA GPU and jax.default_backend() is {backend!r}"
    from jax.experimental import rnn

    if getattr(rnn, "gpu_rnn", None) is None:  # jaxlib's kernels, not a public name of the module
        return "this jaxlib has no cuDNN RNN kernels (jax._src.lib.gpu_rnn is missing)"
    if "rocm" in jax.devices()[0].client.platform_version.lower():
        return "the GPU is an AMD (ROCm) one; MIOpen's LSTM is not supported"
    return None


def _shape(network):
    """``(cell, bidirectional, merge)`` of a torch-shaped network (identical layers)."""
    first = network.layers[0]
    return first.cell, isinstance(first, Bidirectional), getattr(first, "merge", "concat")


def unsupported_network(network) -> str | None:
    """Why no call of ``network`` can run on cuDNN, whatever its input (its configuration), or ``None``."""
    cell, _, merge = _shape(network)
    if not isinstance(cell, LSTMCell):
        kind = {"ElmanCell": "RNN", "GRUCell": "GRU"}.get(type(cell).__name__, type(cell).__name__)
        return f"cuDNN runs LSTM only (jax.experimental.rnn), got {kind}"
    if cell.proj_size:
        return "jax.experimental.rnn's LSTM has no proj_size"
    if merge != "concat":
        return f"cuDNN concatenates the directions, got merge_mode={merge!r}"
    if getattr(network.layers[0], "reverse", False):
        return "cuDNN runs one direction forward only, got go_backwards=True"
    return None


def unsupported(network, policy, dropout_key: bool, batch: int, steps: int, masked: bool = False) -> str | None:
    """Why ``network`` cannot run on cuDNN for this call, or ``None`` if it can (``masked``: the call
    gives a ``mask``, which may have holes, rather than lengths)."""
    reason = unsupported_network(network)
    if reason is not None:
        return reason
    if policy.compute != jnp.float32:
        return f"jax.experimental.rnn's LSTM computes in float32 only, the compute dtype is {policy.compute}"
    if dropout_key:
        return "cuDNN draws its own dropout masks, not jaxrnn's (a key with dropout > 0)"
    if masked:
        return "cuDNN takes sequence lengths, not a mask (which may have holes)"
    if batch == 0 or steps == 0:
        return f"the input is empty (T={steps}, B={batch})"
    return backend_problem()


def flat_weights(network, params, policy) -> jax.Array:
    """The stack's params as cuDNN's flat weight vector (see the module docstring)."""
    cell, bidirectional, _ = _shape(network)
    pseudo = [p[k] for p in params for k in ("fwd", "bwd")] if bidirectional else list(params)
    ws = [cell.weights(p, policy) for p in pseudo]
    zeros = jnp.zeros((4 * cell.hidden_size,), jnp.float32)
    matrices = [m.ravel() for w in ws for m in (w["w_ih"], w["w_hh"])]
    biases = [b for w in ws for b in (zeros if w["b_in"] is None else w["b_in"], zeros)]
    return jnp.concatenate(matrices + biases).astype(jnp.float32)


def kernel(x, h_0, c_0, weights, seq_lengths, input_size, hidden_size, num_layers,
           bidirectional) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``jax.experimental.rnn.lstm``: batch-major ``x: (B, T, I)`` -> ``(y, h_n, c_n)``."""
    from jax.experimental import rnn

    out = rnn.lstm(x, h_0, c_0, weights, seq_lengths, input_size, hidden_size, num_layers, 0.0, bidirectional)
    return cast("tuple[jax.Array, jax.Array, jax.Array]", out)  # its custom_vjp wrapper is typed as returning object


def run(network, params, x, state, valid, row_keys, policy):
    """Runs ``network`` on ``x: (T, B, I)`` with cuDNN (see :mod:`jaxrnn.engines` for the contract;
    ``row_keys`` is always ``None`` here). ``state`` is ``LSTMState(h, c)`` in torch's layout
    ``(L*D, B, H)``, which is cuDNN's own."""
    cell, bidirectional, _ = _shape(network)
    steps, batch = x.shape[:2]
    h_0, c_0 = (s.astype(jnp.float32) for s in state)
    # ``valid`` is a length's mask here (``unsupported``: no mask with holes): its rows' lengths
    lengths = jnp.full((batch,), steps, jnp.int32) if valid is None else valid.sum(0, dtype=jnp.int32)
    x_bm = jnp.swapaxes(padding.zero_padding(x, valid), 0, 1).astype(jnp.float32)
    y, h_n, c_n = kernel(x_bm, h_0, c_0, flat_weights(network, params, policy), jnp.maximum(lengths, 1),
                         x.shape[-1], cell.hidden_size, len(network.layers), bidirectional)
    ys = padding.outputs(valid, jnp.swapaxes(y, 0, 1))
    # A row of length 0 was run as length 1: its state is its initial one (padding.select by row).
    final, _ = padding.select(lengths[None, :] > 0, LSTMState(h_n, c_n), LSTMState(h_0, c_0), ys[:0])
    return ys, final
