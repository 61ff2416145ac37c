"""Packaging: the license file, the typing marker, one version, and minimums CI can pin."""

import re

import tomllib

import jaxrnn
from tests.helpers import ROOT

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_license_file_matches_the_declared_license():
    assert PROJECT["project"]["license"] == "Apache-2.0" and PROJECT["project"]["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text


def test_typed_marker_is_shipped():
    assert (ROOT / "jaxrnn" / "py.typed").exists()
    assert PROJECT["tool"]["setuptools"]["package-data"]["jaxrnn"] == ["py.typed"]


def test_version_is_written_once():
    assert "version" not in PROJECT["project"] and PROJECT["project"]["dynamic"] == ["version"]
    assert PROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "jaxrnn.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", jaxrnn.__version__)


def test_every_dependency_declares_a_minimum_that_ci_pins():
    """.ci/run turns each ``name>=version`` into ``name==version`` in its second environment."""
    deps = PROJECT["project"]["dependencies"]
    assert deps and all(re.fullmatch(r"[a-z0-9-]+>=\d+(\.\d+)*", d) for d in deps), deps
    ci = (ROOT / ".ci" / "run").read_text()
    assert ".ci-min-requirements.txt" in ci and "tests/test_readme.py" in ci
