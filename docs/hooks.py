"""MkDocs hooks of the jaxrnn docs site (``hooks:`` in mkdocs.yml; not a page of the site).

- The experiments' and benchmarks' results, CHANGELOG.md and CONTRIBUTING.md join the site from
  where they live in the repository (one copy of each, their relative links intact):
  ``experiments/results/*`` -> ``results/experiments/``, ``benchmarks/*.md`` ->
  ``results/benchmarks/``, ``CHANGELOG.md`` -> ``changelog.md``, ``CONTRIBUTING.md`` ->
  ``contributing.md``.
- Sphinx roles in docstrings (``:func:`scan```, ``:class:`LSTM```) render as plain code.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent
INCLUDED = {
    "results/experiments": (ROOT / "experiments" / "results", ("*.md", "*.png")),
    "results/benchmarks": (ROOT / "benchmarks", ("*.md",)),
}
SINGLE = {"changelog.md": ROOT / "CHANGELOG.md", "contributing.md": ROOT / "CONTRIBUTING.md"}
ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|obj|exc|const):(?=<code>)")


def sources() -> dict[str, Path]:
    """``{site path: repository file}`` of every file the site includes from outside ``docs/``."""
    out = {uri: path for uri, path in SINGLE.items()}
    for folder, (source, patterns) in INCLUDED.items():
        for pattern in patterns:
            for path in sorted(source.glob(pattern)):
                out[f"{folder}/{path.name}"] = path
    return out


def on_files(files, config):
    for uri, path in sources().items():
        files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files


def on_post_page(output, page, config):
    return ROLE.sub("", output)
