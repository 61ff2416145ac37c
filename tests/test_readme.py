"""The README's Python examples run as written, each on its own in a fresh process (as a reader
who copies one block would run it); the library-level training loop learns; the Quickstart
commands are the documented ones."""

import os
import re
import subprocess
import sys

import pytest

from tests.helpers import ROOT

README = ROOT / "README.md"


def _python_blocks(section=None):
    text = README.read_text()
    if section is not None:
        start = text.index(section)
        end = text.find("\n## ", start + len(section))
        text = text[start:end if end >= 0 else None]
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


BLOCKS = _python_blocks()
EXPECTED = {  # what a block prints that the README promises
    "from_torch": ["Total params: 15,040"],
    "from_keras": ["Total params: 488"],
    "make_bptt_step": [],
    "load_run": ["(1, 4, 16) 4 16"],
    "BlockLM(": ["(2, 2, 3, 64) (2, 2, 64, 16)", "Total params: 23,186"],
}


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs_on_its_own(index, tmp_path):
    block = BLOCKS[index]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "jax")}
    proc = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert proc.returncode == 0, f"README python block {index} failed:\n{block}\n{proc.stderr[-3000:]}"
    for marker, expected in EXPECTED.items():
        if marker in block:
            for text in expected:
                assert text in proc.stdout, proc.stdout
    if "make_bptt_step" in block:  # the training loop's printed losses fall
        losses = [float(m) for m in re.findall(r"^\d+ (\d+\.\d+)$", proc.stdout, flags=re.MULTILINE)]
        assert len(losses) == 4 and losses[-1] < losses[0], proc.stdout


def test_interop_section_has_one_example_per_library():
    found = _python_blocks("## Coming from PyTorch / Keras / Flax / Equinox")
    assert len(found) == 4
    assert ["from_torch" in found[0], "from_keras" in found[1], "from_flax" in found[2], "EqxRNN" in found[3]] == [True] * 4


def test_training_loop_example_is_short_and_uses_the_train_step():
    (code,) = _python_blocks("## Training loop")
    assert "make_bptt_step" in code and len(code.strip().splitlines()) <= 22


def test_quickstart_commands():
    text = README.read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text.split("## Quickstart", 1)[1], re.DOTALL)
    assert blocks[0].strip() == "pip install . && jaxrnn train"
    assert blocks[1].strip() == 'pip install torch==2.13.0 && pip install ".[test,peers]" && python -m pytest -q -n auto'
    ci = (ROOT / ".ci" / "run").read_text()  # CI installs and runs what the README says
    assert 'pip install -q ".[test,peers]"' in ci and "\npython -m pytest -q -n auto\n" in ci
