"""The docs site: every public name has an entry in the API reference (docs/api/), every public
constructor and function names each of its parameters in its docstring (so ``help()`` and the
reference show them), the pages' examples run, and ``mkdocs build --strict`` passes where the
``docs`` extra is installed (CI builds the site in its own step)."""

import importlib
import inspect
import re
import types

import pytest

import jaxrnn
from tests.helpers import ROOT

DOCS = ROOT / "docs"
API = DOCS / "api"
# The public modules: jaxrnn, its lazily loaded subpackages, and the submodules the README uses.
PUBLIC_MODULES = tuple(dict.fromkeys(("jaxrnn", *(f"jaxrnn.{m}" for m in jaxrnn._MODULES), "jaxrnn.blocks",
                                      "jaxrnn.driver.time_sharding", "jaxrnn.train.distributed")))


def _public_names(module) -> list[str]:
    """``__all__``, or the functions, classes and UPPER_CASE constants the module defines."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [name for name, value in vars(module).items()
            if not name.startswith("_") and not isinstance(value, types.ModuleType)
            and (getattr(value, "__module__", None) == module.__name__ or name.isupper())]


def _public():
    """``[(qualified name, object)]`` of every public name (an object once, under its first name)."""
    out, seen = [], set()
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in _public_names(module):
            value = getattr(module, name)
            if id(value) not in seen:
                seen.add(id(value))
                out.append((f"{module_name}.{name}", value))
    return out


def _resolve(path: str):
    """The object a mkdocstrings identifier names (the longest importable module, then attributes)."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            value = getattr(value, attr)
        return value
    raise ImportError(path)


def _directives() -> list[tuple[str, str]]:
    """``[(identifier, its options block)]`` of every ``::: identifier`` entry of docs/api/."""
    return [m for page in sorted(API.glob("*.md"))
            for m in re.findall(r"^::: (\S+)\n((?:    .*\n)*)", page.read_text(), re.MULTILINE)]


def _documented() -> dict[str, list]:
    """``{name: [objects documented under that name]}``: each entry's object, and the public members
    of a module entry that renders them (no ``members: false``)."""
    documented = {}
    for path, options in _directives():
        value = _resolve(path)
        documented.setdefault(path.rsplit(".", 1)[-1], []).append(value)
        if isinstance(value, types.ModuleType) and "members: false" not in options:
            for name in _public_names(value):
                documented.setdefault(name, []).append(getattr(value, name))
    return documented


def test_every_public_name_has_an_entry_in_the_api_reference():
    documented = _documented()
    missing = [name for name, value in _public()
               if not any(v is value for v in documented.get(name.rsplit(".", 1)[-1], ()))]
    assert not missing, f"public names without an entry ('::: <path>') in docs/api/*.md: {missing}"


def test_every_api_entry_resolves():
    for path, _ in _directives():
        _resolve(path)  # raises for a stale entry (mkdocs --strict would too, but needs the docs extra)


def _parameters(value) -> list[str]:
    """The constructor's or function's named parameters (a flax linen module's own ``parent`` and
    ``name`` aside)."""
    params = inspect.signature(value).parameters.values()
    names = [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != "self"]
    if inspect.isclass(value) and any(c.__module__.startswith("flax.linen") for c in value.__mro__):
        names = [n for n in names if n not in ("parent", "name")]
    return names


def _callables():
    return [(name, value) for name, value in _public()
            if callable(value) and not (inspect.isclass(value) and getattr(value, "_is_protocol", False))]


@pytest.mark.parametrize("name,value", _callables(), ids=[name for name, _ in _callables()])
def test_docstring_names_every_parameter(name, value):
    """Google style: each parameter (each dataclass or NamedTuple field of a class) has its own
    ``name: ...`` line under ``Args:`` or ``Attributes:``."""
    doc = inspect.getdoc(value) or ""
    missing = [p for p in _parameters(value) if not re.search(rf"^\s*\**{p}( \([^)]*\))?:", doc, re.MULTILINE)]
    assert not missing, f"{name}'s docstring does not document {missing}"


def test_layers_help_shows_every_constructor_argument():
    for layer in (jaxrnn.RNN, jaxrnn.LSTM, jaxrnn.GRU):
        doc = inspect.getdoc(layer)
        for field in ("double_bias", "merge_mode", "engine", "compute_dtype", "batch_first", "dropout"):
            assert f"\n  {field}: " in doc, (layer.__name__, field)


PAGES = sorted(p for p in DOCS.rglob("*.md") if "```python" in p.read_text())


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_page_examples_run(page):
    for block in re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.DOTALL):
        exec(compile(block, str(page), "exec"), {"__name__": "__docs__"})  # noqa: S102 (the page's own code)


def test_getting_started_has_the_readme_quickstart():
    def quickstart(text):
        return re.findall(r"```bash\n(.*?)```", text.split("## Quickstart", 1)[1].split("\n## ", 1)[0],
                          re.DOTALL)

    assert quickstart((DOCS / "getting-started.md").read_text()) == quickstart((ROOT / "README.md").read_text())


def test_every_page_is_in_the_nav():
    config = (ROOT / "mkdocs.yml").read_text()
    pages = [p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")]
    assert "architecture.md" in pages
    assert [p for p in pages if f" {p}\n" not in config] == []
