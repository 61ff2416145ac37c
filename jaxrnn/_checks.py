"""Input checks shared by every public entry point.

Every check runs at trace time (shapes and dtypes are static) and raises ``ValueError`` or
``TypeError`` whose message names the argument, the expected and the received value.
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
import numpy as np


def integer(name: str, value, minimum: int) -> int:
    """Returns ``value`` if it is an int >= ``minimum``, else raises naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def positive_int(name: str, value) -> int:
    """Returns ``value`` if it is an int >= 1, else raises naming ``name``."""
    return integer(name, value, 1)


def non_negative_int(name: str, value) -> int:
    """Returns ``value`` if it is an int >= 0, else raises naming ``name``."""
    return integer(name, value, 0)


def boolean(name: str, value) -> bool:
    """Returns ``value`` if it is a bool, else raises naming ``name``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def one_of(name: str, value, allowed: tuple) -> None:
    """Raises ``ValueError`` naming ``name`` unless ``value`` is in ``allowed``."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")


def float_array(name: str, x):
    """Returns ``x`` as a jax array, raising ``TypeError`` unless its dtype is floating."""
    if not hasattr(x, "dtype"):
        x = np.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{name} must have a floating dtype, got {x.dtype}")
    return jnp.asarray(x)


def shape(name: str, x, expected: tuple, what: str = "shape") -> None:
    """Raises ``ValueError`` unless ``x.shape == expected``."""
    if tuple(x.shape) != tuple(expected):
        raise ValueError(f"{name} must have {what} {tuple(expected)}, got {tuple(x.shape)}")


def is_concrete(x) -> bool:
    """True when ``x`` holds values now (not a tracer inside jit/vmap/grad)."""
    return not isinstance(x, jax.core.Tracer)
