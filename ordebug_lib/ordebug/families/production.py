"""Production planning (LP, maximise profit).

Products share department hours and raw materials; each department's load is an auxiliary variable
defined by an equality. Market demand caps each product (variable upper bound); some products have a
minimum-output contract.

The last material is plentiful (its limit is near what full market demand would use), as some
resources are in practice. Example (size 1)::

    maximize 23 make_widget + 41 make_gadget + ...
    def_hours_assembly: 1 hours_assembly - 2 make_widget - 1.5 make_gadget ... == 0
    cap_assembly:       1 hours_assembly <= 310
    material_steel:     3 make_widget + 1 make_gadget ... <= 420
    min_output_gadget:  1 make_gadget >= 12
    0 <= make_widget <= 95
"""
from __future__ import annotations

import numpy as np

from ..model import LinearModel
from ._common import (DEPARTMENTS, MATERIALS, PRODUCTS, RowTemplate, add_defined_totals, entity_names,
                      existing_suffixes, optional_count, rounded, scaled, subset)

KEY = "production_planning"
DESCRIPTION = "products share department hours and materials; market caps; minimum-output contracts"
ROW_KINDS = {
    "def_hours": r"def_hours_\w+",
    "cap": r"cap_\w+",
    "material": r"material_\w+",
    "min_output": r"min_output_\w+",
}
LINKING_KINDS = {"def_hours"}
HOURS_PER_UNIT = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0)


def dims(size: int, rng: np.random.Generator) -> dict:
    if size == 1:
        return {"products": int(rng.integers(4, 8)), "departments": int(rng.integers(2, 4)), "materials": 2}
    if size == 2:
        return {"products": int(rng.integers(10, 16)), "departments": int(rng.integers(3, 5)), "materials": 2}
    if size == 3:
        return {"products": int(rng.integers(21, 32)), "departments": int(rng.integers(4, 6)), "materials": 3}
    return {"products": scaled(size, 10), "departments": scaled(size, 1.5), "materials": 3}


def counts(d: dict) -> tuple[int, int]:
    return d["products"] + d["departments"], 2 * d["departments"] + d["materials"] + d["products"]


def build(d: dict, rng: np.random.Generator) -> LinearModel:
    products = entity_names(PRODUCTS, d["products"], "product")
    depts = entity_names(DEPARTMENTS, d["departments"], "dept")
    materials = entity_names(MATERIALS, d["materials"], "material")
    n_p = len(products)
    market = rng.integers(30, 151, n_p)
    profit = rng.integers(8, 61, n_p)
    hours = _hours_matrix(rng, len(depts), n_p)
    usage = rng.choice([0, 1, 2, 3, 5], size=(len(materials), n_p), p=[0.3, 0.25, 0.2, 0.15, 0.1])

    m = LinearModel(KEY, "max")
    for p, ub, c in zip(products, market, profit):
        m.add_var(f"make_{p}", 0, float(ub), "C", float(c))
    add_defined_totals(m, "hours", {dep: {f"make_{p}": hours[i, j] for j, p in enumerate(products) if hours[i, j]}
                                    for i, dep in enumerate(depts)})
    for i, dep in enumerate(depts):
        full_load = float(hours[i] @ market)  # capacities bind: about 60% of full market demand fits
        m.add_constr(f"cap_{dep}", {f"hours_{dep}": 1.0}, "<=", rounded(full_load * rng.uniform(0.45, 0.7), 10))
    for k, mat in enumerate(materials):
        if not usage[k].any():
            usage[k, rng.integers(n_p)] = 2
        full_use = float(usage[k] @ market)
        # the last material is plentiful: its limit is about what full market demand would use
        share = rng.uniform(0.85, 1.05) if k == len(materials) - 1 else rng.uniform(0.55, 0.8)
        coeffs = {f"make_{p}": float(usage[k, j]) for j, p in enumerate(products) if usage[k, j]}
        m.add_constr(f"material_{mat}", coeffs, "<=", rounded(full_use * share, 10))
    contracted = subset(rng, products, optional_count(rng, n_p, 0.4))
    for p in contracted:  # contracts are small: the point "every product at its minimum" is feasible
        j = products.index(p)
        m.add_constr(f"min_output_{p}", {f"make_{p}": 1.0}, ">=", float(max(1, round(market[j] * rng.uniform(0.1, 0.25)))))
    return m


def _hours_matrix(rng: np.random.Generator, n_d: int, n_p: int) -> np.ndarray:
    """Hours per unit: each product uses most departments; every product and department is used."""
    h = rng.choice(HOURS_PER_UNIT, size=(n_d, n_p)) * (rng.random((n_d, n_p)) < 0.75)
    for j in range(n_p):
        if not h[:, j].any():
            h[rng.integers(n_d), j] = rng.choice(HOURS_PER_UNIT)
    for i in range(n_d):
        if not h[i].any():
            h[i, rng.integers(n_p)] = rng.choice(HOURS_PER_UNIT)
    return h


def injectable_rows(model: LinearModel) -> list[RowTemplate]:
    """A minimum-output contract for a product that has none."""
    have = existing_suffixes(model, "min_output_")
    products = [v[len("make_"):] for v in model.vars if v.startswith("make_")]
    return [RowTemplate(f"min_output_{p}", "min_output", {f"make_{p}": 1.0}, ">=") for p in products if p not in have]
