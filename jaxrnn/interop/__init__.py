"""Converters between jaxrnn and other libraries; torch and keras are imported lazily."""

from jaxrnn.interop.flax import LinenRNN, NNXRNN, from_flax
from jaxrnn.interop.keras import from_keras, masked_lengths, to_keras
from jaxrnn.interop.torch import from_torch, to_torch

__all__ = ["LinenRNN", "NNXRNN", "from_flax", "from_keras", "from_torch", "masked_lengths", "to_keras", "to_torch"]
