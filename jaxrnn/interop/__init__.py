"""Converters between jaxrnn and other libraries; torch, keras and equinox are imported lazily
(``EqxRNN`` loads equinox on first use: ``pip install "jaxrnn[equinox]"``)."""

from typing import TYPE_CHECKING

from jaxrnn.interop.flax import NNXRNN, LinenRNN, from_flax
from jaxrnn.interop.keras import from_keras, masked_lengths, to_keras
from jaxrnn.interop.mambapy import from_mambapy
from jaxrnn.interop.torch import from_torch, to_torch

__all__ = ["NNXRNN", "EqxRNN", "LinenRNN", "from_flax", "from_keras", "from_mambapy", "from_torch", "masked_lengths",
           "to_keras", "to_torch"]

if TYPE_CHECKING:  # what __getattr__ returns, for type checkers and IDEs (tests/test_typing.py)
    from jaxrnn.interop.equinox import EqxRNN
else:

    def __getattr__(name):
        if name == "EqxRNN":
            from jaxrnn.interop.equinox import EqxRNN

            return EqxRNN
        raise AttributeError(f"module 'jaxrnn.interop' has no attribute {name!r}")
