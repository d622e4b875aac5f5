"""The saboteur: turns a feasible family model into a validated OR-Debug instance of one of the error
types of its registry, ``ERROR_TYPES`` (letter -> ``ErrorType``: definition, injecting search, checks).

Every error is a "typo" a modeller could make and a careful reader could spot (a decimal slip x10 or
/10, a flipped sign or sense, a wrong variable type, a bound in the wrong place, a contradicting row
of a kind the model already has), and every error has an exact inverse, so applying ``true_repair``
gives back the original model (same fingerprint). Targets are searched, not guessed: candidate errors
are tried in a seeded random order and the first that meets the error type's definition and the
difficulty's structure is kept; then the instance is validated (``validate``) and only valid
instances leave this module. See docs/ordebug_benchmark.md for the definitions, and ``ERROR_TYPES``
for the one table every other module reads (adding a type is one entry there plus its search function).

    >>> inst = make_instance("production_planning", "H", "easy", seed=0)
    >>> inst.root_cause, inst.true_repair                     # doctest: +SKIP
    (['make_valve.ub'], ['SET_BOUNDS make_valve 0 96'])
    >>> validate(inst)
    []
"""
from __future__ import annotations

import hashlib
import math
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

from . import families
from .actions import GRAMMAR, apply_action, parse_action, unknown_tokens
from .instance import DIFFICULTIES, Instance
from .model import INF, Constr, LinearModel, ModelError, Var, fmt_num
from .solver import IIS, SolverError, compute_iis, min_violation, objectives_match, slacks, solve

NAMINGS = ("semantic", "random")
TOL = 1e-6


class GenerationError(RuntimeError):
    """No valid instance could be made from this base model / seed (the reasons are in the message)."""


# -- difficulty ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Difficulty:
    """Structure an instance of this level has (checked by ``validate``).

    size: family size tier of the base model (1: 5-12 variables, 2: 13-24, 3: 25-40).
    n_errors: injected errors for the multi-error types (``ErrorType.multi``: E and G; the others inject one).
    iis: inclusive range of the first IIS's size (constraints + bounds).
    f_depth: inclusive range of the conflict depth for type F (see ``conflict_depth``).
    """

    size: int
    n_errors: int
    iis: tuple[int, int]
    f_depth: tuple[int, int]


DIFFICULTY = {
    "easy": Difficulty(size=1, n_errors=2, iis=(1, 10), f_depth=(2, 2)),
    "medium": Difficulty(size=2, n_errors=2, iis=(2, 10 ** 6), f_depth=(2, 3)),
    "hard": Difficulty(size=3, n_errors=3, iis=(3, 10 ** 6), f_depth=(3, 10 ** 6)),
}


def n_errors_for(error_type: str, difficulty: str) -> int:
    return DIFFICULTY[difficulty].n_errors if ERROR_TYPES[error_type].multi else 1


# -- errors --------------------------------------------------------------------------------------
def fmt_value(x: float) -> str:
    """A number as an action argument that parses back to exactly ``x`` (model.fmt_num, exact).

    >>> fmt_value(140.0), fmt_value(2.5), fmt_value(float("inf")), fmt_value(0.1 * 3)
    ('140', '2.5', 'inf', '0.30000000000000004')
    """
    return fmt_num(x, exact=True)


@dataclass(frozen=True)
class Error:
    """One injected change and its exact inverse.

    kind  | target     | old                 | new
    flip  | constraint | (sense,)            | (sense,)
    vtype | variable   | (vtype, lb, ub)     | (vtype, lb, ub)   (B clips the bounds to [0, 1])
    coef  | constraint | (variable, coef)    | (variable, coef)  (0 removes the term)
    rhs   | constraint | (rhs,)              | (rhs,)
    bound | variable   | (lb, ub)            | (lb, ub)
    add   | constraint | ()                  | (coeffs, sense, rhs, position)
    """

    kind: str
    target: str
    old: tuple
    new: tuple

    def apply(self, m: LinearModel) -> None:
        """Inject into ``m`` in place."""
        if self.kind == "flip":
            m.constrs[self.target].sense = self.new[0]
        elif self.kind == "vtype":
            v = m.vars[self.target]
            v.vtype, v.lb, v.ub = self.new
        elif self.kind == "coef":
            var, a = self.new
            coeffs = m.constrs[self.target].coeffs
            if a == 0:
                del coeffs[var]
            else:
                coeffs[var] = a
        elif self.kind == "rhs":
            m.constrs[self.target].rhs = self.new[0]
        elif self.kind == "bound":
            v = m.vars[self.target]
            v.lb, v.ub = self.new
        elif self.kind == "add":
            coeffs, sense, rhs, position = self.new
            rows = list(m.constrs.items())
            rows.insert(position, (self.target, Constr(self.target, dict(coeffs), sense, rhs)))
            m.constrs = dict(rows)
        else:
            raise ModelError(f"unknown error kind {self.kind!r}")

    def repair(self) -> list[str]:
        """Action lines that undo this error exactly."""
        t = self.target
        if self.kind == "flip":
            return [f"FLIP_SENSE {t}"]
        if self.kind == "vtype":
            vtype, lb, ub = self.old
            lines = [f"SET_VTYPE {t} {vtype}"]
            if (lb, ub) != self.new[1:]:
                lines.append(f"SET_BOUNDS {t} {fmt_value(lb)} {fmt_value(ub)}")
            return lines
        if self.kind == "coef":
            return [f"SET_COEF {t} {self.old[0]} {fmt_value(self.old[1])}"]
        if self.kind == "rhs":
            return [f"SET_RHS {t} {fmt_value(self.old[0])}"]
        if self.kind == "bound":
            return [f"SET_BOUNDS {t} {fmt_value(self.old[0])} {fmt_value(self.old[1])}"]
        return [f"DROP {t}"]

    def root(self) -> list[str]:
        """Diagnosis tokens of this error (what a correct SUBMIT names)."""
        if self.kind == "vtype":
            return [f"{self.target}.type"]
        if self.kind == "bound":
            return ([f"{self.target}.lb"] if self.old[0] != self.new[0] else []) + \
                   ([f"{self.target}.ub"] if self.old[1] != self.new[1] else [])
        return [self.target]

    def touches(self, m: LinearModel) -> set[str]:
        """Variables this error acts on (for choosing entangled or separate error sets)."""
        if self.kind in ("vtype", "bound"):
            return {self.target}
        if self.kind == "add":
            return set(dict(self.new[0]))
        return set(m.constrs[self.target].coeffs) | ({self.old[0]} if self.kind == "coef" else set())

    def describe(self) -> dict:
        new = self.new if self.kind != "add" else (dict(self.new[0]), *self.new[1:])
        return {"kind": self.kind, "target": self.target, "old": _jsonable(self.old), "new": _jsonable(new)}


def _jsonable(x):
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if isinstance(x, (tuple, list)):
        return [_jsonable(v) for v in x]
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    return x


def apply_errors(model: LinearModel, errors: list[Error]) -> LinearModel:
    m = model.copy()
    for e in errors:
        e.apply(m)
    return m


# -- candidate errors ----------------------------------------------------------------------------
def typos(x: float) -> list[float]:
    """Decimal slips of a nonzero number: x10 and /10.

    >>> typos(140.0), typos(0.0)
    ([1400.0, 14.0], [])
    """
    if x == 0 or not math.isfinite(x):
        return []
    return [float(round(x * 10, 9)), float(round(x / 10, 9))]


@dataclass
class Base:
    """The original model and what the search needs to know about its optimum."""

    model: LinearModel
    family: str | None
    objective: float
    x: dict[str, float]
    slack: dict[str, float]
    linking: set[str]

    @classmethod
    def of(cls, model: LinearModel, family: str | None) -> "Base":
        r = solve(model)
        if r.status != "OPTIMAL":
            raise GenerationError(f"base model {model.name!r} is {r.status}, not OPTIMAL")
        linking = families.linking_rows(family, model) if family else set()
        return cls(model, family, r.objective, r.values, slacks(model, r.values), linking)

    def binding(self, row: str) -> bool:
        return abs(self.slack[row]) <= TOL * max(1.0, abs(self.model.constrs[row].rhs))

    def cuts_optimum(self, e: Error) -> bool:
        """Does the error cut off x*? Necessary for infeasibility (x* would stay feasible), so a
        free filter before any solve."""
        if e.kind == "vtype":
            return True  # vtype_errors only proposes types x* does not satisfy
        if e.kind == "bound":
            lb, ub = e.new
            x = self.x[e.target]
            return x < lb - TOL or x > ub + TOL
        if e.kind == "add":
            coeffs, sense, rhs, _ = e.new
            return _violated(sum(a * self.x[v] for v, a in coeffs), sense, rhs)
        c = self.model.constrs[e.target]
        coeffs, sense, rhs = c.coeffs, c.sense, c.rhs
        if e.kind == "flip":
            sense = e.new[0]
        elif e.kind == "rhs":
            rhs = e.new[0]
        elif e.kind == "coef":
            coeffs = dict(coeffs) | {e.new[0]: e.new[1]}
        return _violated(sum(a * self.x[v] for v, a in coeffs.items()), sense, rhs)


def _violated(lhs: float, sense: str, rhs: float) -> bool:
    tol = TOL * max(1.0, abs(rhs))
    return lhs > rhs + tol if sense == "<=" else lhs < rhs - tol if sense == ">=" else abs(lhs - rhs) > tol


def flip_errors(b: Base) -> list[Error]:
    """Sense flips of inequalities slack at the optimum (a flip of a binding row keeps x* feasible)."""
    flip = {"<=": ">=", ">=": "<="}
    return [Error("flip", c.name, (c.sense,), (flip[c.sense],)) for c in b.model.constrs.values()
            if c.sense != "==" and not b.binding(c.name)]


def vtype_errors(b: Base) -> list[Error]:
    """Continuous/integer -> binary where x* > 1; continuous -> integer where x* is fractional."""
    out = []
    for v in b.model.vars.values():
        x = b.x[v.name]
        if v.vtype in "CI" and x > 1 + TOL:
            out.append(Error("vtype", v.name, (v.vtype, v.lb, v.ub), ("B", max(v.lb, 0.0), min(v.ub, 1.0))))
        if v.vtype == "C" and abs(x - round(x)) > 1e-4:
            out.append(Error("vtype", v.name, (v.vtype, v.lb, v.ub), ("I", v.lb, v.ub)))
    return out


def coef_errors(b: Base, binding_only: bool = True) -> list[Error]:
    """x10, /10, sign flip or removal of one coefficient (of a binding row, by default)."""
    out = []
    for c in b.model.constrs.values():
        if binding_only and not b.binding(c.name):
            continue
        for var, a in c.coeffs.items():
            removals = [0.0] if len(c.coeffs) > 1 else []  # emptying a row is not a subtle error
            for new in [*typos(a), -a, *removals]:
                out.append(Error("coef", c.name, (var, a), (var, new)))
    return out


def rhs_errors(b: Base, binding_only: bool = True, equalities: bool = True) -> list[Error]:
    """x10 or /10 of a nonzero right-hand side (of a binding row, by default) that tightens the row:
    a smaller limit for <=, a larger one for >= (a loosened row cannot cause infeasibility)."""
    out = []
    for c in b.model.constrs.values():
        if (binding_only and not b.binding(c.name)) or (not equalities and c.sense == "=="):
            continue
        out += [Error("rhs", c.name, (c.rhs,), (new,)) for new in typos(c.rhs)
                if c.sense == "==" or (new < c.rhs) == (c.sense == "<=")]
    return out


def bound_errors(b: Base) -> list[Error]:
    """Bound typos that cut off x*: a finite upper bound /10 (rounded down for integers), an upper
    bound where there was none (x*/10, or 0 when x* < 10: the variable switched off), the lower bound
    set to the upper bound (a fixed value); for a binary, the decision fixed the other way."""
    out = []
    for v in b.model.vars.values():
        x = b.x[v.name]
        if v.vtype == "B":
            out.append(Error("bound", v.name, (v.lb, v.ub), (v.lb, 0.0) if x > 0.5 else (1.0, v.ub)))
            continue
        if x <= TOL:
            continue
        floor = math.floor if v.vtype == "I" else (lambda y: y)
        if math.isfinite(v.ub):
            out.append(Error("bound", v.name, (v.lb, v.ub), (v.lb, max(v.lb, float(floor(v.ub / 10))))))
            if x < v.ub - TOL:
                out.append(Error("bound", v.name, (v.lb, v.ub), (v.ub, v.ub)))
        else:
            out.append(Error("bound", v.name, (v.lb, v.ub), (v.lb, float(math.floor(x / 10)) if x >= 10 else 0.0)))
    return [e for e in out if e.new != e.old and e.new[0] <= e.new[1]]


def _nice_above(x: float, rng: np.random.Generator) -> float:
    """A round number clearly above x (at least x + 1)."""
    target = max(x * rng.uniform(1.15, 1.6), x + 1)
    step = 10.0 ** max(0, math.floor(math.log10(max(target, 1))) - 1)
    return float(math.ceil(target / step) * step)


def _nice_below(x: float, rng: np.random.Generator) -> float:
    """A round number clearly below x >= 1 (at most x - 1, at least 0)."""
    target = min(x * rng.uniform(0.4, 0.85), x - 1)
    step = 10.0 ** max(0, math.floor(math.log10(max(target, 1))) - 1)
    return float(math.floor(target / step) * step)


def add_errors(b: Base, rng: np.random.Generator) -> list[Error]:
    """Rows of an existing kind (family templates) whose rhs no feasible point can meet."""
    if b.family is None:
        raise GenerationError("type D needs a family model: added rows take their names from the family's row kinds")
    out = []
    for t in families.injectable_rows(b.family, b.model):
        best = _extreme(b.model, t.coeffs, "max" if t.sense == ">=" else "min")
        if best is None:
            continue
        if t.sense == ">=":
            rhs = _nice_above(best, rng)
        else:
            if best < 1 - TOL:
                continue  # would need a negative limit: not a plausible row
            rhs = _nice_below(best, rng)
        # a random position: v1 put it after its siblings, usually the model's last row (a leak)
        position = int(rng.integers(0, len(b.model.constrs) + 1))
        out.append(Error("add", t.name, (), (tuple(t.coeffs.items()), t.sense, rhs, position)))
    return out


def _extreme(model: LinearModel, coeffs: dict[str, float], sense: str) -> float | None:
    """max or min of sum(coeffs * x) over the model's feasible set; None if unbounded."""
    m = model.copy()
    m.sense = sense
    m.obj_constant = 0.0
    for v in m.vars.values():
        v.obj = coeffs.get(v.name, 0.0)
    r = solve(m, keep_values=False)
    return r.objective if r.status == "OPTIMAL" else None


# -- analysis ------------------------------------------------------------------------------------
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


# -- searching errors per type -------------------------------------------------------------------
MAX_TRIES = 60  # candidate errors tried per single-error search (each costs a solve)


@dataclass
class Search:
    base: Base
    error_type: str
    difficulty: str
    rng: np.random.Generator
    root_kinds: tuple[str, ...] = ()
    """Row kinds (family ``ROW_KINDS``) to try first as the target of a row error, in this order; the
    dataset builder passes the kinds that have been roots less often than their share of IIS
    appearances, so that no row kind gives the root away."""
    tried: int = 0  # solves spent

    @property
    def level(self) -> Difficulty:
        return DIFFICULTY[self.difficulty]

    def kind_rank(self, e: Error) -> int:
        """Position of the error's target row kind in ``root_kinds`` (unlisted kinds, and errors on
        variables, after all listed ones)."""
        if e.kind in ("bound", "vtype") or self.base.family is None:
            return len(self.root_kinds)
        kind = families.row_kind(self.base.family, e.target)
        return self.root_kinds.index(kind) if kind in self.root_kinds else len(self.root_kinds)

    def order(self, candidates: list[Error]) -> list[Error]:
        """The candidates that cut off x*, in a seeded random order that takes the kinds in turn
        (coefficient typos outnumber the rest ten to one but rarely break feasibility); targets of
        the preferred row kinds (``root_kinds``) first, in the order given."""
        groups: dict[str, list[Error]] = {}
        for e in candidates:
            if self.base.cuts_optimum(e):
                groups.setdefault(e.kind, []).append(e)
        queues = [[g[i] for i in self.rng.permutation(len(g))] for g in groups.values()]
        out = []
        while queues:
            for q in [queues[i] for i in self.rng.permutation(len(queues))]:
                out.append(q.pop())
            queues = [q for q in queues if q]
        # the preferred row kinds first; a stable sort keeps the interleaved seeded order within a kind
        return sorted(out, key=self.kind_rank) if self.root_kinds else out

    def iis_ok(self, size: int) -> bool:
        lo, hi = self.level.iis
        return lo <= size <= hi

    def infeasible(self, errors: list[Error]) -> LinearModel | None:
        self.tried += 1
        m = apply_errors(self.base.model, errors)
        return m if is_infeasible(m) else None


def _first_single(s: Search, candidates: list[Error], accept=None, requirement: str = "") -> list[Error]:
    """The first candidate (seeded order) that makes the model infeasible with an IIS in range and
    passes ``accept`` (described by ``requirement`` in the error message)."""
    ordered = s.order(candidates)
    for e in ordered[:MAX_TRIES]:
        m = s.infeasible([e])
        if m is None:
            continue
        iis = compute_iis(m)
        if not s.iis_ok(iis.size):
            continue
        if accept is None or accept(m, iis, e):
            return [e]
    raise GenerationError(f"type {s.error_type}: none of {min(len(ordered), MAX_TRIES)} candidate errors made "
                          f"the model infeasible with an IIS of size {_range(s.level.iis)}{requirement}")


def _range(r: tuple[int, int]) -> str:
    return f"{r[0]}-{r[1]}" if r[1] < 10 ** 6 else f">= {r[0]}"


def search_A(s: Search) -> list[Error]:
    return _first_single(s, flip_errors(s.base))


def search_B(s: Search) -> list[Error]:
    return _first_single(s, vtype_errors(s.base))


def search_C(s: Search) -> list[Error]:
    return _first_single(s, coef_errors(s.base))


def search_D(s: Search) -> list[Error]:
    return _first_single(s, add_errors(s.base, s.rng))


def search_H(s: Search) -> list[Error]:
    return _first_single(s, bound_errors(s.base))


def search_F(s: Search) -> list[Error]:
    """A typo whose conflict passes through a linking row that is not the root, reaching depth in range."""
    lo, hi = s.level.f_depth

    def hidden(m: LinearModel, iis: IIS, e: Error) -> bool:
        links = [c for c in iis.constraints if c in s.base.linking and c != e.target]
        depth = conflict_depth(m, iis, e.root())
        return bool(links) and depth is not None and lo <= depth <= hi

    if not s.base.linking:
        raise GenerationError("type F needs a family model with linking rows")
    candidates = rhs_errors(s.base, binding_only=False) + coef_errors(s.base, binding_only=False)
    return _first_single(s, candidates, hidden, f", through a linking row, at depth {_range(s.level.f_depth)}")


def search_I(s: Search) -> list[Error]:
    """A typo in a binding inequality's rhs where other repairs restore feasibility but none of them
    keeps the original optimum."""
    def ambiguous(m: LinearModel, iis: IIS, e: Error) -> bool:
        alts = alternative_repairs(m, iis, e.root(), s.base.objective)
        return any(a["feasible"] for a in alts) and not any(a["faithful"] for a in alts)

    return _first_single(s, rhs_errors(s.base, equalities=False), ambiguous,
                         ", where another repair restores feasibility and none but the true one the optimum")


def _multi_candidates(b: Base) -> list[Error]:
    """The typos E and G combine (each must make the model infeasible on its own)."""
    return rhs_errors(b) + coef_errors(b) + bound_errors(b) + flip_errors(b)


def _targets(e: Error) -> set[str]:
    """IIS tokens an error sits on."""
    return {f"{e.target}.lb", f"{e.target}.ub"} if e.kind == "bound" else {e.target}


def _token_vars(model: LinearModel, tokens: list[str]) -> set[str]:
    out = set()
    for t in tokens:
        out |= set(model.constrs[t].coeffs) if t in model.constrs else {t.rpartition(".")[0]}
    return out


def _alone_infeasible(s: Search, e: Error, cache: dict) -> bool:
    if e not in cache:
        cache[e] = s.infeasible([e]) is not None
    return cache[e]


MULTI_BUDGET = 150  # solves one E or G search may spend


def search_E(s: Search) -> list[Error]:
    """n errors, each infeasible alone (so n repairs are needed), entangled: the first IIS names at
    least two of them. Built outward: the next error sits on the conflict found so far (a member of
    one of its IISs, or a variable of one)."""
    k, b = s.level.n_errors, s.base
    candidates = s.order(_multi_candidates(b))
    alone: dict[Error, bool] = {}
    for first in candidates:
        if s.tried > MULTI_BUDGET:
            break
        if not _alone_infeasible(s, first, alone):
            continue
        chosen, seen = [first], set(compute_iis(apply_errors(b.model, [first])).tokens())
        while len(chosen) < k and s.tried <= MULTI_BUDGET:
            extended = _entangle(s, chosen, seen, candidates, alone)
            if extended is None:
                break
            chosen, toks = extended
            seen |= set(toks)
        if len(chosen) == k and s.iis_ok(compute_iis(apply_errors(b.model, chosen)).size):
            return chosen
    raise GenerationError(f"type E: no {k} entangled errors found with {s.tried} solves")


def _entangle(s: Search, chosen: list[Error], seen: set[str], candidates: list[Error],
              alone: dict) -> tuple[list[Error], list[str]] | None:
    """One more error on the conflict ``seen`` so far such that the IIS still names two errors."""
    b = s.base
    used = {c.target for c in chosen}
    seen_vars = _token_vars(b.model, list(seen))
    for e in candidates:
        if s.tried > MULTI_BUDGET:
            return None
        if e.target in used or not (_targets(e) & seen or e.touches(b.model) & seen_vars):
            continue
        if not _alone_infeasible(s, e, alone):
            continue
        trial = chosen + [e]
        m = s.infeasible(trial)  # two typos can cancel out
        if m is None:
            continue
        toks = compute_iis(m).tokens()
        if sum(any(r in toks for r in x.root()) for x in trial) >= 2:
            return trial, toks
    return None


def search_G(s: Search) -> list[Error]:
    """n errors, each infeasible alone: each IIS names exactly one of them, and repairing it reveals
    the next (the order of ``true_repair``). A new error must not sit on the current IIS."""
    k, b = s.level.n_errors, s.base
    candidates = s.order(_multi_candidates(b))
    alone: dict[Error, bool] = {}
    for first in candidates:
        if s.tried > MULTI_BUDGET:
            break
        if not _alone_infeasible(s, first, alone):
            continue
        chosen = [first]
        visible = set(compute_iis(apply_errors(b.model, chosen)).tokens())
        for e in candidates:
            if len(chosen) == k or s.tried > MULTI_BUDGET:
                break
            if e.target in {c.target for c in chosen} or _targets(e) & visible:
                continue
            if not _alone_infeasible(s, e, alone):
                continue
            order = cascade_order(b.model, chosen + [e])
            if order is None:
                continue
            chosen = order
            visible = set(compute_iis(apply_errors(b.model, chosen)).tokens())
        if len(chosen) == k and s.iis_ok(compute_iis(apply_errors(b.model, chosen)).size):
            return chosen
    raise GenerationError(f"type G: no {k} cascading errors found with {s.tried} solves")


def cascade_order(model: LinearModel, errors: list[Error]) -> list[Error] | None:
    """Order the errors as the IIS reveals them: each IIS must name exactly one remaining error."""
    remaining, order = list(errors), []
    while remaining:
        m = apply_errors(model, remaining)
        if not is_infeasible(m):  # typos can cancel out
            return None
        toks = compute_iis(m).tokens()
        named = [e for e in remaining if any(t in toks for t in e.root())]
        if len(named) != 1:
            return None
        order.append(named[0])
        remaining.remove(named[0])
    return order


# -- naming --------------------------------------------------------------------------------------
RANDOM_VAR = r"x_[0-9a-f]{4}"
RANDOM_ROW = r"c_[0-9a-f]{4}"


@dataclass
class Renaming:
    """Old name -> new name for variables and constraints, applied to models, tokens and actions."""

    vars: dict[str, str]
    rows: dict[str, str]

    @classmethod
    def random(cls, original: LinearModel, sabotaged: LinearModel, rng: np.random.Generator) -> "Renaming":
        """One uniform scheme: every variable ``x_<4 hex>``, every constraint ``c_<4 hex>`` (all codes
        distinct), so an added row looks like any other."""
        var_names = list(original.vars)
        row_names = list(dict.fromkeys([*sabotaged.constrs, *original.constrs]))
        codes = rng.choice(16 ** 4, len(var_names) + len(row_names), replace=False)
        return cls({v: f"x_{c:04x}" for v, c in zip(var_names, codes)},
                   {r: f"c_{c:04x}" for r, c in zip(row_names, codes[len(var_names):])})

    def model(self, m: LinearModel, name: str) -> LinearModel:
        out = LinearModel(name, m.sense, obj_constant=m.obj_constant)
        for v in m.vars.values():
            n = self.vars[v.name]
            out.vars[n] = Var(n, v.lb, v.ub, v.vtype, v.obj)
        for c in m.constrs.values():
            n = self.rows[c.name]
            out.constrs[n] = Constr(n, {self.vars[k]: a for k, a in c.coeffs.items()}, c.sense, c.rhs)
        return out

    def token(self, tok: str) -> str:
        if tok in self.rows:
            return self.rows[tok]
        var, dot, suffix = tok.rpartition(".")
        if dot and var in self.vars:
            return f"{self.vars[var]}.{suffix}"
        if tok in self.vars:
            return self.vars[tok]
        raise ModelError(f"cannot rename unknown token {tok!r}")

    def action(self, line: str) -> str:
        a = parse_action(line)
        kinds = GRAMMAR[a.verb]
        if kinds == ("*",):
            return " ".join([a.verb, *(self.token(t) for t in a.args)])
        args = []
        for kind, arg in zip(kinds, a.args):
            args.append(self.rows[arg] if kind == "c" else self.vars[arg] if kind == "v"
                        else self.token(arg) if kind in ("name", "r") else arg)
        return " ".join([a.verb, *args])



# -- ids and seeds -------------------------------------------------------------------------------
def derive_seed(*parts) -> int:
    """A stable 31-bit seed from any parts (no Python ``hash``, which is salted per process)."""
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:8], 16) & 0x7FFFFFFF


def instance_id(family: str, error_type: str, difficulty: str, naming: str, seed: int) -> str:
    """``<family>-<10 hex>`` (``model-<10 hex>`` under random naming, which hides the domain too):
    derived from the parameters but opaque about the error type and level. The id is also the
    models' name, which an agent sees.

    >>> instance_id("diet", "A", "easy", "semantic", 0)[:5], instance_id("diet", "A", "easy", "random", 0)[:6]
    ('diet-', 'model-')
    """
    digest = hashlib.sha256(f"{family}|{error_type}|{difficulty}|{naming}|{seed}".encode()).hexdigest()[:10]
    return f"{family if naming == 'semantic' else 'model'}-{digest}"


# -- instance assembly and its recorded structure ------------------------------------------------
def _check_args(error_type: str, difficulty: str, naming: str) -> None:
    if error_type not in ERROR_TYPES:
        raise ModelError(f"unknown error type {error_type!r}; known: {''.join(ERROR_TYPES)}")
    if difficulty not in DIFFICULTY:
        raise ModelError(f"unknown difficulty {difficulty!r}; known: {', '.join(DIFFICULTIES)}")
    if naming not in NAMINGS:
        raise ModelError(f"naming must be one of {NAMINGS}, got {naming!r}")


def _check_size(model: LinearModel, difficulty: str) -> None:
    lo, hi = families.SIZE_TIERS[DIFFICULTY[difficulty].size]
    if not lo <= len(model.vars) <= hi:
        raise ModelError(f"difficulty {difficulty!r} is defined on models with {lo}-{hi} variables; "
                         f"{model.name!r} has {len(model.vars)}")


def sabotage(model: LinearModel, error_type: str, difficulty: str, seed: int = 0, naming: str = "semantic",
             family: str | None = None, iid: str | None = None, root_kinds: Sequence[str] = ()) -> Instance:
    """Inject an error of ``error_type`` into ``model`` (feasible, optimal) and return a validated
    instance. ``family`` defaults to ``model.name`` when that is a known family (types D and F need
    one); ``iid`` is the instance id (default: derived from the model and the parameters);
    ``root_kinds``: row kinds to try first as targets (``Search.root_kinds``).

    The model is first put in a seeded row and column order of the instance's own (``shuffled_order``),
    and the search runs on that order (Gurobi's IIS, and so the cascade of type G, depends on it): a
    generator lists rows by kind and entity, so without it the position of a row in the model, or among
    the IIS rows, would say which row was sabotaged. ``meta['canonical_fingerprint']`` and
    ``meta['canonical_original_fingerprint']`` are fingerprints in the generator's order (an added row
    last), which the dataset builder compares across splits.
    Raises GenerationError when no candidate error fits, or the result does not validate.
    """
    _check_args(error_type, difficulty, naming)
    _check_size(model, difficulty)
    family = family or (model.name if model.name in families.MODULES else None)
    if iid is None:
        prefix = family if family and naming == "semantic" else "model"
        iid = f"{prefix}-" + derive_seed(model.fingerprint(names=False), error_type, difficulty, naming,
                                         seed).to_bytes(4, "big").hex()
    generated = model
    # not seeded by the id, which names the naming: semantic and random instances keep one structure
    order_rng = np.random.default_rng(derive_seed("order", model.fingerprint(names=False), error_type, difficulty, seed))
    model = reordered(model, *shuffled_order(model, order_rng))
    base = Base.of(model, family)
    rng = np.random.default_rng(derive_seed("sabotage", seed, error_type, difficulty))
    errors = ERROR_TYPES[error_type].search(Search(base, error_type, difficulty, rng, tuple(root_kinds)))
    sabotaged = apply_errors(model, errors)
    in_generated_order = reordered(sabotaged, [*generated.constrs, *(r for r in sabotaged.constrs
                                                                   if r not in generated.constrs)], list(generated.vars))
    canonical = {"canonical_fingerprint": in_generated_order.fingerprint(names=False),
                 "canonical_original_fingerprint": generated.fingerprint(names=False)}
    names = Renaming.random(model, sabotaged, np.random.default_rng(derive_seed("names", iid))) \
        if naming == "random" else None
    inst = _assemble(iid, family or "custom", error_type, difficulty, naming, seed, model, sabotaged, errors,
                     base, names)
    inst.meta.update(canonical, root_kind_preference=list(root_kinds))
    problems = validate(inst)
    if problems:
        raise GenerationError(f"{iid} ({error_type}/{difficulty}) failed validation: " + "; ".join(problems))
    return inst


def shuffled_order(model: LinearModel, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """A uniformly random order of the model's rows and of its columns (names)."""
    rows, cols = list(model.constrs), list(model.vars)
    return [rows[i] for i in rng.permutation(len(rows))], [cols[i] for i in rng.permutation(len(cols))]


def reordered(model: LinearModel, rows: list[str], cols: list[str]) -> LinearModel:
    """A copy of ``model`` with its rows and columns in the given orders (rows it lacks are skipped, so one
    order serves the original and the sabotaged model, which may have a row more).

    >>> m = LinearModel("t"); _ = m.add_var("x"); _ = m.add_var("y")
    >>> _ = m.add_constr("a", {"x": 1}, "<=", 1); _ = m.add_constr("b", {"y": 1}, "<=", 1)
    >>> r = reordered(m, ["new", "b", "a"], ["y", "x"])
    >>> list(r.constrs), list(r.vars), r.fingerprint() == m.fingerprint()
    (['b', 'a'], ['y', 'x'], False)
    """
    if set(cols) != set(model.vars) or not set(model.constrs) <= set(rows):
        raise ModelError("reordered: the orders do not cover the model's rows and columns")
    out = model.copy()
    out.vars = {v: out.vars[v] for v in cols}
    out.constrs = {r: out.constrs[r] for r in rows if r in out.constrs}
    return out


def _assemble(iid, family, error_type, difficulty, naming, seed, original, sabotaged, errors, base,
              names: Renaming | None) -> Instance:
    tok = names.token if names else (lambda t: t)
    act = names.action if names else (lambda a: a)
    if names:
        original, sabotaged = names.model(original, iid), names.model(sabotaged, iid)
    else:
        original, sabotaged = original.copy(), sabotaged.copy()
        original.name = sabotaged.name = iid
    described = []
    for e in errors:
        d = e.describe()
        d["target"] = tok(e.target)
        if e.kind == "coef":
            d["old"][0] = d["new"][0] = tok(e.old[0])
        if e.kind == "add":
            d["new"][0] = {tok(k): a for k, a in d["new"][0].items()}
        d.update(root=[tok(t) for t in e.root()], repair=[act(a) for a in e.repair()],
                 binding=_root_binding(base, e))
        described.append(d)
    inst = Instance(
        id=iid, family=family, error_type=error_type, difficulty=difficulty, naming=naming, seed=int(seed),
        original=original, sabotaged=sabotaged,
        root_cause=[t for d in described for t in d["root"]],
        true_repair=[a for d in described for a in d["repair"]],
        original_objective=base.objective,
        meta={"errors": described, "linking_rows": sorted(tok(r) for r in base.linking)},
    )
    inst.meta.update(structure(inst))
    if family in families.MODULES:  # the family row kinds behind the names (also under random naming)
        semantic = {new: old for old, new in names.rows.items()} if names else {}
        kind = lambda row: families.row_kind(family, semantic.get(row, row))  # noqa: E731
        inst.meta["iis_row_kinds"] = [kind(t) for t in inst.meta["iis"] if t in sabotaged.constrs]
        inst.meta["root_row_kinds"] = [kind(t) for t in inst.root_cause if t in sabotaged.constrs]
    return inst


def _root_binding(base: Base, e: Error) -> bool | None:
    """Is the changed row / bound active at the original optimum? (None for an added row or a type)."""
    if e.kind in ("flip", "coef", "rhs"):
        return base.binding(e.target)
    if e.kind == "bound":
        v, x = base.model.vars[e.target], base.x[e.target]
        return abs(x - v.lb) <= TOL or abs(x - v.ub) <= TOL
    return None


def structure(inst: Instance) -> dict:
    """The structural statistics recorded in ``Instance.meta`` (all on the instance's own names)."""
    m, z = inst.sabotaged, inst.original_objective
    iis = compute_iis(m)
    drops = single_drop_stats(m, iis, z)
    violations = min_violation(m)
    linking = set(inst.meta["linking_rows"])
    out = {
        "n_vars": len(m.vars), "n_constrs": len(m.constrs), "is_mip": m.is_mip,
        "n_errors": len(inst.meta["errors"]),
        "iis": iis.tokens(), "iis_size": iis.size, "iis_minimal": iis.minimal,
        "roots_in_iis": [t for t in inst.root_cause if t in iis.tokens()],
        "depth": conflict_depth(m, iis, inst.root_cause),
        "n_linking_in_iis": sum(c in linking and c not in inst.root_cause for c in iis.constraints),
        "single_drop": drops,
        "single_drop_feasible_frac": sum(d["feasible"] for d in drops) / len(drops),
        "single_drop_faithful_frac": sum(d["faithful"] for d in drops) / len(drops),
        "check_slack": sorted(violations),
        "check_slack_names_root": any(t in violations for t in inst.root_cause),
    }
    stats = ERROR_TYPES[inst.error_type].stats
    if stats is not None:
        out.update(stats(inst, iis))
    return out


def _cascade_iis(inst: Instance) -> list[list[str]]:
    """The IIS after repairing the first k errors, k = 0 .. n-1."""
    stages, m = [], inst.sabotaged
    for d in inst.meta["errors"]:
        stages.append(compute_iis(m).tokens())
        for line in d["repair"]:
            m = apply_action(m, parse_action(line))
    return stages


# -- validation ----------------------------------------------------------------------------------
def validate(inst: Instance) -> list[str]:
    """Problems with an instance; empty when it is valid. Re-checks everything from the models:
    original OPTIMAL at the recorded objective; sabotaged INFEASIBLE; root-cause tokens exist;
    ``true_repair`` gives back the original (objective and fingerprint); the error type's definition;
    the difficulty's structure; the naming scheme."""
    problems: list[str] = []
    o = solve(inst.original, keep_values=False)
    if o.status != "OPTIMAL":
        return [f"original is {o.status}, not OPTIMAL"]
    if not objectives_match(o.objective, inst.original_objective):
        problems.append(f"original objective {o.objective} != recorded {inst.original_objective}")
    if not is_infeasible(inst.sabotaged):
        return problems + ["sabotaged model is not INFEASIBLE"]
    bad = unknown_tokens(inst.sabotaged, inst.root_cause)
    if bad or not inst.root_cause:
        problems.append(f"root-cause tokens missing from the sabotaged model: {bad or 'none given'}")
    problems += _check_repair(inst)
    if problems:
        return problems
    problems += _check_type(inst)
    problems += _check_difficulty(inst)
    problems += _check_naming(inst)
    return problems


def _apply_lines(m: LinearModel, lines: list[str]) -> LinearModel:
    for line in lines:
        m = apply_action(m, parse_action(line))
    return m


def _check_repair(inst: Instance) -> list[str]:
    try:
        repaired = _apply_lines(inst.sabotaged, inst.true_repair)
    except (ValueError, KeyError) as e:  # ActionError is a ValueError
        return [f"true_repair does not apply: {e}"]
    r = solve(repaired, keep_values=False)
    if r.status != "OPTIMAL" or not objectives_match(r.objective, inst.original_objective):
        return [f"true_repair gives {r.status} with objective {r.objective}, not {inst.original_objective}"]
    if repaired.fingerprint() != inst.original.fingerprint():
        return ["true_repair restores the objective but not the original model (fingerprints differ)"]
    return []


def _check_type(inst: Instance) -> list[str]:
    """The checks every type shares (kinds and number of errors; for a multi-error type, each error alone
    makes the model infeasible), then the type's own definition (``ErrorType.check``)."""
    t, errs = inst.error_type, inst.meta["errors"]
    et = ERROR_TYPES[t]
    kinds = {d["kind"] for d in errs}
    if not kinds <= et.kinds:
        return [f"type {t} made of {sorted(kinds)} errors, expected {sorted(et.kinds)}"]
    expected_n = n_errors_for(t, inst.difficulty)
    if len(errs) != expected_n:
        return [f"type {t}/{inst.difficulty} needs {expected_n} errors, has {len(errs)}"]
    iis = compute_iis(inst.sabotaged)
    if et.multi:
        for i in range(len(errs)):  # each error alone makes the model infeasible
            others = [a for j, d in enumerate(errs) if j != i for a in d["repair"]]
            if not is_infeasible(_apply_lines(inst.sabotaged, others)):
                return [f"type {t}: error {i} ({errs[i]['target']}) alone does not make the model infeasible"]
    problem = et.check(inst, iis) if et.check is not None else None
    return [problem] if problem else []


def _check_E(inst: Instance, iis: IIS) -> str | None:
    named = sum(any(r in iis.tokens() for r in d["root"]) for d in inst.meta["errors"])
    if named < 2:
        return f"type E: the IIS names {named} of the errors, needs at least 2"
    return None


def _check_G(inst: Instance, iis: IIS) -> str | None:
    errs, m = inst.meta["errors"], inst.sabotaged
    for k, d in enumerate(errs):
        toks = compute_iis(m).tokens()
        named = [j for j in range(k, len(errs)) if any(r in toks for r in errs[j]["root"])]
        if named != [k]:
            return f"type G: the IIS after {k} repair(s) names errors {named}, should name only error {k}"
        m = _apply_lines(m, d["repair"])
    return None


def _check_F(inst: Instance, iis: IIS) -> str | None:
    links = [c for c in iis.constraints if c in set(inst.meta["linking_rows"]) and c not in inst.root_cause]
    if not links:
        return "type F: the IIS passes through no linking row other than the root cause"
    return None


def _check_I(inst: Instance, iis: IIS) -> str | None:
    alts = alternative_repairs(inst.sabotaged, iis, inst.root_cause, inst.original_objective)
    if not any(a["feasible"] for a in alts):
        return "type I: no alternative repair restores feasibility"
    if any(a["faithful"] for a in alts):
        return "type I: an alternative repair also keeps the original optimum"
    return None


def _check_depth_F(inst: Instance, iis: IIS, level: Difficulty) -> str | None:
    depth = conflict_depth(inst.sabotaged, iis, inst.root_cause)
    if depth is None or not level.f_depth[0] <= depth <= level.f_depth[1]:
        return f"F/{inst.difficulty} needs conflict depth in {level.f_depth}, has {depth}"
    return None


def _check_difficulty(inst: Instance) -> list[str]:
    level = DIFFICULTY[inst.difficulty]
    problems = []
    lo, hi = families.SIZE_TIERS[level.size]
    if not lo <= len(inst.original.vars) <= hi:
        problems.append(f"{inst.difficulty} needs {lo}-{hi} variables, has {len(inst.original.vars)}")
    iis = compute_iis(inst.sabotaged)
    if not level.iis[0] <= iis.size <= level.iis[1]:
        problems.append(f"{inst.difficulty} needs an IIS of size {level.iis}, has {iis.size}")
    hook = ERROR_TYPES[inst.error_type].check_difficulty
    problem = hook(inst, iis, level) if hook is not None else None
    if problem:
        problems.append(problem)
    return problems


def _check_naming(inst: Instance) -> list[str]:
    import re

    m = inst.sabotaged
    if inst.naming == "random":
        odd = [n for n in m.vars if not re.fullmatch(RANDOM_VAR, n)] + \
              [n for n in m.constrs if not re.fullmatch(RANDOM_ROW, n)]
        return [f"random naming left names {odd[:5]}"] if odd else []
    if inst.family in families.MODULES:
        odd = [c for c in m.constrs if families.row_kind(inst.family, c) is None]
        return [f"rows outside the family's name patterns: {odd}"] if odd else []
    return []


# -- the error types: the registry ---------------------------------------------------------------
@dataclass(frozen=True)
class ErrorType:
    """One error type of the benchmark: how the saboteur injects it and what ``validate`` checks.

    Every type gets the common checks (the original is optimal, the sabotaged model infeasible,
    ``true_repair`` gives back the original, the difficulty's IIS size); ``_check_type`` adds that the
    errors are of ``kinds`` and number ``n_errors_for`` (for ``multi``: the difficulty's ``n_errors``, each
    infeasible on its own), then the type's own ``check``.
    """

    name: str
    """Short name (docs/ordebug_benchmark.md's definition table)."""
    description: str
    """One line (``instance.ERROR_TYPES`` serves these; the env never shows them to the agent)."""
    search: Callable[[Search], list[Error]]
    """The injecting function: the errors to apply to ``Search.base.model`` (GenerationError if none fit)."""
    kinds: frozenset[str]
    """``Error.kind`` values its errors may have."""
    multi: bool = False
    """Several errors (``Difficulty.n_errors``), each of which makes the model infeasible alone; else one."""
    check: Callable[[Instance, IIS], str | None] | None = None
    """The type's definition on the sabotaged model's IIS: a problem, or None when it holds."""
    check_difficulty: Callable[[Instance, IIS, Difficulty], str | None] | None = None
    """A structure the type has per difficulty level (F: conflict depth in ``Difficulty.f_depth``)."""
    stats: Callable[[Instance, IIS], dict] | None = None
    """Extra ``Instance.meta`` entries (``structure``)."""


_MULTI_KINDS = frozenset({"rhs", "coef", "bound", "flip"})  # what _multi_candidates makes
ERROR_TYPES: dict[str, ErrorType] = {
    "A": ErrorType("sense flip", "sense flip (<= <-> >=)", search_A, frozenset({"flip"})),
    "B": ErrorType("variable type", "variable type changed (integer <-> continuous)", search_B,
                   frozenset({"vtype"})),
    "C": ErrorType("coefficient", "coefficient changed or term removed", search_C, frozenset({"coef"})),
    "D": ErrorType("added row", "contradicting constraint added", search_D, frozenset({"add"})),
    "E": ErrorType("multi-constraint conflict", "multi-constraint conflict (two or more repairs needed)",
                   search_E, _MULTI_KINDS, multi=True, check=_check_E),
    "F": ErrorType("hidden dependency",
                   "hidden dependency (conflict through linking constraints / auxiliary variables)",
                   search_F, frozenset({"rhs", "coef"}), check=_check_F, check_difficulty=_check_depth_F),
    "G": ErrorType("cascading", "cascading conflict (repairing one reveals the next)", search_G, _MULTI_KINDS,
                   multi=True, check=_check_G, stats=lambda inst, iis: {"cascade": _cascade_iis(inst)}),
    "H": ErrorType("bound", "root cause is a variable bound", search_H, frozenset({"bound"})),
    "I": ErrorType("ambiguous repair", "several repairs restore feasibility, only one keeps the original optimum",
                   search_I, frozenset({"rhs"}), check=_check_I,
                   stats=lambda inst, iis: {"alternatives": alternative_repairs(
                       inst.sabotaged, iis, inst.root_cause, inst.original_objective)}),
}
"""Every error type, letter -> ``ErrorType``, in the benchmark's order (the order of its cells). The one
table of types: ``instance.ERROR_TYPES`` (letter -> description), the dataset builder's default, the warm
start's ``bench_error_types`` and the profiles' ``"all"`` (``ALL_TYPES``) all read it. Adding a type is one
entry here plus its search function (``tests/test_error_types_registry.py`` does it)."""

ALL_TYPES = "all"
"""How a profile, notebook or call says "every registered error type" (``error_type_letters``)."""


def error_type_letters(spec: str | Iterable[str] = ALL_TYPES) -> str:
    """The error types ``spec`` names, as a string of letters in its order: ``"all"`` (``ALL_TYPES``) is
    every registered type in registry order; otherwise each item must be a registered letter (repeats
    are kept, as the builder always did). Raises ValueError naming the registry.

    >>> error_type_letters("all") == "".join(ERROR_TYPES), error_type_letters("HA"), error_type_letters(["D"])
    (True, 'HA', 'D')
    >>> error_type_letters("AZ")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown error type 'Z'; known: ... (or 'all' for all of them)
    """
    if isinstance(spec, str) and spec == ALL_TYPES:
        return "".join(ERROR_TYPES)
    items = list(spec)
    for t in items:
        if t not in ERROR_TYPES:
            raise ValueError(f"unknown error type {t!r}; known: {''.join(ERROR_TYPES)} "
                             f"(or {ALL_TYPES!r} for all of them)")
    return "".join(items)


def error_type_table() -> str:
    """The registry as a markdown table (what docs/ordebug_benchmark.md describes in full).

    >>> print(error_type_table())
    | type | name | errors | kinds | description |
    |---|---|---|---|---|
    | A | sense flip | 1 | flip | sense flip (<= <-> >=) |
    | B | variable type | 1 | vtype | variable type changed (integer <-> continuous) |
    | C | coefficient | 1 | coef | coefficient changed or term removed |
    | D | added row | 1 | add | contradicting constraint added |
    | E | multi-constraint conflict | n | bound, coef, flip, rhs | multi-constraint conflict (two or more repairs needed) |
    | F | hidden dependency | 1 | coef, rhs | hidden dependency (conflict through linking constraints / auxiliary variables) |
    | G | cascading | n | bound, coef, flip, rhs | cascading conflict (repairing one reveals the next) |
    | H | bound | 1 | bound | root cause is a variable bound |
    | I | ambiguous repair | 1 | rhs | several repairs restore feasibility, only one keeps the original optimum |
    """
    rows = ["| type | name | errors | kinds | description |", "|---|---|---|---|---|"]
    rows += [f"| {t} | {e.name} | {'n' if e.multi else 1} | {', '.join(sorted(e.kinds))} | {e.description} |"
             for t, e in ERROR_TYPES.items()]
    return "\n".join(rows)


# -- the generator loop --------------------------------------------------------------------------
MAX_ATTEMPTS = 6


def make_instance(family: str, error_type: str, difficulty: str, seed: int, naming: str = "semantic",
                  max_attempts: int = MAX_ATTEMPTS, base_seeds: Iterable[int] | None = None,
                  root_kinds: Sequence[str] = ()) -> Instance:
    """A validated instance, deterministic for its parameters; its id derives from them.

    The base model is ``generate(family, DIFFICULTY[difficulty].size, seed)``. If no valid instance
    comes from it, the base is re-drawn from the next seed of ``base_seeds`` (default: seeds derived
    from ``seed``), at most ``max_attempts`` bases in all, then GenerationError lists every reason.
    A base on which Gurobi contradicts itself (``SolverError``: e.g. a sabotaged model judged
    infeasible with a zero objective that solves UNBOUNDED with its own) is re-drawn the same way, its
    reason recorded. The base seed used is ``meta['base_seed']`` (the dataset builder passes seeds of
    one split only); ``root_kinds`` is passed to ``sabotage`` (recorded as ``meta['root_kind_preference']``).

    >>> inst = make_instance("diet", "D", "easy", seed=1)
    >>> inst.id == instance_id("diet", "D", "easy", "semantic", 1), inst.meta["base_seed"] >= 0
    (True, True)
    """
    _check_args(error_type, difficulty, naming)
    families.family_module(family)
    size = DIFFICULTY[difficulty].size
    iid = instance_id(family, error_type, difficulty, naming, seed)
    if base_seeds is None:
        base_seeds = (int(seed) if a == 0 else derive_seed("base", seed, a) for a in range(max_attempts))
    reasons = []
    for attempt, base_seed in zip(range(max_attempts), base_seeds):
        model = families.generate(family, size, base_seed)
        try:
            inst = sabotage(model, error_type, difficulty, seed=derive_seed(seed, attempt), naming=naming,
                            family=family, iid=iid, root_kinds=root_kinds)
        except GenerationError as e:
            reasons.append(f"base seed {base_seed}: {e}")
            continue
        except SolverError as e:  # numerically ambiguous base: not an instance anyone could grade
            reasons.append(f"base seed {base_seed}: solver: {e}")
            continue
        inst.seed = int(seed)
        inst.meta.update(size=size, base_seed=int(base_seed), attempt=attempt)
        return inst
    raise GenerationError(f"no valid {error_type}/{difficulty} instance of {family} for seed {seed} in "
                          f"{len(reasons)} attempts:\n  " + "\n  ".join(reasons))


__all__ = ["ALL_TYPES", "DIFFICULTY", "Difficulty", "ERROR_TYPES", "Error", "ErrorType", "GenerationError", "NAMINGS",
           "Renaming", "conflict_depth", "error_type_letters", "error_type_table", "instance_id", "make_instance",
           "reordered", "sabotage", "shuffled_order", "structure", "validate"]
