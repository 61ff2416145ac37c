"""The README's "Coming from PyTorch / Keras / Flax" examples run as written."""

import re
from pathlib import Path

import pytest

SECTION = "## Coming from PyTorch / Keras / Flax"


def blocks():
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return re.findall(r"```python\n(.*?)```", text[start: end if end >= 0 else None], re.S)


def test_section_has_one_example_per_library():
    found = blocks()
    assert len(found) == 3
    assert ["from_torch" in found[0], "from_keras" in found[1], "from_flax" in found[2]] == [True] * 3


@pytest.mark.parametrize("index", [0, 1, 2])
def test_readme_interop_example_runs(index, capsys):
    exec(compile(blocks()[index], f"README.md[{SECTION}][{index}]", "exec"), {"__name__": "__readme__"})
    printed = capsys.readouterr().out
    if index < 2:
        assert ("Total params: 15,040" if index == 0 else "Total params: 488") in printed
