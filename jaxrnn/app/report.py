"""What ``jaxrnn train`` tells its user: the run it starts, an update that is not finite, how the
run ended (and its exit status), and the loss curve ``loss.png``. Messages go to stderr."""

from __future__ import annotations

import io
import math
import os
import signal
import sys

import jaxrnn
from jaxrnn.app import checkpoint, rundir
from jaxrnn.app.charlm import BITS
from jaxrnn.app.signals import StopSignals

DONE, INTERRUPTED, NOT_FINITE = "done", "interrupted", "not finite"  # how a run ends
EXIT_NOT_FINITE = 3


def started(run) -> None:
    """The corpus, the model and the run directory of ``run`` (a :class:`jaxrnn.app.start.Setup`)."""
    config, step = run.config, int(run.state["step"])
    print(f"corpus: {config['source']}, {len(run.text):,} characters ({len(run.train_ids):,} train, "
          f"{len(run.valid_ids):,} held out), vocabulary {run.vocab.size}", file=sys.stderr)
    print(f"model: {run.model}; {jaxrnn.param_count(run.state['params']):,} parameters; run "
          f"directory {config['out']}" + (f"; resuming at step {step}" if step else ""), file=sys.stderr)


def not_finite(out: str, loss: float, step: int) -> str:
    """The error line of an update at ``step`` (1-based) whose loss, gradient or params are not finite."""
    what = f"loss is {loss}" if not math.isfinite(loss) else "the update is not finite"
    good = checkpoint.latest(out)
    good = f"the last good checkpoint is {good}" if good else "no checkpoint was saved before it"
    return (f"jaxrnn: error: {what} at step {step}; stopping ({good}). Try a lower rate: "
            f"`jaxrnn train --out {out} --resume --lr X`")


def finished(out: str, outcome: str, step: int, stop: StopSignals, main: bool) -> int:
    """Plots the loss curve (process 0), says how the run ended at ``step``; returns the exit status.

    ``outcome``: :data:`DONE` (0), :data:`INTERRUPTED` (by a signal in some process: 128 + its
    number, 130 as for Ctrl-C where this process received none) or :data:`NOT_FINITE` (3; its
    error line was written when it happened).
    """
    if main:
        try:
            path = plot(out)
            if path:
                print(f"loss curve: {path}", file=sys.stderr)
        except rundir.RunDirError as e:  # the run itself is saved: say why there is no curve
            print(f"jaxrnn: warning: no loss curve: {e}", file=sys.stderr)
    if outcome == INTERRUPTED:
        what = "interrupted" if stop.received in (None, signal.SIGINT) else signal.Signals(stop.received).name
        print(f"jaxrnn: {what} at step {step}; checkpoint saved in {out}; continue with "
              f"`jaxrnn train --out {out} --resume`", file=sys.stderr)
        return stop.exit_status if stop.received is not None else 128 + signal.SIGINT  # as Ctrl-C
    if outcome == NOT_FINITE:
        return EXIT_NOT_FINITE
    print(f"done: {step} steps; checkpoint in {out}. Try `jaxrnn sample --run {out}`", file=sys.stderr)
    return 0


SMOOTHING = 0.9  # the weight of the past in the loss curve's moving average


def smoothed(values: list[float], weight: float) -> list[float]:
    """The exponential moving average of ``values``, debiased as TensorBoard smooths a curve:
    ``m_t = weight * m_{t-1} + (1 - weight) * v_t`` from ``m_{-1} = 0``, shown as
    ``m_t / (1 - weight ** (t + 1))`` (so the curve starts at the first value, not at 0).

    Examples:
      >>> smoothed([2.0, 2.0, 2.0], 0.9)
      [2.0, 2.0, 2.0]
      >>> [round(v, 3) for v in smoothed([0.0, 10.0], 0.9)]
      [0.0, 5.263]
    """
    out, mean = [], 0.0
    for t, value in enumerate(values):
        mean = weight * mean + (1 - weight) * value
        out.append(mean / (1 - weight ** (t + 1)))
    return out


def plot(run_dir: str) -> str | None:
    """Writes ``run_dir/loss.png`` from ``metrics.jsonl`` (matplotlib, Agg backend), atomically
    (a ``loss.png`` that is a link is replaced, never written through); returns its path, or
    None when there are no metrics yet. The training loss is drawn raw (faint) with its
    :func:`smoothed` curve over it, the held-out bits/char as points.

    Raises:
      RunDirError: ``metrics.jsonl`` or ``loss.png`` cannot be read or written (naming the file).
    """
    rows = rundir.read_metrics(os.path.join(run_dir, "metrics.jsonl"))
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    steps, bpc = [r["step"] for r in rows], [r["loss"] * BITS for r in rows]
    raw = ax.plot(steps, bpc, alpha=0.3, linewidth=1, label="train")[0]
    ax.plot(steps, smoothed(bpc, SMOOTHING), color=raw.get_color(), label=f"train, smoothed (EMA {SMOOTHING})")
    val = [r for r in rows if "val_bpc" in r]
    if val:
        ax.plot([r["step"] for r in val], [r["val_bpc"] for r in val], "o-", label="held-out")
    ax.set(xlabel="step", ylabel="bits per character", title="jaxrnn train")
    ax.legend()
    ax.grid(alpha=0.3)
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    path = os.path.join(run_dir, "loss.png")
    rundir.atomic_write(path, png.getvalue())
    return path
