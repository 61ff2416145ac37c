"""Layers: ``jaxrnn.RNN``, ``LSTM``, ``GRU`` shaped like ``torch.nn`` (:mod:`jaxrnn.layers.torch_shaped`),
and their inspection (:mod:`jaxrnn.layers.inspection`: parameter counts and summary tables)."""

from jaxrnn.layers.torch_shaped import GRU, LSTM, RNN

__all__ = ["GRU", "LSTM", "RNN"]
