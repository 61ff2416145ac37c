"""Multi-query associative recall (MQAR; Arora et al. 2023, "Zoology: Measuring and Improving
Recall in Efficient Language Models", arXiv:2312.04927): matrix-state against vector-state
recurrences at one model width, as the number of key-value pairs grows.

Input: ``N`` key-value pairs ``k1 v1 ... kN vN`` (distinct keys from 32 key symbols, values from
32 value symbols), then the ``N`` keys again in a random order; the target at each query is its
value (the loss and the accuracy count the ``N`` query steps only; chance is 1/32). Every model
has the same width ``d`` (embedding, 2 residual pre-norm layers of one family, head, as in
:mod:`synthetic`), so the state each family keeps differs: the table gives it in floats per
example (matrix states: ``heads x key x value``; vector states: a few ``d``). Each model is
trained at each learning rate of a small sweep and reported at its best, as Zoology does.

Expected (Zoology, Figure 2; Beck et al. 2024, xLSTM, Figure 6; Yang et al. 2024, Gated
DeltaNet): the matrix-state blocks (mLSTM, Gated DeltaNet, Mamba-2) stay above the vector-state
ones (LRU, RG-LRU, minGRU, LSTM), and the gap opens as ``N`` grows. The table's last column
says, for each ``N``, whether the worst matrix-state model beats the best vector-state one.

Run: ``python experiments/mqar.py`` (full: 7 families, N = 4 and 16, two learning rates, a few CPU minutes) or
``--short`` (Gated DeltaNet against LSTM at N = 4, for CI).
"""

import jax
import jax.numpy as jnp

import report  # experiments/report.py
import synthetic  # experiments/synthetic.py

MATRIX, VECTOR = ("mlstm", "gdn", "mamba2"), ("lru", "griffin", "mingru", "lstm")
LABELS = {"mlstm": "mLSTM", "gdn": "Gated DeltaNet", "mamba2": "Mamba-2", "lru": "LRU",
          "griffin": "RG-LRU (Griffin block)", "mingru": "minGRU", "lstm": "LSTM"}
KEYS = VALUES = 32
FIRST_VALUE = KEYS  # tokens: keys 0 .. 31, values 32 .. 63


def make_batch(key, batch: int, n: int):
    """``(tokens: (B, 3N), labels: (B, 3N), mask: (B, 3N))``: pairs, then the queries (masked)."""
    k_keys, k_values, k_order = jax.random.split(key, 3)
    keys = jax.vmap(lambda k: jax.random.choice(k, KEYS, (n,), replace=False))(jax.random.split(k_keys, batch))
    values = jax.random.randint(k_values, (batch, n), FIRST_VALUE, FIRST_VALUE + VALUES)
    order = jax.vmap(lambda k: jax.random.permutation(k, n))(jax.random.split(k_order, batch))
    pairs = jnp.stack([keys, values], axis=2).reshape(batch, 2 * n)
    queries = jnp.take_along_axis(keys, order, axis=1)
    answers = jnp.take_along_axis(values, order, axis=1)
    tokens = jnp.concatenate([pairs, queries], axis=1)
    labels = jnp.concatenate([jnp.zeros((batch, 2 * n), jnp.int32), answers], axis=1)
    mask = jnp.broadcast_to(jnp.arange(3 * n) >= 2 * n, (batch, 3 * n))
    return tokens, labels, mask


def best(runs) -> dict:
    """The run of the sweep with the highest final accuracy."""
    return max(runs, key=lambda r: r["final"]["test"])


def main(argv=None):
    parser = report.parser(__doc__)
    parser.add_argument("--steps", type=int, default=400)
    args = parser.parse_args(argv)
    names = ("gdn", "lstm") if args.short else MATRIX + VECTOR
    pairs, lrs, steps = ((4,), (3e-3,), 150) if args.short else ((4, 16), (3e-3, 1e-2), args.steps)
    d, layers, batch = (16, 1, 32) if args.short else (32, 2, 32)
    results = {}
    for n in pairs:
        tests = {"test": make_batch(jax.random.key(1234), 128 if args.short else 512, n)}
        for name in names:
            net = synthetic.model(name, KEYS + VALUES, KEYS + VALUES, d, layers)
            runs = synthetic.train(net, lambda key, n=n: make_batch(key, batch, n), tests, steps=steps,
                                   lrs=lrs, seed=0, eval_every=max(steps // 4, 1), label=f"mqar N={n} {name}")
            results[f"{name} N={n}"] = {"name": name, "pairs": n, "state": net.state, "runs": runs}
    write(results, args, pairs, lrs, d, layers, batch, steps)
    return results


def write(results, args, pairs, lrs, d, layers, batch, steps):
    names = list(dict.fromkeys(r["name"] for r in results.values()))
    acc = {(r["name"], r["pairs"]): best(r["runs"])["final"]["test"] for r in results.values()}
    verdict = {}
    for n in pairs:
        matrix = [acc[name, n] for name in names if name in MATRIX]
        vector = [acc[name, n] for name in names if name in VECTOR]
        verdict[n] = "yes" if min(matrix) > max(vector) else "**no**"
    fig, ax = report.figure()
    rows = []
    for name in names:
        by_n = [results[f"{name} N={n}"] for n in pairs]
        rows.append([LABELS[name], "matrix" if name in MATRIX else "vector", by_n[0]["state"],
                     by_n[0]["runs"][0]["params"]]
                    + [f"{acc[name, n]:.3f} (lr {best(r['runs'])['lr']:g})" for n, r in zip(pairs, by_n, strict=True)])
        ax.plot(pairs, [acc[name, n] for n in pairs], "o-" if name in MATRIX else "s--", label=LABELS[name])
    rows.append(["matrix above vector (reproduced)", "", "", ""] + [verdict[n] for n in pairs])
    ax.axhline(1 / VALUES, color="gray", ls=":", label=f"chance 1/{VALUES}")
    ax.set(xlabel="key-value pairs N", ylabel="query accuracy (best learning rate)", ylim=(0, 1.02),
           xticks=list(pairs), title=f"MQAR at width {d}")
    ax.legend(fontsize=7)
    header = (f"# Multi-query associative recall, width {d}\n\n"
              f"Expected (Zoology; xLSTM; Gated DeltaNet): the matrix-state blocks (mLSTM, Gated DeltaNet, "
              f"Mamba-2) above the vector-state ones (LRU, RG-LRU, minGRU, LSTM), more so as N grows. Model: "
              f"embedding, {layers} residual pre-norm layers of width {d}, linear head; Adam at each lr of "
              f"{', '.join(f'{lr:g}' for lr in lrs)} (best final accuracy shown), clip 1.0, batch {batch}, "
              f"{steps} steps, seed 0; 512 test sequences per N; chance {1 / VALUES:.3f}. 'state': floats of "
              f"recurrent state per example, both layers (conv caches not counted). Produced by "
              f"`python experiments/mqar.py{' --short' if args.short else ''}`.\n\n")
    columns = ["model", "state kind", "state", "params"] + [f"acc, N={n}" for n in pairs]
    report.publish(args.out, "mqar" + ("_short" if args.short else ""), fig,
                   header + report.table(columns, rows), results)


if __name__ == "__main__":
    main()
