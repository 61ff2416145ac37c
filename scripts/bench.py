"""Side-by-side CPU benchmark: jaxrnn vs torch.nn vs Flax linen ``nn.RNN``, in one process.

Every library's functions for one (config, cell, mode) are compiled/warmed up first, then timed in
interleaved rounds (each round runs every library once); the table shows medians (and the best
round). ``ratio`` columns are ``peer time / jaxrnn time`` (> 1: jaxrnn is faster). GFLOP/s counts
``2*B*(I_l+H)*k*H`` per step, layer and direction (k = 1 Elman, 3 GRU, 4 LSTM; LSTM:
``2*B*(I+H)*4H``), forward+backward as 3x forward; ``%peak`` divides by the best GFLOP/s of a
square float32 matmul timed in the same run.

Run: ``python scripts/bench.py`` (everything), ``--quick`` (medium+long, LSTM+GRU, fwd+bwd, few
rounds), or select with ``--configs medium,long --cells lstm,gru --modes fwdbwd``.
Writes JSON to ``--json`` (default ``bench.json``) and prints a markdown table to paste.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # a fresh clone
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jaxrnn

import timing  # scripts/timing.py

CONFIGS = {  # name: (B, T, I, H, num_layers, bidirectional)
    "seed": (1, 10, 5, 8, 1, False),
    "medium": (64, 100, 128, 256, 1, False),
    "long": (16, 1000, 64, 128, 1, False),
    "wide": (128, 50, 256, 512, 1, False),
    "bilstm2": (64, 100, 128, 256, 2, True),
}
GATES = {"elman": 1, "gru": 3, "lstm": 4}
JAX_LAYER = {"elman": jaxrnn.RNN, "gru": jaxrnn.GRU, "lstm": jaxrnn.LSTM}


def fwd_flops(b, t, i, h, layers, bidirectional, cell) -> float:
    d = 2 if bidirectional else 1
    total, n_in = 0, i
    for _ in range(layers):
        total += d * t * 2 * b * (n_in + h) * GATES[cell] * h
        n_in = d * h
    return float(total)


def _block(x):
    return jax.block_until_ready(x)


# -- the three libraries: each returns {"fwd": callable, "fwdbwd": callable} + compile seconds ---

def jaxrnn_fns(cfg, cell):
    b, t, i, h, layers, bi = cfg
    model = JAX_LAYER[cell](i, h, num_layers=layers, bidirectional=bi)
    params = model.init(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (t, b, i))
    return _jax_fns(lambda p, x: model.apply(p, x)[0], params, x)


def flax_fns(cfg, cell, variant):
    import flax.linen as nn

    b, t, i, h, layers, bi = cfg
    make = {"LSTMCell": nn.LSTMCell, "OptimizedLSTMCell": nn.OptimizedLSTMCell,
            "GRUCell": nn.GRUCell, "SimpleCell": nn.SimpleCell}[variant]

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            for _ in range(layers):
                if bi:
                    x = nn.Bidirectional(nn.RNN(make(features=h)), nn.RNN(make(features=h)))(x)
                else:
                    x = nn.RNN(make(features=h))(x)
            return x

    net = Net()
    x = jax.random.normal(jax.random.key(1), (b, t, i))  # Flax nn.RNN is batch-major
    params = net.init(jax.random.key(0), x)
    return _jax_fns(net.apply, params, x)


def _jax_fns(apply, params, x):
    def loss(p, x):
        return jnp.sum(apply(p, x))

    out, compile_s, mem = {}, {}, {}
    for mode, fn in (("fwd", apply), ("fwdbwd", jax.grad(loss, argnums=(0, 1)))):
        t0 = time.perf_counter()
        compiled = jax.jit(fn).lower(params, x).compile()
        compile_s[mode] = time.perf_counter() - t0
        mem[mode] = _peak_bytes(compiled)
        out[mode] = lambda c=compiled: _block(c(params, x))
    return out, compile_s, mem


def _peak_bytes(compiled):
    """XLA's buffer-assignment estimate: arguments + outputs + temporaries (bytes)."""
    try:
        m = compiled.memory_analysis()
        return int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes)
    except Exception:  # noqa: BLE001 - some backends do not report it
        return None


def torch_fns(cfg, cell):
    fwd, fwdbwd = timing.torch_rnn(cell, *cfg)
    return {"fwd": fwd, "fwdbwd": fwdbwd}, {"fwd": 0.0, "fwdbwd": 0.0}, {"fwd": None, "fwdbwd": None}


def peers(cell):
    """(label, builder) of the libraries compared for ``cell``; jaxrnn first."""
    out = [("jaxrnn", lambda cfg: jaxrnn_fns(cfg, cell)), ("torch", lambda cfg: torch_fns(cfg, cell))]
    flax_cells = {"lstm": ["LSTMCell", "OptimizedLSTMCell"], "gru": ["GRUCell"], "elman": ["SimpleCell"]}
    for v in flax_cells[cell]:
        out.append((f"flax-{v}", lambda cfg, v=v: flax_fns(cfg, cell, v)))
    return out


# -- timing ---------------------------------------------------------------------------------------

def matmul_peak(rounds: int, n: int = 1024) -> float:
    """Best GFLOP/s of a float32 ``(n, n) @ (n, n)`` jitted matmul over ``rounds`` runs."""
    a = jax.random.normal(jax.random.key(0), (n, n))
    f = jax.jit(lambda a: a @ a)
    _block(f(a))
    best = min(_time(lambda: _block(f(a))) for _ in range(rounds))
    return 2 * n ** 3 / best / 1e9


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run_case(name, cell, mode, builders, rounds, warmup):
    cfg = CONFIGS[name]
    fns = {}
    info = {}
    for label, build in builders:
        f, compile_s, mem = build(cfg)
        fns[label] = f[mode]
        info[label] = {"compile_s": compile_s[mode], "peak_bytes": mem[mode]}
    times = {k: [ms / 1e3 for ms in v] for k, v in timing.interleaved(fns, rounds, warmup).items()}
    flops = fwd_flops(*cfg, cell) * (3 if mode == "fwdbwd" else 1)
    result = {"config": name, "cell": cell, "mode": mode, "shape": dict(zip("BTIHLD", cfg[:4] + (cfg[4], 2 if cfg[5] else 1))),
              "gflop": flops / 1e9, "libs": {}}
    for label, ts in times.items():
        result["libs"][label] = {"median_ms": 1e3 * statistics.median(ts), "min_ms": 1e3 * min(ts),
                                 "rounds_ms": [1e3 * v for v in ts], **info[label]}
    return result


# -- reporting ------------------------------------------------------------------------------------

def machine_info(threads: int) -> dict:
    import flax
    import torch

    model = platform.processor()
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "torch_threads": threads, "python": platform.python_version(),
            "jax": jax.__version__, "flax": flax.__version__, "torch": torch.__version__,
            "jaxrnn": jaxrnn.__version__, "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "load_before": os.getloadavg()}


def markdown(results, peak) -> str:
    rows = [("| config | cell | mode | jaxrnn ms (best) | torch ms | ratio torch/jaxrnn | flax ms (cell) | "
             "ratio flax/jaxrnn | jaxrnn GFLOP/s | %peak | jaxrnn compile s | jaxrnn XLA bytes |"),
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        libs, j = r["libs"], r["libs"]["jaxrnn"]
        flax = [(k[5:], v) for k, v in libs.items() if k.startswith("flax-")]
        gflops = r["gflop"] / (j["median_ms"] / 1e3)
        torch_ms = libs["torch"]["median_ms"]
        flax_txt = ", ".join(f"{v['median_ms']:.2f} ({k})" for k, v in flax)
        flax_ratio = ", ".join(f"{v['median_ms'] / j['median_ms']:.2f}x" for _, v in flax)
        mem = j["peak_bytes"]
        rows.append(f"| {r['config']} | {r['cell']} | {r['mode']} | {j['median_ms']:.2f} ({j['min_ms']:.2f}) | "
                    f"{torch_ms:.2f} | {torch_ms / j['median_ms']:.2f}x | {flax_txt} | {flax_ratio} | "
                    f"{gflops:.1f} | {100 * gflops / peak:.0f}% | {j['compile_s']:.2f} | "
                    f"{'n/a' if mem is None else f'{mem / 2**20:.1f} MiB'} |")
    return "\n".join(rows)


def compile_times(lengths, rounds=1) -> list[dict]:
    """Compile seconds (trace + lower + compile) of fwd+bwd for a 4-layer bidirectional LSTM."""
    out = []
    model = jaxrnn.LSTM(64, 128, num_layers=4, bidirectional=True)
    params = model.init(jax.random.key(0))

    def loss(p, x):
        return jnp.sum(model.apply(p, x)[0])

    for t in lengths:
        x = jax.ShapeDtypeStruct((t, 16, 64), jnp.float32)
        best = min(_time(lambda x=x: jax.jit(jax.grad(loss)).lower(params, x).compile()) for _ in range(rounds))
        out.append({"T": t, "compile_s": best})
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--cells", default="elman,lstm,gru")
    parser.add_argument("--modes", default="fwd,fwdbwd")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="medium,long x lstm,gru, fwd+bwd, 7 rounds")
    parser.add_argument("--compile", default="100,1000,10000",
                        help="T values for the 4-layer bidirectional LSTM compile check ('' skips)")
    parser.add_argument("--torch-threads", type=int, default=os.cpu_count(),
                        help="torch.set_num_threads (default: the core count)")
    parser.add_argument("--json", default="bench.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.configs, args.cells, args.modes, args.rounds, args.warmup = "medium,long", "lstm,gru", "fwdbwd", 7, 1

    import torch

    threads = args.torch_threads
    torch.set_num_threads(threads)
    info = machine_info(threads)
    peak = matmul_peak(10)
    results = []
    for name in args.configs.split(","):
        cells = ["lstm"] if name == "bilstm2" else args.cells.split(",")
        for cell in cells:
            for mode in args.modes.split(","):
                r = run_case(name, cell, mode, peers(cell), args.rounds, args.warmup)
                results.append(r)
                print(f"done {name} {cell} {mode}: " + ", ".join(
                    f"{k} {v['median_ms']:.2f} ms" for k, v in r["libs"].items()), file=sys.stderr, flush=True)
    peak = max(peak, matmul_peak(10))
    comp = compile_times([int(t) for t in args.compile.split(",")]) if args.compile else []
    info["load_after"] = os.getloadavg()
    info["matmul_peak_gflops"] = peak
    print(f"Machine: {info['cpu']}, {info['cores']} cores; torch threads {threads}; python {info['python']}, "
          f"jax {info['jax']}, flax {info['flax']}, torch {info['torch']}; {info['date_utc']}; "
          f"load avg before {info['load_before'][0]:.2f}, after {info['load_after'][0]:.2f}; "
          f"matmul peak (1024^3 f32, jax) {peak:.1f} GFLOP/s\n")
    print(markdown(results, peak))
    if comp:
        print("\n4-layer bidirectional LSTM (B=16, I=64, H=128) fwd+bwd compile time: " +
              ", ".join(f"T={c['T']}: {c['compile_s']:.2f} s" for c in comp))
    with open(args.json, "w") as f:
        json.dump({"machine": info, "results": results, "compile": comp}, f, indent=1)


if __name__ == "__main__":
    main()
