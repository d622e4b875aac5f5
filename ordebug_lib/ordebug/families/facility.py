"""Capacitated facility location (MILP, minimise fixed plus transport cost).

Opening a site (binary) costs a weekly fixed charge and gives it capacity; customers' demands are met
by shipments from open sites. A site's throughput is an auxiliary variable defined by an equality;
some sites have a minimum-throughput agreement (which forces them open).

Example (size 1)::

    minimize 420 open_north + 310 open_south + 2.3 serve_north_avon + ...
    def_flow_north:  1 flow_north - 1 serve_north_avon - 1 serve_north_bray ... == 0
    cap_north:       1 flow_north - 250 open_north <= 0
    demand_avon:     1 serve_north_avon + 1 serve_south_avon >= 80
    fleet:           1 flow_north + 1 flow_south <= 620
    min_flow_south:  1 flow_south >= 40
"""
from __future__ import annotations

import numpy as np

from ..model import LinearModel
from ._common import (INF, SITES, TOWNS, RowTemplate, add_defined_totals, entity_names, existing_suffixes,
                      optional_count, rounded, scaled, subset)

KEY = "facility_location"
DESCRIPTION = "open capacitated sites (binary) and serve customer demand at least fixed + transport cost"
ROW_KINDS = {
    "def_flow": r"def_flow_\w+",
    "cap": r"cap_\w+",
    "demand": r"demand_\w+",
    "min_flow": r"min_flow_\w+",
    "fleet": r"fleet",
}
LINKING_KINDS = {"def_flow"}
TIER_SHAPES = {1: [(2, 2), (2, 3), (2, 4)], 2: [(3, 3), (3, 4), (3, 5), (4, 3), (4, 4)],
               3: [(4, 5), (4, 6), (5, 5), (4, 8), (5, 6)]}


def dims(size: int, rng: np.random.Generator) -> dict:
    if size in TIER_SHAPES:
        s, c = TIER_SHAPES[size][rng.integers(len(TIER_SHAPES[size]))]
        return {"sites": s, "customers": c}
    return {"sites": scaled(size, 1.5), "customers": scaled(size, 2.5)}


def counts(d: dict) -> tuple[int, int]:
    return d["sites"] * (d["customers"] + 2), 3 * d["sites"] + d["customers"] + 1


def build(d: dict, rng: np.random.Generator) -> LinearModel:
    sites = entity_names(SITES, d["sites"], "site")
    customers = entity_names(TOWNS, d["customers"], "town")
    site_xy = rng.uniform(0, 100, (len(sites), 2))
    cust_xy = rng.uniform(0, 100, (len(customers), 2))
    unit_cost = np.round(1.0 + np.linalg.norm(site_xy[:, None] - cust_xy[None], axis=2) / 15.0, 1)
    demand = rng.integers(30, 121, len(customers))
    fixed = rng.integers(20, 61, len(sites)) * 10
    capacity = rng.integers(15, 41, len(sites)) * 10.0
    # Together the sites can serve 1.3x the demand (any one may be too small on its own).
    capacity *= max(1.0, 1.3 * demand.sum() / capacity.sum())
    capacity = np.array([rounded(c, 10) for c in capacity])

    m = LinearModel(KEY, "min")
    for s, f in zip(sites, fixed):
        m.add_var(f"open_{s}", 0, 1, "B", float(f))
    for i, s in enumerate(sites):
        for j, c in enumerate(customers):
            m.add_var(f"serve_{s}_{c}", 0, INF, "C", float(unit_cost[i, j]))
    add_defined_totals(m, "flow", {s: {f"serve_{s}_{c}": 1.0 for c in customers} for s in sites})
    for i, s in enumerate(sites):
        m.add_constr(f"cap_{s}", {f"flow_{s}": 1.0, f"open_{s}": -float(capacity[i])}, "<=", 0.0)
    for j, c in enumerate(customers):
        m.add_constr(f"demand_{c}", {f"serve_{s}_{c}": 1.0 for s in sites}, ">=", float(demand[j]))
    # the trucking contract covers more than all sites together can ship (a limit that never binds)
    m.add_constr("fleet", {f"flow_{s}": 1.0 for s in sites}, "<=", rounded(capacity.sum() * rng.uniform(1.05, 1.2), 10))
    for s in subset(rng, sites, optional_count(rng, len(sites), 0.35)):
        i = sites.index(s)
        m.add_constr(f"min_flow_{s}", {f"flow_{s}": 1.0}, ">=", rounded(capacity[i] * rng.uniform(0.1, 0.3), 5))
    return m


def injectable_rows(model: LinearModel) -> list[RowTemplate]:
    """A minimum-throughput agreement for a site that has none."""
    have = existing_suffixes(model, "min_flow_")
    sites = [v[len("open_"):] for v in model.vars if v.startswith("open_")]
    return [RowTemplate(f"min_flow_{s}", "min_flow", {f"flow_{s}": 1.0}, ">=") for s in sites if s not in have]
