"""The command's messages under hostile use: no traceback from any flag order, each formerly
cryptic message names the argument or the file (a metrics line without a loss, a write that
fails with "File too large", a --text that is a device or a FIFO)."""

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jaxrnn.app import report, rundir
from jaxrnn.app.cli import main
from jaxrnn.app.signals import StopSignals
from tests.app.commands import TINY, one_line_error
from tests.helpers import ROOT


@pytest.mark.parametrize("argv", [["train", "--debug", "--hidden", "0"], ["--debug", "train", "--hidden", "0"],
                                  ["train", "--hidden", "0", "--debug"]])
def test_a_usage_error_is_one_line_in_any_flag_order(capsys, argv):
    one_line_error(capsys, *argv, in_process=True, match="argument --hidden: must be > 0, got 0")


def test_debug_after_the_subcommand_shows_the_traceback(tmp_path):
    with pytest.raises(rundir.RunDirError, match="config.json: no such file"):
        main(["sample", "--debug", "--run", str(tmp_path / "missing")])


def test_a_metrics_line_without_loss_is_named_on_resume_and_never_ends_a_run(capsys, tmp_path, trained):
    out = shutil.copytree(trained, str(tmp_path / "run"))
    path = os.path.join(out, "metrics.jsonl")
    lines = Path(path).read_text().splitlines(keepends=True)
    lines[2] = '{"step": 3, "grad_norm": 1.0}\n'
    Path(path).write_text("".join(lines))
    one_line_error(capsys, "train", "--out", out, "--resume", "--steps", "31", in_process=True,
                   match=f"{path}: line 3 is not a metrics record (a JSON object with an integer step and a "
                         "number loss); fix or remove that line")
    # edited while the run trains: the run still ends well, without its curve
    assert report.finished(out, report.DONE, 30, StopSignals(), True) == 0
    err = capsys.readouterr().err
    assert f"jaxrnn: warning: no loss curve: {path}: line 3 is not a metrics record" in err and "done: 30" in err


@pytest.mark.parametrize("make,match", [
    (lambda tmp: "/dev/null", "--text /dev/null: a character device, not a regular file"),
    (lambda tmp: os.mkfifo(tmp / "fifo") or str(tmp / "fifo"), "fifo: a FIFO, not a regular file"),
])
def test_a_text_that_is_a_device_or_a_fifo_is_named_and_never_waited_on(capsys, tmp_path, make, match):
    one_line_error(capsys, "train", "--text", make(tmp_path), "--out", str(tmp_path / "run"), in_process=True,
                   match=match)


def test_a_write_that_fails_names_the_file(tmp_path, text):
    """`ulimit -f`: a checkpoint larger than the limit fails with "File too large": the message
    names the checkpoint, and the run's older files stay."""
    out = str(tmp_path / "run")

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, 40_000))

    proc = subprocess.run([sys.executable, "-m", "jaxrnn.app.cli", "train", "--text", text, "--out", out, *TINY,
                           "--steps", "2"], capture_output=True, text=True, preexec_fn=limit, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    err = proc.stderr
    assert proc.returncode == 2 and "Traceback" not in err, err
    assert f"jaxrnn: error: {os.path.join(out, 'ckpt-00000002.msgpack')}: cannot write: File too large" in err
    assert os.path.exists(os.path.join(out, "config.json"))


EARLY_SIGNAL = """
import importlib.abc, os, signal, sys
class Interrupt(importlib.abc.MetaPathFinder):  # Ctrl-C while the command imports argparse
    def find_spec(self, name, path, target=None):
        if name == "argparse":
            os.kill(os.getpid(), signal.{sig})
sys.meta_path.insert(0, Interrupt())
sys.argv = ["jaxrnn", "train", "--out", "run"]
from jaxrnn.app.cli import main
sys.exit(main())
"""


@pytest.mark.parametrize("sig,status,word", [("SIGINT", 130, "interrupted"), ("SIGTERM", 143, "SIGTERM")])
def test_a_signal_while_the_command_loads_ends_it_in_one_line(tmp_path, sig, status, word):
    proc = subprocess.run([sys.executable, "-c", EARLY_SIGNAL.format(sig=sig)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert proc.returncode == status, proc.stderr
    assert proc.stderr == f"jaxrnn: {word} while starting; nothing was done\n"
    assert os.listdir(tmp_path) == []  # nothing was written


SIGNAL_IN_JAX = """
import importlib.abc, os, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal (a background job ignores it)
class Interrupt(importlib.abc.MetaPathFinder):  # Ctrl-C as jax's compiled extension loads
    sent = False
    def find_spec(self, name, path, target=None):
        if name.startswith("jaxlib.") and not Interrupt.sent:
            Interrupt.sent = True
            try:  # Python code inside the import, as an extension's initialisation runs
                os.kill(os.getpid(), signal.{sig})
                sum(range(1000))
            except KeyboardInterrupt:
                print("interrupted inside an import", file=sys.stderr)
                raise
sys.meta_path.insert(0, Interrupt())
sys.argv = ["jaxrnn", *{argv!r}]
from jaxrnn.app.cli import main
sys.exit(main())
"""


@pytest.mark.parametrize("argv", [["summary"], ["sample", "--run", "no-such-run"]])
@pytest.mark.parametrize("sig,status,err", [("SIGINT", 130, "jaxrnn: interrupted\n"), ("SIGTERM", -15, "")])
def test_a_signal_while_jax_loads_ends_the_command_quietly(tmp_path, argv, sig, status, err):
    """A signal while jax's extension modules load is held until they have (a KeyboardInterrupt
    inside an extension's initialisation gave an ImportError or a crash), then acts as usual."""
    proc = subprocess.run([sys.executable, "-c", SIGNAL_IN_JAX.format(sig=sig, argv=argv)], capture_output=True,
                          text=True, cwd=tmp_path, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          check=False)
    assert (proc.returncode, proc.stderr) == (status, err)
    assert os.listdir(tmp_path) == []
