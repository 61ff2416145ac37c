"""Selective copying: which recurrences select by content (Gu & Dao 2023, "Mamba: Linear-Time
Sequence Modeling with Selective State Spaces", arXiv:2312.00752, Section 3.1 and Table 1).

Input: ``N`` data tokens (from ``V`` symbols) at random positions of a context of ``L`` steps
filled with a noise token, then ``N`` "go" tokens; the target at the i-th go token is the i-th
data token (the loss and the accuracy count those ``N`` steps only; chance is ``1/V``). Unlike
plain copying, the data's positions vary, so a fixed (time-invariant) kernel cannot pick them
out: the recurrence has to decide from the token itself what to keep. Each family is the mixer
of :mod:`synthetic` (embedding, 2 residual pre-norm layers, head).

Expected (the paper: S4 18.3 %, H3 30-57 %, S6/Mamba 97-99.8 %; Feng et al. 2024 for minGRU):
the input-dependent recurrences (S6/Mamba, Gated DeltaNet, minGRU with 2+ layers) solve it; the
time-invariant LRU does not. "solves" is >= 90 % accuracy, "fails" <= 50 %.

Run: ``python experiments/selective_copying.py`` (full: L = 48, N = 6, V = 8; 4 families, a few
CPU minutes) or ``--short`` (L = 16, N = 2; minGRU, 300 steps: well above chance, for CI).
"""

import jax
import jax.numpy as jnp

import report  # experiments/report.py
import synthetic  # experiments/synthetic.py

EXPECTED = {"mamba": "solves", "gdn": "solves", "mingru": "solves", "lru": "fails"}
LABELS = {"mamba": "Mamba (S6)", "gdn": "Gated DeltaNet", "mingru": "minGRU", "lru": "LRU"}
NOISE, GO, FIRST = 0, 1, 2  # tokens; the data symbols are FIRST .. FIRST + V - 1


def make_batch(key, batch: int, context: int, n: int, symbols: int):
    """``(tokens: (B, L+N), labels: (B, L+N), mask: (B, L+N))``: the mask marks the ``N`` go steps."""
    k_pos, k_data = jax.random.split(key)
    positions = jax.vmap(lambda k: jnp.sort(jax.random.choice(k, context, (n,), replace=False)))(
        jax.random.split(k_pos, batch))
    data = jax.random.randint(k_data, (batch, n), FIRST, FIRST + symbols)
    rows = jnp.arange(batch)[:, None]
    context_tokens = jnp.full((batch, context), NOISE).at[rows, positions].set(data)
    tokens = jnp.concatenate([context_tokens, jnp.full((batch, n), GO)], axis=1)
    labels = jnp.concatenate([jnp.zeros((batch, context), jnp.int32), data], axis=1)
    mask = jnp.broadcast_to(jnp.arange(context + n) >= context, (batch, context + n))
    return tokens, labels, mask


def outcome(acc: float) -> str:
    return "solves" if acc >= 0.9 else "fails" if acc <= 0.5 else "in between"


def main(argv=None):
    parser = report.parser(__doc__)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=3e-3)
    args = parser.parse_args(argv)
    names = ("mingru",) if args.short else tuple(EXPECTED)
    context, n, symbols, steps = (16, 2, 8, 300) if args.short else (48, 6, 8, args.steps)
    d, layers, batch = 32, 2, 32
    task = {"context": context, "n": n, "symbols": symbols}
    tests = {"test": make_batch(jax.random.key(1234), 512, **task)}
    results = {}
    for name in names:
        net = synthetic.model(name, FIRST + symbols, FIRST + symbols, d, layers)
        results[name] = synthetic.train(net, lambda key: make_batch(key, batch, **task), tests,
                                        steps=steps, lrs=[args.lr], seed=0, eval_every=max(steps // 6, 1),
                                        label=f"selective copying {name}")[0]
    write(results, args, task, d, layers, batch, steps)
    return results


def write(results, args, task, d, layers, batch, steps):
    rows = []
    fig, ax = report.figure()
    for name, r in results.items():
        acc = r["final"]["test"]
        got = outcome(acc)
        rows.append([LABELS[name], f"{acc:.3f}", f"{max(a['test'] for _, _, a in r['curve']):.3f}",
                     EXPECTED[name], got, "yes" if got == EXPECTED[name] else "**no**", r["params"],
                     f"{r['seconds']:.0f}"])
        ax.plot([s for s, _, _ in r["curve"]], [a["test"] for _, _, a in r["curve"]], label=LABELS[name])
    chance = 1 / task["symbols"]
    ax.axhline(chance, color="gray", ls="--", label=f"chance 1/{task['symbols']}")
    ax.set(xlabel="training step", ylabel="accuracy on the copied tokens", ylim=(0, 1.02),
           title=f"Selective copying, L={task['context']}, N={task['n']}")
    ax.legend(fontsize=8)
    header = (f"# Selective copying, context {task['context']}, {task['n']} tokens of {task['symbols']} symbols\n\n"
              f"Expected (Gu & Dao 2023): input-dependent recurrences (S6/Mamba, Gated DeltaNet, minGRU "
              f"with 2+ layers) solve it, the time-invariant LRU does not. Model: embedding, {layers} "
              f"residual pre-norm layers of width {d}, linear head; Adam({args.lr}), clip 1.0, batch "
              f"{batch}, {steps} steps, seed 0; 512 test sequences; chance {chance:.3f}. 'solves': "
              f"accuracy >= 0.9; 'fails': <= 0.5. Produced by "
              f"`python experiments/selective_copying.py{' --short' if args.short else ''}`.\n\n")
    columns = ["model", "accuracy", "best accuracy", "expected", "measured", "reproduced", "params",
               "wall time (s)"]
    report.publish(args.out, "selective_copying" + ("_short" if args.short else ""), fig,
                   header + report.table(columns, rows), results)


if __name__ == "__main__":
    main()
