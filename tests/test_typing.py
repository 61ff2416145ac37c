"""Type checkers see the public API. A package that loads names on first use (a module-level
``__getattr__``, PEP 562) imports each of them under ``if TYPE_CHECKING:`` from the module its loader
takes it from, and defines the loader only when not type checking (so that a misspelt name is an error
for pyright, not ``Any``); the lazy table, those imports and ``__all__`` agree."""

import ast
import importlib
import os
import subprocess
import sys

import pytest

import jaxrnn
from tests.helpers import ROOT


def _is_type_checking(node):
    return isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _type_checking_imports(tree):
    """``{name: (module, attribute)}`` of the ``from module import attribute [as name]`` statements under
    the module's top-level ``if TYPE_CHECKING:``."""
    found = {}
    for node in tree.body:
        if _is_type_checking(node):
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom) and stmt.module, ast.unparse(stmt)
                found.update({a.asname or a.name: (stmt.module, a.name) for a in stmt.names})
    return found


def _eager_names(tree):
    """The names a plain import of the module binds at its top level (the ``TYPE_CHECKING`` branch aside)."""
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def _source_object(module, attribute):
    try:
        return importlib.import_module(f"{module}.{attribute}")
    except ModuleNotFoundError:
        return getattr(importlib.import_module(module), attribute)


LAZY = sorted(p for p in (ROOT / "jaxrnn").rglob("__init__.py")
              if any(isinstance(n, ast.FunctionDef) and n.name == "__getattr__"
                     for n in ast.walk(ast.parse(p.read_text()))))


def test_the_lazy_packages_are_found():
    assert ROOT / "jaxrnn" / "__init__.py" in LAZY


@pytest.mark.parametrize("path", LAZY, ids=lambda p: str(p.relative_to(ROOT)))
def test_lazy_names_are_imported_for_type_checkers(path):
    tree = ast.parse(path.read_text())
    package = ".".join(path.parent.relative_to(ROOT).parts)
    module = importlib.import_module(package)
    assert not any(isinstance(n, ast.FunctionDef) and n.name == "__getattr__" for n in tree.body), \
        f"{package}.__getattr__ is visible to type checkers: define it under `if not TYPE_CHECKING` / `else:`"
    typed = _type_checking_imports(tree)
    assert typed, f"{package} loads names lazily but imports none of them under `if TYPE_CHECKING:`"
    lazy = set(module.__all__) - _eager_names(tree)
    assert lazy <= set(typed), f"{package}: public names type checkers cannot see: {sorted(lazy - set(typed))}"
    for name, (source, attribute) in typed.items():
        assert getattr(module, name) is _source_object(source, attribute), f"{package}.{name} is not {source}.{attribute}"


def test_the_lazy_table_of_jaxrnn_is_its_type_checking_imports():
    typed = _type_checking_imports(ast.parse((ROOT / "jaxrnn" / "__init__.py").read_text()))
    table = {name: (module, name) for name, module in jaxrnn._WHERE.items()}
    table.update({name: ("jaxrnn", name) for name in jaxrnn._MODULES})
    assert typed == table
    assert sorted(jaxrnn.__all__) == sorted(jaxrnn._WHERE)


def test_import_jaxrnn_loads_no_jax():
    code = "import sys, jaxrnn; print('jax' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout.strip() == "False"
