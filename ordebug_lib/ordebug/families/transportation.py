"""Transportation (LP, minimise shipping cost).

Plants ship to cities; unit costs grow with distance; some lanes have a road capacity (variable upper
bound). Each plant's outbound total is an auxiliary variable defined by an equality; some plants have
a minimum-load agreement.

Example (size 1)::

    minimize 3.4 ship_plant1_cityA + 6.1 ship_plant1_cityB + ...
    def_out_plant1:  1 out_plant1 - 1 ship_plant1_cityA - 1 ship_plant1_cityB ... == 0
    supply_plant1:   1 out_plant1 <= 260
    demand_cityB:    1 ship_plant1_cityB + 1 ship_plant2_cityB >= 140
    fleet:           1 out_plant1 + 1 out_plant2 <= 520
    min_load_plant2: 1 out_plant2 >= 90
"""
from __future__ import annotations

import numpy as np

from ..model import LinearModel
from ._common import (INF, RowTemplate, add_defined_totals, existing_suffixes, letters, optional_count, rounded,
                      scaled, subset)

KEY = "transportation"
DESCRIPTION = "plants ship to cities; supply limits, demands, lane capacities, minimum plant loads, fleet"
ROW_KINDS = {
    "def_out": r"def_out_\w+",
    "supply": r"supply_\w+",
    "demand": r"demand_\w+",
    "min_load": r"min_load_\w+",
    "fleet": r"fleet",
}
LINKING_KINDS = {"def_out"}
TIER_SHAPES = {1: [(2, 3), (2, 4), (3, 3)], 2: [(3, 4), (3, 5), (4, 4), (3, 6), (4, 5)],
               3: [(4, 6), (5, 6), (4, 7), (4, 8), (5, 7)]}


def dims(size: int, rng: np.random.Generator) -> dict:
    if size in TIER_SHAPES:
        plants, cities = TIER_SHAPES[size][rng.integers(len(TIER_SHAPES[size]))]
        return {"plants": plants, "cities": cities}
    return {"plants": scaled(size, 2), "cities": scaled(size, 2.5)}


def counts(d: dict) -> tuple[int, int]:
    return d["plants"] * (d["cities"] + 1), 3 * d["plants"] + d["cities"]


def build(d: dict, rng: np.random.Generator) -> LinearModel:
    plants = [f"plant{i + 1}" for i in range(d["plants"])]
    cities = [f"city{s}" for s in letters(d["cities"])]
    plant_xy = rng.uniform(0, 100, (len(plants), 2))
    city_xy = rng.uniform(0, 100, (len(cities), 2))
    dist = np.linalg.norm(plant_xy[:, None, :] - city_xy[None, :, :], axis=2)
    cost = np.round(1.0 + dist / 12.0, 1)
    demand = rng.integers(40, 161, len(cities))
    share = rng.dirichlet(np.full(len(plants), 4.0))
    supply = np.array([rounded(x, 10) for x in share * demand.sum() * rng.uniform(1.2, 1.4)])
    supply = np.maximum(supply, 10.0)
    # Road capacity on a quarter of the lanes, never on a city's cheapest lane (keeps demand feasible).
    capped = (rng.random(cost.shape) < 0.25) & (cost > cost.min(axis=0, keepdims=True))

    m = LinearModel(KEY, "min")
    for i, p in enumerate(plants):
        for j, c in enumerate(cities):
            ub = float(rounded(demand[j] * rng.uniform(0.3, 0.8), 5)) if capped[i, j] else INF
            m.add_var(f"ship_{p}_{c}", 0, ub, "C", float(cost[i, j]))
    add_defined_totals(m, "out", {p: {f"ship_{p}_{c}": 1.0 for c in cities} for p in plants})
    for i, p in enumerate(plants):
        m.add_constr(f"supply_{p}", {f"out_{p}": 1.0}, "<=", float(supply[i]))
    for j, c in enumerate(cities):
        m.add_constr(f"demand_{c}", {f"ship_{p}_{c}": 1.0 for p in plants}, ">=", float(demand[j]))
    # the trucking contract covers more than the plants can supply (a limit that never binds)
    m.add_constr("fleet", {f"out_{p}": 1.0 for p in plants}, "<=", rounded(supply.sum() * rng.uniform(1.05, 1.2), 10))
    for p in subset(rng, plants, optional_count(rng, len(plants), 0.4)):
        i = plants.index(p)  # at most half the supply: together below total demand, so feasible
        m.add_constr(f"min_load_{p}", {f"out_{p}": 1.0}, ">=", rounded(supply[i] * rng.uniform(0.2, 0.45), 5))
    return m


def injectable_rows(model: LinearModel) -> list[RowTemplate]:
    """A minimum-load agreement for a plant that has none."""
    have = existing_suffixes(model, "min_load_")
    plants = [v[len("out_"):] for v in model.vars if v.startswith("out_")]
    return [RowTemplate(f"min_load_{p}", "min_load", {f"out_{p}": 1.0}, ">=") for p in plants if p not in have]
