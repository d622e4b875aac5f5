"""How an instance names and orders its rows and columns: the naming schemes (semantic names of the
family, or random ``x_<hex>`` / ``c_<hex>`` names: ``Renaming``) and the seeded row and column order of
each instance (``shuffled_order``, ``reordered``), so neither a name nor a position gives the root away."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .actions import GRAMMAR, parse_action
from .model import Constr, LinearModel, ModelError, Var

NAMINGS = ("semantic", "random")


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
