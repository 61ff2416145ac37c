"""One compiled program per call: the rule by which jaxrnn's entry points run their work.

An entry point (an op of :mod:`jaxrnn.ops`, a layer's ``apply``) checks its arguments in Python,
where concrete values can be range-checked, then hands the work to :func:`compiled`. Called outside
``jax.jit``, the work then runs as one XLA program instead of op by op (a chunked method or a
bidirectional stack is hundreds of small ops, each dispatched and compiled on its own when eager);
inside a user's ``jax.jit`` the inner program is inlined and costs nothing.
"""

from __future__ import annotations

import functools

import jax


def compiled(fn, /, *arrays, **static):
    """``fn(*arrays, **static)`` as one compiled program, cached per ``fn``, ``static`` values and
    the arrays' shapes and dtypes.

    Args:
      fn: a module-level function (its identity is the cache key).
      *arrays: pytrees of arrays (``None`` allowed), traced.
      **static: hashable values (frozen dataclasses, strings, numbers, functions, modules), passed
        by keyword.

    Examples:
      >>> import jax.numpy as jnp
      >>> def scaled(x, *, by): return by * x
      >>> compiled(scaled, jnp.ones(2), by=3.0)
      Array([3., 3.], dtype=float32)
    """
    return _compiled(fn, tuple(sorted(static.items())), *arrays)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _compiled(fn, static: tuple, *arrays):
    return fn(*arrays, **dict(static))
