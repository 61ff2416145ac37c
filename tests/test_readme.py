"""The README's Python examples run as written (in order, in one namespace, as a reader would);
the library-level training loop learns; the Quickstart commands are the documented ones."""

import os
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


def test_readme_training_loop_runs(capsys):
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = readme.split("## Training loop", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "make_step" in code and len(code.strip().splitlines()) <= 22
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    losses = [float(line.split()[1]) for line in printed if re.match(r"^\d+ ", line)]
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert printed[-1] != ""


def test_quickstart_commands():
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    blocks = re.findall(r"```bash\n(.*?)```", readme.split("## Quickstart", 1)[1], re.S)
    assert blocks[0].strip() == "pip install . && jaxrnn train"
    assert blocks[1].strip() == 'pip install torch==2.13.0 && pip install ".[test]" && python -m pytest -q'
