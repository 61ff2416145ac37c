"""Every ``Examples:`` block in the library's docstrings runs and prints what it shows."""

import doctest
import importlib
import pkgutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrnn

MODULES = sorted(m.name for m in pkgutil.walk_packages(jaxrnn.__path__, "jaxrnn.") if m.name != "jaxrnn.__main__")


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    globs = {"jax": jax, "jnp": jnp, "np": np, "jaxrnn": jaxrnn,
             **{n: getattr(jaxrnn, n) for n in jaxrnn.__all__}, **vars(module)}
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name, globs=globs):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
