"""Multi-period production and inventory (LP, minimise production + overtime + holding cost).

Items share a monthly production capacity (plus limited overtime) and a warehouse. Each item's stock
links consecutive months through a balance equality, so a shortage in a peak month is met by
building stock earlier. Some items must end the horizon with a safety stock.

Example (size 1)::

    minimize 3.5 make_cola_mar + 0.4 stock_cola_mar + 2 overtime_mar + ...
    balance_cola_mar:  1 make_cola_mar - 1 stock_cola_mar == 95        (first month: demand - opening stock)
    balance_cola_apr:  1 stock_cola_mar + 1 make_cola_apr - 1 stock_cola_apr == 140
    cap_apr:           1 make_cola_apr - 1 overtime_apr <= 120
    storage_apr:       1 stock_cola_apr <= 60
    min_stock_cola_may: 1 stock_cola_may >= 15
    0 <= overtime_apr <= 30
"""
from __future__ import annotations

import numpy as np

from ..model import LinearModel
from ._common import DRINKS, INF, MONTHS, RowTemplate, entity_names, rounded, scaled, subset

KEY = "inventory"
DESCRIPTION = "multi-period production with shared capacity, overtime, storage and safety stock"
ROW_KINDS = {
    "balance": r"balance_\w+",
    "cap": r"cap_\w+",
    "storage": r"storage_\w+",
    "min_stock": r"min_stock_\w+",
}
LINKING_KINDS = {"balance"}
TIER_SHAPES = {1: [(1, 3), (1, 4)], 2: [(1, 5), (1, 6), (2, 3), (2, 4)], 3: [(2, 5), (2, 6), (3, 4), (3, 5), (2, 7)]}
OVERTIME_SHARE = 0.25


def dims(size: int, rng: np.random.Generator) -> dict:
    if size in TIER_SHAPES:
        k, t = TIER_SHAPES[size][rng.integers(len(TIER_SHAPES[size]))]
        return {"items": k, "months": t}
    return {"items": scaled(size, 1), "months": scaled(size, 2)}


def counts(d: dict) -> tuple[int, int]:
    k, t = d["items"], d["months"]
    return 2 * k * t + t, k * t + 2 * t + k


def _month_names(rng: np.random.Generator, t: int) -> list[str]:
    if t > len(MONTHS):
        return [f"p{i + 1}" for i in range(t)]
    start = int(rng.integers(len(MONTHS)))
    return [MONTHS[(start + i) % len(MONTHS)] for i in range(t)]


def build(d: dict, rng: np.random.Generator) -> LinearModel:
    items = entity_names(DRINKS, d["items"], "item")
    months = _month_names(rng, d["months"])
    n_k, n_t = len(items), len(months)
    season = 1 + 0.4 * np.sin(rng.uniform(0, 2 * np.pi) + np.arange(n_t) * 2 * np.pi / 6) + rng.uniform(-0.1, 0.1, n_t)
    demand = np.array([[float(max(5, round(b * s))) for s in season] for b in rng.integers(40, 121, n_k)])
    opening = np.array([float(rng.integers(0, max(1, int(0.3 * demand[k, 0])))) for k in range(n_k)])
    safety = {k: rounded(demand[k, -1] * rng.uniform(0.1, 0.25), 1) for k in
              [items.index(i) for i in subset(rng, items, max(1, n_k // 2))]}
    capacity, storage = _capacity_and_storage(demand, opening, safety, rng)
    make_cost = np.round(rng.uniform(2, 6, n_k), 1)
    hold_cost = np.round(rng.uniform(0.2, 1.0, n_k), 2)
    overtime_cost = round(float(rng.uniform(1.5, 3.0)), 1)

    m = LinearModel(KEY, "min")
    for k, it in enumerate(items):
        for mo in months:
            m.add_var(f"make_{it}_{mo}", 0, INF, "C", float(make_cost[k]))
            m.add_var(f"stock_{it}_{mo}", 0, INF, "C", float(hold_cost[k]))
    for mo in months:
        m.add_var(f"overtime_{mo}", 0, rounded(OVERTIME_SHARE * capacity, 5), "C", overtime_cost)
    for k, it in enumerate(items):
        for t, mo in enumerate(months):
            coeffs = {f"make_{it}_{mo}": 1.0, f"stock_{it}_{mo}": -1.0}
            if t > 0:
                coeffs = {f"stock_{it}_{months[t - 1]}": 1.0} | coeffs
            rhs = demand[k, t] - (opening[k] if t == 0 else 0.0)
            m.add_constr(f"balance_{it}_{mo}", coeffs, "==", rhs)
    for mo in months:
        coeffs = {f"make_{it}_{mo}": 1.0 for it in items} | {f"overtime_{mo}": -1.0}
        m.add_constr(f"cap_{mo}", coeffs, "<=", capacity)
    for mo in months:
        m.add_constr(f"storage_{mo}", {f"stock_{it}_{mo}": 1.0 for it in items}, "<=", storage)
    for k in sorted(safety):
        m.add_constr(f"min_stock_{items[k]}_{months[-1]}", {f"stock_{items[k]}_{months[-1]}": 1.0}, ">=", safety[k])
    return m


def _capacity_and_storage(demand: np.ndarray, opening: np.ndarray, safety: dict, rng) -> tuple[float, float]:
    """Monthly capacity near average demand (peaks need pre-built stock) and a warehouse that holds the
    least stock those peaks require, with room to spare. Raised until the plan is feasible."""
    total = demand.sum(axis=0)
    capacity = rounded(total.mean() * rng.uniform(0.95, 1.1), 10)
    end_stock = sum(safety.values())
    while True:
        most = capacity * (1 + OVERTIME_SHARE)
        need = [end_stock]  # least total stock at each month's end, backwards
        for t in range(len(total) - 1, 0, -1):
            need.append(max(0.0, need[-1] + total[t] - most))
        need = need[::-1]
        if need[0] + total[0] - opening.sum() <= most + 1e-9:
            storage = rounded(max(need) * 1.3 + 0.3 * capacity, 10)
            return float(capacity), float(max(storage, 10.0))
        capacity = rounded(capacity * 1.1, 10) + 10.0


def injectable_rows(model: LinearModel) -> list[RowTemplate]:
    """A safety-stock row for an item and month that has none."""
    stocks = [v[len("stock_"):] for v in model.vars if v.startswith("stock_")]
    return [RowTemplate(f"min_stock_{s}", "min_stock", {f"stock_{s}": 1.0}, ">=") for s in stocks
            if f"min_stock_{s}" not in model.constrs]
