"""Experiments: the seed exercise, and the short (CI) mode of each baseline experiment."""

import importlib.util
import math
import os
import sys

import pytest

from tests.helpers import ROOT

EXPERIMENTS = os.path.join(ROOT, "experiments")


def load(name):
    """The script ``experiments/<name>.py`` as a module, its folder on ``sys.path`` as when it runs."""
    if EXPERIMENTS not in sys.path:
        sys.path.insert(0, EXPERIMENTS)
    spec = importlib.util.spec_from_file_location(name, os.path.join(EXPERIMENTS, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hello_world_predicts_the_string_within_100_steps():
    predictions = load("hello_world").main(steps=100, verbose=False)
    assert len(predictions) == 100
    assert predictions[-1] == "hello! world"
    assert predictions[0] != "hello! world"  # it was learned, not there from the start


@pytest.mark.parametrize("name", ["adding_problem", "copy_memory", "charlm_bpc", "classify"])
def test_short_mode_writes_a_table_and_a_plot(tmp_path, name):
    load(name).main(["--short", "--out", str(tmp_path)])
    table = open(tmp_path / f"{name}_short.md").read()
    assert table.count("\n| ") >= 2  # header and at least one measured row
    assert "--short" in table
    assert (tmp_path / f"{name}_short.png").stat().st_size > 1000


@pytest.mark.slow
@pytest.mark.parametrize("name", ["adding_problem", "copy_memory", "charlm_bpc", "classify"])
def test_full_run(tmp_path, name):
    load(name).main(["--out", str(tmp_path)])
    assert (tmp_path / f"{name}.md").exists() and (tmp_path / f"{name}.png").exists()


def test_adding_mingru_short_mode_writes_results(tmp_path):
    (run,) = load("adding_mingru").main(["--short", "--out", str(tmp_path)])
    assert len(run["losses"]) == 30 and all(math.isfinite(v) for v in run["losses"])
    assert 0.0 < run["test_mse"] < 1.0  # the untrained readout starts at the mean target, 1.0
    assert f"| associative | {run['test_mse']:.5f} |" in (tmp_path / "adding_mingru.md").read_text()
    assert (tmp_path / "adding_mingru.png").stat().st_size > 1000


@pytest.mark.slow
def test_adding_mingru_full_run_solves_the_task(tmp_path):
    (run,) = load("adding_mingru").main(["--out", str(tmp_path)])
    assert run["test_mse"] < 0.01  # predicting the mean gives 1/6


def test_report_table_is_markdown():
    report = load("report")
    assert report.table(["a", "b"], [[1, "x"], ["2", 3.5]]) == "| a | b |\n|---|---|\n| 1 | x |\n| 2 | 3.5 |\n"
