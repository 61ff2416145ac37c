"""Equinox: per-example ``jax.vmap(EqxRNN)`` against the batched call, fwd+bwd, in one process.

Run: ``python scripts/bench_equinox.py`` (LSTM, B=64, T=100, I=32, H=128 by default). Prints the
medians (and best rounds) of interleaved rounds after a warm-up, and the ratios to the batched call.
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import equinox as eqx

import jaxrnn
from jaxrnn.interop import EqxRNN

import timing  # scripts/timing.py


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", choices=("lstm", "gru", "rnn"), default="lstm")
    parser.add_argument("--shape", default="64,100,32,128", help="B,T,I,H")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    b, t, i, h = map(int, args.shape.split(","))
    layer = {"lstm": jaxrnn.LSTM, "gru": jaxrnn.GRU, "rnn": jaxrnn.RNN}[args.cell](i, h, batch_first=True)
    xs = jax.random.normal(jax.random.key(1), (b, t, i))
    modules = {"per-example jax.vmap(EqxRNN) (batching rule)": EqxRNN(layer, key=jax.random.key(0)),
               "per-example jax.vmap(EqxRNN, fast_vmap=False)": EqxRNN(layer, key=jax.random.key(0), fast_vmap=False)}

    def vmapped(model, xs):
        return jnp.sum(jax.vmap(model)(xs)[0])

    def batched(model, xs):
        return jnp.sum(model.layer.apply(model.params, xs)[0])

    grad_v = eqx.filter_jit(eqx.filter_grad(vmapped))
    grad_b = eqx.filter_jit(eqx.filter_grad(batched))
    model = modules["per-example jax.vmap(EqxRNN) (batching rule)"]
    calls = {"batched layer.apply": lambda: jax.block_until_ready(grad_b(model, xs))}
    for name, module in modules.items():
        calls[name] = lambda m=module: jax.block_until_ready(grad_v(m, xs))
    result = timing.median_best(timing.interleaved(calls, args.rounds, warmup=2))
    print(f"{args.cell} (B, T, I, H) = ({b}, {t}, {i}, {h}), fwd+bwd, jax {jax.__version__}, equinox "
          f"{eqx.__version__}, {args.rounds} rounds, load average {os.getloadavg()[0]:.2f}\n")
    timing.print_table(result, base="batched layer.apply")


if __name__ == "__main__":
    main()
