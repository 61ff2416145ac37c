"""Data-parallel training on jax's own sharding and multi-process runtime.

A 1-D :class:`jax.sharding.Mesh` with a ``data`` axis spans the devices; the batch is split along
that axis (``NamedSharding(mesh, P("data"))``) and params and optimizer state are replicated
(``P()``). A train step jitted as usual then runs data-parallel with unchanged code: XLA inserts
the gradient all-reduce. Across hosts, every process calls :func:`initialize` first, feeds only
its own rows (:func:`process_rows`) and :func:`shard_batch` assembles the global batch.

Shape letters: B the global batch (divisible by the number of devices in the mesh).

Examples:
  >>> mesh = device_mesh()
  >>> params = replicate({"w": jnp.ones((3, 2))}, mesh)
  >>> batch = shard_batch(np.ones((2 * mesh.size, 3), np.float32), mesh)
  >>> step = jax.jit(lambda p, x: jnp.mean((x @ p["w"]) ** 2))
  >>> float(step(params, batch))
  9.0
"""

from __future__ import annotations

import re

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from jaxrnn import _checks

DATA_AXIS = "data"


def initialize(coordinator_address: str, num_processes: int, process_id: int, *,
               timeout_s: int = 300) -> None:
    """Joins this process to a multi-process jax run (``jax.distributed.initialize``).

    Call it once per process, before any other jax call. On CPU the cross-process collectives use
    gloo. Afterwards ``jax.devices()`` lists the devices of every process and
    ``jax.process_index()`` is ``process_id``.

    Args:
      coordinator_address: ``"HOST:PORT"`` of process 0, reachable from every process.
      num_processes: how many processes take part (>= 1).
      process_id: this process's index in ``[0, num_processes)``.
      timeout_s: seconds to wait for every process to join before raising.

    Examples:
      >>> initialize("127.0.0.1:1234", 2, 5)
      Traceback (most recent call last):
      ...
      ValueError: process_id must lie in [0, 2) (num_processes), got 5
    """
    if not isinstance(coordinator_address, str) or not re.fullmatch(r".+:\d+", coordinator_address):
        raise ValueError(f"coordinator_address must be 'HOST:PORT', got {coordinator_address!r}")
    num_processes = _checks.positive_int("num_processes", num_processes)
    process_id = _checks.non_negative_int("process_id", process_id)
    if process_id >= num_processes:
        raise ValueError(f"process_id must lie in [0, {num_processes}) (num_processes), got {process_id}")
    timeout_s = _checks.positive_int("timeout_s", timeout_s)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address, num_processes, process_id,
                               initialization_timeout=timeout_s)


def device_mesh(devices=None, *, axis_name: str = DATA_AXIS) -> Mesh:
    """A 1-D mesh over ``devices`` (default: every device of every process) with one named axis.

    The axis type is ``Auto``, so jitted code needs no sharding annotations (recent
    ``jax.make_mesh`` would default to ``Explicit``).

    Args:
      devices: a sequence of ``jax.Device``; ``None`` means ``jax.devices()``.
      axis_name: the mesh axis name.

    Examples:
      >>> device_mesh().axis_names
      ('data',)
    """
    devices = jax.devices() if devices is None else list(devices)
    if not devices:
        raise ValueError("devices must be a non-empty sequence of jax devices, got an empty one")
    if not isinstance(axis_name, str) or not axis_name:
        raise TypeError(f"axis_name must be a non-empty str, got {axis_name!r}")
    return Mesh(np.asarray(devices), (axis_name,), axis_types=(AxisType.Auto,))


def replicate(tree, mesh: Mesh):
    """Places a full copy of every array of ``tree`` (params, optimizer state) on every device.

    In a multi-process run each process must pass the same values.

    Args:
      tree: any pytree of arrays.
      mesh: the mesh (:func:`device_mesh`).

    Examples:
      >>> replicate(jnp.ones(3), device_mesh()).sharding.is_fully_replicated
      True
    """
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def _local_device_count(mesh: Mesh) -> int:
    me = jax.process_index()
    return sum(d.process_index == me for d in mesh.devices.flat)


def _batch_spec(mesh: Mesh, ndim: int, batch_axis: int) -> PartitionSpec:
    spec = [None] * ndim
    spec[batch_axis] = mesh.axis_names[0]
    return PartitionSpec(*spec)


def shard_batch(batch, mesh: Mesh, *, batch_axis: int = 0):
    """Splits a batch along ``mesh``'s axis: each device gets ``B / mesh.size`` consecutive rows.

    In one process ``batch`` is the whole global batch. In a multi-process run each process passes
    only its own rows (``global[process_rows(B, mesh)]``) and gets back the global array.

    Args:
      batch: a pytree of arrays sharing the batch axis; rows of this process.
      mesh: from :func:`device_mesh`.
      batch_axis: the batch axis of every leaf (1 for time-major ``(T, B, ...)`` data).

    Returns:
      The same pytree of global ``jax.Array`` sharded with ``P(..., "data", ...)``.

    Examples:
      >>> x = shard_batch(np.zeros((4, 10, 3), np.float32), device_mesh())
      >>> x.shape
      (4, 10, 3)
    """
    _checks.non_negative_int("batch_axis", batch_axis)
    local_devices = _local_device_count(mesh)

    def put(x):
        x = np.asarray(x)
        if x.ndim <= batch_axis:
            raise ValueError(f"batch: every leaf needs a batch axis {batch_axis}, got shape {x.shape}")
        rows = x.shape[batch_axis]
        if rows % local_devices:
            raise ValueError(
                f"batch: the batch axis of this process's rows ({rows}) must be divisible by its "
                f"{local_devices} device(s) in the mesh, got shape {x.shape}")
        global_shape = list(x.shape)
        global_shape[batch_axis] = rows * mesh.size // local_devices
        sharding = NamedSharding(mesh, _batch_spec(mesh, x.ndim, batch_axis))
        return jax.make_array_from_process_local_data(sharding, x, tuple(global_shape))

    return jax.tree.map(put, batch)


def process_rows(global_batch_size: int, mesh: Mesh) -> slice:
    """The rows of the global batch that this process feeds to :func:`shard_batch`.

    Args:
      global_batch_size: B, divisible by ``mesh.size``.
      mesh: from :func:`device_mesh`.

    Examples:
      >>> process_rows(8, device_mesh())   # one process holds every row
      slice(0, 8, None)
    """
    size = _checks.positive_int("global_batch_size", global_batch_size)
    if size % mesh.size:
        raise ValueError(f"global_batch_size must be divisible by the {mesh.size} devices of the "
                         f"mesh, got {size}")
    sharding = NamedSharding(mesh, PartitionSpec(mesh.axis_names[0]))
    index = [i for i in sharding.addressable_devices_indices_map((size,)).values() if i is not None]
    starts = [i[0].start or 0 for i in index]
    stops = [size if i[0].stop is None else i[0].stop for i in index]
    rows = slice(min(starts), max(stops))
    if rows.stop - rows.start != size * len(starts) // mesh.size:
        raise ValueError("mesh: this process's devices must be adjacent on the mesh axis "
                         "(build the mesh with device_mesh())")
    return rows


def to_host(tree):
    """Copies a pytree of (possibly sharded, multi-process) arrays to numpy arrays on every host.

    A collective in a multi-process run: every process must call it at the same point.

    Args:
      tree: any pytree of arrays.

    Examples:
      >>> mesh = device_mesh()
      >>> to_host(shard_batch(np.arange(4.0), mesh)).tolist()
      [0.0, 1.0, 2.0, 3.0]
    """
    if jax.process_count() == 1:
        return jax.tree.map(np.asarray, jax.device_get(tree))
    from jax.experimental import multihost_utils

    return multihost_utils.process_allgather(tree, tiled=True)


def any_process(flag: bool) -> bool:
    """True if ``flag`` is True in any process (e.g. Ctrl-C hit one of them), so all stop together.

    A collective in a multi-process run: every process must call it at the same point.

    Args:
      flag: this process's value.

    Examples:
      >>> any_process(False), any_process(True)
      (False, True)
    """
    if jax.process_count() == 1:
        return bool(flag)
    from jax.experimental import multihost_utils

    return bool(np.any(multihost_utils.process_allgather(np.asarray(bool(flag)))))
