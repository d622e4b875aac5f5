"""Diet / blending (LP, minimise cost).

Servings of foods (upper bound: what the pantry holds) supply nutrients; each nutrient's intake is an
auxiliary variable defined by an equality, with a minimum and, for some nutrients, a maximum.

Example (size 1)::

    minimize 0.45 buy_oats + 1.2 buy_milk + ...
    def_intake_protein: 1 intake_protein - 5 buy_oats - 8 buy_milk ... == 0
    min_protein:        1 intake_protein >= 50
    max_fat:            1 intake_fat <= 70
    0 <= buy_oats <= 4
"""
from __future__ import annotations

import numpy as np

from ..model import LinearModel
from ._common import (FOODS, NUTRIENTS, RowTemplate, add_defined_totals, entity_names, existing_suffixes,
                      optional_count, rounded, scaled, subset)

KEY = "diet"
DESCRIPTION = "servings of foods meet nutrient minimums and maximums at least cost"
ROW_KINDS = {
    "def_intake": r"def_intake_\w+",
    "min": r"min_\w+",
    "max": r"max_\w+",
}
LINKING_KINDS = {"def_intake"}
# nutrient -> (largest amount per serving, rounding step)
CONTENT = {"calories": (400, 10), "protein": (30, 1), "fat": (20, 1), "carbs": (60, 1), "fiber": (10, 0.5),
           "calcium": (300, 10), "iron": (5, 0.1), "vitc": (60, 1)}


def dims(size: int, rng: np.random.Generator) -> dict:
    if size == 1:
        return {"foods": int(rng.integers(4, 8)), "nutrients": int(rng.integers(2, 5))}
    if size == 2:
        return {"foods": int(rng.integers(9, 16)), "nutrients": int(rng.integers(4, 7))}
    if size == 3:
        return {"foods": int(rng.integers(20, 31)), "nutrients": int(rng.integers(5, 9))}
    return {"foods": scaled(size, 10), "nutrients": scaled(size, 2.5)}


def counts(d: dict) -> tuple[int, int]:
    return d["foods"] + d["nutrients"], 3 * d["nutrients"]


def build(d: dict, rng: np.random.Generator) -> LinearModel:
    foods = entity_names(FOODS, d["foods"], "food")
    nutrients = entity_names(NUTRIENTS, d["nutrients"], "nutrient")
    servings = rng.integers(2, 7, len(foods))
    price = np.round(rng.uniform(0.2, 3.0, len(foods)), 2)
    content = np.zeros((len(nutrients), len(foods)))
    for i, n in enumerate(nutrients):
        top, step = CONTENT.get(n, (50, 1))
        for j in range(len(foods)):
            if i == 0 or rng.random() < 0.7:
                content[i, j] = max(step, rounded(rng.uniform(0.05, 1.0) * top, step))
    plan = servings * rng.uniform(0.3, 0.6, len(foods))  # a feasible menu the limits are built around
    at_plan = content @ plan

    m = LinearModel(KEY, "min")
    for f, ub, c in zip(foods, servings, price):
        m.add_var(f"buy_{f}", 0, float(ub), "C", float(c))
    add_defined_totals(m, "intake", {n: {f"buy_{f}": content[i, j] for j, f in enumerate(foods) if content[i, j]}
                                     for i, n in enumerate(nutrients)})
    with_min = subset(rng, nutrients, max(1, len(nutrients) - 1)) if len(nutrients) > 2 else nutrients
    for n in with_min:
        i = nutrients.index(n)
        m.add_constr(f"min_{n}", {f"intake_{n}": 1.0}, ">=", _nice(at_plan[i] * rng.uniform(0.6, 0.95)))
    most = content @ servings  # intake if every food is bought at its limit
    for n in subset(rng, nutrients, optional_count(rng, len(nutrients), 0.4)):
        i = nutrients.index(n)  # half the maxima are tolerable upper limits no menu here can reach
        hi = at_plan[i] * rng.uniform(1.15, 1.5) if rng.random() < 0.5 else most[i] * rng.uniform(1.02, 1.2)
        m.add_constr(f"max_{n}", {f"intake_{n}": 1.0}, "<=", _nice(hi))
    return m


def _nice(x: float) -> float:
    return rounded(x, 10 if x >= 200 else 1 if x >= 10 else 0.1)


def injectable_rows(model: LinearModel) -> list[RowTemplate]:
    """A minimum or a maximum for a nutrient that lacks one."""
    nutrients = [v[len("intake_"):] for v in model.vars if v.startswith("intake_")]
    out = []
    for prefix, sense in (("min_", ">="), ("max_", "<=")):
        have = existing_suffixes(model, prefix)
        out += [RowTemplate(f"{prefix}{n}", prefix[:-1], {f"intake_{n}": 1.0}, sense) for n in nutrients if n not in have]
    return out
