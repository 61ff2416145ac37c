"""The adding-problem experiment (minGRU trained with method="associative") runs and learns."""

import math

import pytest

from experiments import adding_mingru


def test_adding_mingru_short_mode_writes_results(tmp_path):
    runs = adding_mingru.main(["--short", "--out", str(tmp_path)])
    (run,) = runs
    assert len(run["losses"]) == 30 and all(math.isfinite(v) for v in run["losses"])
    assert 0.0 < run["test_mse"] < 1.0  # the untrained readout starts at the mean target, 1.0
    assert f"| associative | {run['test_mse']:.5f} |" in (tmp_path / "adding_mingru.md").read_text()
    assert (tmp_path / "adding_mingru.png").stat().st_size > 1000


@pytest.mark.slow
def test_adding_mingru_full_run_solves_the_task(tmp_path):
    (run,) = adding_mingru.main(["--out", str(tmp_path)])
    assert run["test_mse"] < 0.01  # predicting the mean gives 1/6
