"""Model inspection: parameter counts."""

from __future__ import annotations

import jax
import numpy as np


def param_count(params) -> int:
    """Returns the number of scalars in a params pytree (torch's ``numel`` sum).

    Examples:
      >>> param_count(LSTM(10, 20, num_layers=2, bidirectional=True).init(jax.random.key(0)))
      15040
    """
    return int(sum(np.size(leaf) for leaf in jax.tree.leaves(params)))
