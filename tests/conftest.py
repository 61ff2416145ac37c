"""Test configuration: Keras runs on the JAX backend; helpers shared by the test modules."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
# The suite compiles hundreds of small programs and runs each once or twice, so compiling is most
# of its time and buys nothing back. Level 0 skips XLA:CPU's LLVM optimisation passes (909 s ->
# 676 s for the suite on 2 cores), and the legacy fusion emitters compile about twice as fast as
# the new MLIR ones (tests/test_engines.py 56 s -> 30 s). Neither touches the HLO; every test
# compares against a reference within a tolerance. Users keep XLA's defaults; set XLA_FLAGS
# yourself to test under other ones.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false")


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


# -- helpers shared by the test modules (import them with ``from conftest import ...``) ----------

import itertools  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402


def close(a, b, tol, rtol=None):
    """Asserts two pytrees of arrays are equal within ``tol`` (absolute; relative too unless
    ``rtol`` says otherwise)."""
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x, np.float64), np.asarray(y, np.float64),
                                   rtol=tol if rtol is None else rtol, atol=tol)


def pairwise(**factors) -> list[dict]:
    """A small covering array over ``factors`` (name -> values): every value of every factor and
    every pair of values of two factors appears in at least one case. Greedy and deterministic.

    Examples:
      >>> len(pairwise(a=(1, 2, 3), b=(0, 1), c=(0, 1)))
      6
    """
    names = list(factors)
    uncovered = {((f, u), (g, v)) for f, g in itertools.combinations(names, 2)
                 for u in factors[f] for v in factors[g]}
    cases = []
    while uncovered:
        (f, u), (g, v) = min(uncovered, key=lambda p: (names.index(p[0][0]), names.index(p[1][0]),
                                                         factors[p[0][0]].index(p[0][1]),
                                                         factors[p[1][0]].index(p[1][1])))
        case = {f: u, g: v}
        for name in names:
            if name not in case:
                case[name] = max(factors[name], key=lambda val: sum(
                    ((a, case[a]), (name, val)) in uncovered if names.index(a) < names.index(name)
                    else ((name, val), (a, case[a])) in uncovered for a in case))
        uncovered -= {((a, case[a]), (b, case[b])) for a, b in itertools.combinations(names, 2)}
        cases.append(case)
    return cases


def case_id(case: dict) -> str:
    return "-".join(f"{k}={v}" for k, v in case.items())


def layer_input(layer, batch, steps, key, dtype=jnp.float32):
    """A random input for ``layer`` in its layout (``(B, T, I)`` if batch_first)."""
    shape = (batch, steps, layer.input_size) if layer.batch_first else (steps, batch, layer.input_size)
    return jax.random.normal(key, shape, dtype)


def random_hx(layer, batch, key):
    """A random torch-shaped ``hx`` for ``layer`` (``(h_0, c_0)`` for an LSTM)."""
    ld = layer.num_layers * layer.num_directions
    k1, k2 = jax.random.split(key)
    h = jax.random.normal(k1, (ld, batch, layer.cell().output_size))
    if layer.cell().__class__.__name__ == "LSTMCell":
        return h, jax.random.normal(k2, (ld, batch, layer.hidden_size))
    return h


def outputs_and_grads(layer, params, x, hx, lengths, key=None):
    """Jitted ``((out, state), d loss / d (params, x, hx))`` for a loss that touches every output."""
    def loss(params, x, hx):
        out, state = layer.apply(params, x, hx, seq_lengths=lengths, key=key)
        leaves = [out] + list(jax.tree.leaves(state))
        return sum(jnp.sum(jnp.sin(a.astype(jnp.float32) + 0.1 * i)) for i, a in enumerate(leaves)), (out, state)

    (_, outputs), grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))(params, x, hx)
    return outputs, grads


def randomize_torch(module, seed=0, scale=0.6):
    """Redraws every parameter of a torch module from U(-scale, scale): biases clearly non-zero."""
    import torch

    torch.manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.uniform_(-scale, scale)
    return module


# -- the jaxrnn command (tests of `jaxrnn train` and its run directory) -------------------------

import json  # noqa: E402

import pytest  # noqa: E402

TINY = ["--hidden", "16", "--seq-len", "8", "--batch-size", "4", "--log-every", "1",
        "--eval-every", "5", "--sample-every", "10"]


@pytest.fixture(scope="module")
def text(tmp_path_factory):
    """A small UTF-8 corpus file."""
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("def add(a, b):\n    return a + b\n\n" * 60, encoding="utf-8")
    return str(path)


def run(capsys, *argv):
    """``jaxrnn ARGV`` in this process: ``(exit status, stdout, stderr)``."""
    from jaxrnn.cli import main

    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def records(run_dir):
    return [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]


def one_line_error(capsys, *argv, match, in_process=False):
    """Asserts ``jaxrnn ARGV`` exits 2 with one line on stderr that contains ``match``: as a user
    runs it, in a new process (``in_process=True``: in this one, for tests that patch it)."""
    if in_process:
        rc, out, err = run(capsys, *argv)
    else:
        import subprocess
        import sys

        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        proc = subprocess.run([sys.executable, "-m", "jaxrnn.cli", *argv], capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": root}, timeout=300)
        rc, err = proc.returncode, proc.stderr
    assert rc == 2, err
    assert err.count("\n") == 1 and err.startswith("jaxrnn: error: ") and "Traceback" not in err, err
    assert match in err, err
