"""Character LM: every ``jaxrnn train --cell`` at an equal parameter count, in bits per character.

Each cell is trained exactly as ``jaxrnn train --cell CELL --hidden H`` trains it, in this process:
the app's own setup (the default corpus, the Python standard library's ``.py`` sources; its
vocabulary; the last 5% held out, the first 65,536 held-out characters evaluated), its model
(``build_model``: embedding -> one layer of the classic cell, or one residual layer of the block
with its family's MLP -> linear head), its optimizer (Adam at the default 3e-3, clipping 1.0) and
its training loop (``jaxrnn.app.loop.train``: truncated BPTT over contiguous streams, seed 0, the
same batches for every cell). ``H`` is chosen per cell so that the model's parameter count is
the one nearest the target, the default cell (LSTM) at a small width: counted from shapes alone
(``jax.eval_shape`` of the app's ``build_model``), nothing allocated. Steps/s is the app's own
``chars_per_s`` (compilation and evaluations left out) over the characters of one batch; the
machine is a shared 2-core CPU, so it ranks the cells' cost on CPU only roughly, not their speed
on an accelerator (where the chunked linear-attention blocks are built to win).

Expected: there is no single published number for this setting (a ~50k-parameter, one-layer
model trained for 1,500 steps). The question is which cells learn fastest per step at
equal parameters; every cell should beat the unigram (character frequency) reference, the entropy
of the training split's character counts measured on the held-out characters. The script reports
the ranking it measures and whether every cell beat the unigram reference; a cell that does not
is reported, not tuned away.

Run: ``python experiments/charlm_cells.py`` (full: all 10 cells, target the LSTM of hidden 64,
1,500 steps of 32 x 64 characters each, about 15 minutes on 2 shared CPU cores) or ``--short`` (GRU and
Mamba-2 at a target of the LSTM of hidden 16, 150 steps of 16 x 32 on 100,000 characters: each
below the unigram reference, for CI).
"""

import os
import sys
import tempfile
import time

import jax

import jaxrnn
from jaxrnn.app import charlm, corpus, loop, rundir, start
from jaxrnn.app.config import CELLS, DEFAULTS
from jaxrnn.app.model import build_model
from jaxrnn.app.signals import StopSignals

import charlm_bpc  # experiments/charlm_bpc.py: the reference bits/char (references)
import report  # experiments/report.py

TARGET_CELL = DEFAULTS["cell"]  # the target: the default cell at a small width


def param_count(cell: str, hidden: int, vocab_size: int) -> int:
    """The parameters of ``jaxrnn train --cell cell --hidden hidden`` (one layer), from shapes alone."""
    model = build_model({"cell": cell, "hidden": hidden, "layers": 1}, vocab_size)
    return jaxrnn.param_count(jax.eval_shape(model.init, jax.random.key(0)))


def hidden_for(cell: str, target: int, vocab_size: int, widths=range(4, 513, 4)) -> tuple[int, int]:
    """``(hidden, count)``: the width among ``widths`` whose parameter count is nearest ``target``
    (the smaller width on a tie). Counts grow with the width, so the search stops once past it."""
    best = None
    for hidden in widths:
        count = param_count(cell, hidden, vocab_size)
        if best is None or abs(count - target) < abs(best[1] - target):
            best = (hidden, count)
        if count > target:
            break
    return best


def train(cell: str, hidden: int, settings: dict, out: str) -> dict:
    """Trains ``cell`` at ``hidden`` as ``jaxrnn train`` does (:func:`jaxrnn.app.start.setup`, then
    :func:`jaxrnn.app.loop.train`) into the run directory ``out``; returns its metrics records,
    the run's parameter count and its split's ids."""
    os.makedirs(out, exist_ok=True)  # as the command's lock on --out creates it
    run = start.setup({**settings, "cell": cell, "hidden": hidden, "out": out}, resume=False)
    stop = StopSignals().install()
    try:
        status = loop.train(run, stop)
    finally:
        stop.restore()
    if status != 0:
        raise RuntimeError(f"{cell}: jaxrnn train stopped with status {status}")
    return {"records": rundir.read_metrics(os.path.join(out, "metrics.jsonl")),
            "params": jaxrnn.param_count(run.state["params"]), "train_ids": run.train_ids,
            "valid_ids": run.valid_ids, "vocab_size": run.vocab.size}


def main(argv=None):
    parser = report.parser(__doc__)
    parser.add_argument("--steps", type=int, help="steps per cell (default: 150 short, 1500 full)")
    parser.add_argument("--cells", help="comma-separated cells (default: GRU and Mamba-2 short, every --cell full)")
    args = parser.parse_args(argv)
    if args.short:
        cells, target_hidden = ("gru", "mamba2"), 16
        settings = {"max_chars": 100_000, "steps": 150, "batch_size": 16, "seq_len": 32, "eval_every": 50}
    else:
        cells, target_hidden = CELLS, 64
        settings = {"max_chars": DEFAULTS["max_chars"], "steps": 1500, "batch_size": 32, "seq_len": 64,
                    "eval_every": 100}
    settings["steps"] = args.steps or settings["steps"]
    cells = args.cells.split(",") if args.cells else cells
    settings.update(log_every=10, sample_every=settings["steps"],
                    save_every=settings["steps"], keep=1)
    text, _ = start.load_corpus({**DEFAULTS, **settings})
    vocab_size = corpus.Vocab.from_text(text).size
    target = param_count(TARGET_CELL, target_hidden, vocab_size)
    chars_per_step = settings["batch_size"] * settings["seq_len"]
    results, refs = {}, None
    with tempfile.TemporaryDirectory() as runs:
        for cell in cells:
            hidden, count = hidden_for(cell, target, vocab_size)
            print(f"=== {cell}: hidden {hidden}, {count:,} parameters (target {target:,})", flush=True)
            began = time.perf_counter()
            run = train(cell, hidden, settings, os.path.join(runs, cell))
            seconds = time.perf_counter() - began
            assert run["params"] == count, (cell, run["params"], count)
            if refs is None:
                refs = charlm_bpc.references(run["train_ids"], run["valid_ids"], run["vocab_size"])
            evals = [r for r in run["records"] if "val_bpc" in r]
            speeds = [r["chars_per_s"] for r in run["records"] if r.get("chars_per_s")]
            results[cell] = {
                "hidden": hidden, "params": count, "seconds": seconds,
                "steps_per_s": speeds[-1] / chars_per_step if speeds else None,
                "curve": [(r["step"], r["loss"] * charlm.BITS, r["val_bpc"]) for r in evals],
            }
            print(f"=== {cell}: held-out {evals[-1]['val_bpc']:.3f} bits/char, {seconds:.0f} s",
                  file=sys.stderr, flush=True)
    write(results, refs, args, {**settings, "chars": len(text), "vocab": vocab_size,
                                "held_out": start.MAX_VALID_CHARS, "target": target,
                                "target_hidden": target_hidden})
    return results


def write(results, refs, args, info):
    ranked = sorted(results, key=lambda cell: results[cell]["curve"][-1][2])
    rows = [[f"{k} (reference)", "-", 0, f"{v:.3f}", "-", "-", "-"] for k, v in refs.items()]
    fig, ax = report.figure((7, 4.5))
    for cell in ranked:
        r = results[cell]
        _, train_bpc, bpc = r["curve"][-1]
        speed = "-" if r["steps_per_s"] is None else f"{r['steps_per_s']:.1f}"
        rows.append([cell, r["hidden"], f"{r['params']:,}", f"{bpc:.3f}", f"{train_bpc:.3f}", speed,
                     f"{r['seconds']:.0f}"])
        ax.plot([c[0] for c in r["curve"]], [c[2] for c in r["curve"]], "o-", ms=3, label=cell)
    ax.axhline(refs["unigram"], color="gray", ls="--", label="unigram")
    ax.set(xlabel="training step", ylabel="held-out bits per character",
           title=f"Character LM, every --cell at ~{info['target']:,} parameters")
    ax.legend(fontsize=8, ncol=2)
    beaten = [cell for cell in ranked if results[cell]["curve"][-1][2] < refs["unigram"]]
    verdict = ("every cell beat the unigram reference" if len(beaten) == len(ranked) else
               "cells at or above the unigram reference: "
               + ", ".join(c for c in ranked if c not in beaten))
    header = (
        f"# Character LM: every `--cell` at an equal parameter count\n\nCorpus: {info['chars']:,} "
        f"characters of Python stdlib sources, vocabulary {info['vocab']}, last 5% held out (first "
        f"{info['held_out']:,} held-out characters evaluated). Each cell trained by the app's own "
        f"setup and loop (`jaxrnn train --cell CELL --hidden H`, one layer), `H` chosen so that the "
        f"parameter count is nearest {info['target']:,} ({TARGET_CELL} at hidden "
        f"{info['target_hidden']}); Adam(3e-3), clipping 1.0, batch {info['batch_size']} x "
        f"{info['seq_len']} characters (truncated BPTT), {info['steps']} steps, seed 0. Steps/s: the "
        f"app's training characters per second (compilation and evaluations left out) on a shared "
        f"2-core CPU. Produced by `python experiments/charlm_cells.py"
        f"{' --short' if args.short else ''}`.\n\n"
        f"Expected: no single published number; which cells learn fastest at equal parameters, and "
        f"every cell below the unigram reference. Measured, best first: {', '.join(ranked)}; "
        f"{verdict}.\n\n")
    columns = ["cell", "hidden", "parameters", "held-out bits/char", "final train bits/char", "steps/s",
               "wall time (s)"]
    report.publish(args.out, "charlm_cells" + ("_short" if args.short else ""), fig,
                   header + report.table(columns, rows),
                   {"results": results, "references": refs, "setup": info})


if __name__ == "__main__":
    main()
