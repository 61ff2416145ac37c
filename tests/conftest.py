"""Test configuration: Keras runs on the JAX backend; helpers shared by the test modules."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")


def pytest_terminal_summary(terminalreporter):
    """Prints the largest torch-parity errors seen in this run (for the record)."""
    import sys

    parity = sys.modules.get("test_torch_parity") or sys.modules.get("tests.test_torch_parity")
    if parity is not None and any(parity.LARGEST_ERROR.values()):
        err = parity.LARGEST_ERROR
        terminalreporter.write_line(
            f"torch parity: largest forward error {err['forward']:.3g}, largest gradient error {err['gradient']:.3g}")
