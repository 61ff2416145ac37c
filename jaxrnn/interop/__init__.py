"""Converters between jaxrnn and other libraries; torch, keras and equinox are imported lazily
(``EqxRNN`` loads equinox on first use: ``pip install "jaxrnn[equinox]"``)."""

from jaxrnn.interop.flax import LinenRNN, NNXRNN, from_flax
from jaxrnn.interop.keras import from_keras, masked_lengths, to_keras
from jaxrnn.interop.torch import from_torch, to_torch

__all__ = ["EqxRNN", "LinenRNN", "NNXRNN", "from_flax", "from_keras", "from_torch", "masked_lengths", "to_keras",
           "to_torch"]


def __getattr__(name):
    if name == "EqxRNN":
        from jaxrnn.interop.equinox import EqxRNN

        return EqxRNN
    raise AttributeError(f"module 'jaxrnn.interop' has no attribute {name!r}")
