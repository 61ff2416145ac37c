"""Running the ``jaxrnn`` command in tests: in this process or, as a user does, in a new one."""

import json
import os

from tests.helpers import ROOT

TINY = ["--hidden", "16", "--seq-len", "8", "--batch-size", "4", "--log-every", "1",
        "--eval-every", "5", "--sample-every", "10"]


def run(capsys, *argv):
    """``jaxrnn ARGV`` in this process: ``(exit status, stdout, stderr)``."""
    from jaxrnn.app.cli import main

    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


TIMING = ("wall_time", "chars_per_s")  # the fields of a metrics record that differ from run to run


def records(run_dir, timing=False):
    """The records of ``run_dir/metrics.jsonl``, without their :data:`TIMING` fields unless ``timing``
    (so that two runs of the same steps log equal records)."""
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    return rows if timing else [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


def one_line_error(capsys, *argv, match, in_process=False):
    """Asserts ``jaxrnn ARGV`` exits 2 with one line on stderr that contains ``match``: as a user
    runs it, in a new process (``in_process=True``: in this one, for tests that patch it)."""
    if in_process:
        rc, _, err = run(capsys, *argv)
    else:
        import subprocess
        import sys

        proc = subprocess.run([sys.executable, "-m", "jaxrnn.app.cli", *argv], capture_output=True, text=True,
                              check=False,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
        rc, err = proc.returncode, proc.stderr
    assert rc == 2, err
    assert err.count("\n") == 1 and err.startswith("jaxrnn: error: ") and "Traceback" not in err, err
    assert match in err, err
