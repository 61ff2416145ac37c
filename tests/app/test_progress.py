"""The training progress: a tqdm bar that moves (elapsed time, speed, ETA) and stays on one line in an
80-column terminal; plain lines with speed and ETA elsewhere, a terminal without a size included."""

import fcntl
import os
import re
import struct
import subprocess
import sys
import termios

from jaxrnn.app.progress import Progress
from tests.app.commands import TINY
from tests.helpers import ROOT

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
STATE = re.compile(r"(\d+)/40 \[(\d\d:\d\d)<([^,\]]+)")  # steps, elapsed < ETA


def _pty(columns):
    """``(master, slave)`` of a new pseudo-terminal of 24 rows and ``columns`` columns."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24 if columns else 0, columns, 0, 0))
    return master, slave


# The command with every step 50 ms longer: 40 steps last 2 s or more on any machine (with compiled
# programs from the run's cache a tiny training takes well under a second), so elapsed time shows.
SLOW_STEPS = """
import sys, time
from jaxrnn.app.progress import Progress
update = Progress.update
Progress.update = lambda self, step, loss: (time.sleep(0.05), update(self, step, loss))[1]
sys.argv = {argv!r}
from jaxrnn.app.cli import main
sys.exit(main())
"""


def test_progress_bar_moves_and_stays_on_one_line_in_an_80_column_terminal(tmp_path, text):
    master, slave = _pty(80)
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    argv = ["jaxrnn", "train", "--text", text, "--out", str(tmp_path / "run"), "--steps", "40", *TINY]
    proc = subprocess.Popen([sys.executable, "-c", SLOW_STEPS.format(argv=argv)],
                            stdin=slave, stdout=slave, stderr=slave, env={**env, "PYTHONPATH": str(ROOT)})
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=300) == 0
    screen = ANSI.sub("", b"".join(chunks).decode(errors="replace")).replace("\r\n", "\n")
    bars = [seg for line in screen.split("\n") for seg in line.split("\r") if "/40 [" in seg]
    assert len(bars) >= 5, screen[-2000:]
    assert all(len(seg) <= 80 for seg in bars), max(bars, key=len)
    assert any("<" in seg and "chars/s" in seg and "bpc" in seg for seg in bars)  # ETA, speed, loss
    redraws = [line for line in screen.split("\n") if line.count("/40 [") > 1]
    assert redraws, "the bar redraws in place (several states on one terminal line)"
    states = {m.groups() for seg in bars for m in [STATE.search(seg)] if m}
    moving = {(n, elapsed, eta) for n, elapsed, eta in states if elapsed != "00:00"}
    assert len(moving) >= 3, sorted(states)  # elapsed time runs (wall clock, compilation included)
    assert len({n for n, _, eta in moving if eta != "?"}) >= 2, sorted(states)  # an ETA once the speed is known


def test_a_terminal_without_a_size_gets_the_plain_lines():
    master, slave = _pty(0)  # as a pseudo-terminal is made: 0 columns, where a bar would show nothing
    with os.fdopen(slave, "w") as stream:
        progress = Progress(0, 10, 100, stream)
        assert progress.bar is None
        for step in (1, 2):
            progress.update(step, 2.0 / step)
        progress.close()
    screen = os.read(master, 65536).decode()
    os.close(master)
    assert "step      1/10 loss 2.000 (2.885 bpc)" in screen and "step      2/10 loss 1.000" in screen, screen
