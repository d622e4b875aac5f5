"""Capital budgeting, a multi-dimensional knapsack (MILP, binary, maximise value).

Select projects (binary) whose yearly costs fit each year's budget (the last year's funding exceeds
all requests); each year's spend is an auxiliary
variable defined by an equality. Policy rows ask for a minimum number of projects of some categories;
some projects require another one, some pairs exclude each other.

Example (size 1)::

    maximize 120 select_solar + 85 select_roads + ...
    def_spend_year1:         1 spend_year1 - 30 select_solar - 12 select_roads ... == 0
    budget_year1:            1 spend_year1 <= 90
    min_safety:              1 select_roads + 1 select_bridge >= 1
    requires_tram_transit:   1 select_tram - 1 select_transit <= 0
    exclusive_pool_arena:    1 select_pool + 1 select_arena <= 1
"""
from __future__ import annotations

import numpy as np

from ..model import LinearModel
from ._common import PROJECTS, RowTemplate, add_defined_totals, entity_names, existing_suffixes, rounded, scaled

KEY = "knapsack"
DESCRIPTION = "capital budgeting: select projects within yearly budgets, category minimums, precedences"
ROW_KINDS = {
    "def_spend": r"def_spend_\w+",
    "budget": r"budget_\w+",
    "min": r"min_\w+",
    "requires": r"requires_\w+",
    "exclusive": r"exclusive_\w+",
}
LINKING_KINDS = {"def_spend"}
CATEGORIES = ("safety", "green", "community")


def dims(size: int, rng: np.random.Generator) -> dict:
    if size == 1:
        return {"projects": int(rng.integers(5, 10)), "years": 2}
    if size == 2:
        return {"projects": int(rng.integers(11, 21)), "years": int(rng.integers(2, 4))}
    if size == 3:
        return {"projects": int(rng.integers(22, 37)), "years": int(rng.integers(3, 5))}
    return {"projects": scaled(size, 10), "years": scaled(size, 1.2)}


def counts(d: dict) -> tuple[int, int]:
    n_p = d["projects"]
    return n_p + d["years"], 2 * d["years"] + len(CATEGORIES) + n_p // 3 + 2


def build(d: dict, rng: np.random.Generator) -> LinearModel:
    projects = entity_names(PROJECTS, d["projects"], "project")
    years = [f"year{k + 1}" for k in range(d["years"])]
    n_p = len(projects)
    value = rng.integers(20, 201, n_p)
    cost = rng.integers(5, 61, (len(years), n_p)) * (rng.random((len(years), n_p)) < 0.75)
    for j in range(n_p):  # every project costs something in some year
        if not cost[:, j].any():
            cost[rng.integers(len(years)), j] = rng.integers(5, 61)
    category = rng.choice(len(CATEGORIES) + 1, n_p)  # the last index means "no category"
    category[rng.choice(n_p, len(CATEGORIES), replace=False)] = np.arange(len(CATEGORIES))  # none is empty

    m = LinearModel(KEY, "max")
    for p, v in zip(projects, value):
        m.add_var(f"select_{p}", 0, 1, "B", float(v))
    add_defined_totals(m, "spend", {y: {f"select_{p}": float(cost[k, j]) for j, p in enumerate(projects) if cost[k, j]}
                                    for k, y in enumerate(years)})
    with_min = sorted(rng.choice(len(CATEGORIES), 2, replace=False).tolist())
    # A reference selection: the cheapest project of each category with a minimum. Budgets fit it,
    # and no precedence or exclusion row is allowed to cut it off, so the model is feasible.
    total_cost = cost.sum(axis=0)
    reference = {int(np.argmin(np.where(category == c, total_cost, 10 ** 9))) for c in with_min}
    for k, y in enumerate(years):
        budget = rounded(cost[k].sum() * rng.uniform(0.35, 0.55), 5)
        if k == len(years) - 1 and k > 0:  # the last year's funding already exceeds all requests
            budget = rounded(cost[k].sum() * rng.uniform(1.02, 1.2), 5)
        budget = max(budget, float(cost[k, sorted(reference)].sum()) + 5)
        m.add_constr(f"budget_{y}", {f"spend_{y}": 1.0}, "<=", budget)
    for c in with_min:
        members = [f"select_{p}" for j, p in enumerate(projects) if category[j] == c]
        m.add_constr(f"min_{CATEGORIES[c]}", dict.fromkeys(members, 1.0), ">=", 1.0)
    for i, j in _pairs(rng, n_p, max(1, n_p // 6)):
        if i not in reference:  # "i requires j" only binds when i is selected
            m.add_constr(f"requires_{projects[i]}_{projects[j]}", {f"select_{projects[i]}": 1.0, f"select_{projects[j]}": -1.0}, "<=", 0.0)
    for i, j in _pairs(rng, n_p, max(1, n_p // 8)):
        p, q = projects[i], projects[j]
        unrelated = f"requires_{p}_{q}" not in m.constrs and f"requires_{q}_{p}" not in m.constrs
        if unrelated and not (i in reference and j in reference):
            m.add_constr(f"exclusive_{p}_{q}", {f"select_{p}": 1.0, f"select_{q}": 1.0}, "<=", 1.0)
    return m


def _pairs(rng: np.random.Generator, n: int, k: int) -> list[tuple[int, int]]:
    """``k`` random ordered pairs of distinct indices (duplicates removed)."""
    return list(dict.fromkeys(tuple(int(x) for x in rng.choice(n, 2, replace=False)) for _ in range(k)))


def injectable_rows(model: LinearModel) -> list[RowTemplate]:
    """A minimum for the category that has no row yet, over the projects no category row covers."""
    have = existing_suffixes(model, "min_")
    covered = {v for c in model.constrs.values() if c.name.startswith("min_") for v in c.coeffs}
    rest = [v for v in model.vars if v.startswith("select_") and v not in covered]
    if not rest:
        return []
    return [RowTemplate(f"min_{c}", "min", dict.fromkeys(rest, 1.0), ">=") for c in CATEGORIES if c not in have]
