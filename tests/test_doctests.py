"""Every worked example in the package's docstrings runs and holds (one test per module)."""
import doctest
import importlib
import pkgutil

import pytest

import ordebug_lib

MODULES = sorted(m.name for m in pkgutil.walk_packages(ordebug_lib.__path__, "ordebug_lib.")
                 if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
