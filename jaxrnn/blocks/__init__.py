"""Blocks: the modern recurrent families as layers ``(B, T, d_model) -> (B, T, d_model)`` with
streaming state (see :mod:`jaxrnn.blocks.common` for the protocol every block shares).

- :class:`GatedDeltaNet` (:mod:`jaxrnn.blocks.delta`): Gated DeltaNet and DeltaNet;
- :class:`Mamba` (:mod:`jaxrnn.blocks.mamba`): Mamba-1;
- :class:`Mamba2` (:mod:`jaxrnn.blocks.mamba2`): Mamba-2 (SSD);
- :class:`MLSTMBlock`, :class:`SLSTMBlock` (:mod:`jaxrnn.blocks.xlstm`): xLSTM's blocks;
- :class:`GriffinBlock` (:mod:`jaxrnn.blocks.griffin`): Griffin's recurrent block (RG-LRU);
"""

from jaxrnn.blocks.common import BlockState
from jaxrnn.blocks.delta import GatedDeltaNet
from jaxrnn.blocks.griffin import GriffinBlock, GriffinState
from jaxrnn.blocks.mamba import Mamba
from jaxrnn.blocks.mamba2 import Mamba2
from jaxrnn.blocks.xlstm import MLSTMBlock, SLSTMBlock

__all__ = ["BlockState", "GatedDeltaNet", "GriffinBlock", "GriffinState", "MLSTMBlock", "Mamba", "Mamba2", "SLSTMBlock"]
