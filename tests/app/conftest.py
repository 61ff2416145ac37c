"""Fixtures of the tests of the ``jaxrnn`` command."""

import pytest


@pytest.fixture(scope="module")
def text(tmp_path_factory):
    """A small UTF-8 corpus file."""
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("def add(a, b):\n    return a + b\n\n" * 60, encoding="utf-8")
    return str(path)
