"""The layout shows the architecture (docs/architecture.md): the library never imports the
application, each box imports only the boxes before it, no module shares its name with a function it
exports, and one ``LSTM.apply`` crosses few modules."""

import ast
import importlib
import pkgutil
import sys
import types

import jax
import jax.numpy as jnp
import pytest

import jaxrnn
from jaxrnn.cells import classic
from tests.helpers import ROOT

# The boxes of DESIGN.md section 1, in order; a module may import its own box and the boxes before it.
# The rule modules (_checks: validation; precision: the dtype rule; _compile: how an entry point runs its
# work) serve every box.
# Layers are executed by engines: the engines (which read the network the layer builds) come first.
ORDER = ["_checks", "precision", "_compile", "cells", "driver", "ops", "combinators", "engines", "layers", "blocks", "interop", "train",
         "app"]


def _box(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path):
    """The ``jaxrnn.*`` modules imported anywhere in ``path`` (also inside functions), docstrings aside."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("jaxrnn"):
            found.update(f"{node.module}.{a.name}" if node.module == "jaxrnn" else node.module for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("jaxrnn"))
    return found


LIBRARY = sorted(p for p in (ROOT / "jaxrnn").rglob("*.py")
                 if "app" not in p.relative_to(ROOT / "jaxrnn").parts and p.name != "__main__.py")


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(ROOT)))
def test_each_box_imports_only_the_boxes_before_it(path):
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    box = _box(module)
    if box == "__init__":
        return  # the package re-exports the public names of every box
    for name in _imports(path):
        used = _box(name)
        assert used != "app", f"{module} imports the application ({name})"
        if used in ORDER:
            assert ORDER.index(used) <= ORDER.index(box), f"{module} ({box}) imports {name} ({used}), a later box"


def test_no_module_shares_its_name_with_a_function_it_exports():
    names = sorted(info.name for info in pkgutil.walk_packages(jaxrnn.__path__, "jaxrnn.")
                   if not info.name.endswith("__main__"))
    for name in names:  # importing every submodule sets package attributes: none may hide a function
        importlib.import_module(name)
    for name in names:
        package, short = name.rsplit(".", 1)
        assert short not in getattr(importlib.import_module(package), "__all__", ()), name
    for name in jaxrnn.__all__:
        assert not isinstance(getattr(jaxrnn, name), types.ModuleType), name


def test_one_lstm_apply_crosses_at_most_six_modules(monkeypatch):
    """The call path of ``LSTM.apply`` (default engine on this backend) from the layer to the cell's
    math, and every module the call enters on the way (the path plus the rule modules it consults)."""
    layer = jaxrnn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    params = layer.init(jax.random.key(0))
    x = jnp.ones((2, 5, 3))
    paths, entered = set(), set()
    rules = {"jaxrnn._checks", "jaxrnn.precision", "jaxrnn._compile", "jaxrnn.driver.padding", "jaxrnn.engines.cudnn"}
    pointwise = classic.LSTMCell.pointwise

    def spy(self, *args):
        frame, stack = sys._getframe(0), []
        while frame is not None:
            stack.append(frame.f_globals.get("__name__", ""))
            frame = frame.f_back
        chain = [name for name in reversed(stack)
                 if name.startswith("jaxrnn") and name not in rules] + [pointwise.__module__]
        paths.add(tuple(dict.fromkeys(chain)))  # outermost first, each module once
        return pointwise(self, *args)

    def profile(frame, event, arg):
        name = frame.f_globals.get("__name__", "")
        if event == "call" and name.startswith("jaxrnn"):
            entered.add(name)

    monkeypatch.setattr(classic.LSTMCell, "pointwise", spy)
    sys.setprofile(profile)
    try:
        jax.jit(lambda p, x: layer.apply(p, x, seq_lengths=jnp.array([5, 3])))(params, x)
    finally:
        sys.setprofile(None)
    engine = "jaxrnn.engines.xla" if jax.default_backend() == "cpu" else "jaxrnn.engines.cudnn"
    if engine.endswith("xla"):
        assert paths == {("jaxrnn.layers.torch_shaped", "jaxrnn.engines.xla", "jaxrnn.combinators.stack",
                          "jaxrnn.combinators.directional", "jaxrnn.cells.classic")}
    on_path = {m for path in paths for m in path} | {"jaxrnn.engines"}  # + the engine's selection
    assert len(on_path) <= 6, sorted(on_path)
    assert entered <= on_path | rules, sorted(entered - on_path - rules)
