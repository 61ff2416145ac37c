"""The README's Python examples run as written (in order, in one namespace, as a reader would);
the library-level training loop learns; the Quickstart commands are the documented ones."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks(section=None):
    text = README.read_text()
    if section is not None:
        start = text.index(section)
        end = text.find("\n## ", start + len(section))
        text = text[start:end if end >= 0 else None]
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_python_examples_run(capsys):
    blocks = _python_blocks()
    assert blocks, "README.md has no python examples"
    namespace = {"__name__": "__readme__"}
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"README.md[python block {i}]", "exec"), namespace)
        except Exception as exc:  # re-raised with the block number for the reader
            raise AssertionError(f"README python block {i} failed: {exc!r}\n{block}") from exc
    printed = capsys.readouterr().out
    assert "Total params: 15,040" in printed  # the PyTorch example's summary table
    assert "Total params: 488" in printed  # the Keras example's summary table
    losses = [float(m) for m in re.findall(r"^\d+ (\d+\.\d+)$", printed, flags=re.M)]
    assert len(losses) == 4 and losses[-1] < losses[0]  # the training loop's printed losses fall


def test_interop_section_has_one_example_per_library():
    found = _python_blocks("## Coming from PyTorch / Keras / Flax")
    assert len(found) == 3
    assert ["from_torch" in found[0], "from_keras" in found[1], "from_flax" in found[2]] == [True] * 3


def test_training_loop_example_is_short_and_uses_make_step():
    (code,) = _python_blocks("## Training loop")
    assert "make_step" in code and len(code.strip().splitlines()) <= 22


def test_quickstart_commands():
    text = README.read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text.split("## Quickstart", 1)[1], re.S)
    assert blocks[0].strip() == "pip install . && jaxrnn train"
    assert blocks[1].strip() == 'pip install torch==2.13.0 && pip install ".[test]" && python -m pytest -q -n auto'
