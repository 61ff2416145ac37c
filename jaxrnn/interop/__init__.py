"""Converters between jaxrnn and other libraries; each imports its library lazily."""

from jaxrnn.interop.keras import from_keras, to_keras
from jaxrnn.interop.torch import from_torch, to_torch

__all__ = ["from_keras", "from_torch", "to_keras", "to_torch"]
