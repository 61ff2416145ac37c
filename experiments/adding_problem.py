"""The adding problem (Hochreiter & Schmidhuber 1997; setup of Le et al. 2015, arXiv:1504.00941).

Each input step is ``(value ~ U(0, 1), marker)``; two steps are marked, one in each half of the
sequence, and the target is the sum of the two marked values. Predicting 1 always gives MSE
``Var(U + U) = 1/6 ~ 0.167`` (the baseline); the task counts as solved when the test MSE < 0.01.
An LSTM reads the sequence and a linear head maps its last hidden state to the prediction.

Run: ``python experiments/adding_problem.py`` (full) or ``--short`` (T = 10, 500 steps: solved
within seconds, for CI).
"""

import time

import jax
import jax.numpy as jnp
import optax

import jaxrnn
from jaxrnn.train import make_step

import report  # experiments/report.py

BASELINE = 1 / 6
SOLVED = 0.01


def make_batch(key, batch: int, steps: int):
    """``x: (B, T, 2)``, ``y: (B,)``: values, markers (one per half), sum of the marked values."""
    kv, k1, k2 = jax.random.split(key, 3)
    values = jax.random.uniform(kv, (batch, steps))
    first = jax.random.randint(k1, (batch,), 0, steps // 2)
    second = jax.random.randint(k2, (batch,), steps // 2, steps)
    marks = jax.nn.one_hot(first, steps) + jax.nn.one_hot(second, steps)
    return jnp.stack([values, marks], axis=-1), jnp.sum(values * marks, axis=1)


def run(steps_t: int, train_steps: int, hidden: int, batch: int, seed: int, eval_every: int):
    model = jaxrnn.LSTM(2, hidden, batch_first=True)
    k_init, k_head, k_data, k_test = jax.random.split(jax.random.key(seed), 4)
    params = {"rnn": model.init(k_init), "w": jax.random.normal(k_head, (hidden,)) * 0.1,
              "b": jnp.ones(())}

    def predict(p, x):
        out, _ = model.apply(p["rnn"], x)
        return out[:, -1] @ p["w"] + p["b"]

    def loss_fn(p, data):
        return jnp.mean((predict(p, data[0]) - data[1]) ** 2)

    optimizer = optax.adam(3e-3)
    step = jax.jit(make_step(loss_fn, optimizer, clip_norm=1.0), donate_argnums=(0, 1))
    test = make_batch(k_test, 1000, steps_t)
    test_mse = jax.jit(loss_fn)
    opt_state, curve, solved_at = optimizer.init(params), [], None
    for i in range(1, train_steps + 1):
        params, opt_state, _ = step(params, opt_state, make_batch(jax.random.fold_in(k_data, i),
                                                                   batch, steps_t))
        if i % eval_every == 0 or i == train_steps:
            mse = float(test_mse(params, test))
            curve.append((i, mse))
            print(f"T={steps_t} step {i}: test MSE {mse:.4f}", flush=True)
            if solved_at is None and mse < SOLVED:
                solved_at = i
    return curve, solved_at


def main(argv=None):
    parser = report.parser(__doc__)
    parser.add_argument("--lengths", type=int, nargs="+", help="sequence lengths T (full mode)")
    parser.add_argument("--steps", type=int, help="training steps per T (full mode)")
    args = parser.parse_args(argv)
    lengths, train_steps, hidden, batch, eval_every = (
        ((10,), 500, 16, 32, 100) if args.short else ((100, 200, 400), 2000, 64, 32, 100))
    if not args.short:
        lengths, train_steps = tuple(args.lengths or lengths), args.steps or train_steps
        args.suffix = "" if train_steps == 2000 and lengths == (100, 200, 400) else (
            f"_T{'-'.join(map(str, lengths))}_{train_steps}steps")
    results = {}
    for t in lengths:
        start = time.perf_counter()
        curve, solved_at = run(t, train_steps, hidden, batch, seed=0, eval_every=eval_every)
        results[t] = {"curve": curve, "solved_at": solved_at, "seconds": time.perf_counter() - start}
    write(results, args, hidden, batch, train_steps)
    return results


def write(results, args, hidden, batch, train_steps):
    rows = []
    fig, ax = report.figure()
    for t, r in results.items():
        mses = [m for _, m in r["curve"]]
        solved = f"{r['solved_at']}" if r["solved_at"] else "not solved"
        rows.append([t, f"{mses[-1]:.4f}", f"{min(mses):.4f}", f"{BASELINE:.3f}", solved, f"{r['seconds']:.0f}"])
        ax.plot(*zip(*r["curve"]), label=f"LSTM, T={t}")
    ax.axhline(BASELINE, color="gray", ls="--", label="predict 1 (0.167)")
    ax.axhline(SOLVED, color="green", ls=":", label="solved (0.01)")
    ax.set(yscale="log", xlabel="training step", ylabel="test MSE (1000 sequences)",
           title="Adding problem")
    ax.legend()
    header = (f"# Adding problem\n\nLSTM(2, {hidden}) + linear head on the last state, Adam(3e-3),"
              f" gradient clipping 1.0, batch {batch}, {train_steps} steps, seed 0, test set of "
              f"1000 sequences. Produced by `python experiments/adding_problem.py"
              f"{' --short' if args.short else ''}"
              f"{f' --steps {train_steps} --lengths ' + ' '.join(map(str, results)) if getattr(args, 'suffix', '') else ''}`.\n\n")
    columns = ["T", "final test MSE", "best test MSE", "predict-1 baseline", "solved (MSE < 0.01) at step",
               "wall time (s)"]
    report.publish(args.out, "adding_problem" + ("_short" if args.short else args.suffix), fig,
                   header + report.table(columns, rows), {str(t): r for t, r in results.items()})


if __name__ == "__main__":
    main()
