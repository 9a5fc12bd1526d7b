"""The ``>>>`` examples in jaxrec's docstrings run and print what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import jaxrec

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(jaxrec.__path__, "jaxrec.")
    if not info.name.endswith("__main__")
)
# modules whose key functions carry examples: the suite fails if their examples disappear
DOCUMENTED = (
    "jaxrec.ops.selection",
    "jaxrec.ops.chunks",
    "jaxrec.ops.tables",
    "jaxrec.metrics.exposure",
    "jaxrec.metrics.bootstrap",
    "jaxrec.pareto.solvers",
    "jaxrec.commands._options",
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    if name in DOCUMENTED:
        assert result.attempted > 0
