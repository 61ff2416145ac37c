"""Input checks shared by every public entry point.

Every check runs at trace time (shapes and dtypes are static) and raises ``ValueError`` or
``TypeError`` whose message names the argument, the expected and the received value.
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jax.core import Tracer


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


def array(name: str, x):
    """``x`` if it is an array JAX reads (a jax or NumPy array, a tracer), else ``np.asarray(x)``
    (lists, numbers); raises ``TypeError`` naming ``name`` for an array of another library (a
    torch tensor) whose dtype JAX does not know."""
    if not hasattr(x, "dtype"):
        return np.asarray(x)
    if isinstance(x, (jax.Array, Tracer)):
        return x
    try:
        np.dtype(x.dtype)
    except TypeError:
        raise TypeError(f"{name} must be a JAX or NumPy array, got {type(x).__module__}.{type(x).__name__} "
                        f"of dtype {x.dtype} (convert it first, e.g. tensor.numpy())") from None
    return x


def float_array(name: str, x):
    """Returns ``x`` as a jax array, raising ``TypeError`` unless its dtype is floating."""
    x = array(name, x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{name} must have a floating dtype, got {x.dtype}")
    return jnp.asarray(x)


def prng_key(name: str, key, *, single: bool = True):
    """``key`` as a typed PRNG key array: a ``jax.random.key`` passes, a raw ``jax.random.PRNGKey``
    (uint32 key data) is wrapped; ``single``: exactly one key (shape ``()``), else any batch.

    Examples:
      >>> prng_key("key", jax.random.PRNGKey(0)).shape
      ()
      >>> prng_key("key", 0)
      Traceback (most recent call last):
      TypeError: key must be a PRNG key (jax.random.key(seed) or jax.random.PRNGKey(seed)), got int
    """
    dtype = getattr(key, "dtype", None)
    if dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key):
        typed = key
    elif dtype == np.uint32 and np.ndim(key) >= 1:
        try:
            typed = jax.random.wrap_key_data(key)
        except (TypeError, ValueError):
            typed = None
    else:
        typed = None
    if typed is None:
        got = type(key).__name__ + (f" of dtype {dtype} and shape {tuple(np.shape(key))}" if dtype is not None else "")
        raise TypeError(f"{name} must be a PRNG key (jax.random.key(seed) or jax.random.PRNGKey(seed)), got {got}")
    if single and typed.shape != ():
        raise ValueError(f"{name} must be one PRNG key, got a batch of keys of shape {tuple(typed.shape)}")
    return typed


def shape(name: str, x, expected: tuple, what: str = "shape") -> None:
    """Raises ``ValueError`` unless ``x.shape == expected``."""
    if tuple(x.shape) != tuple(expected):
        raise ValueError(f"{name} must have {what} {tuple(expected)}, got {tuple(x.shape)}")


def bools(name: str, value, expected: tuple, what: str = "shape"):
    """``value`` as a jax bool array of shape ``expected`` (flags: a mask, resets), else raises
    ``TypeError`` (not bool) or ``ValueError`` (shape) naming ``name``; ``what`` describes the shape.

    Examples:
      >>> bools("mask", [True, False], (2,)).dtype
      dtype('bool')
    """
    value = array(name, value)
    if value.dtype != np.bool_:
        raise TypeError(f"{name} must have a bool dtype, got {value.dtype}")
    shape(name, value, expected, what)
    return jnp.asarray(value)


def is_concrete(x) -> bool:
    """True when ``x`` holds values now (not a tracer inside jit/vmap/grad)."""
    return not isinstance(x, Tracer)


def params_match(path: str, params, shapes: dict) -> None:
    """Raises naming ``path`` unless ``params`` is a dict with exactly the keys of ``shapes``,
    each a floating array of that shape.

    Examples:
      >>> params_match("params", {"w": jnp.ones((2, 3))}, {"w": (2, 3)})
    """
    if not isinstance(params, Mapping):
        raise TypeError(f"{path} must be a dict with keys {sorted(shapes)}, got {type(params).__name__}")
    missing, extra = sorted(set(shapes) - set(params)), sorted(set(params) - set(shapes))
    if missing or extra:
        raise ValueError(f"{path} must have the keys {sorted(shapes)}, got {sorted(params)}"
                         + (f" (missing {missing})" if missing else "")
                         + (f" (unexpected {extra})" if extra else ""))
    for name, expected in shapes.items():
        value = params[name]
        where = f"{path}[{name!r}]"
        if not hasattr(value, "shape") or not hasattr(value, "dtype"):
            raise TypeError(f"{where} must be an array, got {type(value).__name__}")
        value = array(where, value)
        if not jnp.issubdtype(value.dtype, jnp.floating):
            raise TypeError(f"{where} must have a floating dtype, got {value.dtype}")
        if tuple(value.shape) != tuple(expected):
            raise ValueError(f"{where} must have shape {tuple(expected)}, got {tuple(value.shape)}")


def keys_match(path: str, value, keys: tuple) -> None:
    """Raises naming ``path`` unless ``value`` is a dict with exactly ``keys``."""
    if not isinstance(value, Mapping) or set(value) != set(keys):
        got = sorted(value) if isinstance(value, Mapping) else type(value).__name__
        raise ValueError(f"{path} must be a dict with the keys {list(keys)}, got {got}")


def tree_like(name: str, value, template, trailing: int = 0) -> None:
    """Raises naming ``name`` unless ``value`` has ``template``'s pytree structure and each leaf
    ends in the template leaf's last ``trailing`` dimensions (leading batch dimensions are free)."""
    if jax.tree.structure(template) != jax.tree.structure(value):
        def shapes(tree):
            return jax.tree.map(lambda a: tuple(getattr(a, "shape", ())), tree)

        raise ValueError(f"{name} must be structured like {shapes(template)} (leading batch dimensions "
                         f"allowed), got {shapes(value)}")
    for want, leaf in zip(jax.tree.leaves(template), jax.tree.leaves(value)):
        tail = tuple(want.shape[len(want.shape) - trailing:])
        shape = tuple(getattr(leaf, "shape", ()))
        if shape[len(shape) - trailing:] != tail or len(shape) < trailing:
            raise ValueError(f"{name} must have shape (..., {', '.join(map(str, tail))}), got {shape}")


def cell(name: str, value) -> None:
    """Raises ``TypeError`` naming ``name`` unless ``value`` is a cell (an instance following the
    cell protocol: ``init``, ``initial_carry``, ``apply(params, carry, x)``, ``output_size``)."""
    if isinstance(value, type):
        raise TypeError(f"{name} must be a cell instance, e.g. {value.__name__}(hidden_size), got the class "
                        f"{value.__name__}")
    missing = [a for a in ("init", "initial_carry", "apply", "output_size") if not hasattr(value, a)]
    if missing:
        raise TypeError(f"{name} must be a cell (with init, initial_carry, apply and output_size), got "
                        f"{type(value).__name__} without {', '.join(missing)}")


def sequence_layer(name: str, value, what: str = "a sequence layer (Recurrent, Bidirectional, Stack)") -> None:
    """Raises ``TypeError`` naming ``name`` unless ``value`` is a sequence layer (``Recurrent``,
    ``Bidirectional``, ``Stack`` or one with ``init`` and ``apply(params, xs, carry, *, seq_length,
    key)``); a cell gets told to be wrapped in ``jaxrnn.Recurrent``."""
    apply = None if isinstance(value, type) else getattr(value, "apply", None)
    if apply is not None and hasattr(value, "init") and "seq_length" in inspect.signature(apply).parameters:
        return
    got = f"the class {value.__name__}" if isinstance(value, type) else type(value).__name__
    hint = "; wrap a cell in jaxrnn.Recurrent" if hasattr(value, "initial_carry") else ""
    raise TypeError(f"{name} must be {what}, got {got}{hint}")


def per_layer(name: str, value, layers: int) -> None:
    """Raises naming ``name`` unless ``value`` is a list or tuple with one entry per layer."""
    if not isinstance(value, (list, tuple)) or len(value) != layers:
        got = f"{len(value)} entries" if isinstance(value, (list, tuple)) else type(value).__name__
        raise ValueError(f"{name} must be a list with one entry per layer ({layers}), got {got}")


def lengths(name: str, value, total: int):
    """Validates sequence lengths against ``total`` steps and returns them as an int array.

    Concrete values outside ``[0, total]`` raise ``ValueError``. Traced values (under ``jax.jit``)
    cannot be checked and are clamped to ``[0, total]``.

    Args:
      name: the argument's name for messages (``seq_length`` or ``seq_lengths``).
      value: an int scalar or array.
      total: T.

    Examples:
      >>> int(lengths("seq_length", 3, 5))
      3
    """
    value = array(name, value)
    if not jnp.issubdtype(value.dtype, jnp.integer):
        raise TypeError(f"{name} must have an integer dtype, got {value.dtype}")
    if is_concrete(value):
        values = np.asarray(value)
        if values.size and (values.min() < 0 or values.max() > total):
            raise ValueError(
                f"{name} must lie in [0, {total}] (the number of time steps), "
                f"got values in [{values.min()}, {values.max()}]"
            )
    return jnp.clip(jnp.asarray(value), 0, total)
