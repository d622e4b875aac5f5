"""What every problem family shares: entity names, the size tiers, the row-template record and the
license pre-check.

A family module defines ``KEY``, ``DESCRIPTION``, ``ROW_KINDS`` (kind -> regex of its row names),
``LINKING_KINDS`` (kinds of the equality rows that define auxiliary variables or link periods),
``dims(size, rng)``, ``counts(dims)``, ``build(dims, rng)`` and ``injectable_rows(model)``.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from ..model import LICENSE_LIMIT, INF, LinearModel, ModelError

# Model size tiers: ``size`` 1, 2, 3 give this many variables (inclusive). Larger sizes scale on
# linearly (still checked against the license); they have no tier.
SIZE_TIERS: dict[int, tuple[int, int]] = {1: (5, 12), 2: (13, 24), 3: (25, 40)}

PRODUCTS = ("widget gadget gizmo sprocket bracket valve pump rotor gear hinge spring clamp nozzle flange "
            "piston bearing shaft pulley lever socket coupling gasket damper fitting bushing caster latch "
            "axle rivet spindle washer ratchet").split()
DEPARTMENTS = "assembly machining painting packaging testing welding".split()
MATERIALS = "steel plastic copper".split()
FOODS = ("oats milk bread eggs beans rice apples cheese chicken spinach lentils yogurt tofu salmon carrots "
         "potatoes pasta peanuts bananas broccoli oranges tuna barley corn peas almonds turkey quinoa "
         "cabbage beef").split()
NUTRIENTS = "calories protein fat carbs fiber calcium iron vitc".split()
WORKERS = "ana ben chen dara eli fay gus hana ivan jade".split()
TASKS = "audit billing coding design editing filing hiring invoicing payroll reporting".split()
SITES = "north south east west central harbor".split()
TOWNS = "avon bray cole dover eden fenn glen hull iona kent".split()
PROJECTS = ("solar roads clinic school bridge library park wells transit housing sewer lights museum arena "
            "depot canal dam pier tower plaza market trail garden pool bikes buses ferry tram hostel studio "
            "labs harbor airport mill grid wind fiber sports theatre archive").split()
MONTHS = "jan feb mar apr may jun jul aug sep oct nov dec".split()
DRINKS = "cola juice water tea".split()
DAYS = "mon tue wed thu fri sat sun".split()


def entity_names(pool: list[str] | tuple[str, ...], k: int, stem: str) -> list[str]:
    """The first ``k`` names of ``pool``; beyond it, numbered names ``<stem><i>`` (only sizes > 3 get there).

    >>> entity_names(["a", "b"], 3, "item")
    ['a', 'b', 'item3']
    """
    return [pool[i] if i < len(pool) else f"{stem}{i + 1}" for i in range(k)]


def letters(k: int) -> list[str]:
    """A, B, ..., Z, AA, AB, ... (city labels).

    >>> letters(3), letters(28)[-2:]
    (['A', 'B', 'C'], ['AA', 'AB'])
    """
    out = []
    for i in range(k):
        s, n = "", i
        while True:
            s = chr(ord("A") + n % 26) + s
            n = n // 26 - 1
            if n < 0:
                break
        out.append(s)
    return out


def subset(rng: np.random.Generator, items: list[str], k: int) -> list[str]:
    """``k`` distinct items in their original order (so row order follows entity order)."""
    chosen = set(rng.choice(len(items), size=k, replace=False).tolist())
    return [x for i, x in enumerate(items) if i in chosen]


def optional_count(rng: np.random.Generator, n: int, frac: float) -> int:
    """How many of ``n`` entities get an optional row: at least one, and at least one left without,
    so an injected row of that kind is one more of a kind the model already has."""
    if n < 2:
        raise ModelError(f"an optional row kind needs at least 2 entities, got {n}")
    return int(min(n - 1, max(1, round(frac * n + rng.uniform(-0.5, 0.5)))))


def check_counts(family: str, size: int, n_vars: int, n_constrs: int) -> None:
    """Refuse a request beyond the pip license before building it (same message as ``check_license``)."""
    if n_vars > LICENSE_LIMIT or n_constrs > LICENSE_LIMIT:
        raise ModelError(
            f"{family} at size {size} would have {n_vars} variables and {n_constrs} constraints; the pip "
            f"Gurobi license allows at most {LICENSE_LIMIT} of each. Use a smaller size or a full license."
        )


def scaled(size: int, per_size: float) -> int:
    """Entity count for sizes beyond the tiers: linear in ``size``."""
    return int(math.ceil(per_size * size))


@dataclass(frozen=True)
class RowTemplate:
    """A row the family could have but this model does not: same name pattern and coefficient
    structure as existing rows of ``kind``. The saboteur chooses its right-hand side."""

    name: str
    kind: str
    coeffs: dict[str, float]
    sense: str


def kind_of(row_kinds: dict[str, str], name: str) -> str | None:
    """The first kind whose regex matches the whole name, else None."""
    for kind, pattern in row_kinds.items():
        if re.fullmatch(pattern, name):
            return kind
    return None


def existing_suffixes(model: LinearModel, prefix: str) -> set[str]:
    return {c[len(prefix):] for c in model.constrs if c.startswith(prefix)}


def add_defined_totals(m: LinearModel, stem: str, terms: dict[str, dict[str, float]]) -> None:
    """For each key k: a variable ``<stem>_k`` >= 0 and the row ``def_<stem>_k: <stem>_k - Σ a·x == 0``
    (all variables first, then all rows: the linking structure types F and the IIS travel through).

    >>> m = LinearModel("t"); _ = m.add_var("make_a"); _ = m.add_var("make_b")
    >>> add_defined_totals(m, "hours", {"cut": {"make_a": 2.0, "make_b": 1.0}})
    >>> m.constrs["def_hours_cut"].coeffs
    {'hours_cut': 1.0, 'make_a': -2.0, 'make_b': -1.0}
    """
    for k in terms:
        m.add_var(f"{stem}_{k}", 0, INF, "C", 0.0)
    for k, row in terms.items():
        m.add_constr(f"def_{stem}_{k}", {f"{stem}_{k}": 1.0} | {v: -a for v, a in row.items()}, "==", 0.0)


def rounded(x: float, step: float = 1.0) -> float:
    """Round to a multiple of ``step`` (keeps the data readable: 140, 2.5, 0.35)."""
    return float(round(round(x / step) * step, 6))


__all__ = ["INF", "RowTemplate", "SIZE_TIERS", "check_counts", "entity_names", "kind_of", "letters",
           "optional_count", "rounded", "scaled", "subset"]
