"""Experiments: the seed exercise, and the short (CI) mode of each baseline experiment."""

import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "experiments", f"{name}.py"))
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
