"""Character-level language modelling: Elman RNN vs GRU vs LSTM in bits per character.

Corpus: the default ``jaxrnn train`` corpus (the Python standard library's own ``.py`` sources,
first 2,000,000 characters in sorted path order); the last 5% is held out. Each cell gets the same
hidden size, data order (truncated BPTT over contiguous streams), optimizer and number of steps.
Reference points: a uniform guess over the vocabulary costs ``log2(V)`` bits/char; a unigram
(character frequency) model costs its entropy, both measured on the held-out split here.

Run: ``python experiments/charlm_bpc.py`` (full) or ``--short`` (100 steps on 100,000
characters: each cell gets below the unigram reference, for CI).
"""

import math
import time

import jax
import numpy as np
import optax

import jaxrnn
from jaxrnn.app import charlm, corpus
from jaxrnn.train import make_bptt_step

import report  # experiments/report.py


def run(cell, train_ids, valid_ids, vocab_size, steps, hidden, batch, seq_len, eval_every):
    model = charlm.CharLM(vocab_size, cell, hidden)
    params = model.init(jax.random.key(0))
    optimizer = optax.adam(3e-3)
    step = jax.jit(make_bptt_step(model.loss, optimizer, clip_norm=1.0), donate_argnums=(0, 1, 3))
    opt_state, carry, curve = optimizer.init(params), model.initial_state(batch), []
    for i in range(steps):
        x, y, reset = corpus.batch_at(train_ids, i, batch, seq_len, seed=0)
        params, opt_state, metrics, carry = step(params, opt_state, (x, y), carry, reset)
        if (i + 1) % eval_every == 0 or i + 1 == steps:
            bpc = charlm.bits_per_char(model, params, valid_ids)
            curve.append((i + 1, float(metrics["loss"]) * charlm.BITS, bpc))
            print(f"{cell} step {i + 1}: train {curve[-1][1]:.3f}, held-out {bpc:.3f} bits/char",
                  flush=True)
    return curve, jaxrnn.param_count(params)


def references(train_ids, valid_ids, vocab_size):
    """Held-out bits/char of the two reference guesses: ``uniform`` over the vocabulary and
    ``unigram``, the training split's character frequencies (add-one smoothed)."""
    counts = np.bincount(train_ids, minlength=vocab_size) + 1  # add-one smoothing
    probs = counts / counts.sum()
    return {"uniform": math.log2(vocab_size), "unigram": float(-np.mean(np.log2(probs[valid_ids])))}


def main(argv=None):
    parser = report.parser(__doc__)
    args = parser.parse_args(argv)
    chars, steps, hidden, batch, seq_len, eval_every = (
        (100_000, 100, 32, 8, 32, 50) if args.short else (2_000_000, 1200, 256, 32, 64, 200))
    text = corpus.default_corpus(chars)
    vocab = corpus.Vocab.from_text(text)
    train_ids, valid_ids = corpus.split(vocab.encode(text), 0.05)
    valid_ids = valid_ids[:65_536]
    refs = references(train_ids, valid_ids, vocab.size)
    results = {}
    for cell in ("rnn", "gru", "lstm"):
        start = time.perf_counter()
        curve, n = run(cell, train_ids, valid_ids, vocab.size, steps, hidden, batch, seq_len,
                       eval_every)
        results[cell] = {"curve": curve, "params": n, "seconds": time.perf_counter() - start}
    write(results, refs, args, {"chars": len(text), "vocab": vocab.size, "held_out": len(valid_ids),
                                "steps": steps, "hidden": hidden, "batch": batch, "seq_len": seq_len})
    return results


def write(results, refs, args, info):
    rows = [[f"{k} (reference)", 0, f"{v:.3f}", "-", "-"] for k, v in refs.items()]
    fig, ax = report.figure()
    for cell, r in results.items():
        _, train_bpc, bpc = r["curve"][-1]
        rows.append([cell, f"{r['params']:,}", f"{bpc:.3f}", f"{train_bpc:.3f}", f"{r['seconds']:.0f}"])
        ax.plot([c[0] for c in r["curve"]], [c[2] for c in r["curve"]], "o-", label=cell)
    ax.axhline(refs["unigram"], color="gray", ls="--", label="unigram")
    ax.set(xlabel="training step", ylabel="held-out bits per character",
           title="Character LM on the Python stdlib")
    ax.legend()
    header = (f"# Character LM: Elman RNN vs GRU vs LSTM\n\nCorpus: {info['chars']:,} characters "
              f"of Python stdlib sources, vocabulary {info['vocab']}, last 5% held out (first "
              f"{info['held_out']:,} held-out characters evaluated). Embedding 64, one layer of "
              f"{info['hidden']} units, Adam(3e-3), clipping 1.0, batch {info['batch']} x "
              f"{info['seq_len']} characters (truncated BPTT), {info['steps']} steps, seed 0. "
              f"Produced by `python experiments/charlm_bpc.py{' --short' if args.short else ''}`."
              f"\n\n")
    columns = ["model", "parameters", "held-out bits/char", "final train bits/char", "wall time (s)"]
    report.publish(args.out, "charlm_bpc" + ("_short" if args.short else ""), fig,
                   header + report.table(columns, rows),
                   {"results": results, "references": refs, "setup": info})


if __name__ == "__main__":
    main()
