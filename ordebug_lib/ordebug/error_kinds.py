"""The errors the saboteur injects, by kind: ``Error`` (one change of a kind -- flip, vtype, coef, rhs,
bound, add -- and its exact inverse) and the candidate errors of each kind that a base model admits
(``Base``: the original model and its optimum x*; ``flip_errors`` ... ``add_errors``). Which candidates an
error type tries, and in which order, is ``error_search``'s; which types exist, ``error_types``'."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import families
from .model import Constr, LinearModel, ModelError, fmt_num
from .solver import slacks, solve

TOL = 1e-6


class GenerationError(RuntimeError):
    """No valid instance could be made from this base model / seed (the reasons are in the message)."""


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
