"""Data-parallel training of a small LSTM over every device, on one host or several.

A plain jitted optax step (next-step regression on random sequences) runs unchanged: the batch is
split along the mesh's ``data`` axis, params and optimizer state are replicated, and XLA adds the
gradient all-reduce. The printed losses do not depend on the number of devices or processes
(up to float rounding).

Run:
  ``python experiments/data_parallel.py``                      (every visible device)
  ``XLA_FLAGS=--xla_force_host_platform_device_count=4 python experiments/data_parallel.py``
  two processes (run each command in its own shell, or on its own host with the host's address):
  ``python experiments/data_parallel.py --coordinator-address 127.0.0.1:12355 --num-processes 2 --process-id 0``
  ``python experiments/data_parallel.py --coordinator-address 127.0.0.1:12355 --num-processes 2 --process-id 1``
"""

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxrnn
from jaxrnn.train import distributed

BATCH, STEPS_T, FEATURES, HIDDEN = 8, 12, 3, 8
MODEL = jaxrnn.LSTM(FEATURES, HIDDEN, batch_first=True)


def init(key):
    k_lstm, k_out = jax.random.split(key)
    return {"lstm": MODEL.init(k_lstm), "w": jax.random.normal(k_out, (FEATURES, HIDDEN)) * 0.3,
            "b": jnp.full((FEATURES,), 0.1)}


def loss_fn(params, x):
    """Mean squared error of predicting ``x[:, t + 1]`` from ``x[:, :t + 1]``; ``x: (B, T + 1, I)``."""
    out, _ = MODEL.apply(params["lstm"], x[:, :-1])
    return jnp.mean((out @ params["w"].T + params["b"] - x[:, 1:]) ** 2)


def global_batch(step):
    """The global batch of ``step``: a pure function of the step, the same in every process."""
    rng = np.random.default_rng(1000 + step)
    return rng.normal(size=(BATCH, STEPS_T + 1, FEATURES)).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--coordinator-address", help="HOST:PORT of process 0 (multi-process runs)")
    parser.add_argument("--num-processes", type=int, default=1)
    parser.add_argument("--process-id", type=int, default=0)
    args = parser.parse_args()
    if args.coordinator_address:
        distributed.initialize(args.coordinator_address, args.num_processes, args.process_id)

    mesh = distributed.device_mesh()
    optimizer = optax.adam(args.lr)
    params = init(jax.random.key(0))
    params, opt_state = distributed.replicate((params, optimizer.init(params)), mesh)
    rows = distributed.process_rows(BATCH, mesh)
    print(f"devices: {jax.device_count()} (processes: {jax.process_count()}, this is process "
          f"{jax.process_index()}, feeding rows {rows.start}:{rows.stop} of {BATCH})", flush=True)

    @jax.jit
    def step(params, opt_state, x):   # the single-device train step, unchanged
        loss, grads = jax.value_and_grad(loss_fn)(params, x)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    for s in range(args.steps):
        batch = distributed.shard_batch(global_batch(s)[rows], mesh)
        params, opt_state, loss = step(params, opt_state, batch)
        print(f"step {s + 1} loss {float(loss)!r}", flush=True)
    print(f"batch sharding: {batch.sharding.spec}")
    print(f"params replicated: {all(p.sharding.is_fully_replicated for p in jax.tree.leaves(params))}")


if __name__ == "__main__":
    main()
