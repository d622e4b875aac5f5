"""Gurobi behind small functions: build, solve, IIS, minimum-violation relaxation, and MPS/LP files
(``read_model`` / ``write_model``: Gurobi's reader and writer, so any file Gurobi accepts can be debugged).

All solves use ``DualReductions=0`` so Gurobi never answers the ambiguous INF_OR_UNBD, one thread
(deterministic, and CI has two cores), and ``MIPGap=1e-9`` so a MILP's optimal objective can be compared
with the original's at the tolerance of ``objectives_match``.

Every gurobipy ``GurobiError`` raised while building or optimizing a model becomes ``SolverError`` here, and
so does an answer that is missing (an IIS search or a relaxation that stopped at its limit with nothing to
show): callers catch one exception type, and ``RepairEnv`` turns it into an observation. Starting the Gurobi
environment (``gurobi_env``: the license, the installation) is not an answer about a model and is not wrapped.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .model import INF, LICENSE_LIMIT, VTYPES, Constr, LinearModel, ModelError, Var

STATUS_NAMES = {
    1: "LOADED", 2: "OPTIMAL", 3: "INFEASIBLE", 4: "INF_OR_UNBD", 5: "UNBOUNDED", 6: "CUTOFF",
    7: "ITERATION_LIMIT", 8: "NODE_LIMIT", 9: "TIME_LIMIT", 10: "SOLUTION_LIMIT", 11: "INTERRUPTED",
    12: "NUMERIC", 13: "SUBOPTIMAL", 14: "INPROGRESS", 15: "USER_OBJ_LIMIT", 16: "WORK_LIMIT",
    17: "MEM_LIMIT",
}
OBJ_RTOL = 1e-6  # faithful recovery: |z - z*| <= OBJ_RTOL * max(1, |z*|)


class SolverError(RuntimeError):
    """Gurobi raised on a model, or stopped without the answer asked for (an IIS, a relaxed solution): e.g.
    numerical trouble, an IIS asked of a model Gurobi finds feasible, a time or work limit. The message says
    which, with Gurobi's own words when it gave any."""


@lru_cache(maxsize=1)
def gurobi_env():
    """One quiet Gurobi environment for the process."""
    import gurobipy as gp

    env = gp.Env(empty=True)
    env.setParam("OutputFlag", 0)
    env.start()
    return env


def build_gurobi(model: LinearModel, time_limit: float | None = None, work_limit: float | None = None):
    """A ``gurobipy.Model`` equal to ``model`` (caller disposes it). ``work_limit``: Gurobi work units, a
    deterministic effort limit (~2.5 s each on one core here), unlike the wall-clock ``time_limit``. A
    GurobiError while filling it in becomes SolverError."""
    import gurobipy as gp

    model.check_license()
    gm = gp.Model(model.name, env=gurobi_env())
    try:
        _fill(gm, model, time_limit, work_limit)
    except gp.GurobiError as e:
        gm.dispose()
        raise SolverError(f"Gurobi could not build {model.name!r}: {e}") from e
    return gm


def _fill(gm, model: LinearModel, time_limit: float | None, work_limit: float | None) -> None:
    import gurobipy as gp
    from gurobipy import GRB

    gm.Params.DualReductions = 0
    gm.Params.Threads = 1
    gm.Params.MIPGap = 1e-9
    if time_limit is not None:
        gm.Params.TimeLimit = time_limit
    if work_limit is not None:
        gm.Params.WorkLimit = work_limit
    gvars = {}
    for v in model.vars.values():
        lb = -GRB.INFINITY if v.lb == -INF else v.lb
        ub = GRB.INFINITY if v.ub == INF else v.ub
        gvars[v.name] = gm.addVar(lb=lb, ub=ub, obj=v.obj, vtype=v.vtype, name=v.name)
    sense = {"<=": GRB.LESS_EQUAL, ">=": GRB.GREATER_EQUAL, "==": GRB.EQUAL}
    for c in model.constrs.values():
        expr = gp.LinExpr(list(c.coeffs.values()), [gvars[k] for k in c.coeffs])
        gm.addLConstr(expr, sense[c.sense], c.rhs, name=c.name)
    gm.ModelSense = GRB.MINIMIZE if model.sense == "min" else GRB.MAXIMIZE
    gm.ObjCon = model.obj_constant
    gm.update()


@dataclass
class SolveResult:
    status: str  # "OPTIMAL", "INFEASIBLE", "UNBOUNDED", "TIME_LIMIT", ...
    objective: float | None = None
    values: dict[str, float] | None = None

    @property
    def feasible(self) -> bool:
        """A feasible point is known (optimal, or a limit hit with an incumbent)."""
        return self.values is not None


def solve(model: LinearModel, time_limit: float = 10.0, keep_values: bool = True,
          work_limit: float | None = None) -> SolveResult:
    import gurobipy as gp

    gm = build_gurobi(model, time_limit, work_limit)
    try:
        gm.optimize()
        status = STATUS_NAMES.get(gm.Status, str(gm.Status))
        if gm.SolCount > 0 and status != "INFEASIBLE":
            vals = dict(zip(model.vars, gm.getAttr("X", gm.getVars()))) if keep_values else {}
            return SolveResult(status, gm.ObjVal, vals)
        return SolveResult(status)
    except gp.GurobiError as e:
        raise SolverError(f"Gurobi failed on {model.name!r}: {e}") from e
    finally:
        gm.dispose()


def objectives_match(z: float | None, z_star: float | None, rtol: float = OBJ_RTOL) -> bool:
    """Documented tolerance of faithful recovery: |z - z*| <= rtol * max(1, |z*|)."""
    if z is None or z_star is None:
        return False
    return abs(z - z_star) <= rtol * max(1.0, abs(z_star))


@dataclass
class IIS:
    """An irreducible infeasible subsystem, as diagnosis tokens (see actions.py)."""

    constraints: list[str] = field(default_factory=list)  # in row order
    lower_bounds: list[str] = field(default_factory=list)  # variable names whose lower bound is in the IIS
    upper_bounds: list[str] = field(default_factory=list)
    minimal: bool = True
    columns: list[str] = field(default_factory=list)
    """The model's column order, which ``tokens`` lists the bounds in (empty: lower bounds, then upper)."""

    @property
    def size(self) -> int:
        return len(self.constraints) + len(self.lower_bounds) + len(self.upper_bounds)

    def tokens(self) -> list[str]:
        """Rows in row order, then bounds in column order (a variable's lb before its ub): listing every
        lower bound first would put an upper-bound root after them all, a position an agent could learn.

        >>> IIS(["c"], ["y"], ["x", "y"], columns=["x", "y"]).tokens()
        ['c', 'x.ub', 'y.lb', 'y.ub']
        """
        bounds = [f"{v}.lb" for v in self.lower_bounds] + [f"{v}.ub" for v in self.upper_bounds]
        if self.columns:
            where = {v: i for i, v in enumerate(self.columns)}
            bounds.sort(key=lambda t: (where[t.rpartition(".")[0]], t.endswith(".ub")))
        return self.constraints + bounds


def compute_iis(model: LinearModel, time_limit: float = 10.0) -> IIS:
    """Gurobi's IIS of an infeasible model. Raises SolverError if the model is not infeasible, if Gurobi's
    IIS search finds it feasible after all (numerical trouble: measured with one coefficient of 1e308) or
    stops at ``time_limit`` before it has any IIS (measured: a coefficient of 1e20 among ones)."""
    import gurobipy as gp
    from gurobipy import GRB

    gm = build_gurobi(model, time_limit)
    try:
        gm.optimize()
        if gm.Status != 3:
            raise SolverError(f"IIS asked for a model that is {STATUS_NAMES.get(gm.Status, gm.Status)}, not INFEASIBLE")
        gm.computeIIS()
        gc, gv = gm.getConstrs(), gm.getVars()
        try:  # the list form: with no IIS found it raises GurobiError 10005 (``c.IISConstr`` an AttributeError)
            in_c, in_lb, in_ub = gm.getAttr("IISConstr", gc), gm.getAttr("IISLB", gv), gm.getAttr("IISUB", gv)
        except gp.GurobiError as e:
            if e.errno != GRB.Error.DATA_NOT_AVAILABLE:
                raise
            raise SolverError(f"Gurobi's IIS search on {model.name!r} ended {STATUS_NAMES.get(gm.Status, gm.Status)} "
                              f"before it found an IIS (time limit {time_limit:g} s)") from e
        cons = [c.ConstrName for c, inside in zip(gc, in_c) if inside]
        lbs = [v.VarName for v, inside in zip(gv, in_lb) if inside]
        ubs = [v.VarName for v, inside in zip(gv, in_ub) if inside]
        return IIS(cons, lbs, ubs, minimal=bool(gm.IISMinimal), columns=list(model.vars))
    except gp.GurobiError as e:
        raise SolverError(f"Gurobi IIS failed on {model.name!r}: {e}") from e
    finally:
        gm.dispose()


@dataclass
class Violation:
    """A minimum-violation relaxation's answer: what must move, and whether it is proven minimal."""

    amounts: dict[str, float]
    """Diagnosis token -> violation amount, e.g. ``{"cap_m1": 12.0, "x.ub": 3.0}``; empty if feasible."""
    proven: bool
    """False when the relaxation (a MILP for a MILP model) stopped at its time or work limit with a
    feasible but not proven-minimal answer."""
    rhs_shift: dict[str, float] = field(default_factory=dict)
    """Constraint token -> signed change of its rhs that removes its violation (new rhs = rhs + shift);
    the direction the amounts leave out, which an equality row needs (an inequality's is its sense)."""


def min_violation_result(model: LinearModel, time_limit: float = 10.0, work_limit: float | None = None,
                         tol: float = 1e-7) -> Violation:
    """Smallest total violation that makes the model feasible (Gurobi feasRelax, sum of violations).

    ``work_limit`` (Gurobi work units, ~2.5 s each on one core here) stops a hard MILP relaxation
    deterministically: with a wall-clock limit alone the answer would depend on the machine. On a small
    staffing MILP the bound stalls 0.2% under the optimum and a 10-s limit is always hit, while the
    optimum is found within 0.05 work units."""
    import gurobipy as gp

    gm = build_gurobi(model, time_limit, work_limit)
    try:
        gm.feasRelaxS(0, False, True, True)  # relaxobjtype=0 (sum), minrelax=False, vrelax, crelax
        gm.optimize()
        if gm.SolCount == 0:  # e.g. INFEASIBLE: a bound of 1e99 (or one Gurobi reads as infinite, >= 1e100)
            raise SolverError(f"feasibility relaxation of {model.name!r} found no solution "
                              f"({STATUS_NAMES.get(gm.Status, gm.Status)})")
        out: dict[str, float] = {}
        shift: dict[str, float] = {}
        for v in gm.getVars():
            n = v.VarName
            if not n.startswith("Art") or v.X <= tol:
                continue
            kind, _, orig = n.partition("_")  # ArtP_/ArtN_ constraint, ArtL_/ArtU_ bound
            key = {"ArtP": orig, "ArtN": orig, "ArtL": f"{orig}.lb", "ArtU": f"{orig}.ub"}.get(kind)
            if key is None:
                continue
            out[key] = out.get(key, 0.0) + v.X
            if kind in ("ArtP", "ArtN"):  # row: lhs + ArtP - ArtN (sense) rhs, so rhs' = rhs - ArtP + ArtN
                shift[key] = shift.get(key, 0.0) + (v.X if kind == "ArtN" else -v.X)
        return Violation(out, proven=STATUS_NAMES.get(gm.Status) == "OPTIMAL", rhs_shift=shift)
    except gp.GurobiError as e:
        raise SolverError(f"Gurobi feasRelax failed on {model.name!r}: {e}") from e
    finally:
        gm.dispose()


def relaxation_size(model: LinearModel) -> tuple[int, int]:
    """(variables, constraints) of Gurobi's feasibility relaxation of ``model`` (what CHECK_SLACK solves):
    building it does not touch the license, optimizing it beyond 2000 does."""
    import gurobipy as gp

    gm = build_gurobi(model)
    try:
        gm.feasRelaxS(0, False, True, True)
        gm.update()
        return gm.NumVars, gm.NumConstrs
    except gp.GurobiError as e:
        raise SolverError(f"Gurobi could not build the feasibility relaxation of {model.name!r}: {e}") from e
    finally:
        gm.dispose()


def min_violation(model: LinearModel, time_limit: float = 10.0, tol: float = 1e-7,
                  work_limit: float | None = None) -> dict[str, float]:
    """``min_violation_result(...).amounts``: diagnosis token -> violation amount for every constraint or
    bound that must move, e.g. ``{"cap_m1": 12.0, "x.ub": 3.0}``. Empty if the model is feasible."""
    return min_violation_result(model, time_limit, work_limit, tol).amounts


def slacks(model: LinearModel, values: dict[str, float]) -> dict[str, float]:
    """Slack of every constraint at a point: rhs - lhs for <=, lhs - rhs for >=, -|lhs - rhs| for ==."""
    out = {}
    for c in model.constrs.values():
        lhs = sum(a * values[v] for v, a in c.coeffs.items())
        out[c.name] = c.rhs - lhs if c.sense == "<=" else lhs - c.rhs if c.sense == ">=" else -abs(lhs - c.rhs)
    return out


def is_finite(x: float) -> bool:
    return x is not None and math.isfinite(x)


# -- files (through Gurobi's reader/writer) ------------------------------------------------------
def read_model(path: str | Path) -> LinearModel:
    """Load any .mps/.lp (optionally compressed) file Gurobi can read. Fails clearly beyond the license.

    A missing file raises FileNotFoundError; every other file that cannot be loaded (a directory, an empty
    or unreadable file, one Gurobi cannot parse) raises ModelError naming the file, with Gurobi's message
    on one line (it may quote the offending line of the file, binary junk included).
    """
    import gurobipy as gp

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(path)
    if path.is_dir():
        raise ModelError(f"{path.name} is a directory, not a model file")
    try:  # Gurobi's own error for an unreadable file does not say why
        with path.open("rb") as f:
            empty = not f.read(1)
    except OSError as e:
        raise ModelError(f"cannot read {path.name}: {e.strerror or e}") from e
    if empty:  # Gurobi reads an empty .lp as a model with nothing in it, and an empty .mps not at all
        raise ModelError(f"{path.name} is empty")
    env = gurobi_env()  # outside the try: a license or installation failure is not the file's fault
    try:
        gm = gp.read(str(path), env=env)
    except gp.GurobiError as e:
        said = "".join(ch if ch.isprintable() else "?" for ch in " ".join(str(e).split()))
        said = said if len(said) <= 200 else said[:197] + "..."
        raise ModelError(f"Gurobi cannot read {path.name}: {said}") from e
    try:
        if gm.NumVars > LICENSE_LIMIT or gm.NumConstrs > LICENSE_LIMIT:
            raise ModelError(
                f"{path.name} has {gm.NumVars} variables and {gm.NumConstrs} constraints; the pip Gurobi "
                f"license allows at most {LICENSE_LIMIT} of each"
            )
        return from_gurobi(gm, name=path.name.split(".")[0])
    finally:
        gm.dispose()


def from_gurobi(gm, name: str | None = None) -> LinearModel:
    import gurobipy as gp
    from gurobipy import GRB

    gm.update()
    if gm.NumQConstrs or gm.NumSOS or gm.NumGenConstrs or gm.IsQP:
        raise ModelError("only linear (MI)LP models are supported (model has quadratic/SOS/general constraints)")
    m = LinearModel(name or gm.ModelName or "model", "min" if gm.ModelSense == GRB.MINIMIZE else "max",
                    obj_constant=gm.ObjCon + 0.0)
    for v in gm.getVars():
        if v.VType not in VTYPES:  # semi-continuous / semi-integer
            raise ModelError(f"variable {v.VarName!r} has unsupported type {v.VType!r}")
        m.vars[v.VarName] = Var(v.VarName, _from_grb(v.LB), _from_grb(v.UB), v.VType, v.Obj)
    sense = {GRB.LESS_EQUAL: "<=", GRB.GREATER_EQUAL: ">=", GRB.EQUAL: "=="}
    for c in gm.getConstrs():
        row: gp.LinExpr = gm.getRow(c)
        coeffs: dict[str, float] = {}
        for i in range(row.size()):
            vn = row.getVar(i).VarName
            coeffs[vn] = coeffs.get(vn, 0.0) + row.getCoeff(i)
        m.constrs[c.ConstrName] = Constr(c.ConstrName, {k: a for k, a in coeffs.items() if a != 0},
                                         sense[c.Sense], c.RHS)
    return m


def _from_grb(x: float) -> float:
    """Gurobi stores infinity as 1e100."""
    return INF if x >= 1e100 else -INF if x <= -1e100 else x


def write_model(model: LinearModel, path: str | Path) -> Path:
    """Write .mps or .lp via Gurobi (the suffix chooses the format)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    gm = build_gurobi(model)
    try:
        gm.write(str(path))
    finally:
        gm.dispose()
    return path


__all__ = [
    "IIS", "SolveResult", "SolverError", "ModelError", "build_gurobi", "compute_iis", "gurobi_env",
    "min_violation", "min_violation_result", "Violation", "objectives_match", "relaxation_size", "slacks", "solve",
    "OBJ_RTOL", "from_gurobi", "read_model", "write_model",
]
