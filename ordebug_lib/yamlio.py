"""YAML for parameters: PyYAML's safe loader, except that ``1e-4`` is the float 0.0001.

PyYAML follows YAML 1.1, where a float needs a dot (``1.0e-4``); ``1e-4`` silently stays the *string*
"1e-4" and reaches an optimizer as a learning rate of type str. Every parameter file, ``-p`` override
and ``--set`` value in this project goes through ``load_yaml``.

    >>> load_yaml("lr: 1e-4")["lr"], load_yaml("n: 10")["n"], load_yaml("x: 1e3")["x"]
    (0.0001, 10, 1000.0)
    >>> load_yaml("name: e5"), load_yaml("v: '1e-4'")
    ({'name': 'e5'}, {'v': '1e-4'})
"""
from __future__ import annotations

import re

import yaml


class _Loader(yaml.SafeLoader):
    pass


# YAML 1.2 float syntax (dot optional) plus the special values; resolvers added later take precedence
_FLOAT = re.compile(r"""^(?:[-+]?(?:\d[\d_]*)?\.?\d[\d_]*(?:[eE][-+]?\d+)?
    |[-+]?(?:\d[\d_]*)(?:\.[\d_]*)?(?:[eE][-+]?\d+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""", re.X)
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))
# keep integers integers: re-add the int resolver so it is tried before the float one for "10"
for first, resolvers in list(_Loader.yaml_implicit_resolvers.items()):
    ints = [r for r in resolvers if r[0] == "tag:yaml.org,2002:int"]
    others = [r for r in resolvers if r[0] != "tag:yaml.org,2002:int"]
    _Loader.yaml_implicit_resolvers[first] = ints + others


def load_yaml(text: str):
    """Parse YAML text (a file's content or a single value) with scientific notation as floats."""
    return yaml.load(text, Loader=_Loader)
