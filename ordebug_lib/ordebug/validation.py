"""Validation of an instance: ``validate`` re-checks everything from the models (the original optimal at
the recorded objective, the sabotaged model infeasible, the root cause's tokens, ``true_repair`` giving
back the original), then the error type's definition (``error_types``), the difficulty's structure and
the naming scheme. Only instances it passes leave the saboteur."""
from __future__ import annotations

import re

from . import families
from .actions import unknown_tokens
from .conflicts import apply_lines, is_infeasible
from .difficulty import DIFFICULTY
from .error_types import ERROR_TYPES, n_errors_for
from .instance import Instance
from .naming import RANDOM_ROW, RANDOM_VAR
from .solver import compute_iis, objectives_match, solve


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


def _check_repair(inst: Instance) -> list[str]:
    try:
        repaired = apply_lines(inst.sabotaged, inst.true_repair)
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
            if not is_infeasible(apply_lines(inst.sabotaged, others)):
                return [f"type {t}: error {i} ({errs[i]['target']}) alone does not make the model infeasible"]
    problem = et.check(inst, iis) if et.check is not None else None
    return [problem] if problem else []


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
    m = inst.sabotaged
    if inst.naming == "random":
        odd = [n for n in m.vars if not re.fullmatch(RANDOM_VAR, n)] + \
              [n for n in m.constrs if not re.fullmatch(RANDOM_ROW, n)]
        return [f"random naming left names {odd[:5]}"] if odd else []
    if inst.family in families.MODULES:
        odd = [c for c in m.constrs if families.row_kind(inst.family, c) is None]
        return [f"rows outside the family's name patterns: {odd}"] if odd else []
    return []
