"""The ``Examples:`` in the interop and summary modules' docstrings run as written."""

import doctest
import importlib

import pytest


@pytest.mark.parametrize("name", ["jaxrnn.interop.keras", "jaxrnn.interop.flax", "jaxrnn.summary"])
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0
