"""Test configuration: Keras runs on the JAX backend; helpers shared by the test modules."""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("KERAS_BACKEND", "jax")
# The suite compiles hundreds of small programs and runs each once or twice, so compiling is most
# of its time and buys nothing back. Level 0 skips XLA:CPU's LLVM optimisation passes (909 s ->
# 676 s for the suite on 2 cores), and the legacy fusion emitters compile about twice as fast as
# the new MLIR ones (tests/test_engines.py 56 s -> 30 s). Neither touches the HLO; every test
# compares against a reference within a tolerance. Users keep XLA's defaults; set XLA_FLAGS
# yourself to test under other ones.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false")
# One persistent compilation cache for the run, in a temporary folder: the xdist workers and the
# `jaxrnn` commands the tests start (dozens of small trainings, each compiling the same programs)
# read what another process compiled (a warm start of a tiny `jaxrnn train`: 4.1 s -> 3.1 s).
# Compiled programs are keyed by their HLO, the flags and the jaxlib version: nothing else changes.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="jaxrnn-tests-xla-cache-")
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
    atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)


PARITY_ERROR = {"forward": 0.0, "gradient": 0.0}  # largest over the run, from test_torch_parity


def pytest_runtest_logreport(report):
    """Collects the torch-parity errors each test reports (in the main process under xdist)."""
    for name, value in report.user_properties:
        if name == "parity_error":
            for kind, err in value.items():
                PARITY_ERROR[kind] = max(PARITY_ERROR[kind], err)


def pytest_terminal_summary(terminalreporter):
    """Prints the largest torch-parity errors seen in this run (for the record)."""
    if any(PARITY_ERROR.values()):
        terminalreporter.write_line(
            f"torch parity: largest forward error {PARITY_ERROR['forward']:.3g}, "
            f"largest gradient error {PARITY_ERROR['gradient']:.3g}")
