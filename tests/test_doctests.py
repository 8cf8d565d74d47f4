"""The examples in the docstrings run and print what they say."""

import doctest
import importlib
import pkgutil

import pytest

import explain
import widgets

MODULES = sorted(
    info.name
    for package in (explain, widgets)
    for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}.")
    if info.name.rsplit(".", 1)[-1] not in ("__main__", "cli")
)  # sub-packages too: explain.lab.*, explain.views.*


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
