"""The training progress: a tqdm bar that stays on one line in an 80-column terminal; plain lines
with speed and ETA elsewhere."""

import fcntl
import os
import re
import struct
import subprocess
import sys
import termios

from tests.app.commands import TINY
from tests.helpers import ROOT

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def test_progress_bar_stays_on_one_line_in_an_80_column_terminal(tmp_path, text):
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen([sys.executable, "-m", "jaxrnn.app.cli", "train", "--text", text, "--out",
                             str(tmp_path / "run"), "--steps", "40", *TINY],
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
