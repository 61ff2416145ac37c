"""Runs in a subprocess of tests/test_distributed.py, where XLA_FLAGS forces N CPU devices.

``python tests/_distributed_worker.py train [--coordinator HOST:PORT --num-processes N
--process-id I]`` trains a small LSTM next-step regressor data-parallel over every device and
prints one JSON line; ``time-scan`` compares the time-sharded linear scan with a sequential loop;
``errors`` checks the errors that need several devices.
"""

import argparse
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxrnn
from jaxrnn import distributed
from jaxrnn.time_sharding import linear_scan

BATCH, STEPS_T, FEATURES, HIDDEN = 8, 12, 3, 8


def init(key):
    k_lstm, k_out = jax.random.split(key)
    readout = jax.random.normal(k_out, (FEATURES, HIDDEN)) * 0.3
    return {"lstm": jaxrnn.LSTM(FEATURES, HIDDEN, batch_first=True).init(k_lstm),
            "w": readout, "b": jnp.full((FEATURES,), 0.1)}


def loss_fn(params, x):
    """Predicts ``x[:, t + 1]`` from ``x[:, :t + 1]``; ``x: (B, T + 1, I)``."""
    out, _ = jaxrnn.LSTM(FEATURES, HIDDEN, batch_first=True).apply(params["lstm"], x[:, :-1])
    pred = out @ params["w"].T + params["b"]
    return jnp.mean((pred - x[:, 1:]) ** 2)


def global_batch(step):
    rng = np.random.default_rng(1000 + step)
    return rng.normal(size=(BATCH, STEPS_T + 1, FEATURES)).astype(np.float32)


def train(steps):
    mesh = distributed.device_mesh()
    optimizer = optax.adam(1e-2)
    params = init(jax.random.key(0))
    params, opt_state = distributed.replicate((params, optimizer.init(params)), mesh)
    rows = distributed.process_rows(BATCH, mesh)

    @jax.jit
    def step(params, opt_state, x):   # the plain single-device train step, unchanged
        loss, grads = jax.value_and_grad(loss_fn)(params, x)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    losses = []
    for s in range(steps):
        batch = distributed.shard_batch(global_batch(s)[rows], mesh)
        params, opt_state, loss = step(params, opt_state, batch)
        losses.append(float(loss))
    replicated = all(p.sharding.is_fully_replicated for p in jax.tree.leaves(params))
    if jax.process_count() > 1:   # a mesh that interleaves the processes' devices is refused
        with pytest.raises(ValueError, match=r"mesh: this process's devices must be adjacent"):
            distributed.process_rows(BATCH, distributed.device_mesh(jax.devices()[::2] + jax.devices()[1::2]))
    return {"devices": jax.device_count(), "processes": jax.process_count(),
            "process": jax.process_index(), "rows": [rows.start, rows.stop],
            "batch_spec": str(batch.sharding.spec), "replicated": replicated, "losses": losses}


def sequential(a, b, h0):
    def step(h, ab):
        h = ab[0] * h + ab[1]
        return h, h
    return jax.lax.scan(step, h0, (a, b))[1]


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
        report[name] = float(np.abs(h - sequential(a, b, h0)).max())
        report[name + "_spec"] = str(h.sharding.spec)
    a, b, h0 = (np.asarray(x.real, np.float32) for x in (a, b, h0))
    grads = [jax.grad(lambda *args: jnp.sum(jnp.sin(f(*args))), argnums=(0, 1, 2))(a, b, h0)
             for f in (lambda a, b, h0: linear_scan(a, b, h0, mesh=mesh, axis_name="time"), sequential)]
    report["grad"] = max(float(np.abs(g - r).max()) for g, r in zip(*grads))
    return report


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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("train", "time-scan", "errors"))
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--coordinator")
    parser.add_argument("--num-processes", type=int)
    parser.add_argument("--process-id", type=int)
    args = parser.parse_args()
    if args.coordinator:
        distributed.initialize(args.coordinator, args.num_processes, args.process_id, timeout_s=60)
    run = {"train": lambda: train(args.steps), "time-scan": time_scan, "errors": errors}[args.mode]
    print(json.dumps(run()), flush=True)


if __name__ == "__main__":
    main()
