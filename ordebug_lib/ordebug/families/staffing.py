"""Shift staffing (MILP, integer staff counts, minimise payroll).

The day is cut into blocks; a full-time shift covers two consecutive blocks (the roster repeats, so
the last block's shift runs into the first block), a part-time shift one block, with few part-timers
available per block (upper bound). Payroll is an auxiliary variable defined by an equality and capped
by the budget; part-timers are at most half the full-timers; some blocks need a full-timer on duty.

Example (size 1)::

    minimize 1 payroll
    cover_mon_06:  1 ft_mon_00 + 1 ft_mon_06 + 1 pt_mon_06 >= 7
    def_payroll:   1 payroll - 240 ft_mon_00 - 90 pt_mon_00 ... == 0
    budget:        1 payroll <= 5200
    headcount:     1 ft_mon_00 + ... + 1 pt_mon_18 <= 60
    pt_ratio:      1 pt_mon_00 + ... - 0.5 ft_mon_00 - ... <= 0
    min_ft_mon_00: 1 ft_mon_00 >= 1
    0 <= pt_mon_06 <= 3  (integer)
"""
from __future__ import annotations

import numpy as np

from ..model import LinearModel
from ._common import DAYS, INF, RowTemplate, rounded, scaled, subset

KEY = "staffing"
DESCRIPTION = "integer full- and part-time shifts cover staffing needs per block within a payroll budget"
ROW_KINDS = {
    "cover": r"cover_\w+",
    "def_payroll": r"def_payroll",
    "budget": r"budget",
    "pt_ratio": r"pt_ratio",
    "headcount": r"headcount",
    "min_ft": r"min_ft_\w+",
}
LINKING_KINDS = {"def_payroll"}
TIER_SHAPES = {1: [(1, 4)], 2: [(1, 6), (2, 4)], 3: [(2, 6), (3, 4), (4, 4), (3, 6)]}
BLOCK_LABELS = {4: ["00", "06", "12", "18"], 6: ["00", "04", "08", "12", "16", "20"]}


def dims(size: int, rng: np.random.Generator) -> dict:
    if size in TIER_SHAPES:
        days, blocks = TIER_SHAPES[size][rng.integers(len(TIER_SHAPES[size]))]
        return {"days": days, "blocks": blocks}
    return {"days": scaled(size, 1.5), "blocks": 6}


def counts(d: dict) -> tuple[int, int]:
    n = d["days"] * d["blocks"]
    return 2 * n + 1, n + 4 + n // 2


def _slots(days: int, blocks: int) -> list[str]:
    day_names = DAYS if days <= len(DAYS) else [f"day{i + 1}" for i in range(days)]
    return [f"{day_names[d]}_{b}" for d in range(days) for b in BLOCK_LABELS[blocks]]


def build(d: dict, rng: np.random.Generator) -> LinearModel:
    slots = _slots(d["days"], d["blocks"])
    n = len(slots)
    hours = 24 // d["blocks"]
    hour_of_day = np.array([int(s[-2:]) for s in slots])
    profile = 0.45 + 0.55 * np.exp(-((hour_of_day + hours / 2 - 14) / 6.0) ** 2)  # busy around midday
    need = np.maximum(1, np.round(rng.integers(5, 13) * profile * rng.uniform(0.85, 1.15, n))).astype(int)
    ft_cost = float(2 * hours * rng.integers(18, 26))
    pt_cost = float(hours * rng.integers(20, 30))
    pt_available = rng.integers(1, 5, n)

    m = LinearModel(KEY, "min")
    for s in slots:
        m.add_var(f"ft_{s}", 0, INF, "I", 0.0)
    for s, ub in zip(slots, pt_available):
        m.add_var(f"pt_{s}", 0, float(ub), "I", 0.0)
    m.add_var("payroll", 0, INF, "C", 1.0)
    for i, s in enumerate(slots):  # block i is covered by full-timers who started in block i or i-1
        coeffs = {f"ft_{slots[i - 1]}": 1.0, f"ft_{s}": 1.0, f"pt_{s}": 1.0}
        m.add_constr(f"cover_{s}", coeffs, ">=", float(need[i]))
    m.add_constr("def_payroll", {"payroll": 1.0} | {f"ft_{s}": -ft_cost for s in slots}
                 | {f"pt_{s}": -pt_cost for s in slots}, "==", 0.0)
    all_full_time = ft_cost * need.sum()  # a feasible roster: need[i] full-timers start in every block
    m.add_constr("budget", {"payroll": 1.0}, "<=", rounded(all_full_time * rng.uniform(1.05, 1.25), 100))
    # the headcount agreement allows more people than the budget could ever pay (never binds)
    cap = int(np.ceil(rng.uniform(1.05, 1.2) * m.constrs["budget"].rhs / pt_cost))
    m.add_constr("headcount", {f"ft_{s}": 1.0 for s in slots} | {f"pt_{s}": 1.0 for s in slots}, "<=", float(cap))
    m.add_constr("pt_ratio", {f"pt_{s}": 1.0 for s in slots} | {f"ft_{s}": -0.5 for s in slots}, "<=", 0.0)
    for s in subset(rng, slots, max(1, min(n - 1, n // 3))):
        m.add_constr(f"min_ft_{s}", {f"ft_{s}": 1.0}, ">=", 1.0)
    return m


def injectable_rows(model: LinearModel) -> list[RowTemplate]:
    """A full-timer-on-duty row for a block that has none."""
    slots = [v[len("ft_"):] for v in model.vars if v.startswith("ft_")]
    return [RowTemplate(f"min_ft_{s}", "min_ft", {f"ft_{s}": 1.0}, ">=") for s in slots
            if f"min_ft_{s}" not in model.constrs]
