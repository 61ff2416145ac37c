"""Converters between jaxrnn and other libraries; torch and keras are imported lazily."""

from jaxrnn.interop.flax import LinenRNN, NNXRNN, from_flax
from jaxrnn.interop.keras import from_keras, to_keras
from jaxrnn.interop.torch import from_torch, to_torch

__all__ = ["LinenRNN", "NNXRNN", "from_flax", "from_keras", "from_torch", "to_keras", "to_torch"]
