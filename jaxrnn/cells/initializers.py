"""Named initialisation presets for recurrent cells.

A preset maps each parameter's role to a distribution:

=========  ====================================  =========================================
role       ``"torch"`` (default)                 ``"keras"``
=========  ====================================  =========================================
input      ``U(-1/sqrt(H), 1/sqrt(H))``          glorot uniform over ``(out, in)``
recurrent  ``U(-1/sqrt(H), 1/sqrt(H))``          orthogonal over the full ``(k*H, H)``
project    ``U(-1/sqrt(H), 1/sqrt(H))``          glorot uniform
bias       ``U(-1/sqrt(H), 1/sqrt(H))``          zeros (an LSTM's forget block is 1)
=========  ====================================  =========================================
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxrnn import _checks, precision

PRESETS = ("torch", "keras")
ROLES = ("input", "recurrent", "projection", "bias")


def init_param(key, shape: tuple, role: str, hidden_size: int, preset: str, dtype):
    """Draws one parameter of ``shape`` for ``role`` under ``preset``.

    Args:
      key: PRNG key.
      shape: the parameter's shape, torch layout ``(out, in)`` for weights.
      role: one of ``"input"``, ``"recurrent"``, ``"projection"``, ``"bias"``.
      hidden_size: H, which sets torch's bound ``1/sqrt(H)``.
      preset: ``"torch"`` or ``"keras"``.
      dtype: a floating dtype (float32 or float64; :func:`init_params` draws 16-bit params in
        float32).

    Returns:
      An array of ``shape`` and ``dtype``.

    Examples:
      >>> w = init_param(jax.random.key(0), (32, 5), "input", 8, "torch", jnp.float32)
      >>> w.shape
      (32, 5)
    """
    _checks.one_of("preset", preset, PRESETS)
    if preset == "torch":
        bound = 1.0 / jnp.sqrt(hidden_size)
        return jax.random.uniform(key, shape, dtype, -bound, bound)
    if role == "bias":
        return jnp.zeros(shape, dtype)
    if role == "recurrent":
        return jax.nn.initializers.orthogonal()(key, shape, dtype)
    return jax.nn.initializers.glorot_uniform(in_axis=-1, out_axis=-2)(key, shape, dtype)


def init_params(key, spec: dict, hidden_size: int, preset: str, dtype) -> dict:
    """Draws every parameter of ``spec`` (``name -> (shape, role)``) with independent keys.

    Examples:
      >>> p = init_params(jax.random.key(0), {"b_ih": ((8,), "bias")}, 8, "keras", jnp.float32)
      >>> float(p["b_ih"].sum())
      0.0
    """
    _checks.one_of("preset", preset, PRESETS)
    dtype = precision.floating_dtype("dtype", dtype)
    draw = precision.state_dtype(dtype)  # 16-bit params are drawn in float32, then rounded
    keys = jax.random.split(_checks.prng_key("key", key), len(spec))
    return {
        name: init_param(k, shape, role, hidden_size, preset, draw).astype(dtype)
        for k, (name, (shape, role)) in zip(keys, spec.items())
    }
