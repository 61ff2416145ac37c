"""Where the time of the chunked gated delta rule goes (benchmarks/RESULTS.md, section C4).

Interleaved rounds after a warm-up, one process, medians and bests in ms:

- the whole chunked method (what ``jaxrnn.ops.gated_delta_rule(method="chunked")`` runs after its
  checks), forward and forward+backward;
- the WY inverse alone on the same systems (B*H*N unit-lower-triangular C x C), forward and
  forward+backward, with its custom gradient and differentiated through its block levels;
- the chunk products without the inverse (the op with the inverse replaced by the identity);
- a float32 matmul of the machine (its GFLOP/s: the ceiling of every row), and XLA's FLOP count of
  each program (a scan body counts once: multiplied by the number of chunks).

    python scripts/profile_gdn.py [--batch 4 --steps 2048 --heads 4 --dim 64 --chunk 64 --rounds 5]
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxrnn.driver import chunked_delta


def timed(fn, *args):
    """A callable running the jitted ``fn(*args)`` to completion."""
    compiled = jax.jit(fn)
    return lambda: jax.block_until_ready(compiled(*args))


def flops(fn, *args) -> float:
    """XLA's FLOP count of the jitted ``fn(*args)`` (loop bodies once)."""
    cost = jax.jit(fn).lower(*args).compile().cost_analysis()
    return float((cost[0] if isinstance(cost, list) else cost).get("flops", 0.0))


def grad_of(fn, argnums):
    """The gradient of the sum of ``fn``'s outputs."""
    return jax.grad(lambda *a: sum(jnp.sum(x) for x in jax.tree.leaves(fn(*a))), argnums=argnums)


def through_blocks(a):
    """The block inverse differentiated by autodiff through its levels (no custom gradient)."""
    n = a.shape[-1]
    size = 1 << (n - 1).bit_length()
    a = jnp.pad(jnp.tril(a, -1), [(0, 0)] * (a.ndim - 2) + [(0, size - n)] * 2)
    return chunked_delta._inverse_blocks(a)[..., :n, :n]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=2048)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--chunk", type=int, default=64)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    b, t, h, d, c = args.batch, args.steps, args.heads, args.dim, args.chunk
    keys = jax.random.split(jax.random.key(0), 6)
    q, k = (x / jnp.linalg.norm(x, axis=-1, keepdims=True) for x in
            (jax.random.normal(keys[i], (b, t, h, d)) for i in range(2)))
    v = jax.random.normal(keys[2], (b, t, h, d))
    g = -jax.nn.softplus(jax.random.normal(keys[3], (b, t, h)))
    beta = jax.nn.sigmoid(jax.random.normal(keys[4], (b, t, h)))
    chunks = -(-t // c)
    systems = 0.1 * jax.random.normal(keys[5], (b * h * chunks, c, c))

    def op(q, k, v, g, beta):  # the op's chunked method itself (ops.gated_delta_rule's, checks aside)
        state = jnp.zeros((b, h, d, d))
        return chunked_delta.wy_delta_rule(q, k, v, g, beta, state, None, None, scale=d ** -0.5, chunk=c)

    def no_inverse(q, k, v, g, beta):
        original = chunked_delta._unit_lower_inverse
        chunked_delta._unit_lower_inverse = lambda a: jnp.broadcast_to(jnp.eye(a.shape[-1], dtype=a.dtype), a.shape)
        try:  # traced here, inside the caller's jit: the replacement is read once
            return op(q, k, v, g, beta)
        finally:
            chunked_delta._unit_lower_inverse = original

    inputs = (q, k, v, g, beta)
    rows = {
        "op fwd": (op, inputs, chunks),
        "op fwd+bwd": (grad_of(op, (0, 1, 2, 3, 4)), inputs, chunks),
        "op without the inverse, fwd+bwd": (grad_of(no_inverse, (0, 1, 2, 3, 4)), inputs, chunks),
        "inverse fwd": (chunked_delta._unit_lower_inverse, (systems,), 1),
        "inverse fwd+bwd (custom gradient)": (grad_of(chunked_delta._unit_lower_inverse, 0), (systems,), 1),
        "inverse fwd+bwd (through the blocks)": (grad_of(through_blocks, 0), (systems,), 1),
        "matmul 1024^3": (jnp.matmul, (jnp.ones((1024, 1024)), jnp.ones((1024, 1024))), 1),
    }
    calls = {name: timed(fn, *a) for name, (fn, a, _) in rows.items()}
    counts = {name: flops(fn, *a) * loops for name, (fn, a, loops) in rows.items()}
    for call in calls.values():
        call()
    times = {name: [] for name in calls}
    load_before = os.getloadavg()[0]
    for _ in range(args.rounds):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    print(f"profile_gdn: (B, T, H, K=V, C) = ({b}, {t}, {h}, {d}, {c}); jax {jax.__version__}; "
          f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after; {args.rounds} rounds")
    peak = counts["matmul 1024^3"] / min(times["matmul 1024^3"]) / 1e9
    print("| piece | median ms | best ms | GFLOP (XLA) | GFLOP/s at best | % of the matmul's |")
    print("|---|---|---|---|---|---|")
    for name, ts in times.items():
        rate = counts[name] / min(ts) / 1e9
        print(f"| {name} | {1e3 * np.median(ts):.1f} | {1e3 * min(ts):.1f} | {counts[name] / 1e9:.2f} | "
              f"{rate:.1f} | {100 * rate / peak:.0f}% |")


if __name__ == "__main__":
    main()
