"""Seeded generators of feasible (MI)LP models with meaningful structure and names.

Eight families, one module each. ``generate(family, size, seed)`` returns a ``LinearModel`` that is
feasible with a finite optimum; the same (family, size, seed) always gives the same model. ``size`` is
a positive integer: sizes 1, 2, 3 give 5-12, 13-24 and 25-40 variables (``SIZE_TIERS``), larger sizes
scale on until the pip license (2000 variables / constraints) refuses them with a ``ModelError``.

    >>> m = generate("transportation", 1, seed=3)
    >>> m.name, 6 <= len(m.vars) <= 12
    ('transportation', True)
    >>> sorted({row_kind("transportation", c) for c in m.constrs})
    ['def_out', 'demand', 'fleet', 'min_load', 'supply']
    >>> generate("transportation", 1, seed=3).fingerprint() == m.fingerprint()
    True

Every row name belongs to one of its family's ``ROW_KINDS`` (e.g. ``min_output_<product>``);
``injectable_rows`` lists rows of those kinds the model does not have yet, which is where the saboteur
takes an added constraint's name from, so it looks like its siblings.
"""
from __future__ import annotations

import hashlib
from types import ModuleType
from typing import Callable

import numpy as np

from ..model import LinearModel, ModelError
from . import assignment, diet, facility, inventory, knapsack, production, staffing, transportation
from ._common import SIZE_TIERS, RowTemplate, check_counts, kind_of

MODULES: dict[str, ModuleType] = {mod.KEY: mod for mod in (
    production, transportation, diet, assignment, facility, knapsack, inventory, staffing)}


def family_module(family: str) -> ModuleType:
    try:
        return MODULES[family]
    except KeyError:
        raise ModelError(f"unknown problem family {family!r}; known: {', '.join(MODULES)}") from None


def family_rng(family: str, size: int, seed: int) -> np.random.Generator:
    """Independent stream per (family, size, seed); stable across Python runs (no ``hash()``)."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ModelError(f"seed must be a non-negative integer, got {seed!r}")
    salt = int(hashlib.sha256(family.encode()).hexdigest()[:8], 16)
    return np.random.default_rng([int(seed), salt, int(size)])


def generate(family: str, size: int, seed: int) -> LinearModel:
    """A feasible model of ``family`` at ``size`` (1, 2, 3, ...) from ``seed``; model name = family key."""
    mod = family_module(family)
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ModelError(f"size must be a positive integer, got {size!r}")
    rng = family_rng(family, size, seed)
    d = mod.dims(int(size), rng)
    check_counts(family, size, *mod.counts(d))
    model = mod.build(d, rng)
    model.check_license()
    return model


def _generator(family: str) -> Callable[[int, int], LinearModel]:
    def gen(size: int, seed: int) -> LinearModel:
        return generate(family, size, seed)

    gen.__name__ = f"generate_{family}"
    gen.__doc__ = family_module(family).__doc__
    return gen


FAMILIES: dict[str, Callable[[int, int], LinearModel]] = {key: _generator(key) for key in MODULES}


def row_kind(family: str, name: str) -> str | None:
    """The family row kind of a constraint name (``min_output_gadget`` -> ``min_output``), else None."""
    return kind_of(family_module(family).ROW_KINDS, name)


def linking_rows(family: str, model: LinearModel) -> set[str]:
    """Equality rows that define auxiliary variables or link periods (the family's LINKING_KINDS)."""
    kinds = family_module(family).LINKING_KINDS
    return {c for c in model.constrs if row_kind(family, c) in kinds}


def injectable_rows(family: str, model: LinearModel) -> list[RowTemplate]:
    """Rows of existing kinds that ``model`` (semantic names) does not have yet."""
    return family_module(family).injectable_rows(model)


__all__ = ["FAMILIES", "MODULES", "SIZE_TIERS", "RowTemplate", "family_module", "generate", "injectable_rows",
           "linking_rows", "row_kind"]
