"""The progress display of ``jaxrnn train``.

On a terminal that reports its size: a tqdm bar that tqdm keeps on one line at any width, with
steps, elapsed (wall-clock) time, ETA, loss, bits/char and characters per second. Anywhere else
(a log file, a pipe, CI, a terminal of 0 columns such as a fresh pseudo-terminal): one plain line
per logged step. Speeds and the ETA count training time only: compilation (the first step) and
the pauses for evaluation, samples and checkpoints are left out.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time

from tqdm import tqdm

from jaxrnn.app.charlm import BITS


class _Bar(tqdm):
    """A tqdm bar whose rate, and so its ETA, is the training speed :class:`Progress` measures
    (tqdm's own rate would count compilation and pauses): its ``format_dict`` (tqdm's documented
    hook for custom fields) gives ``training_rate``, in steps per second, 0 while unknown (``?``)."""

    training_rate = 0.0

    @property
    def format_dict(self):
        return {**super().format_dict, "rate": self.training_rate}


class Progress:
    """``update(step, loss)`` after logged steps, ``write(text)`` for messages, ``paused()``
    around work that is not training, ``close()`` at the end."""

    def __init__(self, start: int, total: int, chars_per_step: int, stream=None):
        self.stream = sys.stderr if stream is None else stream
        self.total, self.chars = total, chars_per_step
        self.bar = None
        if terminal_columns(self.stream) > 0:
            self.bar = _Bar(total=total, initial=start, unit="step", file=self.stream, dynamic_ncols=True,
                            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]")
        self.first = None  # (step, clock) at the first update: the time before it (compilation) is not timed
        self.paused_s = 0.0  # time paused since the first update

    def update(self, step: int, loss: float) -> float | None:
        """Shows ``loss`` (nats) after ``step``; returns the training speed in characters per second
        since the first update (None at the first update, whose time is mostly compilation)."""
        now = time.perf_counter()
        if self.first is None:
            self.first, self.paused_s = (step, now), 0.0
        busy = now - self.first[1] - self.paused_s
        rate = (step - self.first[0]) * self.chars / busy if busy > 0 and step > self.first[0] else None
        stats = f"loss {loss:.3f} ({loss * BITS:.3f} bpc)" + ("" if rate is None else f", {rate / 1000:.1f}k chars/s")
        if self.bar is not None:
            self.bar.training_rate = (rate or 0.0) / self.chars
            self.bar.set_postfix_str(stats, refresh=False)
            self.bar.update(step - self.bar.n)  # redraws at most every 0.1 s (tqdm's mininterval)
            return rate
        eta = f", ETA {_clock((self.total - step) * self.chars / rate)}" if rate else ""
        print(f"step {step:>6}/{self.total} {stats}{eta}", file=self.stream, flush=True)
        return rate

    def write(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    @contextlib.contextmanager
    def paused(self):
        """Work inside the block (evaluation, sampling, saving) does not count as training time
        (the bar's elapsed time is the wall clock's and goes on)."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.paused_s += time.perf_counter() - t0

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def terminal_columns(stream) -> int:
    """The width of the terminal ``stream`` writes to; 0 for a pipe, a file, or a terminal that
    reports no size (a pseudo-terminal whose size was never set), which all get plain lines.

    Examples:
      >>> import io
      >>> terminal_columns(io.StringIO())
      0
    """
    try:
        return os.get_terminal_size(stream.fileno()).columns if stream.isatty() else 0
    except (AttributeError, OSError, ValueError):  # no descriptor, or not a terminal after all
        return 0


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60:02d}:{seconds % 60:02d}"
