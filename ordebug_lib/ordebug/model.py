"""A plain-Python linear (MI)LP: the one representation generators, saboteur, env and agents share.

Pure data, cheap to copy, deterministic to serialise. Gurobi is only touched in ``solver.py`` (build,
solve, IIS, and the MPS/LP files of ``read_model`` / ``write_model``, which go through Gurobi's reader
and writer so any file Gurobi accepts can be debugged).

Worked example::

    >>> m = LinearModel("toy", "min")
    >>> _ = m.add_var("x", lb=0, ub=10, obj=1.0)
    >>> _ = m.add_var("y", lb=0, obj=2.0, vtype="I")
    >>> _ = m.add_constr("demand", {"x": 1, "y": 1}, ">=", 4)
    >>> print(render_text(m))            # doctest: +NORMALIZE_WHITESPACE
    Model toy: minimize 1 x + 2 y
    Constraints:
      demand: 1 x + 1 y >= 4
    Bounds:
      0 <= x <= 10
      0 <= y  (integer)
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field

SENSES = ("<=", ">=", "==")
VTYPES = ("C", "I", "B")  # continuous, integer, binary (bounds clipped to [0, 1])
INF = math.inf
LICENSE_LIMIT = 2000  # pip gurobipy's size-limited license: at most 2000 variables and 2000 constraints


class ModelError(ValueError):
    """A model is malformed (unknown name, bad sense, bad bound) or too large for the license."""


@dataclass
class Var:
    name: str
    lb: float = 0.0
    ub: float = INF
    vtype: str = "C"
    obj: float = 0.0


@dataclass
class Constr:
    name: str
    coeffs: dict[str, float]  # variable name -> coefficient (no zeros stored)
    sense: str  # "<=", ">=", "=="
    rhs: float


@dataclass
class LinearModel:
    name: str
    sense: str = "min"  # objective sense: "min" | "max"
    vars: dict[str, Var] = field(default_factory=dict)  # insertion order = column order
    constrs: dict[str, Constr] = field(default_factory=dict)  # insertion order = row order
    obj_constant: float = 0.0

    # -- building --------------------------------------------------------------------------------
    def add_var(self, name: str, lb: float = 0.0, ub: float = INF, vtype: str = "C", obj: float = 0.0) -> Var:
        if name in self.vars or name in self.constrs:
            raise ModelError(f"duplicate name {name!r}")
        if vtype not in VTYPES:
            raise ModelError(f"variable type must be one of {VTYPES}, got {vtype!r}")
        if vtype == "B":  # the bounds a binary has once written to and read from an MPS/LP file
            lb, ub = max(lb, 0.0), min(ub, 1.0)
        v = Var(name, float(lb), float(ub), vtype, float(obj))
        self.vars[name] = v
        return v

    def add_constr(self, name: str, coeffs: dict[str, float], sense: str, rhs: float) -> Constr:
        if name in self.constrs or name in self.vars:
            raise ModelError(f"duplicate name {name!r}")
        if sense not in SENSES:
            raise ModelError(f"constraint sense must be one of {SENSES}, got {sense!r}")
        missing = [v for v in coeffs if v not in self.vars]
        if missing:
            raise ModelError(f"constraint {name!r} uses unknown variable(s) {missing}")
        c = Constr(name, {v: float(a) for v, a in coeffs.items() if a != 0}, sense, float(rhs))
        self.constrs[name] = c
        return c

    def copy(self) -> "LinearModel":
        """An independent copy. Structural (Var/Constr/coeff dicts rebuilt), ~60x faster than
        ``copy.deepcopy`` on Netlib-sized models; env steps and repair searches copy constantly."""
        return LinearModel(
            self.name, self.sense,
            {k: Var(v.name, v.lb, v.ub, v.vtype, v.obj) for k, v in self.vars.items()},
            {k: Constr(c.name, dict(c.coeffs), c.sense, c.rhs) for k, c in self.constrs.items()},
            self.obj_constant,
        )

    @property
    def is_mip(self) -> bool:
        return any(v.vtype != "C" for v in self.vars.values())

    @property
    def size(self) -> tuple[int, int]:
        """(number of variables, number of constraints)."""
        return len(self.vars), len(self.constrs)

    def check_license(self, limit: int = LICENSE_LIMIT) -> None:
        n, m = self.size
        if n > limit or m > limit:
            raise ModelError(
                f"model {self.name!r} has {n} variables and {m} constraints; the pip Gurobi license "
                f"allows at most {limit} of each. Use a full Gurobi license or a smaller model."
            )

    def columns(self) -> dict[str, list[str]]:
        """Variable name -> names of the constraints it appears in (row order)."""
        cols: dict[str, list[str]] = {v: [] for v in self.vars}
        for c in self.constrs.values():
            for v in c.coeffs:
                cols[v].append(c.name)
        return cols

    # -- identity --------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "name": self.name, "sense": self.sense, "obj_constant": self.obj_constant,
            "vars": [[v.name, _num(v.lb), _num(v.ub), v.vtype, v.obj] for v in self.vars.values()],
            "constrs": [[c.name, c.coeffs, c.sense, c.rhs] for c in self.constrs.values()],
        }

    @classmethod
    def from_dict(cls, d: dict) -> "LinearModel":
        m = cls(d["name"], d["sense"], obj_constant=d.get("obj_constant", 0.0))
        for name, lb, ub, vtype, obj in d["vars"]:
            m.vars[name] = Var(name, _unnum(lb), _unnum(ub), vtype, obj)
        for name, coeffs, sense, rhs in d["constrs"]:
            m.constrs[name] = Constr(name, dict(coeffs), sense, rhs)
        return m

    def fingerprint(self, names: bool = True) -> str:
        """SHA-256 of the model's content. ``names=False`` replaces names by positions, so the same
        model under other names (e.g. random naming) has the same fingerprint."""
        index = {v: f"v{i}" for i, v in enumerate(self.vars)}
        vname = (lambda n: n) if names else index.__getitem__

        def r(x: float) -> str:
            x = float(x) + 0.0  # -0.0 -> 0.0
            return "inf" if x == INF else "-inf" if x == -INF else f"{x:.12g}"

        payload = {
            "sense": self.sense, "obj_constant": r(self.obj_constant),
            "vars": [[vname(v.name), r(v.lb), r(v.ub), v.vtype, r(v.obj)] for v in self.vars.values()],
            "constrs": [
                [c.name if names else f"c{i}", sorted((vname(k), r(a)) for k, a in c.coeffs.items()), c.sense, r(c.rhs)]
                for i, c in enumerate(self.constrs.values())
            ],
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _num(x: float):
    """JSON has no infinity: store +-inf as strings."""
    return "inf" if x == INF else "-inf" if x == -INF else x


def _unnum(x) -> float:
    return float(x) if isinstance(x, str) else x


# -- text rendering for a language model ---------------------------------------------------------
def fmt_num(x: float, exact: bool = False) -> str:
    """A number for text: 6 significant digits for reading, or (``exact``) an action argument that
    parses back to exactly ``x``.

    >>> fmt_num(140.0), fmt_num(0.1 * 3), fmt_num(0.1 * 3, exact=True), fmt_num(float("-inf"))
    ('140', '0.3', '0.30000000000000004', '-inf')
    """
    if x == INF:
        return "inf"
    if x == -INF:
        return "-inf"
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(float(x)) if exact else f"{x:.6g}"


def fmt_linear(coeffs: dict[str, float]) -> str:
    """'2 x - 1 y + 0.5 z' (explicit coefficients so every number is visible)."""
    if not coeffs:
        return "0"
    parts = []
    for i, (v, a) in enumerate(coeffs.items()):
        sign = "-" if a < 0 else "+"
        term = f"{fmt_num(abs(a))} {v}"
        parts.append(("- " if a < 0 else "") + term if i == 0 else f"{sign} {term}")
    return " ".join(parts)


def fmt_constr(c: Constr) -> str:
    return f"{c.name}: {fmt_linear(c.coeffs)} {c.sense} {fmt_num(c.rhs)}"


def fmt_bounds(v: Var) -> str:
    kind = {"I": "  (integer)", "B": "  (binary)", "C": ""}[v.vtype]
    if v.lb == -INF and v.ub == INF:
        return f"{v.name} free{kind}"
    if v.ub == INF:
        return f"{fmt_num(v.lb)} <= {v.name}{kind}"
    if v.lb == -INF:
        return f"{v.name} <= {fmt_num(v.ub)}{kind}"
    return f"{fmt_num(v.lb)} <= {v.name} <= {fmt_num(v.ub)}{kind}"


def render_text(model: LinearModel, rows: list[str] | None = None) -> str:
    """Readable rendering of the objective, constraints, bounds and types.

    ``rows`` restricts the listing to those constraints and the variables they use (for big user
    models where only the IIS rows matter); the objective is then shown on those variables only.
    """
    if rows is None:
        constrs = list(model.constrs.values())
        var_names = list(model.vars)
    else:
        unknown = [r for r in rows if r not in model.constrs]
        if unknown:
            raise ModelError(f"unknown constraint(s) {unknown}")
        constrs = [model.constrs[r] for r in rows]
        used = {v for c in constrs for v in c.coeffs}
        var_names = [v for v in model.vars if v in used]
    obj = {v: model.vars[v].obj for v in var_names if model.vars[v].obj != 0}
    word = "minimize" if model.sense == "min" else "maximize"
    lines = [f"Model {model.name}: {word} {fmt_linear(obj)}"]
    if model.obj_constant:
        lines[0] += f" + {fmt_num(model.obj_constant)}"
    if rows is not None:
        lines.append(f"(showing {len(constrs)} of {len(model.constrs)} constraints, {len(var_names)} of {len(model.vars)} variables)")
    lines.append("Constraints:")
    lines += [f"  {fmt_constr(c)}" for c in constrs]
    lines.append("Bounds:")
    lines += [f"  {fmt_bounds(model.vars[v])}" for v in var_names]
    return "\n".join(lines)
