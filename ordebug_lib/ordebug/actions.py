"""The one action grammar of OR-Debug: used by the environment, expert demos, SFT data and RL.

An action is one line: a verb and whitespace-separated arguments. Verbs are case-insensitive,
names are case-sensitive and contain no whitespace. Numbers are decimal or scientific, or
``inf`` / ``-inf`` for bounds.

======================================  ===========================================================
``GET_IIS``                             compute an irreducible infeasible subsystem of the current model
``CHECK_SLACK``                         minimum-total-violation relaxation: which rows/bounds must move, by how much
``INSPECT <name>``                      show a constraint row, or a variable (bounds, type, the rows it is in)
``RELAX <constr|bound> <amount>``       loosen an inequality's rhs (<=: rhs + amount, >=: rhs - amount)
                                        or a bound (``x.ub``: ub + amount, ``x.lb``: lb - amount); amount > 0
``SET_RHS <constr> <value>``            set a constraint's right-hand side
``FLIP_SENSE <constr>``                 turn <= into >= or >= into <=
``SET_COEF <constr> <var> <value>``     set one coefficient (0 removes the term)
``SET_BOUNDS <var> <lb> <ub>``          set a variable's bounds (``-inf`` / ``inf`` allowed)
``SET_VTYPE <var> <C|I|B>``             continuous, integer or binary
``DROP <constr>``                       remove a constraint
``RESET``                               undo every change: back to the model the episode started with
``SUBMIT <name> [<name> ...]``          end the episode and blame these: constraint names and bound
                                        tokens ``<var>.lb``, ``<var>.ub``, ``<var>.type``
======================================  ===========================================================

A language model may wrap the line in ``<action>...</action>``; ``extract_action_text`` takes the
last such block, or else the last non-empty line. Examples::

    >>> parse_action("set_rhs cap_assembly 120")
    Action(verb='SET_RHS', args=('cap_assembly', '120'))
    >>> str(parse_action("<action>SUBMIT demand_north x_a.ub</action>"))
    'SUBMIT demand_north x_a.ub'
    >>> parse_action("FLY_SENSE c1")
    Traceback (most recent call last):
    ...
    ordebug_lib.ordebug.actions.ActionError: unknown action 'FLY_SENSE'; valid actions: GET_IIS, ...
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .model import INF, VTYPES, LinearModel

# verb -> argument kinds: "c" constraint, "r" constraint or bound token (<var>.lb / <var>.ub: what
# CHECK_SLACK names), "v" variable, "n" finite number, "b" bound (may be +-inf), "t" vtype, "*" one or
# more diagnosis tokens
GRAMMAR: dict[str, tuple[str, ...]] = {
    "GET_IIS": (),
    "CHECK_SLACK": (),
    "INSPECT": ("name",),
    "RELAX": ("r", "n"),
    "SET_RHS": ("c", "n"),
    "FLIP_SENSE": ("c",),
    "SET_COEF": ("c", "v", "n"),
    "SET_BOUNDS": ("v", "b", "b"),
    "SET_VTYPE": ("v", "t"),
    "DROP": ("c",),
    "RESET": (),
    "SUBMIT": ("*",),
}
USAGE = {
    "GET_IIS": "GET_IIS", "CHECK_SLACK": "CHECK_SLACK", "INSPECT": "INSPECT <name>",
    "RELAX": "RELAX <constraint|var.lb|var.ub> <amount>", "SET_RHS": "SET_RHS <constraint> <value>",
    "FLIP_SENSE": "FLIP_SENSE <constraint>", "SET_COEF": "SET_COEF <constraint> <variable> <value>",
    "SET_BOUNDS": "SET_BOUNDS <variable> <lb> <ub>", "SET_VTYPE": "SET_VTYPE <variable> <C|I|B>",
    "DROP": "DROP <constraint>", "RESET": "RESET", "SUBMIT": "SUBMIT <name> [<name> ...]",
}
MUTATING = frozenset({"RELAX", "SET_RHS", "FLIP_SENSE", "SET_COEF", "SET_BOUNDS", "SET_VTYPE", "DROP"})
BOUND_SUFFIXES = (".lb", ".ub", ".type")
MAX_ACTION_CHARS = 2000

_ACTION_TAG = re.compile(r"<action>(.*?)</action>", re.S | re.I)


class ActionError(ValueError):
    """The action is malformed or names something the model does not have. The message is shown
    to the agent as its observation."""


@dataclass(frozen=True)
class Action:
    verb: str
    args: tuple[str, ...] = ()

    def __str__(self) -> str:
        return " ".join((self.verb, *self.args))

    @property
    def mutates(self) -> bool:
        return self.verb in MUTATING


def extract_action_text(text: str) -> str:
    """The action line of a completion: the last ``<action>`` block, else the last non-empty line."""
    blocks = _ACTION_TAG.findall(text)
    if blocks:
        return blocks[-1].strip()
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


MAX_MAGNITUDE = 1e15
"""Largest finite |number| an action may hold. Gurobi reads |x| >= 1e100 as infinite and its numerics fail
well before: a coefficient of -1e100 to -1e300 after a RELAX crashed its IIS search (SIGSEGV, found by
benchmarks/fuzz_actions.py), -1e20 and -1e30 did not. No model of the benchmark comes near 1e15."""


def _number(tok: str, allow_inf: bool) -> float:
    try:
        x = float(tok)
    except ValueError:
        raise ActionError(f"expected a number, got {tok!r}") from None
    if math.isnan(x) or (math.isinf(x) and not allow_inf):
        raise ActionError(f"expected a finite number, got {tok!r}")
    if math.isfinite(x) and abs(x) > MAX_MAGNITUDE:
        raise ActionError(f"{tok!r} is beyond +-{MAX_MAGNITUDE:g}, more than the solver handles"
                          + ("; use inf / -inf for no bound" if allow_inf else ""))
    return x


def parse_action(text: str) -> Action:
    """Parse one action (see the module docstring). Raises ActionError with a message for the agent."""
    if len(text) > MAX_ACTION_CHARS:
        raise ActionError(f"action is {len(text)} characters long; at most {MAX_ACTION_CHARS}")
    line = extract_action_text(text)
    if not line:
        raise ActionError("empty action; write one line such as 'GET_IIS' or 'SUBMIT <name> ...'")
    if "\n" in line:
        raise ActionError("an action is one line; put exactly one action in <action>...</action>")
    verb, *args = line.split()
    verb = verb.upper()
    if verb not in GRAMMAR:
        raise ActionError(f"unknown action {verb!r}; valid actions: {', '.join(GRAMMAR)}")
    kinds = GRAMMAR[verb]
    if kinds == ("*",):
        if not args:
            raise ActionError(f"usage: {USAGE[verb]} (name at least one constraint or bound)")
    elif len(args) != len(kinds):
        raise ActionError(f"{verb} takes {len(kinds)} argument(s), got {len(args)}; usage: {USAGE[verb]}")
    for kind, a in zip(kinds, args):
        if kind == "n":
            _number(a, allow_inf=False)
        elif kind == "b":
            _number(a, allow_inf=True)
        elif kind == "t" and a.upper() not in VTYPES:
            raise ActionError(f"variable type must be C, I or B, got {a!r}")
    if verb == "SET_VTYPE":
        args = [args[0], args[1].upper()]
    return Action(verb, tuple(args))


def _constr(model: LinearModel, name: str):
    c = model.constrs.get(name)
    if c is None:
        hint = " (that is a variable)" if name in model.vars else ""
        raise ActionError(f"no constraint named {name!r}{hint}")
    return c


def _var(model: LinearModel, name: str):
    v = model.vars.get(name)
    if v is None:
        hint = " (that is a constraint)" if name in model.constrs else ""
        raise ActionError(f"no variable named {name!r}{hint}")
    return v


def apply_action(model: LinearModel, action: Action) -> LinearModel:
    """Return a new model with a mutating action applied; the input is not changed.

    >>> from ordebug_lib.ordebug.model import LinearModel
    >>> m = LinearModel("t"); _ = m.add_var("x"); _ = m.add_constr("c", {"x": 1}, "<=", 3)
    >>> apply_action(m, parse_action("RELAX c 2")).constrs["c"].rhs
    5.0
    >>> apply_action(m, parse_action("RELAX x.lb 1.5")).vars["x"].lb
    -1.5
    """
    if not action.mutates:
        raise ActionError(f"{action.verb} does not change the model")
    m = model.copy()
    v, a = action.verb, action.args
    if v == "RELAX":
        amount = _number(a[1], False)
        if amount <= 0:
            raise ActionError(f"RELAX amount must be positive, got {a[1]}")
        var_name, dot, side = a[0].rpartition(".")
        if a[0] not in m.constrs and dot and side in ("lb", "ub") and var_name in m.vars:
            _relax_bound(m.vars[var_name], side, amount)
            return m
        c = _constr(m, a[0])
        if c.sense == "==":
            raise ActionError(f"{c.name} is an equality; RELAX needs an inequality (use SET_RHS)")
        c.rhs += amount if c.sense == "<=" else -amount
    elif v == "SET_RHS":
        _constr(m, a[0]).rhs = _number(a[1], False)
    elif v == "FLIP_SENSE":
        c = _constr(m, a[0])
        if c.sense == "==":
            raise ActionError(f"{c.name} is an equality; only <= and >= can be flipped")
        c.sense = ">=" if c.sense == "<=" else "<="
    elif v == "SET_COEF":
        c, var, val = _constr(m, a[0]), _var(m, a[1]), _number(a[2], False)
        if val == 0:
            c.coeffs.pop(var.name, None)
        else:
            c.coeffs[var.name] = val
    elif v == "SET_BOUNDS":
        var, lb, ub = _var(m, a[0]), _number(a[1], True), _number(a[2], True)
        if lb > ub:
            raise ActionError(f"lower bound {a[1]} exceeds upper bound {a[2]}")
        if lb == INF or ub == -INF:
            raise ActionError("a lower bound cannot be +inf nor an upper bound -inf")
        var.lb, var.ub = lb, ub
    elif v == "SET_VTYPE":
        var = _var(m, a[0])
        var.vtype = a[1]
        if a[1] == "B":  # as in Gurobi's files: a binary's bounds are clipped to [0, 1] (not restored by C/I)
            var.lb, var.ub = max(var.lb, 0.0), min(var.ub, 1.0)
    elif v == "DROP":
        del m.constrs[_constr(m, a[0]).name]
    return m


def _relax_bound(var, side: str, amount: float) -> None:
    """Loosen one bound in place: ub + amount or lb - amount (an infinite bound has nothing to loosen)."""
    if (var.ub if side == "ub" else var.lb) in (INF, -INF):
        raise ActionError(f"{var.name}.{side} is infinite: there is no bound to relax")
    if side == "ub":
        var.ub += amount
    else:
        var.lb -= amount


def diagnosis_tokens(action: Action) -> list[str]:
    """The names a SUBMIT blames, de-duplicated in order."""
    if action.verb != "SUBMIT":
        raise ActionError("only SUBMIT carries a diagnosis")
    return list(dict.fromkeys(action.args))


def unknown_tokens(model: LinearModel, tokens: list[str]) -> list[str]:
    """Diagnosis tokens that name nothing in ``model`` (reported back to the agent, not fatal)."""
    bad = []
    for t in tokens:
        base, dot, suffix = t.rpartition(".")
        if t in model.constrs:
            continue
        if dot and f".{suffix}" in BOUND_SUFFIXES and base in model.vars:
            continue
        bad.append(t)
    return bad
