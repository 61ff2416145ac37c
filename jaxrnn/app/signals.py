"""Stopping a run cleanly on SIGINT (Ctrl-C) and SIGTERM (what SLURM and Kubernetes send), and
when the reader of its output goes away (``jaxrnn train | head``).

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
        self.received: int | None = None
        self._previous = {}

    def install(self) -> StopSignals:
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

    def output_closed(self) -> None:
        """The reader of the run's output is gone: stop as on SIGPIPE, but after saving."""
        if self.received is None:
            self.received = signal.SIGPIPE

    @property
    def exit_status(self) -> int:
        """The shell's ``128 + signal number`` of the signal received (SIGINT's if none was)."""
        return 128 + (signal.SIGINT if self.received is None else self.received)


class GuardedStream:
    """A text stream (``sys.stderr``) whose writes never raise because its reader went away.

    The first write into a closed pipe (``BrokenPipeError``) tells ``stop`` (as SIGPIPE, so the
    run saves and stops with status 141 instead of dying with its unsaved steps) and sends the
    file descriptor to ``/dev/null``, so later writes and the interpreter's final flush are quiet.

    Examples:
      >>> import io
      >>> stop = StopSignals()
      >>> GuardedStream(io.StringIO(), stop).write("step 1")
      6
    """

    def __init__(self, stream, stop: StopSignals):
        self.stream, self.stop = stream, stop

    def _guard(self, method, *args):
        try:
            return method(*args)
        except BrokenPipeError:
            self.stop.output_closed()
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self.stream.fileno())
                os.close(devnull)
            except (OSError, ValueError, AttributeError):  # no descriptor (a test's StringIO)
                pass
            return len(args[0]) if args else None

    def write(self, text: str):
        return self._guard(self.stream.write, text)

    def flush(self) -> None:
        self._guard(self.stream.flush)

    def __getattr__(self, name):  # isatty, fileno, encoding, ...
        return getattr(self.stream, name)
