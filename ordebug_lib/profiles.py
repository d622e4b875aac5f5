"""Notebook profiles (``params/<notebook>/<profile>.yaml``) as deltas of other profiles.

A profile may start with ``extends: <profile>``: the parent ``<profile>.yaml`` of the same folder is loaded
first (itself possibly a delta), then the child's keys replace the parent's. ``extends: <notebook>/<profile>``
takes the parent from another notebook's folder (notebooks 21-23 take 20's RL settings this way); the merged keys
are still checked against the child's notebook. Rules:

- a mapping in the child is merged key by key into the parent's mapping of the same key, at every depth, so
  ``grpo: {num_iterations: 2}`` changes one field of the parent's ``grpo``;
- ``!replace`` before a mapping (``grpo: !replace {...}``) takes it whole instead: the parent's keys of that
  mapping are dropped;
- any other value (a list, a number, null) replaces the parent's value;
- ``extends`` itself never reaches the notebook; a missing parent or a cycle is an error.

    >>> gpu = parse("lr: 0.1\\ngrpo: {beta: 0.04, steps: 12}\\nkl: {a: 1}")
    >>> merge(gpu, parse("grpo: {steps: 2}\\nkl: !replace {b: 2}"))
    {'lr': 0.1, 'grpo': {'beta': 0.04, 'steps': 2}, 'kl': {'b': 2}}
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from .yamlio import _Loader

EXTENDS = "extends"
_PARENT = re.compile(r"^(?:[\w.-]+/)?[\w.-]+$")


class ProfileError(ValueError):
    """A profile that cannot be loaded (bad YAML, not a mapping, a missing parent, a cycle); says why."""


class Replace(dict):
    """A mapping tagged ``!replace``: it replaces the parent's mapping instead of being merged into it."""


class _ProfileLoader(_Loader):
    pass


def _construct_replace(loader: yaml.Loader, node: yaml.Node) -> Replace:
    if not isinstance(node, yaml.MappingNode):
        raise yaml.constructor.ConstructorError(None, None, "!replace is for mappings (lists and values replace "
                                                "the parent's anyway)", node.start_mark)
    return Replace(loader.construct_mapping(node, deep=True))


_ProfileLoader.add_constructor("!replace", _construct_replace)


def parse(text: str) -> Any:
    """YAML as ``yamlio.load_yaml`` reads it, plus the ``!replace`` tag."""
    return yaml.load(text, Loader=_ProfileLoader)


def merge(parent: dict, child: dict) -> dict:
    """``child`` over ``parent``: mappings merged key by key (unless tagged ``!replace``), other values replaced."""
    out = {k: plain(v) for k, v in parent.items()}
    for k, v in child.items():
        if isinstance(v, dict) and not isinstance(v, Replace) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = plain(v)
    return out


def plain(value: Any) -> Any:
    """``value`` with every ``Replace`` turned into a plain dict (what a notebook and JSON get)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def parent_path(path: Path, parent: str) -> Path:
    """The file ``extends: parent`` names from the profile at ``path``."""
    if not isinstance(parent, str) or not _PARENT.match(parent) or parent.endswith(".yaml") or \
            ".." in parent.split("/"):
        raise ProfileError(f"{path}: extends must name a profile (e.g. gpu) or <notebook>/<profile>, without "
                           f".yaml; got {parent!r}")
    folder = path.parent if "/" not in parent else path.parent.parent / parent.split("/")[0]
    return folder / f"{parent.split('/')[-1]}.yaml"


def resolve(path: Path, data: Any, _chain: tuple[Path, ...] = ()) -> Any:
    """``data`` (the parsed file at ``path``) with its ``extends`` chain applied; anything but a mapping
    comes back as it is."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    if EXTENDS not in data:
        return plain(data)
    parent = parent_path(path, data.pop(EXTENDS))
    chain = (*_chain, path.resolve())
    if parent.resolve() in chain:
        names = " -> ".join(f"{p.parent.name}/{p.stem}" for p in (*chain, parent.resolve()))
        raise ProfileError(f"{path}: extends makes a cycle: {names}")
    if not parent.is_file():
        have = sorted(p.stem for p in parent.parent.glob("*.yaml"))
        raise ProfileError(f"{path}: extends {parent.stem!r}, but there is no {parent}; "
                           f"profiles there: {have or 'none'}")
    return merge(_read(parent, chain), data)


def _read(path: Path, chain: tuple[Path, ...] = ()) -> dict:
    try:
        data = parse(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ProfileError(f"{path} is not valid YAML: {' '.join(str(e).split())[:1000]}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{path} must hold a mapping of parameter names to values")
    return resolve(path, data, chain)


def load_profile(path: Path) -> dict:
    """The parameters of the profile file ``path``, its ``extends`` chain merged (module docstring)."""
    return _read(Path(path))
