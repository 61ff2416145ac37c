"""Times jaxrnn.ops against their recurrent method and the peers' own code, forward+backward, on CPU.

Rows per op (B=4, T=2048, H=4, K=V=64 by default), all in one process, interleaved rounds after a
warm-up (scripts/timing.py): jaxrnn's ``method="recurrent"`` (a ``lax.scan`` of the step: the
yardstick), ``method="chunked"``, and the peers: flash-linear-attention's pure-torch chunked
references (gated delta rule, simple GLA), mlstm_kernels' native torch chunkwise mLSTM, and memax's
Gated DeltaNet semigroup (an associative scan over (K, K) transition matrices). A torch call's
backward is autograd's; every jaxrnn call is ``jax.jit`` of ``jax.grad``. Ratios are each row's median
over the chunked jaxrnn row's (> 1: jaxrnn's chunked form is that many times faster).

``--memory`` also measures the peak resident memory of one fwd+bwd of the gated delta rule at
B=1, H=4, K=V=64, T=65,536 (chunked), in a fresh process.

Usage:
  python scripts/bench_ops.py [--rounds 5] [--steps 2048] [--memory]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # a fresh clone
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jaxrnn import ops

import timing  # scripts/timing.py


def inputs(batch, steps, heads, dim, seed=0):
    """Random ``q, k`` (L2-normalised), ``v``, log-decay ``g``, ``beta``, mLSTM gates ``i, f`` as numpy."""
    rng = np.random.default_rng(seed)
    q, k, v = (rng.standard_normal((batch, steps, heads, dim)).astype(np.float32) for _ in range(3))
    q, k = (a / np.linalg.norm(a, axis=-1, keepdims=True) for a in (q, k))
    g = -np.log1p(np.exp(rng.standard_normal((batch, steps, heads)))).astype(np.float32)
    beta = (1 / (1 + np.exp(-rng.standard_normal((batch, steps, heads))))).astype(np.float32)
    i, f = (rng.standard_normal((batch, steps, heads)).astype(np.float32) for _ in range(2))
    return {"q": q, "k": k, "v": v, "g": g, "beta": beta, "i": i, "f": f}


def jax_call(fn, *args):
    """A timed callable: ``jax.jit(jax.grad)`` of the sum of ``fn``'s outputs w.r.t. every input."""
    args = tuple(jnp.asarray(a) for a in args)

    def loss(*a):
        out, state = fn(*a)
        return jnp.sum(out) + sum(jnp.sum(s) for s in jax.tree.leaves(state))

    grad = jax.jit(jax.grad(loss, argnums=tuple(range(len(args)))))
    return lambda: jax.block_until_ready(grad(*args))


def torch_call(fn, *args):
    """A timed callable: ``fn``'s output summed and back-propagated to every input (torch autograd)."""
    import torch

    tensors = [torch.from_numpy(np.array(a)).requires_grad_(True) for a in args]

    def call():
        for t in tensors:
            t.grad = None
        out = fn(*tensors)
        (out[0] if isinstance(out, tuple) else out).sum().backward()

    return call


def memax_gdn(x):
    """memax's Gated DeltaNet recurrence: its semigroup (``(M, X) -> (M_j M_i, M_j X_i + X_j)``, the
    transition ``M_t = exp(g_t) (I - beta_t k_t k_t^T)``) under ``jax.lax.associative_scan``, every
    (row, head) in a ``jax.vmap``; the outputs are ``q_t^T S_t``."""
    from memax.equinox.semigroups.gdn import GDNSemigroup

    key_dim = x["k"].shape[-1]
    semigroup = GDNSemigroup(key_dim)

    def one(q, k, v, g, beta):  # (T, K), (T, K), (T, V), (T,), (T,)
        eye = jnp.eye(key_dim)
        m = jnp.exp(g)[:, None, None] * (eye - beta[:, None, None] * k[:, :, None] * k[:, None, :])
        xs = beta[:, None, None] * k[:, :, None] * v[:, None, :]
        _, states = jax.lax.associative_scan(jax.vmap(semigroup), (m, xs))
        return jnp.einsum("tk,tkv->tv", q, states), states[-1]

    def run(q, k, v, g, beta):
        per_head = jax.vmap(one, in_axes=(1, 1, 1, 1, 1), out_axes=(1, 0))  # over H (axis 1 of (T, H, .))
        return jax.vmap(per_head)(q, k, v, g, beta)

    return run


def calls(x):
    import torch  # noqa: F401  (the peers' references are torch)
    from fla.ops.gated_delta_rule.naive import naive_chunk_gated_delta_rule
    from fla.ops.simple_gla.naive import naive_chunk_simple_gla
    from mlstm_kernels.torch.chunkwise.native.fwbw import mlstm_chunkwise__native_autograd

    gdn = (x["q"], x["k"], x["v"], x["g"], x["beta"])
    mlstm = (x["q"], x["k"], x["v"], x["i"], x["f"])
    gla = (x["q"], x["k"], x["v"], x["g"])
    heads_first = [np.ascontiguousarray(np.moveaxis(a, 2, 1)) for a in (x["q"], x["k"], x["v"])]
    gates_first = [np.ascontiguousarray(np.moveaxis(a, 2, 1)) for a in (x["i"], x["f"])]
    return {
        "gated_delta_rule": {
            "jaxrnn chunked": jax_call(lambda *a: ops.gated_delta_rule(*a, method="chunked"), *gdn),
            "jaxrnn recurrent": jax_call(lambda *a: ops.gated_delta_rule(*a, method="recurrent"), *gdn),
            "fla naive_chunk (torch)": torch_call(
                lambda q, k, v, g, b: naive_chunk_gated_delta_rule(q, k, v, g, b), *gdn),
            "memax GDN (associative)": jax_call(memax_gdn(x), *gdn),
        },
        "mlstm": {
            "jaxrnn chunked": jax_call(lambda *a: ops.mlstm(*a, method="chunked"), *mlstm),
            "jaxrnn recurrent": jax_call(lambda *a: ops.mlstm(*a, method="recurrent"), *mlstm),
            "mlstm_kernels native chunkwise (torch)": torch_call(
                lambda q, k, v, i, f: mlstm_chunkwise__native_autograd(q, k, v, i, f), *heads_first, *gates_first),
        },
        "simple_gla": {
            "jaxrnn chunked": jax_call(lambda *a: ops.simple_gla(*a, method="chunked"), *gla),
            "jaxrnn recurrent": jax_call(lambda *a: ops.simple_gla(*a, method="recurrent"), *gla),
            "fla naive_chunk (torch)": torch_call(lambda q, k, v, g: naive_chunk_simple_gla(q, k, v, g), *gla),
        },
    }


MEMORY_CHILD = """
import ctypes, sys, jax, jax.numpy as jnp
sys.path.insert(0, {root!r})
from jaxrnn import ops


def rss(field):  # kB, from /proc/self/status (VmRSS now, VmHWM the peak since the last reset)
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(field))


b, t, h, d = 1, {steps}, 4, 64
k0, k1, k2, k3, k4 = jax.random.split(jax.random.key(0), 5)
q = jax.random.normal(k0, (b, t, h, d)); k = jax.random.normal(k1, (b, t, h, d))
k = k / jnp.linalg.norm(k, axis=-1, keepdims=True)
v = jax.random.normal(k2, (b, t, h, d)); g = -jax.nn.softplus(jax.random.normal(k3, (b, t, h)))
beta = jax.nn.sigmoid(jax.random.normal(k4, (b, t, h)))
loss = lambda *a: jnp.sum(ops.gated_delta_rule(*a, method={method!r})[0])
step = jax.jit(jax.grad(loss, argnums=(0, 1, 2, 3, 4))).lower(q, k, v, g, beta).compile()
ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand the compiler's freed memory back
jax.block_until_ready((q, k, v, g, beta))
open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS
before = rss("VmRSS")
jax.block_until_ready(step(q, k, v, g, beta))
print(before, rss("VmHWM"))
"""


def peak_memory(steps: int, method: str) -> tuple[float, float]:
    """``(MB resident before, MB peak during)`` one jitted fwd+bwd in a fresh process: compiled
    first, the compiler's freed memory returned and the peak reset, so the peak is the call's."""
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    code = MEMORY_CHILD.format(root=root, steps=steps, method=method)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    before, peak = map(int, out.split())
    return before / 1024, peak / 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=2048)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--memory", action="store_true", help="also the T=65,536 peak-memory row")
    args = p.parse_args()
    import torch

    print(f"bench_ops: (B, T, H, K=V) = ({args.batch}, {args.steps}, {args.heads}, {args.dim}); "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; jax {jax.__version__}, "
          f"torch {torch.__version__}; {args.rounds} interleaved rounds; load average {os.getloadavg()[0]:.2f} before")
    x = inputs(args.batch, args.steps, args.heads, args.dim)
    for op, group in calls(x).items():
        print(f"\n### {op} (fwd+bwd)\n")
        times = timing.median_best(timing.interleaved(group, args.rounds))
        timing.print_table(times, base="jaxrnn chunked")
    print(f"\nload average {os.getloadavg()[0]:.2f} after")
    if args.memory:
        before, peak = peak_memory(65_536, "chunked")
        print(f"\ngated_delta_rule chunked fwd+bwd, B=1, H=4, K=V=64, T=65,536: peak resident {peak:.0f} MB "
              f"during the call ({peak - before:.0f} MB above the {before:.0f} MB the process held before it: "
              "jax, the compiled program, the inputs)")
    print(f"(this process's own peak: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")


if __name__ == "__main__":
    main()
