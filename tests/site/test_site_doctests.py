"""Every worked example in rlspec.reference's docstrings runs, and gives what it documents.

The examples are the hand-checkable numbers of each formula (STYLE.md); `rlspec show` runs
them live for a reader, so a drifted one would show a reader a wrong number.
"""

import doctest
import importlib
import inspect
import pkgutil

import pytest

import rlspec.reference

# Private helper modules (input checks) hold no formula and no worked example.
MODULES = sorted(f"rlspec.reference.{info.name}" for info in pkgutil.iter_modules(rlspec.reference.__path__)
                 if not info.name.startswith("_"))


@pytest.mark.parametrize("module_name", MODULES)
def test_the_reference_module_doctests_give_what_they_document(module_name):
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, report=False)
    assert result.attempted > 0, f"{module_name} has no doctest example"
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest examples of " \
                               f"{module_name} fail; run `python -m doctest -v` on its file"


@pytest.mark.parametrize("module_name", MODULES)
def test_every_public_reference_function_has_a_worked_example(module_name):
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(recurse=False)
    without = [name for name in module.__all__ if inspect.isfunction(getattr(module, name))
               and not any(test.examples for test in finder.find(getattr(module, name), name,
                                                                  module=module))]
    assert not without, f"{module_name}: no doctest example in {without}"
