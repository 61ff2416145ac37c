"""The copy-memory task (Hochreiter & Schmidhuber 1997; setup of Arjovsky et al. 2016, arXiv:1511.06464).

Input (length ``T + 20``): 10 symbols from ``{1..8}``, ``T - 1`` blanks (0), the delimiter 9, then
10 blanks. Target: ``T + 10`` blanks, then the 10 symbols. Outputting blanks and then a uniform guess
over the 8 symbols gives cross-entropy ``10 ln 8 / (T + 20)`` per step (the baseline); a model that
remembers the symbols goes to 0. Each cell reads the one-hot input; a linear head gives 10 logits.

Run: ``python experiments/copy_memory.py`` (full: RNN, GRU, LSTM) or ``--short`` (the GRU, T = 10,
800 steps: it learns where the answer goes, which brings it to the baseline, for CI).
"""

import math
import time

import jax
import jax.numpy as jnp
import optax

import jaxrnn
from jaxrnn.train import cross_entropy, make_step

import report  # experiments/report.py

LAYERS = {"rnn": jaxrnn.RNN, "gru": jaxrnn.GRU, "lstm": jaxrnn.LSTM}


def baseline(t: int) -> float:
    return 10 * math.log(8) / (t + 20)


def make_batch(key, batch: int, t: int):
    """``x: (B, T+20)`` and ``y: (B, T+20)`` int symbols in ``[0, 10)``."""
    symbols = jax.random.randint(key, (batch, 10), 1, 9)
    blanks = jnp.zeros((batch, t - 1), jnp.int32)
    x = jnp.concatenate([symbols, blanks, jnp.full((batch, 1), 9), jnp.zeros((batch, 10), jnp.int32)], 1)
    y = jnp.concatenate([jnp.zeros((batch, t + 10), jnp.int32), symbols], 1)
    return x, y


def run(cell: str, t: int, train_steps: int, hidden: int, batch: int, seed: int, eval_every: int):
    model = LAYERS[cell](10, hidden, batch_first=True)
    k_init, k_head, k_data, k_test = jax.random.split(jax.random.key(seed), 4)
    bound = 1 / math.sqrt(hidden)
    params = {"rnn": model.init(k_init), "b": jnp.zeros(10),
              "w": jax.random.uniform(k_head, (10, hidden), minval=-bound, maxval=bound)}

    def loss_fn(p, data):
        out, _ = model.apply(p["rnn"], jax.nn.one_hot(data[0], 10))
        return cross_entropy(out @ p["w"].T + p["b"], data[1])

    optimizer = optax.rmsprop(1e-3)
    step = jax.jit(make_step(loss_fn, optimizer, clip_norm=1.0), donate_argnums=(0, 1))
    test, test_loss = make_batch(k_test, 500, t), jax.jit(loss_fn)
    opt_state, curve = optimizer.init(params), []
    for i in range(1, train_steps + 1):
        data = make_batch(jax.random.fold_in(k_data, i), batch, t)
        params, opt_state, _ = step(params, opt_state, data)
        if i % eval_every == 0 or i == train_steps:
            curve.append((i, float(test_loss(params, test))))
            print(f"{cell} T={t} step {i}: test CE {curve[-1][1]:.4f} (baseline {baseline(t):.4f})",
                  flush=True)
    return curve


def main(argv=None):
    parser = report.parser(__doc__)
    args = parser.parse_args(argv)
    t, train_steps, hidden, batch, eval_every = (
        (10, 800, 32, 32, 200) if args.short else (100, 2000, 128, 64, 100))
    results = {}
    for cell in ("gru",) if args.short else ("rnn", "gru", "lstm"):
        start = time.perf_counter()
        curve = run(cell, t, train_steps, hidden, batch, seed=0, eval_every=eval_every)
        results[cell] = {"curve": curve, "seconds": time.perf_counter() - start}
    write(results, args, t, hidden, batch, train_steps)
    return results


def write(results, args, t, hidden, batch, train_steps):
    rows = []
    fig, ax = report.figure()
    for cell, r in results.items():
        ces = [c for _, c in r["curve"]]
        rows.append([cell, f"{ces[-1]:.4f}", f"{min(ces):.4f}", f"{baseline(t):.4f}",
                     "yes" if ces[-1] < 0.9 * baseline(t) else "no", f"{r['seconds']:.0f}"])
        ax.plot(*zip(*r["curve"]), label=cell)
    ax.axhline(baseline(t), color="gray", ls="--", label=f"baseline {baseline(t):.3f}")
    ax.set(xlabel="training step", ylabel="test cross-entropy (nats/step)",
           title=f"Copy memory, T={t}")
    ax.legend()
    header = (f"# Copy-memory task, T = {t}\n\nOne layer of {hidden} units per cell, linear head, "
              f"RMSprop(1e-3), gradient clipping 1.0, batch {batch}, {train_steps} steps, seed 0, "
              f"500 test sequences; 'below baseline' means final CE < 0.9 x baseline. Produced by "
              f"`python experiments/copy_memory.py{' --short' if args.short else ''}`.\n\n")
    columns = ["cell", "final test CE", "best test CE", "baseline 10 ln 8/(T+20)", "below baseline",
               "wall time (s)"]
    report.publish(args.out, "copy_memory" + ("_short" if args.short else ""), fig,
                   header + report.table(columns, rows), results)


if __name__ == "__main__":
    main()
