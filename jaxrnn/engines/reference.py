"""The ``"reference"`` engine, the specification: ``jax.vmap`` over the rows of the network's
combinators running :func:`jaxrnn.scan` (its checked-once core, :func:`jaxrnn.driver.run.evaluate`)
over the cells, one unbatched sequence at a time. Every other engine is tested equal to it.
"""

from __future__ import annotations

import jax

from jaxrnn.combinators import restack, unstack
from jaxrnn.driver.run import evaluate


def run(network, params, x, state, valid, row_keys, policy):
    """Runs ``network`` on ``x: (T, B, I)`` row by row (see :mod:`jaxrnn.engines` for the contract).

    Examples:
      >>> from jaxrnn import precision
      >>> layer = jaxrnn.GRU(3, 4)
      >>> x, params = jnp.ones((5, 2, 3)), layer.init(jax.random.key(0))
      >>> ys, h_n = run(layer.network(), params, x, jnp.zeros((1, 2, 4)), None, None,
      ...               precision.policy(None, x, params))
      >>> ys.shape, h_n.shape
      ((5, 2, 4), (1, 2, 4))
    """
    def runner(cell, params, xs, carries, valid_b, reverses, unroll):
        return tuple(evaluate(p, xs, c, valid_b, None, cell=cell, reverse=r, unroll=unroll, method="sequential",
                              state=policy.state)[:2]
                     for p, c, r in zip(params, carries, reverses))

    def row(x_b, state_b, valid_b, key_b):
        ys, finals = network.run(runner, params, x_b, unstack(network, state_b), valid_b, key_b)
        return ys, restack(network, finals)

    in_axes = (1, 1, None if valid is None else 1, None if row_keys is None else 0)
    return jax.vmap(row, in_axes=in_axes, out_axes=(1, 1))(x, state, valid, row_keys)
