"""Test configuration: Keras runs on the JAX backend; helpers shared by the test modules."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
# The suite compiles hundreds of small programs and runs each once or twice, so XLA:CPU's LLVM
# optimisation passes are most of its time and buy nothing back (full suite 909 s -> 676 s on 2
# cores). Level 0 leaves the HLO and the float semantics alone (no fast-math at either level; the
# parity grid's largest errors are identical at both). Users keep XLA's default; set XLA_FLAGS
# yourself to test at another level.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")


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
