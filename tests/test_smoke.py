"""The Quickstart example runs and prints the documented shapes."""

import os
import subprocess
import sys

from tests.helpers import ROOT


def test_quickstart_example_prints_shapes():
    out = subprocess.run([sys.executable, str(ROOT / "experiments" / "quickstart.py")], check=True,
                         capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
    assert "output:     (3, 10, 16)" in out
    assert "h_n:        (4, 3, 8)" in out
