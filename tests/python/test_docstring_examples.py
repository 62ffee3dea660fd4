"""The examples in the docstrings run and print what they show (doctest), so that code copied
from help() works. Every module of the package is collected; each runs with torch, statmech,
nn and F in scope and a fixed seed."""

import doctest
import importlib
import pkgutil

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import statmech


def _modules():
    names = [statmech.__name__]
    for info in pkgutil.walk_packages(statmech.__path__, prefix="statmech."):
        names.append(info.name)
    return sorted(names)


MODULES = [name for name in _modules() if not name.endswith("._C")]


def test_examples_exist():
    finder = doctest.DocTestFinder()
    examples = sum(len(t.examples) for name in MODULES for t in finder.find(importlib.import_module(name)))
    assert examples >= 25


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    torch.manual_seed(0)
    result = doctest.testmod(
        module, extraglobs=dict(torch=torch, statmech=statmech, nn=nn, F=F), report=True,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
    )
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples failed in {name}"
