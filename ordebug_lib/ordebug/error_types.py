"""The registry of error types, ``ERROR_TYPES`` (letter -> ``ErrorType``: definition, injecting search,
checks): the one table the saboteur, ``validation``, the dataset builder's default and the profiles'
``"all"`` read. Adding a type is one entry here plus its search function."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from .actions import apply_action, parse_action
from .conflicts import alternative_repairs, apply_lines, conflict_depth
from .difficulty import DIFFICULTY, Difficulty
from .error_kinds import Error
from .error_search import (Search, search_A, search_B, search_C, search_D, search_E, search_F, search_G, search_H,
                           search_I)
from .solver import IIS, compute_iis


# -- the error types' own definitions ------------------------------------------------------------
# Each takes the instance being validated (an ``instance.Instance``, not imported here: instance.py serves
# this registry's descriptions as ``instance.ERROR_TYPES``, so an import back would close a loop).
def _check_E(inst, iis: IIS) -> str | None:
    named = sum(any(r in iis.tokens() for r in d["root"]) for d in inst.meta["errors"])
    if named < 2:
        return f"type E: the IIS names {named} of the errors, needs at least 2"
    return None


def _check_G(inst, iis: IIS) -> str | None:
    errs, m = inst.meta["errors"], inst.sabotaged
    for k, d in enumerate(errs):
        toks = compute_iis(m).tokens()
        named = [j for j in range(k, len(errs)) if any(r in toks for r in errs[j]["root"])]
        if named != [k]:
            return f"type G: the IIS after {k} repair(s) names errors {named}, should name only error {k}"
        m = apply_lines(m, d["repair"])
    return None


def _check_F(inst, iis: IIS) -> str | None:
    links = [c for c in iis.constraints if c in set(inst.meta["linking_rows"]) and c not in inst.root_cause]
    if not links:
        return "type F: the IIS passes through no linking row other than the root cause"
    return None


def _check_I(inst, iis: IIS) -> str | None:
    alts = alternative_repairs(inst.sabotaged, iis, inst.root_cause, inst.original_objective)
    if not any(a["feasible"] for a in alts):
        return "type I: no alternative repair restores feasibility"
    if any(a["faithful"] for a in alts):
        return "type I: an alternative repair also keeps the original optimum"
    return None


def _check_depth_F(inst, iis: IIS, level: Difficulty) -> str | None:
    depth = conflict_depth(inst.sabotaged, iis, inst.root_cause)
    if depth is None or not level.f_depth[0] <= depth <= level.f_depth[1]:
        return f"F/{inst.difficulty} needs conflict depth in {level.f_depth}, has {depth}"
    return None


def _cascade_iis(inst) -> list[list[str]]:
    """The IIS after repairing the first k errors, k = 0 .. n-1."""
    stages, m = [], inst.sabotaged
    for d in inst.meta["errors"]:
        stages.append(compute_iis(m).tokens())
        for line in d["repair"]:
            m = apply_action(m, parse_action(line))
    return stages


# -- the registry ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ErrorType:
    """One error type of the benchmark: how the saboteur injects it and what ``validation.validate`` checks.

    Every type gets the common checks (the original is optimal, the sabotaged model infeasible,
    ``true_repair`` gives back the original, the difficulty's IIS size); ``validation._check_type`` adds that the
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
    check: Callable[..., str | None] | None = None
    """The type's definition on the sabotaged model's IIS, ``check(instance, iis)``: a problem, or None when it
    holds."""
    check_difficulty: Callable[..., str | None] | None = None
    """A structure the type has per difficulty level, ``check_difficulty(instance, iis, level)`` (F: conflict
    depth in ``Difficulty.f_depth``)."""
    stats: Callable[..., dict] | None = None
    """Extra ``Instance.meta`` entries, ``stats(instance, iis)`` (``saboteur.structure``)."""


_MULTI_KINDS = frozenset({"rhs", "coef", "bound", "flip"})  # what error_search._multi_candidates makes
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


def n_errors_for(error_type: str, difficulty: str) -> int:
    return DIFFICULTY[difficulty].n_errors if ERROR_TYPES[error_type].multi else 1
