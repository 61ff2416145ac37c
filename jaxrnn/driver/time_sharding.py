"""A linear recurrence with its time axis split across devices (``jax.shard_map``).

For a *linear* recurrence ``h_t = a_t * h_{t-1} + b_t`` (elementwise) the map from ``h_{t-1}`` to
``h_t`` is affine, and affine maps compose associatively:
``(a1, b1) then (a2, b2) = (a2 * a1, a2 * b1 + b2)``. So with T split into one chunk per device:

1. each device scans its chunk from ``h = 0``, giving ``h_t = A_t * h_in + B_t`` for every local
   step, where ``(A_t, B_t)`` is the composition of the chunk's steps up to t;
2. the chunk summaries ``(A_last, B_last)`` are all-gathered (one small collective), and each
   device folds the summaries of the chunks before it into its incoming state ``h_in``, starting
   from ``h0``;
3. each device fixes up its chunk: ``h_t = A_t * h_in + B_t``.

How a linear cell plugs in: a cell whose step is ``h_t = a_t * h_{t-1} + b_t`` with ``a_t``,
``b_t`` computed from ``x_t`` alone (minGRU: ``a_t = 1 - z_t``, ``b_t = z_t * h~_t``; minLSTM;
LRU: complex ``a_t = lambda``, ``b_t = gamma * (B x_t)``) computes ``a, b: (T, H)`` for the whole
sequence in one batched op, calls :func:`linear_scan`, and applies its (stateless) readout to the
returned ``h: (T, H)``. A reset ("a new sequence starts at t") is ``a_t = 0``; padding steps
(``t >= seq_length``) are ``a_t = 1, b_t = 0``. Batches are trailing axes: ``a, b: (T, B, H)``.

Examples:
  >>> from jaxrnn.train.distributed import device_mesh
  >>> mesh = device_mesh(axis_name="time")
  >>> h = linear_scan(jnp.full((8, 2), 0.5), jnp.ones((8, 2)), mesh=mesh, axis_name="time")
  >>> [round(float(v), 4) for v in h[:3, 0]]
  [1.0, 1.5, 1.75]
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, PartitionSpec

from jaxrnn import _checks
from jaxrnn.driver.associative import combine


def _check(a, b, h0, mesh, axis_name):
    if not isinstance(mesh, Mesh):
        raise TypeError(f"mesh must be a jax.sharding.Mesh, got {type(mesh).__name__}")
    if axis_name not in mesh.axis_names:
        raise ValueError(f"axis_name must be one of the mesh axes {mesh.axis_names}, got {axis_name!r}")
    a, b = jnp.asarray(a), jnp.asarray(b)
    for name, x in (("a", a), ("b", b)):
        if not jnp.issubdtype(x.dtype, jnp.inexact):
            raise TypeError(f"{name} must have a floating or complex dtype, got {x.dtype}")
    if a.ndim < 1:
        raise ValueError(f"a must have a leading time axis (T, ...), got shape {tuple(a.shape)}")
    _checks.shape("b", b, a.shape)
    devices = mesh.shape[axis_name]
    if a.shape[0] % devices:
        raise ValueError(f"a: the time axis ({a.shape[0]}) must be divisible by the {devices} devices "
                         f"on mesh axis {axis_name!r}")
    dtype = jnp.result_type(a, b)
    h0 = jnp.zeros(a.shape[1:], dtype) if h0 is None else jnp.asarray(h0)
    _checks.shape("h0", h0, a.shape[1:])
    return a.astype(dtype), b.astype(dtype), h0.astype(dtype)


def linear_scan(a, b, h0=None, *, mesh: Mesh, axis_name: str = "data"):
    """``h_t = a_t * h_{t-1} + b_t`` for t = 0..T-1 with T split across the devices of a mesh axis.

    Each device scans its T / n steps locally (``jax.lax.associative_scan``), the n chunk
    summaries are all-gathered and folded into each chunk's incoming state, and every device fixes
    up its chunk. Differentiable; equal to the sequential loop up to float rounding.

    Args:
      a: ``(T, ...)`` per-step decay (real or complex); T divisible by the axis's device count.
      b: ``(T, ...)`` per-step input, same shape as ``a``.
      h0: ``(...)`` the state before step 0; ``None`` is zeros.
      mesh: a :class:`jax.sharding.Mesh` (e.g. :func:`jaxrnn.train.distributed.device_mesh`).
      axis_name: the mesh axis the time axis is split over.

    Returns:
      ``h: (T, ...)``, every step's state, sharded along T over ``axis_name``.

    Examples:
      >>> from jaxrnn.train.distributed import device_mesh
      >>> mesh = device_mesh()
      >>> h = linear_scan(jnp.ones((4, 1)), jnp.ones((4, 1)), jnp.zeros(1), mesh=mesh)
      >>> h[:, 0].tolist()
      [1.0, 2.0, 3.0, 4.0]
    """
    a, b, h0 = _check(a, b, h0, mesh, axis_name)
    return _sharded_scan(a, b, h0, mesh=mesh, axis_name=axis_name)


def _chunk(a, b, h0, *, axis_name):
    """One device's part: ``a, b: (T / n, ...)`` its chunk, ``h0: (...)`` -> its ``h``."""
    cum_a, cum_b = jax.lax.associative_scan(combine, (a, b))
    summaries = jax.lax.all_gather((cum_a[-1], cum_b[-1]), axis_name)   # (n, ...) each
    # Chunk i enters with (identity, chunk 0, ..., chunk i-1) composed, applied to h0.
    identity = (jnp.ones_like(h0)[None], jnp.zeros_like(h0)[None])
    before = jax.tree.map(lambda e, s: jnp.concatenate([e, s[:-1]]), identity, summaries)
    enter_a, enter_b = jax.lax.associative_scan(combine, before)
    i = jax.lax.axis_index(axis_name)
    return cum_a * (enter_a[i] * h0 + enter_b[i]) + cum_b


# Jitted here (an exception to "the caller jits") because shard_map run eagerly dispatches every op
# separately: seconds per call instead of microseconds. Inside the caller's jit it is inlined.
@functools.partial(jax.jit, static_argnames=("mesh", "axis_name"))
def _sharded_scan(a, b, h0, *, mesh, axis_name):
    time = PartitionSpec(axis_name)
    run = jax.shard_map(functools.partial(_chunk, axis_name=axis_name), mesh=mesh,
                        in_specs=(time, time, PartitionSpec()), out_specs=time)
    return run(a, b, h0)
