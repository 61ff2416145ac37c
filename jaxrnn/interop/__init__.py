"""Converters between jaxrnn and other libraries; each imports its library lazily."""

from jaxrnn.interop.torch import from_torch, to_torch

__all__ = ["from_torch", "to_torch"]
