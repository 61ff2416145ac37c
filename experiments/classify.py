"""Classifying variable-length sequences with a bidirectional GRU: which symbol is most frequent?

Each sequence has a length drawn from U{4, ..., 40} (right-padded to 40 with zero vectors) and
one-hot symbols from an alphabet of 8: symbols 0, 1, 2 are the classes, 3 to 7 are distractors.
The label is the class symbol that occurs most often (sequences with a tie are redrawn), so the
whole sequence must be read; always predicting the most common label is the baseline (its
accuracy is computed on the test set, about 1/3).

Two classifiers are trained identically, differing only in the feature they read: the final
states ``h_n`` (the last layer's forward and backward ones; each row's state after its own last
valid step), and ``out[:, -1]``, the output at the last padded position, which is exactly 0 for
every row shorter than 40 (jaxrnn zeroes padded outputs): the mistake this experiment documents.

Run: ``python experiments/classify.py`` (full) or ``--short`` (200 steps: enough to show the
difference, for CI).
"""

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxrnn
from jaxrnn.train import make_step

import report  # experiments/report.py

T, SYMBOLS, CLASSES, MIN_LEN = 40, 8, 3, 4


def make_data(seed: int, n: int):
    """``x: (n, T, SYMBOLS)`` one-hot, padded with zeros; ``lengths: (n,)``; ``labels: (n,)``."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, T, SYMBOLS), np.float32)
    lengths, labels = np.zeros(n, np.int32), np.zeros(n, np.int32)
    i = 0
    while i < n:
        length = rng.integers(MIN_LEN, T + 1)
        symbols = rng.integers(0, SYMBOLS, length)
        counts = np.bincount(symbols, minlength=SYMBOLS)[:CLASSES]
        if (counts == counts.max()).sum() > 1:  # a tie: no single answer
            continue
        x[i, np.arange(length), symbols] = 1.0
        lengths[i], labels[i] = length, counts.argmax()
        i += 1
    return jnp.asarray(x), jnp.asarray(lengths), jnp.asarray(labels)


def run(feature: str, train_steps: int, hidden: int, batch: int, seed: int, eval_every: int, test):
    layer = jaxrnn.GRU(SYMBOLS, hidden, bidirectional=True, batch_first=True)
    k_rnn, k_head = jax.random.split(jax.random.key(seed))
    params = {"rnn": layer.init(k_rnn), "w": jax.random.normal(k_head, (2 * hidden, CLASSES)) * 0.1,
              "b": jnp.zeros(CLASSES)}

    def logits(p, x, lengths):
        out, h_n = layer.apply(p["rnn"], x, seq_lengths=lengths)
        features = jnp.concatenate([h_n[-2], h_n[-1]], -1) if feature == "h_n" else out[:, -1]
        return features @ p["w"] + p["b"]

    def loss_fn(p, data):
        x, lengths, labels = data
        return optax.softmax_cross_entropy_with_integer_labels(logits(p, x, lengths), labels).mean()

    accuracy = jax.jit(lambda p, x, n, y: jnp.mean(jnp.argmax(logits(p, x, n), -1) == y))
    optimizer = optax.adam(3e-3)
    step = jax.jit(make_step(loss_fn, optimizer, clip_norm=1.0), donate_argnums=(0, 1))
    opt_state, curve = optimizer.init(params), []
    for i in range(1, train_steps + 1):
        params, opt_state, _ = step(params, opt_state, make_data(seed * 100_003 + i, batch))
        if i % eval_every == 0 or i == train_steps:
            acc = float(accuracy(params, *test))
            curve.append((i, acc))
            print(f"{feature}: step {i}: test accuracy {acc:.3f}", flush=True)
    return curve


def main(argv=None):
    parser = report.parser(__doc__)
    args = parser.parse_args(argv)
    train_steps, hidden, batch, eval_every, n_test = (200, 16, 32, 50, 500) if args.short else (1500, 32, 64, 100, 2000)
    test = make_data(seed=12345, n=n_test)
    baseline = float(np.bincount(np.asarray(test[2]), minlength=CLASSES).max() / n_test)
    results = {"baseline": baseline, "runs": {}}
    for feature in ("h_n", "out[:, -1]"):
        start = time.perf_counter()
        curve = run(feature, train_steps, hidden, batch, 0, eval_every, test)
        results["runs"][feature] = {"curve": curve, "seconds": time.perf_counter() - start}
    write(results, args, hidden, batch, train_steps, n_test)
    return results


def write(results, args, hidden, batch, train_steps, n_test):
    rows = []
    fig, ax = report.figure()
    for feature, r in results["runs"].items():
        accs = [a for _, a in r["curve"]]
        rows.append([f"`{feature}`", f"{accs[-1]:.3f}", f"{max(accs):.3f}", f"{results['baseline']:.3f}",
                     f"{r['seconds']:.0f}"])
        ax.plot(*zip(*r["curve"]), label=f"reads {feature}")
    ax.axhline(results["baseline"], color="gray", ls="--", label=f"most common label ({results['baseline']:.3f})")
    ax.set(ylim=(0, 1.02), xlabel="training step", ylabel=f"test accuracy ({n_test} sequences)",
           title="Most frequent symbol, lengths 4 to 40")
    ax.legend()
    header = (f"# Variable-length classification\n\nBidirectional GRU({SYMBOLS}, {hidden}) + linear head, "
              f"Adam(3e-3), gradient clipping 1.0, batch {batch}, {train_steps} steps, seed 0, test set of "
              f"{n_test} sequences (lengths 4 to {T}, right-padded). Produced by `python experiments/classify.py"
              f"{' --short' if args.short else ''}`.\n\n")
    columns = ["feature", "final test accuracy", "best test accuracy", "most-common-label baseline",
               "wall time (s)"]
    report.publish(args.out, "classify" + ("_short" if args.short else ""), fig,
                   header + report.table(columns, rows), results)


if __name__ == "__main__":
    main()
