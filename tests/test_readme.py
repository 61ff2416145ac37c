"""The README's Python examples run as written (in order, in one namespace, as a reader would)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_python_examples_run():
    blocks = _python_blocks()
    assert blocks, "README.md has no python examples"
    namespace = {"__name__": "__readme__"}
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"README.md[python block {i}]", "exec"), namespace)
        except Exception as exc:  # re-raised with the block number for the reader
            raise AssertionError(f"README python block {i} failed: {exc!r}\n{block}") from exc
