"""Assignment (MILP, binary, minimise cost).

Every task gets exactly one qualified worker (unqualified pairs have upper bound 0); a worker's load
in hours is an auxiliary variable defined by an equality and limited by their availability (tight:
a balanced plan plus one to three hours); some part-time workers also have a maximum number of tasks.

Example (size 1)::

    minimize 96 assign_ana_audit + 120 assign_ana_billing + ...
    cover_audit:     1 assign_ana_audit + 1 assign_ben_audit ... == 1
    def_load_ana:    1 load_ana - 4 assign_ana_audit - 6 assign_ana_billing ... == 0
    hours_ana:       1 load_ana <= 10
    max_tasks_ben:   1 assign_ben_audit + 1 assign_ben_billing ... <= 1
"""
from __future__ import annotations

import numpy as np

from ..model import LinearModel
from ._common import INF, TASKS, WORKERS, RowTemplate, entity_names, existing_suffixes, optional_count, scaled, subset

KEY = "assignment"
DESCRIPTION = "assign each task to one qualified worker within their hours; part-timers take few tasks"
ROW_KINDS = {
    "cover": r"cover_\w+",
    "def_load": r"def_load_\w+",
    "hours": r"hours_\w+",
    "max_tasks": r"max_tasks_\w+",
}
LINKING_KINDS = {"def_load"}
TIER_SHAPES = {1: [(2, 3), (2, 4), (3, 3)], 2: [(3, 4), (3, 5), (4, 4)], 3: [(4, 6), (5, 5), (5, 6), (4, 7)]}
DURATIONS = (2, 3, 4, 5, 6, 8)


def dims(size: int, rng: np.random.Generator) -> dict:
    if size in TIER_SHAPES:
        w, t = TIER_SHAPES[size][rng.integers(len(TIER_SHAPES[size]))]
        return {"workers": w, "tasks": t}
    return {"workers": scaled(size, 2), "tasks": scaled(size, 2.5)}


def counts(d: dict) -> tuple[int, int]:
    return d["workers"] * (d["tasks"] + 1), d["tasks"] + 3 * d["workers"]


def build(d: dict, rng: np.random.Generator) -> LinearModel:
    workers = entity_names(WORKERS, d["workers"], "worker")
    tasks = entity_names(TASKS, d["tasks"], "task")
    n_w, n_t = len(workers), len(tasks)
    duration = rng.choice(DURATIONS, n_t)
    rate = rng.integers(15, 41, n_w)
    qualified = rng.random((n_w, n_t)) < 0.8
    for j in range(n_t):  # every task has at least two qualified workers
        while qualified[:, j].sum() < min(2, n_w):
            qualified[rng.integers(n_w), j] = True
    plan = _balanced_plan(rng, qualified, duration)  # the hours and task limits are built around it
    plan_hours = np.array([duration[plan == i].sum() for i in range(n_w)])
    plan_tasks = np.array([(plan == i).sum() for i in range(n_w)])

    m = LinearModel(KEY, "min")
    for i, w in enumerate(workers):
        for j, t in enumerate(tasks):
            cost = float(round(rate[i] * duration[j] * rng.uniform(0.8, 1.25)))
            m.add_var(f"assign_{w}_{t}", 0, 1.0 if qualified[i, j] else 0.0, "B", cost)
    for w in workers:
        m.add_var(f"load_{w}", 0, INF, "C", 0.0)
    for t in tasks:
        m.add_constr(f"cover_{t}", {f"assign_{w}_{t}": 1.0 for w in workers}, "==", 1.0)
    for i, w in enumerate(workers):
        coeffs = {f"load_{w}": 1.0} | {f"assign_{w}_{t}": -float(duration[j]) for j, t in enumerate(tasks)}
        m.add_constr(f"def_load_{w}", coeffs, "==", 0.0)
    for i, w in enumerate(workers):
        m.add_constr(f"hours_{w}", {f"load_{w}": 1.0}, "<=", float(plan_hours[i] + rng.integers(1, 4)))
    for w in subset(rng, workers, optional_count(rng, n_w, 0.4)):
        i = workers.index(w)
        m.add_constr(f"max_tasks_{w}", {f"assign_{w}_{t}": 1.0 for t in tasks}, "<=", float(max(1, plan_tasks[i])))
    return m


def _balanced_plan(rng: np.random.Generator, qualified: np.ndarray, duration: np.ndarray) -> np.ndarray:
    """Longest task first, each to the least-loaded qualified worker (random tie-break): a feasible,
    even plan, so availabilities are tight and a typo in hours or durations cannot be absorbed."""
    n_w, n_t = qualified.shape
    load = np.zeros(n_w)
    plan = np.zeros(n_t, dtype=int)
    for j in sorted(range(n_t), key=lambda j: (-duration[j], rng.random())):
        options = np.flatnonzero(qualified[:, j])
        best = options[load[options] == load[options].min()]
        plan[j] = rng.choice(best)
        load[plan[j]] += duration[j]
    return plan


def injectable_rows(model: LinearModel) -> list[RowTemplate]:
    """A maximum number of tasks for a worker that has none."""
    have = existing_suffixes(model, "max_tasks_")
    workers = [v[len("load_"):] for v in model.vars if v.startswith("load_")]
    tasks = [c[len("cover_"):] for c in model.constrs if c.startswith("cover_")]
    return [RowTemplate(f"max_tasks_{w}", "max_tasks", {f"assign_{w}_{t}": 1.0 for t in tasks}, "<=")
            for w in workers if w not in have]
