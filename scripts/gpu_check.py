"""One-shot GPU check: engine parity on the GPU, then fwd+bwd timings against torch.nn and Flax.

Run on a machine with one NVIDIA GPU (jax with CUDA, flax, optax, torch with CUDA; no network,
no keras needed), from the repository root::

    python scripts/gpu_check.py --out gpu_check          # writes gpu_check.md and gpu_check.json

1. Parity: every engine (``reference``, ``xla``, ``cudnn``) against the reference engine on the
   GPU, forward and gradients, for LSTM (with and without projection), GRU (both forms) and Elman,
   2-layer bidirectional, with ``hx`` and lengths including 0; float32 under
   ``jax.default_matmul_precision("highest")`` (tolerance 1e-4, 1e-3 on gradients) and bfloat16
   params and input (the compute dtype; 2e-2 of each array's largest entry; cuDNN has no bf16).
2. Timings (fwd+bwd, medians of interleaved rounds after warm-up): jaxrnn ``xla``, jaxrnn
   ``cudnn`` (LSTM, float32), torch.nn (cuDNN) and Flax ``nn.RNN`` on medium, long and wide LSTM and
   GRU, in float32 (default matmul precision of each library) and bfloat16.
3. minGRU over one long sequence: ``method="associative"`` against ``"sequential"`` at
   T = 4096 and 65536 (fwd+bwd).
4. ``jaxrnn.ops``: each op's parallel method (chunked or associative) against its recurrent method
   on the GPU (forward and gradient errors; float32 under ``"highest"`` matmul precision, and
   bfloat16 inputs against float32), and fwd+bwd timings of both, at B=4, T=2048, H=4, K=V=64.

It stops starting new measurements after ``--budget`` seconds (default 420) and says which were
skipped. ``--smoke`` runs one tiny case of each section (the test suite runs it on CPU).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import sys
import time
import traceback

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jaxrnn

import timing  # scripts/timing.py

CONFIGS = {"medium": (64, 100, 128, 256), "long": (16, 1000, 64, 128), "wide": (128, 50, 256, 512)}
SMOKE_CONFIGS = {"tiny": (4, 6, 5, 8)}
LAYERS = {"lstm": jaxrnn.LSTM, "gru": jaxrnn.GRU, "elman": jaxrnn.RNN}
PARITY = {
    "lstm": lambda **kw: jaxrnn.LSTM(5, 16, **kw),
    "lstm_proj": lambda **kw: jaxrnn.LSTM(5, 16, proj_size=8, **kw),
    "gru": lambda **kw: jaxrnn.GRU(5, 16, **kw),
    "gru_reset_before": lambda **kw: jaxrnn.GRU(5, 16, reset_after=False, **kw),
    "elman": lambda **kw: jaxrnn.RNN(5, 16, **kw),
}


class Budget:
    """Wall-clock budget: ``ok()`` is False once ``seconds`` have passed since construction."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds
        self.skipped: list[str] = []

    def ok(self, what: str) -> bool:
        if time.monotonic() < self.end:
            return True
        self.skipped.append(what)
        return False


def _block(tree):
    return jax.block_until_ready(tree)


def every_output(*outputs):
    """A scalar that reaches every output leaf (each through a phase of its own)."""
    leaves = jax.tree.leaves(outputs)
    return sum(jnp.sum(jnp.sin(a.astype(jnp.float32) * (1 + 0.1 * i))) for i, a in enumerate(leaves))


def _loss_and_grads(layer, params, x, hx, lengths):
    def loss(p, x, hx):
        out, state = layer.apply(p, x, hx, seq_lengths=lengths)
        return every_output(out, state), (out, state)

    (_, outs), grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))(params, x, hx)
    return _block((outs, grads))


def _max_err(a, b, relative: bool) -> float:
    worst = 0.0
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        u, v = np.asarray(u, np.float64), np.asarray(v, np.float64)
        scale = max(np.abs(v).max(initial=0.0), 1e-6) if relative else 1.0
        worst = max(worst, float(np.abs(u - v).max(initial=0.0)) / scale)
    return worst


def parity(budget: Budget, cells=tuple(PARITY), dtypes=("float32", "bfloat16")) -> list[dict]:
    """Every engine against the reference engine, float32 and bfloat16 (cuDNN: LSTM only)."""
    rows = []
    for name in cells:
        make = PARITY[name]
        for dtype in dtypes:
            if not budget.ok(f"parity {name} {dtype}"):
                continue
            layer = make(num_layers=2, bidirectional=True, engine="reference")
            keys = jax.random.split(jax.random.key(0), 4)
            params = jax.tree.map(lambda a, dtype=dtype: a.astype(dtype), layer.init(keys[0]))
            x = jax.random.normal(keys[1], (9, 4, 5)).astype(dtype)
            ld, h_out = 4, layer.cell().output_size
            h = jax.random.normal(keys[2], (ld, 4, h_out))
            hx = (h, jax.random.normal(keys[3], (ld, 4, 16))) if isinstance(layer, jaxrnn.LSTM) else h
            lengths = jnp.array([9, 0, 4, 1])
            precision = "highest" if dtype == "float32" else "default"
            with jax.default_matmul_precision(precision):
                ref = _loss_and_grads(layer, params, x, hx, lengths)
                for engine in ("xla", "cudnn") if name.startswith("lstm") else ("xla",):
                    row = {"cell": name, "dtype": dtype, "engine": engine}
                    try:
                        got = _loss_and_grads(dataclasses.replace(layer, engine=engine), params, x, hx, lengths)
                    except ValueError as e:  # an engine that cannot run this case says why
                        rows.append({**row, "status": f"not run: {e}"})
                        continue
                    fwd = _max_err(got[0], ref[0], dtype != "float32")
                    grad = _max_err(got[1], ref[1], dtype != "float32")
                    tol = (1e-4, 1e-3) if dtype == "float32" else (2e-2, 2e-2)
                    ok = fwd <= tol[0] and grad <= tol[1]
                    rows.append({**row, "forward_error": fwd, "gradient_error": grad,
                                 "status": "ok" if ok else f"FAIL (tolerance {tol})"})
    return rows


def _jax_fwdbwd(apply, params, x):
    def loss(p, x):
        return jnp.sum(apply(p, x).astype(jnp.float32))

    f = jax.jit(jax.grad(loss, argnums=(0, 1))).lower(params, x).compile()
    return lambda: _block(f(params, x))


def _jaxrnn_fn(cell, cfg, dtype, engine):
    b, t, i, h = cfg
    layer = LAYERS[cell](i, h, engine=engine)
    params = jax.tree.map(lambda a: a.astype(dtype), layer.init(jax.random.key(0)))
    x = jax.random.normal(jax.random.key(1), (t, b, i)).astype(dtype)
    return _jax_fwdbwd(lambda p, x: layer.apply(p, x)[0], params, x)


def _flax_fn(cell, cfg, dtype):
    import flax.linen as nn

    b, t, i, h = cfg
    make = {"lstm": nn.OptimizedLSTMCell, "gru": nn.GRUCell}[cell]
    net = nn.RNN(make(features=h, dtype=jnp.dtype(dtype), param_dtype=jnp.float32))
    x = jax.random.normal(jax.random.key(1), (b, t, i)).astype(dtype)
    params = net.init(jax.random.key(0), x)
    return _jax_fwdbwd(net.apply, params, x)


def _torch_fn(cell, cfg, dtype):
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    return timing.torch_rnn(cell, *cfg, device=device, dtype=dtype)[1]


def _time(calls: dict, rounds: int, warmup: int) -> dict:
    return {k: v[0] for k, v in timing.median_best(timing.interleaved(calls, rounds, warmup)).items()}


def timings(configs: dict, rounds: int, warmup: int, budget: Budget, cells=("lstm", "gru"),
            dtypes=("float32", "bfloat16")) -> list[dict]:
    rows = []
    for cfg_name, cfg in configs.items():
        for cell in cells:
            for dtype in dtypes:
                if not budget.ok(f"timing {cfg_name} {cell} {dtype}"):
                    continue
                setting = {"cell": cell, "cfg": cfg, "dtype": dtype}
                builders = {"jaxrnn xla": lambda s=setting: _jaxrnn_fn(**s, engine="xla"),
                            "torch.nn": lambda s=setting: _torch_fn(**s),
                            "flax": lambda s=setting: _flax_fn(**s)}
                if cell == "lstm" and dtype == "float32":  # what cuDNN (through JAX) can run
                    builders["jaxrnn cudnn"] = lambda s=setting: _jaxrnn_fn(**s, engine="cudnn")
                calls, notes = {}, {}
                for lib, build in builders.items():
                    try:
                        calls[lib] = build()
                        calls[lib]()  # compile / first call errors surface here
                    except Exception as e:  # noqa: BLE001 - record why a library cannot run this row
                        calls.pop(lib, None)
                        notes[lib] = f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"
                row = {"config": cfg_name, "shape_BTIH": cfg, "cell": cell, "dtype": dtype,
                       "median_ms": _time(calls, rounds, warmup), "not_run": notes}
                rows.append(row)
                print(f"timed {cfg_name} {cell} {dtype}: {row['median_ms']}", flush=True)
    return rows


def mingru(lengths, rounds: int, warmup: int, budget: Budget, batch=8, hidden=64, inputs=32) -> list[dict]:
    rows = []
    cell = jaxrnn.MinGRUCell(hidden)
    params = cell.init(jax.random.key(0), inputs)
    for t in lengths:
        if not budget.ok(f"minGRU T={t}"):
            continue
        xs = jax.random.normal(jax.random.key(1), (batch, t, inputs))
        calls = {}
        for method in ("sequential", "associative"):
            def apply(p, xs, method=method):
                return jax.vmap(lambda x: jaxrnn.scan(cell, p, x, method=method)[0])(xs)

            calls[method] = _jax_fwdbwd(apply, params, xs)
        med = _time(calls, rounds, warmup)
        rows.append({"T": t, "B": batch, "H": hidden, "I": inputs, "median_ms": med,
                     "speedup": med["sequential"] / med["associative"]})
        print(f"timed minGRU T={t}: {med}", flush=True)
    return rows


def _op_calls(size: tuple, dtype, names=None) -> dict:
    """``{op: (inputs, {method: fn})}`` for the ops this jaxrnn has (``names``: only those);
    ``size = (B, T, H, K)``."""
    from jaxrnn import ops

    b, t, h, d = size
    keys = jax.random.split(jax.random.key(0), 8)
    q, k, v = (jax.random.normal(keys[i], (b, t, h, d)) for i in range(3))
    k = k / jnp.linalg.norm(k, axis=-1, keepdims=True)
    g = -jax.nn.softplus(jax.random.normal(keys[3], (b, t, h)))
    gate = jax.random.normal(keys[4], (b, t, h))
    channels = h * d
    x, dt = jax.random.normal(keys[5], (b, t, channels)), jax.nn.softplus(jax.random.normal(keys[6], (b, t, channels)))
    a_mat = -jnp.exp(jax.random.normal(keys[7], (channels, 16)))
    bc = jax.random.normal(keys[2], (b, t, 16))
    specs = {
        "simple_gla": ((q, k, v, g), ("recurrent", "chunked")),
        "gated_delta_rule": ((q, k, v, g, jax.nn.sigmoid(gate)), ("recurrent", "chunked")),
        "mlstm": ((q, k, v, gate, -gate), ("recurrent", "chunked")),
        "selective_scan": ((x, dt, a_mat, bc, bc), ("recurrent", "associative")),
        "rg_lru": ((x, x, x, jax.random.normal(keys[0], (channels,))), ("recurrent", "associative")),
    }
    out = {}
    for name, (args, methods) in specs.items():
        op = getattr(ops, name, None)
        if op is None or (names is not None and name not in names):
            continue
        args = tuple(a.astype(dtype) if a.ndim >= 3 else a for a in args)
        out[name] = (args, {m: (lambda *a, op=op, m=m: op(*a, method=m)) for m in methods})
    return out


def _op_loss(fn):
    return lambda *args: every_output(*fn(*args))


def _timed_grad(fn, args):
    """A blocking call of the jitted gradient of ``fn``'s loss at ``args``, to time."""
    grad = jax.jit(jax.grad(_op_loss(fn), argnums=tuple(range(len(args)))))
    return lambda: _block(grad(*args))


def ops_section(size: tuple, rounds: int, warmup: int, budget: Budget, names=None) -> list[dict]:
    """Each op's parallel method against its recurrent one: errors and fwd+bwd timings, f32 and bf16."""
    rows = []
    reference = _op_calls(size, jnp.float32, names)
    for dtype in ("float32", "bfloat16"):
        for name, (args, methods) in _op_calls(size, getattr(jnp, dtype), names).items():
            if not budget.ok(f"ops {name} {dtype}"):
                continue
            recurrent, parallel = methods
            ref_args, ref_methods = reference[name]
            with jax.default_matmul_precision("highest"):
                grads = {m: jax.jit(jax.value_and_grad(_op_loss(methods[m]), argnums=tuple(range(len(args)))))(*args)
                         for m in methods}
                exact = jax.jit(jax.value_and_grad(_op_loss(ref_methods[recurrent]),
                                                   argnums=tuple(range(len(args)))))(*ref_args)
            row = {"op": name, "dtype": dtype, "size_BTHK": list(size)}
            for m in methods:
                against = exact if dtype == "bfloat16" else grads[recurrent]
                row[f"{m}_loss_error"] = abs(float(grads[m][0]) - float(against[0])) / max(1.0, abs(float(against[0])))
                row[f"{m}_gradient_error"] = _max_err(grads[m][1], against[1], True)
            calls = {m: _timed_grad(methods[m], args) for m in methods}
            med = _time(calls, rounds, warmup)
            row.update(median_ms=med, speedup=med[recurrent] / med[parallel])
            rows.append(row)
            print(f"ops {name} {dtype}: {row}", flush=True)
    return rows


def environment() -> dict:
    info = {"python": platform.python_version(), "jax": jax.__version__, "backend": jax.default_backend(),
            "devices": [str(d) for d in jax.devices()], "device_kind": jax.devices()[0].device_kind}
    for name in ("jaxlib", "flax", "torch"):
        try:
            info[name] = __import__(name).__version__
        except Exception:  # noqa: BLE001
            info[name] = None
    with contextlib.suppress(Exception):  # no torch, or a build without CUDA: the keys stay out
        import torch

        info["torch_cuda"] = torch.version.cuda
        info["torch_cudnn"] = torch.backends.cudnn.version()
        info["torch_device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return info


def markdown(result: dict) -> str:
    env = result["environment"]
    lines = [(f"# GPU check ({env['device_kind']}, jax {env['jax']}, torch {env.get('torch')}, "
              f"flax {env.get('flax')}; {result['date_utc']})"), "",
             f"Total {result['seconds']:.0f} s. Skipped (budget): {result['skipped'] or 'none'}.", "",
             "## Parity against the reference engine", "",
             "| cell | dtype | engine | forward error | gradient error | status |", "|---|---|---|---|---|---|"]
    for r in result["parity"]:
        lines.append(f"| {r['cell']} | {r['dtype']} | {r['engine']} | {r.get('forward_error', float('nan')):.2e} | "
                     f"{r.get('gradient_error', float('nan')):.2e} | {r['status']} |")
    lines += ["", "## fwd+bwd, median ms (ratio: other / jaxrnn xla)", "",
              "| config (B,T,I,H) | cell | dtype | jaxrnn xla | jaxrnn cudnn | torch.nn | flax | not run |",
              "|---|---|---|---|---|---|---|---|"]
    for r in result["timings"]:
        m = r["median_ms"]
        base = m.get("jaxrnn xla")

        def cell_text(lib, m=m, base=base):
            if lib not in m:
                return "-"
            ratio = f" ({m[lib] / base:.2f}x)" if base and lib != "jaxrnn xla" else ""
            return f"{m[lib]:.2f}{ratio}"

        notes = "; ".join(f"{k}: {v}" for k, v in r["not_run"].items())
        lines.append(f"| {r['config']} {tuple(r['shape_BTIH'])} | {r['cell']} | {r['dtype']} | "
                     + " | ".join(cell_text(lib) for lib in ("jaxrnn xla", "jaxrnn cudnn", "torch.nn", "flax"))
                     + f" | {notes} |")
    lines += ["", "## minGRU, one sequence per row (vmap over B), fwd+bwd median ms", "",
              "| T | B | H | sequential | associative | sequential / associative |", "|---|---|---|---|---|---|"]
    for r in result["mingru"]:
        m = r["median_ms"]
        lines.append(f"| {r['T']} | {r['B']} | {r['H']} | {m['sequential']:.2f} | {m['associative']:.2f} | "
                     f"{r['speedup']:.2f}x |")
    lines += ["", "## jaxrnn.ops: parallel method against recurrent, fwd+bwd", "",
              "(bfloat16 rows: errors against the float32 recurrent run)", "",
              ("| op | dtype | methods (recurrent, parallel) | median ms | recurrent / parallel | loss error | "
               "gradient error |"), "|---|---|---|---|---|---|---|"]
    for r in result.get("ops", []):
        methods = list(r["median_ms"])
        lines.append(f"| {r['op']} | {r['dtype']} | {', '.join(methods)} | "
                     + ", ".join(f"{r['median_ms'][m]:.2f}" for m in methods)
                     + f" | {r['speedup']:.2f}x | {r[methods[1] + '_loss_error']:.2e} | "
                     f"{r[methods[1] + '_gradient_error']:.2e} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.environ.get("OUT", "."), "gpu_check"),
                        help="path prefix of the .md and .json written (default $OUT/gpu_check)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--budget", type=float, default=420.0, help="seconds after which no new measurement starts")
    parser.add_argument("--smoke", action="store_true",
                        help="one tiny case per section, one round (how the test suite runs it on CPU)")
    args = parser.parse_args(argv)
    start = time.monotonic()
    budget = Budget(args.budget)
    result = {"environment": environment(), "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())}
    print(json.dumps(result["environment"]), flush=True)
    if args.smoke:  # one case of each section, tiny
        sections = (("parity", lambda: parity(budget, ("lstm",), ("float32",))),
                    ("timings", lambda: timings(SMOKE_CONFIGS, 1, 1, budget, ("lstm",), ("float32",))),
                    ("mingru", lambda: mingru((64,), 1, 1, budget)),
                    ("ops", lambda: ops_section((1, 16, 1, 4), 1, 1, budget, ("simple_gla",))))
    else:
        sections = (("parity", lambda: parity(budget)),
                    ("timings", lambda: timings(CONFIGS, args.rounds, args.warmup, budget)),
                    ("mingru", lambda: mingru((4096, 65536), args.rounds, args.warmup, budget)),
                    ("ops", lambda: ops_section((4, 2048, 4, 64), args.rounds, args.warmup, budget)))
    status = 0
    for name, run in sections:
        try:
            result[name] = run()
        except Exception:  # noqa: BLE001 - keep what was measured, report the failure
            result[name] = []
            result[f"{name}_error"] = traceback.format_exc()
            print(result[f"{name}_error"], file=sys.stderr, flush=True)
            status = 1
    result["skipped"] = budget.skipped
    result["seconds"] = time.monotonic() - start
    if any(r["status"].startswith("FAIL") for r in result["parity"]):
        status = 1
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out + ".json", "w") as f:
        json.dump(result, f, indent=1, default=str)
    text = markdown(result)
    with open(args.out + ".md", "w") as f:
        f.write(text)
    print(text)
    return status


if __name__ == "__main__":
    sys.exit(main())
