"""The examples in the docstrings run and print what they say."""

import doctest
import importlib
import pkgutil

import pytest

import explain
import widgets

MODULES = sorted(
    f"{package.__name__}.{info.name}"
    for package in (explain, widgets)
    for info in pkgutil.iter_modules(package.__path__)
    if info.name not in ("__main__", "cli")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
