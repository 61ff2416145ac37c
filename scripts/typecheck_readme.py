"""Type-checks the README's Python blocks with pyright, as a user's editor sees them.

Each ```python block of README.md becomes a file in a temporary folder, checked with the settings of
``[tool.pyright]`` in pyproject.toml (its ``include`` aside) and jaxrnn imported from this checkout as
an installed package would be (through ``PYTHONPATH``, so ``py.typed``'s rules apply: only the public
names are exported). Prints pyright's report; the exit status is pyright's (0: no errors).

Usage (pyright from the ``lint`` extra: ``pip install ".[lint]"``):
  python scripts/typecheck_readme.py
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile

import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main() -> int:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.DOTALL)
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pyright"]
    settings = {key: value for key, value in settings.items() if key != "include"}
    with tempfile.TemporaryDirectory() as folder:
        files = []
        for index, block in enumerate(blocks):
            path = pathlib.Path(folder, f"readme_block_{index}.py")
            path.write_text(block)
            files.append(path.name)
        pathlib.Path(folder, "pyrightconfig.json").write_text(json.dumps(settings))
        print(f"pyright on the README's {len(blocks)} Python blocks", flush=True)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        return subprocess.run([sys.executable, "-m", "pyright", "--pythonpath", sys.executable, *files],
                              cwd=folder, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
