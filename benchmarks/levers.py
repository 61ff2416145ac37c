"""Where the time of a layer's fwd+bwd goes, and what each lever of the xla engine changes.

Unlike scripts/bench.py this reaches into :mod:`jaxrnn.engines.xla` on purpose (to time its
pieces and to switch levers), so it lives here and not in scripts/. Everything runs in one process,
in interleaved rounds after a warm-up; the tables show medians and the best round, and the same
run times torch.nn, so only ratios within a run are meant to be compared.

- ``--part breakdown``: torch fwd and fwd+bwd; jaxrnn fwd, fwd+bwd, the forward with its
  residuals, the backward from those residuals, and the GEMMs after the backward loop alone
  (``dx``, ``dW_ih``, ``dW_hh``, bias sums); the backward loop is the backward minus those.
- ``--part levers``: fwd+bwd of the engine as shipped against: the input projection hoisted out
  of the loop (what accelerators get), both directions of a bidirectional layer in one scan
  (batched over a direction axis), ``unroll=2``, plain autodiff instead of the custom VJP, and
  the reference engine.

Run: ``python benchmarks/levers.py --part breakdown --config medium --cell lstm``
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import sys
from contextlib import contextmanager

import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import jaxrnn
from jaxrnn.driver import padding
from jaxrnn.engines import xla

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import timing  # scripts/timing.py

CONFIGS = {"medium": (64, 100, 128, 256, 1, False), "long": (16, 1000, 64, 128, 1, False),
           "bilstm2": (64, 100, 128, 256, 2, True)}
LAYERS = {"lstm": jaxrnn.LSTM, "gru": jaxrnn.GRU, "elman": jaxrnn.RNN}


def _interleaved(calls: dict, rounds: int) -> dict:
    """``{name: (median ms, best ms)}`` over ``rounds`` interleaved rounds after one warm-up."""
    return timing.median_best(timing.interleaved(calls, rounds, 1))


def _jitted(fn, *args):
    compiled = jax.jit(fn).lower(*args).compile()
    return lambda: jax.block_until_ready(compiled(*args))


def _torch_calls(cell, b, t, i, h, layers, bi):
    return timing.torch_rnn(cell, b, t, i, h, layers, bi)


def _gemms_only(c, w, xs, h0):
    """The forward loop's GEMMs alone: each step computes ``x_t W_ih^T + h W_hh^T`` (all gates,
    kept as outputs) and feeds its first gate block back as ``h``; no pointwise math."""
    def body(h, x_t):
        g = [a + b for a, b in zip(c.input_projection(w, x_t), c.recurrent_projection(w, h))]
        return g[0], jnp.concatenate(g, -1)

    return jax.lax.scan(body, h0, xs)


def breakdown(cell, cfg, rounds):
    b, t, i, h, layers, bi = cfg
    model = LAYERS[cell](i, h, num_layers=layers, bidirectional=bi, engine="xla")
    params = model.init(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (t, b, i))
    c = model.cell()
    policy = jaxrnn.precision.policy(None, x, params)
    w = c.weights(params[0] if not bi else params[0]["fwd"], policy)
    carry = jax.tree.map(lambda z: jnp.zeros((b,) + z.shape), c.initial_carry())
    outputs, res = jax.jit(lambda w, x, s: xla._forward(c, False, 1, policy, w, x, s, None))(w, x, carry)
    cts = jax.tree.map(jnp.ones_like, outputs)
    k = c.gates * h
    d_g = jax.random.normal(jax.random.key(2), (t, b, k))
    hs = jax.random.normal(jax.random.key(3), (t, b, c.output_size))
    t_fwd, t_fwdbwd = _torch_calls(cell, *cfg)
    calls = {
        "torch fwd": t_fwd,
        "torch fwd+bwd": t_fwdbwd,
        "jaxrnn fwd": _jitted(lambda p, x: model.apply(p, x)[0], params, x),
        "jaxrnn fwd+bwd": _jitted(jax.grad(lambda p, x: jnp.sum(model.apply(p, x)[0]), argnums=(0, 1)), params, x),
        "1 direction: forward with residuals": _jitted(lambda w, x, s: xla._forward(c, False, 1, policy, w, x, s, None),
                                                       w, x, carry),
        "  of which the per-step GEMMs alone": _jitted(lambda w, x, h: _gemms_only(c, w, x, h), w, x,
                                                        jnp.zeros((b, c.output_size))),
        "1 direction: backward from residuals": _jitted(lambda r, g: xla._backward(c, False, 1, policy, r, g), res, cts),
        "  of which dx = dG @ W_ih": _jitted(lambda g, w: jnp.einsum("tbk,ki->tbi", g, w), d_g, w["w_ih"]),
        "  of which dW_ih = dG^T x": _jitted(lambda g, x: xla._sum_outer(g, x, policy), d_g, x),
        "  of which dW_hh = dG^T h": _jitted(lambda g, h: xla._sum_outer(g, h, policy), d_g, hs),
        "  of which bias sums": _jitted(lambda g: g.sum((0, 1)), d_g),
    }
    return _interleaved(calls, rounds)


def _both_directions_runner(cell, params, xs, carries, valid, reverses, unroll, *, policy, shipped):
    """The xla runner with a bidirectional layer's two directions batched into one scan."""
    if reverses != (False, True):
        return shipped(policy)(cell, params, xs, carries, valid, reverses, unroll)
    xs = padding.zero_padding(xs, valid)

    def pair(a):
        return None if a is None else jnp.stack([a, a[::-1]])

    run = jax.vmap(lambda p, x, c, v: xla.direction(cell, p, x, c, v, False, policy, unroll),
                   in_axes=(0, 0, None if carries[0] is None else 0, None if valid is None else 0))
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *params)
    carry = None if carries[0] is None else jax.tree.map(lambda *a: jnp.stack(a), *carries)
    ys, finals = run(stacked, pair(xs), carry, pair(valid))
    return ((ys[0], jax.tree.map(lambda a: a[0], finals)),
            (ys[1][::-1], jax.tree.map(lambda a: a[1], finals)))


@contextmanager
def _patched(obj, name, value):
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


def levers(cell, cfg, rounds):
    b, t, i, h, layers, bi = cfg
    model = LAYERS[cell](i, h, num_layers=layers, bidirectional=bi, engine="xla")
    params = model.init(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (t, b, i))

    def fwdbwd(m):
        return _jitted(jax.grad(lambda p, x: jnp.sum(m.apply(p, x)[0]), argnums=(0, 1)), params, x)

    direction = xla.direction
    calls = {"torch fwd+bwd": _torch_calls(cell, *cfg)[1], "xla engine as shipped": fwdbwd(model)}
    with _patched(xla, "hoist_input_projection", lambda: True):
        calls["input projection hoisted out of the loop"] = fwdbwd(model)
    if bi:
        both = functools.partial(_both_directions_runner, shipped=xla.runner)
        with _patched(xla, "runner", lambda policy: functools.partial(both, policy=policy)):
            calls["both directions in one scan"] = fwdbwd(model)
    with _patched(xla, "direction", lambda *a: direction(*a[:-1], 2)):
        calls["unroll=2"] = fwdbwd(model)
    with _patched(xla, "_recurrence", lambda c, r, u, pol, *a: xla._forward(c, r, u, pol, *a)[0]):
        calls["autodiff instead of the custom VJP"] = fwdbwd(model)
    calls["reference engine (vmap of jaxrnn.scan)"] = fwdbwd(dataclasses.replace(model, engine="reference"))
    return _interleaved(calls, rounds)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("breakdown", "levers"), default="breakdown")
    parser.add_argument("--config", choices=sorted(CONFIGS), default="medium")
    parser.add_argument("--cell", choices=sorted(LAYERS), default="lstm")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(os.cpu_count())
    load = os.getloadavg()[0]
    result = (breakdown if args.part == "breakdown" else levers)(args.cell, CONFIGS[args.config], args.rounds)
    print(f"{args.part}: {args.config} {args.cell} (B, T, I, H, L, bidirectional) = {CONFIGS[args.config]}; "
          f"jax {jax.__version__}; {args.rounds} interleaved rounds; load average {load:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after\n")
    timing.print_table(result)


if __name__ == "__main__":
    main()
