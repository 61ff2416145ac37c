"""Times jaxrnn.scan's methods over sequence length T, forward and forward+backward.

Rows (one sequence, batch 1 unless --batch): a plain ``jax.lax.scan`` of the same linear recurrence
``h = a * h + b`` (the floor for a sequential evaluation), ``jaxrnn.scan`` with ``sequential``,
``associative``, the chunked associative solver (C ~ sqrt(T)) and ``newton`` (quasi-DEER, exact
Jacobian diagonal for this cell; T <= --newton-t-max) on a MinGRU cell; then a GRU cell
(nonlinear) with ``sequential`` and ``newton`` (quasi-DEER and DEER). Times are medians of
``--repeats`` runs after one warm-up (compile) run, in milliseconds; ratios are sequential / method
(> 1 means the method is faster), and for the MinGRU rows also plain-lax.scan / method.

Usage:
  python scripts/bench_parallel.py --t-min 256 --t-max 65536 --repeats 5
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time

import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # a fresh clone
import jaxrnn


def timed(fn, *args, repeats: int, stat: str = "median") -> float:
    """Median (or minimum) wall time of ``fn(*args)`` in ms, after one warm-up call."""
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append((time.perf_counter() - start) * 1e3)
    return min(times) if stat == "min" else statistics.median(times)


def plain_lax_scan(cell, params, xs):
    """The same MinGRU recurrence as one hand-written ``jax.lax.scan`` (no driver, no masks)."""
    a, b = cell.linear_terms(params, xs)
    return jax.lax.scan(lambda h, ab: (ab[0] * h + ab[1],) * 2, jnp.zeros(a.shape[1:], a.dtype), (a, b))[1]


def runner(cell, method, batch: int):
    """Returns jitted ``fwd(params, xs)`` and ``fwd_bwd(params, xs)`` for ``xs: (B, T, I)``."""
    if method == "lax.scan":
        one = lambda p, x: plain_lax_scan(cell, p, x)
    else:
        one = lambda p, x: jaxrnn.scan(cell, p, x, method=method)[0]
    fwd = jax.jit(lambda p, xs: jax.vmap(one, (None, 0))(p, xs))
    loss = lambda p, xs: jnp.mean(jax.vmap(one, (None, 0))(p, xs) ** 2)
    fwd_bwd = jax.jit(jax.grad(loss, argnums=(0, 1)))
    return fwd, fwd_bwd


def autodiff_scan(a, b):
    """The same recurrence by ``jax.lax.associative_scan``, differentiated by JAX (no custom VJP)."""
    return jax.lax.associative_scan(lambda e, l: (l[0] * e[0], l[0] * e[1] + l[1]), (a, b))[1]


def vjp_section(ts, hidden: int, repeats: int, stat: str):
    """fwd+bwd of ``jaxrnn.linear_recurrence`` (custom VJP) against autodiff of the same scan."""
    print("\n| T | custom VJP fwd+bwd ms | autodiff through associative_scan fwd+bwd ms | autodiff/custom |")
    print("|---|---|---|---|")
    for t in ts:
        a = jax.random.uniform(jax.random.key(0), (t, hidden), minval=0.5, maxval=1.0)
        b = jax.random.normal(jax.random.key(1), (t, hidden))
        custom = jax.jit(jax.grad(lambda a, b: jnp.sum(jaxrnn.linear_recurrence(a, b) ** 2), (0, 1)))
        plain = jax.jit(jax.grad(lambda a, b: jnp.sum(autodiff_scan(a, b) ** 2), (0, 1)))
        c = timed(custom, a, b, repeats=repeats, stat=stat)
        p = timed(plain, a, b, repeats=repeats, stat=stat)
        print(f"| {t} | {c:.2f} | {p:.2f} | {p / c:.2f}x |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--t-min", type=int, default=256)
    parser.add_argument("--t-max", type=int, default=65536)
    parser.add_argument("--hidden", type=int, default=64, help="H of the MinGRU rows")
    parser.add_argument("--gru-hidden", type=int, default=16, help="H of the GRU (newton) rows")
    parser.add_argument("--gru-t-max", type=int, default=4096, help="largest T of the GRU rows")
    parser.add_argument("--newton-t-max", type=int, default=4096, help="largest T of the MinGRU newton row")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--stat", choices=("median", "min"), default="median",
                        help="min is more robust when other jobs share the CPU")
    parser.add_argument("--vjp", action="store_true", help="time only the custom VJP against autodiff")
    parser.add_argument("--no-gru", action="store_true", help="skip the GRU (newton) rows")
    args = parser.parse_args()

    print(f"jax {jax.__version__}, backend {jax.default_backend()}, devices {jax.devices()}, "
          f"python {platform.python_version()}, batch {args.batch}, repeats {args.repeats}, stat {args.stat}")
    key = jax.random.key(0)
    ts = [t for t in (2 ** k for k in range(4, 21)) if args.t_min <= t <= args.t_max and math.log(t, 4) % 1 == 0]
    if args.vjp:
        vjp_section(ts, args.hidden, args.repeats, args.stat)
        return
    print("\n| cell | T | method | fwd ms | fwd+bwd ms | seq/method fwd | seq/method fwd+bwd "
          "| lax.scan/method fwd | lax.scan/method fwd+bwd |")
    print("|---|---|---|---|---|---|---|---|---|")
    sections = [("MinGRU", jaxrnn.MinGRUCell(args.hidden), args.hidden, args.t_max,
                 ["lax.scan", "sequential", "associative", "chunked", jaxrnn.Newton(variant="quasi")])]
    if not args.no_gru:
        sections.append(("GRU", jaxrnn.GRUCell(args.gru_hidden), args.gru_hidden, args.gru_t_max,
                         ["sequential", jaxrnn.Newton(variant="quasi"), jaxrnn.Newton(variant="deer")]))
    for name, cell, size, t_max, methods in sections:
        params = cell.init(key, size)
        for t in (t for t in ts if t <= t_max):
            xs = jax.random.normal(jax.random.key(1), (args.batch, t, size))
            base = plain = None
            for method in methods:
                label = method if isinstance(method, str) else f"newton-{method.variant}"
                if name == "MinGRU" and label.startswith("newton") and t > args.newton_t_max:
                    continue
                if method == "chunked":
                    chunk = 2 ** round(math.log2(math.sqrt(t)))
                    method, label = jaxrnn.Associative(chunk_size=chunk), f"chunked (C={chunk})"
                fwd, fwd_bwd = runner(cell, method, args.batch)
                f = timed(fwd, params, xs, repeats=args.repeats, stat=args.stat)
                fb = timed(fwd_bwd, params, xs, repeats=args.repeats, stat=args.stat)
                if method == "sequential":
                    base = (f, fb)
                if method == "lax.scan":
                    plain = (f, fb)
                cols = [f"{ref[i] / v:.2f}x" if ref else "" for ref in (base, plain) for i, v in ((0, f), (1, fb))]
                print(f"| {name} H={size} | {t} | {label} | {f:.2f} | {fb:.2f} | {' | '.join(cols)} |", flush=True)


if __name__ == "__main__":
    main()
