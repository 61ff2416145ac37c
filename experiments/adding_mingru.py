"""The adding problem (Hochreiter & Schmidhuber 1997) at T = 1000 with a minGRU trained in parallel.

Each input step is ``(value, marker)`` with values ``U(0, 1)`` and exactly two markers, one in each
half of the sequence; the target is the sum of the two marked values. Predicting the mean (1.0)
gives MSE ~0.167. The model is one :class:`jaxrnn.MinGRUCell` (H=32) evaluated with
``jaxrnn.scan(..., method="associative")`` and a linear readout of its last output, trained with
Adam in a plain optax loop; the update gate's bias gets a chrono init (time scales up to T). Writes ``adding_mingru.md`` (a table) and ``adding_mingru.png`` (the
loss curves) to ``--out`` (``adding_mingru_short.*`` with ``--short``).

Usage:
  python experiments/adding_mingru.py            # full run (minutes on 2 CPU cores)
  python experiments/adding_mingru.py --short    # T=100, 300 steps: solved in seconds, for CI
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxrnn

import report  # experiments/report.py


def adding_batch(key, batch: int, steps: int):
    """Returns ``xs: (B, T, 2)`` and ``targets: (B,)``."""
    k_val, k_first, k_second = jax.random.split(key, 3)
    values = jax.random.uniform(k_val, (batch, steps))
    first = jax.random.randint(k_first, (batch,), 0, steps // 2)
    second = jax.random.randint(k_second, (batch,), steps // 2, steps)
    t = jnp.arange(steps)
    markers = ((t == first[:, None]) | (t == second[:, None])).astype(values.dtype)
    return jnp.stack([values, markers], axis=-1), jnp.sum(values * markers, axis=1)


def make_model(hidden: int, steps: int, method):
    cell = jaxrnn.MinGRUCell(hidden)

    def init(key):
        """Torch-style init, then chrono init (Tallec & Ollivier 2018) of the update gate's bias:
        ``z = 1 / tau`` with ``tau ~ U(1, T)``, so the memory spans time scales up to T."""
        k_cell, k_out, k_tau = jax.random.split(key, 3)
        cell_params = cell.init(k_cell, 2)
        tau = jax.random.uniform(k_tau, (hidden,), minval=1.0, maxval=float(steps))
        cell_params["b_ih"] = cell_params["b_ih"].at[:hidden].set(-jnp.log(jnp.maximum(tau - 1.0, 1e-3)))
        return {"cell": cell_params, "w_out": jax.random.normal(k_out, (hidden,)) / hidden**0.5,
                "b_out": jnp.ones(())}

    def predict(params, xs):
        """``xs: (B, T, 2)`` -> ``(B,)``: the readout of each sequence's last output."""
        ys = jax.vmap(lambda x: jaxrnn.scan(cell, params["cell"], x, method=method)[0][-1])(xs)
        return ys @ params["w_out"] + params["b_out"]

    return init, predict


def train(args, method, label: str):
    init, predict = make_model(args.hidden, args.steps, method)
    params = init(jax.random.key(args.seed))
    opt = optax.adam(args.lr)
    opt_state = opt.init(params)

    def loss_fn(p, xs, ys):
        return jnp.mean((predict(p, xs) - ys) ** 2)

    @jax.jit
    def step(p, s, key):
        xs, ys = adding_batch(key, args.batch, args.steps)
        loss, grads = jax.value_and_grad(loss_fn)(p, xs, ys)
        updates, s = opt.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss

    test_xs, test_ys = adding_batch(jax.random.key(args.seed + 1), 256, args.steps)
    test_loss = jax.jit(loss_fn)
    keys = jax.random.split(jax.random.key(args.seed + 2), args.iters)
    losses, start = [], None
    for i, key in enumerate(keys):
        params, opt_state, loss = step(params, opt_state, key)
        if i == 0:
            jax.block_until_ready(loss)
            start = time.perf_counter()  # exclude compilation from the per-step time
        losses.append(float(loss))
        if (i + 1) % max(args.iters // 10, 1) == 0:
            print(f"[{label}] step {i + 1}/{args.iters} train mse {np.mean(losses[-50:]):.4f}", flush=True)
    per_step = (time.perf_counter() - start) / max(args.iters - 1, 1) * 1e3
    return {"label": label, "losses": losses, "test_mse": float(test_loss(params, test_xs, test_ys)),
            "ms_per_step": per_step}


def write_results(args, runs, out):
    fig, ax = report.figure((6, 3.5))
    for run in runs:
        smooth = np.convolve(run["losses"], np.ones(20) / 20, mode="valid") if len(run["losses"]) > 20 else run["losses"]
        ax.plot(smooth, label=run["label"])
    ax.axhline(1 / 6, color="gray", linestyle="--", label="predict the mean (1/6)")
    ax.set(xlabel="training step", ylabel="train MSE (20-step mean)", yscale="log",
           title=f"Adding problem, T={args.steps}, minGRU H={args.hidden}")
    ax.legend()
    rows = [[r["label"], f"{r['test_mse']:.5f}", f"{np.mean(r['losses'][-50:]):.5f}", f"{r['ms_per_step']:.1f}"]
            for r in runs]
    text = (f"# Adding problem, T={args.steps}, minGRU H={args.hidden}\n\n"
            f"Command: `python experiments/adding_mingru.py {' '.join(args.argv)}`; seed {args.seed}, "
            f"batch {args.batch}, {args.iters} Adam steps at lr {args.lr}; jax {jax.__version__} on "
            f"{jax.default_backend()}. Test set: 256 fresh sequences. Predicting the mean gives MSE 1/6 = 0.167.\n\n"
            + report.table(["method", "test MSE", "train MSE (last 50 steps)", "ms / train step (after compile)"], rows))
    report.publish(str(out), "adding_mingru" + ("_short" if args.short else ""), fig, text)
    print(text)


def main(argv=None):
    parser = report.parser(__doc__)
    parser.add_argument("--steps", type=int, default=1000, help="sequence length T")
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--iters", type=int, default=1500)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compare-sequential", action="store_true",
                        help="also train with method='sequential' (same seed) and compare")
    args = parser.parse_args(argv)
    args.argv = [] if argv is None else list(argv)
    if args.short:
        args.steps, args.iters, args.batch = 100, 300, 32
    runs = [train(args, "associative", "associative")]
    if args.compare_sequential:
        runs.append(train(args, "sequential", "sequential"))
    write_results(args, runs, args.out)
    return runs


if __name__ == "__main__":
    import sys
    main(sys.argv[1:])
