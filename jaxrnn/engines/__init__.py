"""Engines: how a torch-shaped layer (:class:`jaxrnn.RNN`/``LSTM``/``GRU``) runs a batch.

All engines compute the same function; they differ in speed and in where they can run.

=============  ===============================================================================
``reference``  ``jax.vmap`` over rows of :meth:`jaxrnn.Stack.apply`, i.e. :func:`jaxrnn.scan`
               over the cells: the specification.
``xla``        the same :class:`jaxrnn.Stack` on the whole time-major batch, each direction one
               ``lax.scan`` with a cuDNN-style custom VJP (:mod:`jaxrnn.engines.xla`).
``cudnn``      cuDNN's LSTM through ``jax.experimental.rnn`` (GPU; LSTM without projection,
               float32, concatenated directions, no dropout key): :mod:`jaxrnn.engines.cudnn`.
``auto``       ``cudnn`` where it can run, else ``xla``.
=============  ===============================================================================
"""

from __future__ import annotations

import jax

from jaxrnn.engines import cudnn, xla

ENGINES = ("auto", "reference", "xla", "cudnn")


def _refusal(what: str, reason: str) -> ValueError:
    return ValueError(f"engine='cudnn' cannot run {what}: {reason}; the engines that can are 'auto', 'xla' "
                      "and 'reference'")


def check(layer) -> None:
    """Raises at construction when ``layer.engine`` can run no call of ``layer`` (cuDNN: a GRU, an
    Elman RNN, a projection, a merge mode other than concat)."""
    reason = cudnn.unsupported_layer(layer) if layer.engine == "cudnn" else None
    if reason is not None:
        raise _refusal("this layer", reason)


def resolve(layer, policy, dropout_key: bool, batch: int, steps: int) -> str:
    """The engine that runs this call of ``layer`` (``layer.engine`` with ``"auto"`` resolved).

    Raises:
      ValueError: naming ``engine``, why it cannot run and which engines can, when an explicit
        ``engine="cudnn"`` cannot run this call.
    """
    if layer.engine in ("reference", "xla"):
        return layer.engine
    reason = cudnn.unsupported(layer, policy, dropout_key, batch, steps)
    if reason is None:
        return "cudnn"
    if layer.engine == "cudnn":
        raise _refusal("this call", reason)
    return "xla"


def run(name: str, layer, params, x, carry, lengths, row_keys):
    """Runs ``layer``'s network on ``x: (T, B, I)`` with engine ``name``.

    Args:
      carry: per-layer carries whose leaves have a leading B axis.
      lengths: ``(B,)`` ints in ``[0, T]`` or ``None``.
      row_keys: ``(B,)`` PRNG keys (dropout between layers) or ``None``.

    Returns:
      ``(ys: (T, B, layer.output_size), per-layer final carries with leading B axes)``.
    """
    net = layer.network()
    if name == "cudnn":
        return cudnn.run(layer, params, x, carry, lengths)
    if name == "xla":
        return net.run(xla.runner, params, x, carry, lengths, row_keys)

    def one(x_b, c_b, len_b, k_b):
        return net.apply(params, x_b, c_b, seq_length=len_b, key=k_b)

    in_axes = (1, 0, None if lengths is None else 0, None if row_keys is None else 0)
    return jax.vmap(one, in_axes=in_axes, out_axes=(1, 0))(x, carry, lengths, row_keys)
