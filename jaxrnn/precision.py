"""Mixed precision: which dtype the matmuls, the recurrent state and the outputs use.

One rule for every cell, engine and layer (DESIGN.md section 2, ``compute_dtype``):

- the *compute dtype* is the dtype of the matmul operands and of the outputs ``y``; ``None`` means
  the promoted dtype of the input and the params (``jnp.result_type``), so float32 params with a
  bfloat16 input compute in float32, and bfloat16 everything computes in bfloat16;
- the *state dtype* is the dtype of the recurrent state (carries, ``h_n``/``c_n``), of the matmul
  accumulation and of the pointwise gate math: float32 whenever the compute dtype is 16-bit, the
  compute dtype otherwise. A long bfloat16 run thus never rounds its LSTM cell state to 8 bits of
  mantissa at every step.

Dtypes may be given as numpy/JAX dtypes, scalar types (``jnp.bfloat16``) or their string names
(``"bfloat16"``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Policy(NamedTuple):
    """The dtypes of one call.

    Attributes:
      compute: the dtype of matmul operands and outputs.
      state: the dtype of carries, accumulation and gate math.
    """

    compute: np.dtype
    state: np.dtype


def floating_dtype(name: str, value) -> np.dtype:
    """Returns ``value`` as a floating ``np.dtype``, raising naming ``name`` otherwise.

    Args:
      name: the argument's name, for the error message.
      value: a dtype, a scalar type or a dtype's name.

    Examples:
      >>> floating_dtype("dtype", "bfloat16")
      dtype(bfloat16)
    """
    try:
        dtype = jnp.dtype(value)
    except TypeError:
        raise TypeError(f"{name} must be a floating dtype or its name (e.g. 'bfloat16'), "
                        f"got {type(value).__name__} {value!r}") from None
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"{name} must be a floating dtype, got {dtype}")
    return dtype


def dtype_name(name: str, value) -> str | None:
    """The canonical name of an optional floating dtype (hashable, so it can be a static field).

    Args:
      name: the argument's name, for the error message.
      value: ``None``, a floating dtype, a scalar type or a dtype's name.

    Examples:
      >>> dtype_name("compute_dtype", jnp.bfloat16), dtype_name("compute_dtype", None)
      ('bfloat16', None)
    """
    return None if value is None else floating_dtype(name, value).name


def state_dtype(compute) -> np.dtype:
    """float32 for a 16-bit compute dtype, else the compute dtype itself.

    Args:
      compute: the compute dtype.
    """
    compute = jnp.dtype(compute)
    return jnp.dtype(jnp.float32) if compute.itemsize < 4 else compute


def policy(compute_dtype, *trees) -> Policy:
    """The policy for ``compute_dtype`` (``None``: promote the floating leaves of ``trees``).

    Args:
      compute_dtype: ``None``, a floating dtype or its name.
      *trees: the call's input and params (any pytrees; only floating leaves count).

    Examples:
      >>> policy(None, jnp.ones(2, jnp.bfloat16), {"w": jnp.ones(2)})
      Policy(compute=dtype('float32'), state=dtype('float32'))
      >>> policy("bfloat16", jnp.ones(2))
      Policy(compute=dtype(bfloat16), state=dtype('float32'))
    """
    if compute_dtype is None:
        dtypes = [leaf.dtype for leaf in jax.tree.leaves(trees)
                  if hasattr(leaf, "dtype") and jnp.issubdtype(leaf.dtype, jnp.floating)]
        compute = jnp.result_type(*dtypes) if dtypes else jnp.dtype(jnp.float32)
    else:
        compute = floating_dtype("compute_dtype", compute_dtype)
    compute = jnp.dtype(compute)
    return Policy(compute, state_dtype(compute))


def matmul_t(x, w):
    """``x @ w.T`` with ``w`` already in the compute dtype: ``x`` is cast to it, the product is
    accumulated (and returned) in the state dtype. ``x: (..., K)``, ``w: (N, K)`` -> ``(..., N)``.

    Args:
      x: ``(..., K)``.
      w: ``(N, K)``, in the compute dtype.

    Examples:
      >>> matmul_t(jnp.ones((2, 3)), jnp.ones((4, 3), jnp.bfloat16)).dtype
      dtype('float32')
    """
    return _dot(x, w, 1)


def matmul(a, b):
    """``a @ b`` with ``b`` already in the compute dtype, accumulated in the state dtype.
    ``a: (..., K)``, ``b: (K, N)`` -> ``(..., N)``.

    Args:
      a: ``(..., K)``.
      b: ``(K, N)``, in the compute dtype.

    Examples:
      >>> matmul(jnp.ones((2, 4)), jnp.ones((4, 3), jnp.bfloat16)).dtype
      dtype('float32')
    """
    return _dot(a, b, 0)


def _dot(a, w, w_axis: int):
    """``a``'s last axis contracted with axis ``w_axis`` of the 2-D ``w`` (see :func:`matmul`)."""
    return jax.lax.dot_general(a.astype(w.dtype), w, (((a.ndim - 1,), (w_axis,)), ((), ())),
                               preferred_element_type=state_dtype(w.dtype))


def cast_tree(tree, dtype):
    """Casts the floating leaves of ``tree`` to ``dtype`` (others, e.g. integer counters, stay).

    Args:
      tree: any pytree of arrays.
      dtype: the floating dtype to cast to.

    Examples:
      >>> cast_tree((jnp.ones(2, jnp.bfloat16), jnp.int32(3)), jnp.float32)[0].dtype
      dtype('float32')
    """
    def cast(a):
        a = jnp.asarray(a)
        return a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) and a.dtype != dtype else a

    return jax.tree.map(cast, tree)
