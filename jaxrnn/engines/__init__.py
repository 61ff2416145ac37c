"""Engines: how a torch-shaped layer (:class:`jaxrnn.RNN`/``LSTM``/``GRU``) runs a batch.

All engines compute the same function; they differ in speed and in where they can run.

- ``reference``: ``jax.vmap`` over rows of :func:`jaxrnn.scan` over the cells, through the
  network's combinators: the specification (:mod:`jaxrnn.engines.reference`).
- ``xla``: the same combinators on the whole time-major batch, each direction one ``lax.scan``
  with a cuDNN-style custom VJP (:mod:`jaxrnn.engines.xla`).
- ``cudnn``: cuDNN's LSTM through ``jax.experimental.rnn`` (GPU; LSTM without projection,
  float32, concatenated directions, no dropout key): :mod:`jaxrnn.engines.cudnn`.
- ``auto``: ``cudnn`` where it can run, else ``xla``.

The contract: the layer checks its inputs once, computes the precision policy once, and calls
``engine.run(network, params, x, state, valid, row_keys, policy) -> (ys, state)`` where

- ``network``: the layer's :class:`jaxrnn.Stack` of :class:`jaxrnn.Recurrent` or
  :class:`jaxrnn.Bidirectional` layers (the engine reads everything it needs from it);
- ``x: (T, B, I)`` time-major; ``valid: (T, B) bool`` the valid steps (the layer's ``seq_lengths``
  as ``t < length``, or its ``mask``) or ``None``, padded steps under the padding rule
  (:mod:`jaxrnn.driver.padding`: carry kept, output 0);
- ``state``: torch's layout, the cells' carry structure with leaves ``(L*D, B, F)`` (an LSTM's
  ``LSTMState(h, c)``), both in and out;
- ``row_keys: (B,)`` typed PRNG keys for dropout between layers, or ``None``;
- ``policy``: a :class:`jaxrnn.precision.Policy`.

No engine calls back into the layer, and none validates again.
"""

from __future__ import annotations

from jaxrnn.engines import cudnn, reference, xla

ENGINES = ("auto", "reference", "xla", "cudnn")
_BY_NAME = {"reference": reference, "xla": xla, "cudnn": cudnn}


def _refusal(what: str, reason: str) -> ValueError:
    return ValueError(f"engine='cudnn' cannot run {what}: {reason}; the engines that can are 'auto', 'xla' "
                      "and 'reference'")


def check(engine: str, network) -> None:
    """Raises at construction when ``engine`` can run no call of ``network`` (cuDNN: a GRU, an
    Elman RNN, a projection, a merge mode other than concat).

    Args:
      engine: one of :data:`ENGINES`.
      network: the layer's :class:`jaxrnn.Stack`.
    """
    reason = cudnn.unsupported_network(network) if engine == "cudnn" else None
    if reason is not None:
        raise _refusal("this layer", reason)


def select(engine: str, network, policy, dropout_key: bool, batch: int, steps: int, masked: bool = False):
    """The engine module that runs this call (``engine`` with ``"auto"`` resolved).

    Args:
      engine: one of :data:`ENGINES`.
      network: the layer's :class:`jaxrnn.Stack`.
      policy: the call's :class:`jaxrnn.precision.Policy`.
      dropout_key: whether the call draws dropout between layers.
      batch: B, the rows of the call.
      steps: T, the time steps of the call.
      masked: whether the call's valid steps come from a ``mask`` (holes allowed), not lengths.

    Raises:
      ValueError: naming ``engine``, why it cannot run and which engines can, when an explicit
        ``engine="cudnn"`` cannot run this call.
    """
    if engine in ("reference", "xla"):
        return _BY_NAME[engine]
    reason = cudnn.unsupported(network, policy, dropout_key, batch, steps, masked)
    if reason is None:
        return cudnn
    if engine == "cudnn":
        raise _refusal("this call", reason)
    return xla
