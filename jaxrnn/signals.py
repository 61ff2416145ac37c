"""Stopping a run cleanly on SIGINT (Ctrl-C) and SIGTERM (what SLURM and Kubernetes send).

Imports nothing heavy, so the ``jaxrnn`` command can install it before jax loads.
"""

from __future__ import annotations

import os
import signal
import sys


class StopSignals:
    """SIGINT and SIGTERM set a flag that the training loop reads before every step (it then saves
    and stops); a second signal quits at once. Install it before anything slow (imports,
    compilation), so that an early Ctrl-C is not lost."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.received = None
        self._previous = {}

    def install(self) -> "StopSignals":
        for sig in self.SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _handle(self, signum, frame):
        if self.received is not None:
            print(f"\njaxrnn: {signal.Signals(signum).name} again: quitting now; the last "
                  "checkpoint stays", file=sys.stderr, flush=True)
            os._exit(128 + signum)
        self.received = signum  # never cleared: a signal seen once stops the run

    @property
    def exit_status(self) -> int:
        return 128 + self.received
