"""The progress display of ``jaxrnn train``.

On a terminal: a tqdm bar that tqdm keeps on one line at any width, with steps, elapsed time,
ETA, loss, bits/char and characters per second. Anywhere else (a log file, a pipe, CI): one plain
line per logged step. Speeds count training time only: compilation (the first step) and the
pauses for evaluation, samples and checkpoints are left out.
"""

from __future__ import annotations

import contextlib
import sys
import time

from jaxrnn.app.charlm import BITS


class Progress:
    """``update(step, loss)`` after logged steps, ``write(text)`` for messages, ``paused()``
    around work that is not training, ``close()`` at the end."""

    def __init__(self, start: int, total: int, chars_per_step: int, stream=None):
        self.stream = sys.stderr if stream is None else stream
        self.total, self.chars = total, chars_per_step
        self.bar = None
        if self.stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=start, unit="step", file=self.stream, dynamic_ncols=True,
                            smoothing=0.1, bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} "
                                                      "[{elapsed}<{remaining}{postfix}]")
        self.first = None  # (step, clock) after the first step: its compilation is not timed
        self.paused_s = 0.0

    def update(self, step: int, loss: float) -> None:
        now = time.perf_counter()
        if self.first is None:
            self.first = (step, now)
            rate = None
        else:
            busy = now - self.first[1] - self.paused_s
            rate = (step - self.first[0]) * self.chars / busy if busy > 0 else None
        speed = "" if rate is None else f", {rate / 1000:.1f}k chars/s"
        if self.bar is not None:
            self.bar.set_postfix_str(f"loss {loss:.3f} ({loss * BITS:.3f} bpc){speed}", refresh=False)
            self.bar.update(step - self.bar.n)
            return
        eta = ""
        if rate:
            eta = f", ETA {_clock((self.total - step) * self.chars / rate)}"
        print(f"step {step:>6}/{self.total} loss {loss:.3f} ({loss * BITS:.3f} bpc){speed}{eta}",
              file=self.stream, flush=True)

    def write(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    @contextlib.contextmanager
    def paused(self):
        """Work inside the block (evaluation, sampling, saving) does not count as training time."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.paused_s += time.perf_counter() - t0
            if self.bar is not None:
                self.bar.unpause()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60:02d}:{seconds % 60:02d}"
