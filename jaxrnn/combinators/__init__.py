"""Combinators: sequence layers built from cells (one direction, both directions, stacks)."""

from jaxrnn.combinators.core import (MERGE, MERGE_MODES, Bidirectional, Recurrent, Stack, check_dropout,
                                     dropout)

__all__ = ["MERGE", "MERGE_MODES", "Bidirectional", "Recurrent", "Stack", "check_dropout", "dropout"]
