"""Fixtures of the tests of the ``jaxrnn`` command."""

import os

import pytest

from tests.app.commands import TINY


@pytest.fixture(autouse=True)
def _empty_working_directory(tmp_path_factory, monkeypatch):
    """Each test runs in an empty folder of its own and must leave it empty: a command that falls
    back on a default (``--out runs/charlm``) never writes where the tests were started."""
    cwd = tmp_path_factory.mktemp("cwd")
    monkeypatch.chdir(cwd)
    yield
    assert not os.listdir(cwd), f"the test wrote {os.listdir(cwd)} into the working directory"


@pytest.fixture(scope="session")
def text(tmp_path_factory):
    """A small UTF-8 corpus file."""
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("def add(a, b):\n    return a + b\n\n" * 60, encoding="utf-8")
    return str(path)


@pytest.fixture(scope="session")
def trained(tmp_path_factory, text):
    """A 30-step run of :data:`TINY` at ``--lr 0.01``, shared by the tests (copy it to change it)."""
    from jaxrnn.app.cli import main

    out = str(tmp_path_factory.mktemp("trained") / "run")
    assert main(["train", "--text", text, "--out", out, "--steps", "30", "--lr", "0.01", *TINY]) == 0
    return out
