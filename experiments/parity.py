"""Parity: which recurrences track state (Grazzi et al. 2024, "Unlocking State-Tracking in Linear
RNNs Through Negative Eigenvalues", arXiv:2411.12537).

Input: random bits; the label at step t is the parity of the bits up to t (one label per step, so
a training sequence of length 40 holds the lengths 1 to 40 and a causal model cannot tell them
apart from separate sequences). Train on length 40; test on 256 fresh sequences of length 256,
scoring the steps 40 to 255 (lengths 41 to 256, "long") and the steps 0 to 39 ("train lengths").
Each family is the mixer of :mod:`synthetic` (embedding, residual pre-norm layers, head).

Expected (the paper's Table 2 and Figure 4): LSTM, sLSTM and Gated DeltaNet with
``allow_neg_eigval`` (state-transition eigenvalues in (-1, 1)) extrapolate at ~100 %; Gated
DeltaNet with beta in (0, 1) (eigenvalues in [0, 1]), mLSTM and Mamba (positive diagonal
transitions) stay near chance (50 %) on the long lengths. The table's last column says whether
each was reproduced: "solves" is >= 90 % long accuracy, "near chance" <= 60 %.

Run: ``python experiments/parity.py`` (full: 6 families, a few CPU minutes) or ``--short`` (LSTM
and Gated DeltaNet with negative eigenvalues, 1 layer, 300 steps: both learn the training
lengths, for CI).
"""

import jax
import jax.numpy as jnp

import report  # experiments/report.py
import synthetic  # experiments/synthetic.py

EXPECTED = {"lstm": "solves", "slstm": "solves", "gdn_neg": "solves", "gdn": "near chance",
            "mlstm": "near chance", "mamba": "near chance"}
LABELS = {"lstm": "LSTM", "slstm": "sLSTM", "gdn_neg": "Gated DeltaNet, beta in (0, 2)",
          "gdn": "Gated DeltaNet, beta in (0, 1)", "mlstm": "mLSTM", "mamba": "Mamba"}
TRAIN_T, TEST_T = 40, 256


def make_batch(key, batch: int, t: int, scored_from: int = 0, scored_to=None):
    """``(bits: (B, T), parities: (B, T), mask: (B, T))``, the mask True on steps
    ``[scored_from, scored_to)``."""
    bits = jax.random.randint(key, (batch, t), 0, 2)
    steps = jnp.arange(t)
    mask = (steps >= scored_from) & (steps < (t if scored_to is None else scored_to))
    return bits, jnp.cumsum(bits, axis=1) % 2, jnp.broadcast_to(mask, (batch, t))


def outcome(acc: float) -> str:
    return "solves" if acc >= 0.9 else "near chance" if acc <= 0.6 else "in between"


def main(argv=None):
    parser = report.parser(__doc__)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--lr", type=float, default=3e-3)
    args = parser.parse_args(argv)
    names = ("lstm", "gdn_neg") if args.short else tuple(EXPECTED)
    d, layers, batch, steps = (16, 1, 32, 200) if args.short else (32, 2, 32, args.steps)
    k_long, k_short = jax.random.split(jax.random.key(1234))
    rows = 64 if args.short else 256
    tests = {"long": make_batch(k_long, rows, TEST_T, scored_from=TRAIN_T),
             "train lengths": make_batch(k_short, rows, TEST_T, scored_to=TRAIN_T)}
    results = {}
    for name in names:
        net = synthetic.model(name, 2, 2, d, layers)
        results[name] = synthetic.train(net, lambda key: make_batch(key, batch, TRAIN_T), tests,
                                        steps=steps, lrs=[args.lr], seed=0, eval_every=steps // 3 if args.short else max(steps // 6, 1),
                                        label=f"parity {name}")[0]
    write(results, args, d, layers, batch, steps)
    return results


def write(results, args, d, layers, batch, steps):
    rows = []
    fig, ax = report.figure()
    for name, r in results.items():
        long, short = r["final"]["long"], r["final"]["train lengths"]
        got = outcome(long)
        rows.append([LABELS[name], f"{short:.3f}", f"{long:.3f}", f"{max(a['long'] for _, _, a in r['curve']):.3f}",
                     EXPECTED[name], got, "yes" if got == EXPECTED[name] else "**no**", r["params"],
                     f"{r['seconds']:.0f}"])
        ax.plot([s for s, _, _ in r["curve"]], [a["long"] for _, _, a in r["curve"]], label=LABELS[name])
    ax.axhline(0.5, color="gray", ls="--", label="chance")
    ax.set(xlabel="training step", ylabel=f"accuracy, lengths {TRAIN_T + 1}-{TEST_T}", ylim=(0.4, 1.02),
           title=f"Parity: train on length {TRAIN_T}, test up to {TEST_T}")
    ax.legend(fontsize=8)
    header = (f"# Parity, train length {TRAIN_T}, test lengths {TRAIN_T + 1} to {TEST_T}\n\n"
              f"Expected (Grazzi et al. 2024): LSTM, sLSTM and Gated DeltaNet with negative eigenvalues "
              f"~100 % on the long lengths; Gated DeltaNet with beta in (0, 1), mLSTM and Mamba near chance. "
              f"Model: embedding, {layers} residual pre-norm layer(s) of width {d}, linear head; Adam({args.lr}), "
              f"clip 1.0, batch {batch}, {steps} steps, seed 0; 256 test sequences of length {TEST_T}. "
              f"'solves': long accuracy >= 0.9; 'near chance': <= 0.6. Produced by "
              f"`python experiments/parity.py{' --short' if args.short else ''}`.\n\n")
    columns = ["model", "acc, train lengths", "acc, long", "best long", "expected", "measured",
               "reproduced", "params", "wall time (s)"]
    report.publish(args.out, "parity" + ("_short" if args.short else ""), fig,
                   header + report.table(columns, rows), results)


if __name__ == "__main__":
    main()
