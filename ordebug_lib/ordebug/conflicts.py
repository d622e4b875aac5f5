"""What an infeasible model's conflict looks like: feasibility, the conflict depth of an IIS from its root
cause, and the plausible repairs other than the true one (single-member drops, the CHECK_SLACK relaxation)
with whether each restores feasibility and the original optimum. The saboteur's search, the error types'
definitions and ``validation`` all measure instances with these."""
from __future__ import annotations

from collections import deque

from .actions import apply_action, parse_action
from .error_kinds import GenerationError, fmt_value
from .model import LinearModel
from .solver import IIS, min_violation, objectives_match, solve


def is_infeasible(model: LinearModel) -> bool:
    """Feasibility only: a zero objective spares a MILP the proof of optimality (60 ms -> 2 ms on a
    35-project knapsack)."""
    m = model.copy()
    for v in m.vars.values():
        v.obj = 0.0
    status = solve(m, keep_values=False).status
    if status not in ("OPTIMAL", "INFEASIBLE"):
        raise GenerationError(f"feasibility check of {model.name!r} ended {status}")
    return status == "INFEASIBLE"


def conflict_depth(model: LinearModel, iis: IIS, roots: list[str]) -> int | None:
    """How far the conflict reaches from its root cause: the largest number of variable-sharing hops
    from a root-cause token to an IIS member (rows share a variable; ``v.lb``/``v.ub``/``v.type`` sit
    on ``v``). 0 when the IIS is the root alone; None when no root touches the IIS.

    A bound ``x.ub`` with one row ``x >= 20`` has depth 1; a root row that reaches the violated
    capacity only through a definition row (``def_hours``) has depth 2.
    """
    def vars_of(tok: str) -> set[str]:
        if tok in model.constrs:
            return set(model.constrs[tok].coeffs)
        return {tok.rpartition(".")[0]}

    members = iis.tokens()
    dist = {t: 0 for t in members if t in roots}
    frontier = deque(dist)
    # a root outside the IIS (a type, or a row the IIS bypasses) reaches it through its variables
    outside = [r for r in roots if r not in dist and (r in model.constrs or r.rpartition(".")[0] in model.vars)]
    for r in outside:
        for t in members:
            if t not in dist and vars_of(t) & vars_of(r):
                dist[t] = 1
                frontier.append(t)
    while frontier:
        t = frontier.popleft()
        for u in members:
            if u not in dist and vars_of(u) & vars_of(t):
                dist[u] = dist[t] + 1
                frontier.append(u)
    if not dist:
        return None
    return max(dist.values())


def drop_action(model: LinearModel, token: str) -> str:
    """The single-member 'drop' of an IIS token: DROP a row; remove a bound (to -inf / inf)."""
    if token in model.constrs:
        return f"DROP {token}"
    var, _, side = token.rpartition(".")
    v = model.vars[var]
    return f"SET_BOUNDS {var} -inf {fmt_value(v.ub)}" if side == "lb" else f"SET_BOUNDS {var} {fmt_value(v.lb)} inf"


def try_repair(model: LinearModel, lines: list[str], z_star: float) -> dict:
    """Apply action lines; report feasibility and whether the original optimum is kept."""
    m = model
    for line in lines:
        m = apply_action(m, parse_action(line))
    r = solve(m, keep_values=False)
    feasible = r.status == "OPTIMAL"
    return {"repair": lines, "status": r.status, "feasible": feasible,
            "objective": r.objective if feasible else None,
            "faithful": feasible and objectives_match(r.objective, z_star)}


def single_drop_stats(model: LinearModel, iis: IIS, z_star: float) -> list[dict]:
    """For each IIS member: does removing it alone restore feasibility, and keep the optimum?"""
    out = []
    for tok in iis.tokens():
        r = try_repair(model, [drop_action(model, tok)], z_star)
        out.append({"token": tok, "feasible": r["feasible"], "faithful": r["faithful"], "objective": r["objective"]})
    return out


def check_slack_repair(model: LinearModel, violations: dict[str, float]) -> list[str]:
    """The minimum-total-violation relaxation (CHECK_SLACK) as action lines."""
    lines = []
    for tok, amount in violations.items():
        if tok in model.constrs:
            c = model.constrs[tok]
            if c.sense == "==":
                continue  # feasRelax does not say in which direction an equality moved
            lines.append(f"RELAX {tok} {fmt_value(amount)}")
        else:
            var, _, side = tok.rpartition(".")
            v = model.vars[var]
            lb, ub = (v.lb - amount, v.ub) if side == "lb" else (v.lb, v.ub + amount)
            lines.append(f"SET_BOUNDS {var} {fmt_value(lb)} {fmt_value(ub)}")
    return lines


def alternative_repairs(model: LinearModel, iis: IIS, roots: list[str], z_star: float) -> list[dict]:
    """Plausible repairs other than the true one: drop any single IIS member (the root included,
    which is not its repair) and the CHECK_SLACK relaxation."""
    alts = [try_repair(model, [drop_action(model, t)], z_star) for t in iis.tokens()]
    relax = check_slack_repair(model, min_violation(model))
    if relax:
        alts.append(try_repair(model, relax, z_star))
    return alts


def apply_lines(m: LinearModel, lines: list[str]) -> LinearModel:
    """``m`` with the action lines applied in order (each ``apply_action`` makes a new model)."""
    for line in lines:
        m = apply_action(m, parse_action(line))
    return m
