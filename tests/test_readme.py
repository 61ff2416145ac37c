"""The README's library-level training loop runs as written."""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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
