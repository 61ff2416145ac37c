"""Runs in a subprocess of tests/train/test_distributed.py, where XLA_FLAGS forces N CPU devices.

``python tests/train/_distributed_worker.py time-scan`` compares the time-sharded linear scan with the
reference loop; ``errors`` checks the errors that need several devices; ``interleaved`` (with
``--coordinator-address HOST:PORT --num-processes 2 --process-id I``) checks that a mesh
interleaving two processes' devices is refused. Each prints one JSON line.
(Data-parallel training is checked by running ``experiments/data_parallel.py``.)
"""

import argparse
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrnn
from jaxrnn.driver.time_sharding import linear_scan
from jaxrnn.train import distributed
from tests.helpers import linear_loop


def time_scan():
    mesh = distributed.device_mesh(axis_name="time")
    rng = np.random.default_rng(0)
    report = {"devices": mesh.size}
    for name, dtype in (("float32", np.float32), ("complex64", np.complex64)):
        a = rng.uniform(0.5, 1.0, (16, 3, 5)).astype(dtype)
        b = rng.normal(size=(16, 3, 5)).astype(dtype)
        h0 = rng.normal(size=(3, 5)).astype(dtype)
        if dtype == np.complex64:
            a = a * np.exp(1j * rng.uniform(-1, 1, a.shape)).astype(dtype)
        h = jax.jit(lambda a, b, h0: linear_scan(a, b, h0, mesh=mesh, axis_name="time"))(a, b, h0)
        report[name] = float(np.abs(h - linear_loop(a, b, h0)).max())
        report[name + "_spec"] = str(h.sharding.spec)
    a, b, h0 = (np.asarray(x.real, np.float32) for x in (a, b, h0))
    grads = [jax.grad(lambda *args, f=f: jnp.sum(jnp.sin(f(*args))), argnums=(0, 1, 2))(a, b, h0)
             for f in (lambda a, b, h0: linear_scan(a, b, h0, mesh=mesh, axis_name="time"), linear_loop)]
    report["grad"] = max(float(np.abs(g - r).max()) for g, r in zip(*grads))
    report["min_gru"] = min_gru_over_time(mesh)
    return report


def min_gru_over_time(mesh):
    """A linear cell plugged in as the module docstring says: its terms, the sharded scan, its readout."""
    cell = jaxrnn.MinGRUCell(hidden_size=6)
    params = cell.init(jax.random.key(1), 3)
    xs = jax.random.normal(jax.random.key(2), (32, 3))

    @jax.jit
    def sharded(params, xs):
        a, b = cell.linear_terms(params, xs)
        return cell.readout(params, linear_scan(a, b, mesh=mesh, axis_name="time"), xs)

    ys, _ = jaxrnn.scan(cell, params, xs)   # the sequential driver
    return float(np.abs(sharded(params, xs) - ys).max())


def errors():
    mesh = distributed.device_mesh()
    with pytest.raises(ValueError, match=r"batch: the batch axis of this process's rows \(6\) must be "
                                         r"divisible by its 4 device"):
        distributed.shard_batch(np.zeros((6, 2), np.float32), mesh)
    with pytest.raises(ValueError, match=r"global_batch_size must be divisible by the 4 devices"):
        distributed.process_rows(6, mesh)
    with pytest.raises(ValueError, match=r"a: the time axis \(10\) must be divisible by the 4 devices"):
        linear_scan(jnp.ones((10, 2)), jnp.ones((10, 2)), mesh=mesh)
    return {"devices": mesh.size, "errors": "ok"}


def interleaved():
    devices = jax.devices()
    mesh = distributed.device_mesh(devices[::2] + devices[1::2])
    with pytest.raises(ValueError, match=r"mesh: this process's devices must be adjacent"):
        distributed.process_rows(8, mesh)
    return {"devices": mesh.size, "processes": jax.process_count(), "errors": "ok"}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("time-scan", "errors", "interleaved"))
    parser.add_argument("--coordinator-address")
    parser.add_argument("--num-processes", type=int)
    parser.add_argument("--process-id", type=int)
    args = parser.parse_args()
    if args.coordinator_address:
        distributed.initialize(args.coordinator_address, args.num_processes, args.process_id,
                               timeout_s=60)
    run = {"time-scan": time_scan, "errors": errors, "interleaved": interleaved}[args.mode]
    print(json.dumps(run()), flush=True)


if __name__ == "__main__":
    main()
