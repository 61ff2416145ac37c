"""Measures the performance levers of jaxrnn's fast path (results: benchmarks/RESULTS.md).

Unlike scripts/bench.py this reaches into ``jaxrnn.fused`` internals on purpose, to switch a
lever off: ``--part paths`` times the reference path (vmap of ``Stack.apply`` + autodiff), the fast
path with plain autodiff, and the fast path with its custom VJP; ``--part loop`` times bare LSTM
loops (input projection hoisted, in the loop as two GEMMs, in the loop as ONE concatenated GEMM,
with ``unroll`` 1 and 4); ``--part memory`` reports XLA's memory estimate and time of fwd+bwd at
T=10000 with and without ``jax.checkpoint`` over chunks. Interleaved rounds; median and best.

Run: ``PYTHONPATH=. python benchmarks/levers.py --part paths --shape 64,100,128,256``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import jaxrnn  # noqa: E402
from jaxrnn import fused  # noqa: E402


def _timed(fns: dict, args: dict, rounds: int) -> dict:
    for k, f in fns.items():
        jax.block_until_ready(f(*args[k]))
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(f(*args[k]))
            times[k].append(1e3 * (time.perf_counter() - t0))
    return {k: (statistics.median(v), min(v)) for k, v in times.items()}


def paths(cell: str, b, t, i, h, rounds):
    model = {"lstm": jaxrnn.LSTM, "gru": jaxrnn.GRU, "elman": jaxrnn.RNN}[cell](i, h)
    params = model.init(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (t, b, i))

    def loss(p, x):
        return jnp.sum(model.apply(p, x)[0])

    fns = {}
    orig_supports, orig_vjp = fused.supports, fused.has_custom_vjp
    try:
        for name, supports, vjp in (("fast path, custom VJP", orig_supports, orig_vjp),
                                    ("fast path, autodiff", orig_supports, lambda c: False),
                                    ("reference (vmap + autodiff)", lambda n: False, orig_vjp)):
            fused.supports, fused.has_custom_vjp = supports, vjp
            f = jax.jit(jax.grad(loss, argnums=(0, 1)))
            jax.block_until_ready(f(params, x))  # traces with this lever setting
            fns[name] = f
    finally:
        fused.supports, fused.has_custom_vjp = orig_supports, orig_vjp
    return _timed(fns, {k: (params, x) for k in fns}, rounds)


def _lstm_math(g, c):
    i, f, gg, o = jnp.split(g, 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(gg)
    return jax.nn.sigmoid(o) * jnp.tanh(c), c


def _loop(kind, unroll):
    def run(x, h0, w_ih, w_hh):
        steps, batch, n_in = x.shape
        if kind == "hoisted":
            xs = (x.reshape(-1, n_in) @ w_ih.T).reshape(steps, batch, -1)
        else:
            xs = x
        w_cat_t = jnp.concatenate([w_ih, w_hh], axis=1).T

        def body(hc, x_t):
            h, c = hc
            if kind == "hoisted":
                g = x_t + h @ w_hh.T
            elif kind == "two GEMMs":
                g = x_t @ w_ih.T + h @ w_hh.T
            else:
                g = jnp.concatenate([x_t, h], axis=1) @ w_cat_t
            h, c = _lstm_math(g, c)
            return (h, c), h

        return jax.lax.scan(body, (h0, h0), xs, unroll=unroll)[1]
    return jax.jit(run)


def loop(b, t, i, h, rounds):
    k = jax.random.split(jax.random.key(0), 4)
    args = (jax.random.normal(k[0], (t, b, i)), jnp.zeros((b, h)),
            0.1 * jax.random.normal(k[1], (4 * h, i)), 0.1 * jax.random.normal(k[2], (4 * h, h)))
    fns = {f"{kind}, unroll={u}": _loop(kind, u) for kind in ("hoisted", "two GEMMs", "one GEMM")
           for u in (1, 4)}
    return _timed(fns, {n: args for n in fns}, rounds)


def memory(b, t, i, h, chunk, rounds):
    model = jaxrnn.LSTM(i, h)
    params = model.init(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (t, b, i))

    def plain(p, x):
        return jnp.sum(model.apply(p, x)[0])

    def chunked(p, x):
        zeros = jnp.zeros((1, b, h))

        @jax.checkpoint
        def body(state, xc):
            out, state = model.apply(p, xc, state)
            return state, jnp.sum(out)

        _, sums = jax.lax.scan(body, (zeros, zeros), x.reshape(t // chunk, chunk, b, i))
        return jnp.sum(sums)

    fns, out = {}, {}
    for name, f in (("no checkpoint", plain), (f"jax.checkpoint per {chunk} steps", chunked)):
        compiled = jax.jit(jax.grad(f, argnums=(0, 1))).lower(params, x).compile()
        m = compiled.memory_analysis()
        out[name] = (m.temp_size_in_bytes + m.output_size_in_bytes + m.argument_size_in_bytes) / 2**20
        fns[name] = compiled
    times = _timed(fns, {n: (params, x) for n in fns}, rounds)
    return {n: (*times[n], out[n]) for n in fns}


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=("paths", "loop", "memory"), required=True)
    parser.add_argument("--cell", default="lstm")
    parser.add_argument("--shape", default="64,100,128,256", help="B,T,I,H")
    parser.add_argument("--chunk", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args(argv)
    b, t, i, h = map(int, args.shape.split(","))
    print(f"{args.part} {args.cell} B={b} T={t} I={i} H={h}; load avg {os.getloadavg()[0]:.2f}")
    if args.part == "paths":
        res = paths(args.cell, b, t, i, h, args.rounds)
    elif args.part == "loop":
        res = loop(b, t, i, h, args.rounds)
    else:
        res = memory(b, t, i, h, args.chunk, args.rounds)
    for name, vals in res.items():
        extra = f", XLA estimate {vals[2]:.1f} MiB" if len(vals) > 2 else ""
        print(f"  {name:32s} median {vals[0]:8.2f} ms, best {vals[1]:8.2f} ms{extra}")
    print(f"  load avg after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
