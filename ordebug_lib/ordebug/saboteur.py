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

This module is the generator (``sabotage``, ``make_instance``: ids and seeds, assembly, the recorded
structure); its parts live beside it, and every name of theirs the saboteur had is importable from here:

=================  ==========================================================================================
``error_kinds``    ``Error`` (one change and its exact inverse), ``Base``, the candidate errors of each kind
``error_search``   the per-type search (``Search``, ``search_A`` ... ``search_I``) in a seeded order
``error_types``    the registry ``ERROR_TYPES`` (letter -> ``ErrorType``), ``error_type_letters``
``difficulty``     ``Difficulty`` / ``DIFFICULTY``: the structure each level has
``conflicts``      infeasibility, conflict depth, the alternative repairs of an IIS
``naming``         naming schemes (``Renaming``) and the seeded row and column order
``validation``     ``validate``: only instances it passes leave this module
=================  ==========================================================================================

    >>> inst = make_instance("production_planning", "H", "easy", seed=0)
    >>> inst.root_cause, inst.true_repair                     # doctest: +SKIP
    (['make_valve.ub'], ['SET_BOUNDS make_valve 0 96'])
    >>> validate(inst)
    []
"""
from __future__ import annotations

import hashlib
from typing import Iterable, Sequence

import numpy as np

from . import families
from .conflicts import (alternative_repairs, check_slack_repair, conflict_depth, drop_action, is_infeasible,
                        single_drop_stats, try_repair)
from .difficulty import DIFFICULTY, Difficulty
from .error_kinds import (TOL, Base, Error, GenerationError, add_errors, apply_errors, bound_errors, coef_errors,
                          flip_errors, fmt_value, rhs_errors, typos, vtype_errors)
from .error_search import MAX_TRIES, MULTI_BUDGET, Search, cascade_order
from .error_types import ALL_TYPES, ERROR_TYPES, ErrorType, error_type_letters, error_type_table, n_errors_for
from .instance import DIFFICULTIES, Instance
from .model import LinearModel, ModelError
from .naming import NAMINGS, RANDOM_ROW, RANDOM_VAR, Renaming, reordered, shuffled_order
from .solver import SolverError, compute_iis, min_violation
from .validation import validate


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


__all__ = [  # the generator's own names, then those of its parts (see the module docstring)
    "MAX_ATTEMPTS", "derive_seed", "instance_id", "make_instance", "sabotage", "structure",
    "ALL_TYPES", "DIFFICULTY", "Difficulty", "ERROR_TYPES", "Error", "ErrorType", "GenerationError", "NAMINGS",
    "RANDOM_ROW", "RANDOM_VAR", "Renaming", "conflict_depth", "error_type_letters", "error_type_table", "reordered",
    "shuffled_order", "validate",
    "MAX_TRIES", "MULTI_BUDGET", "TOL", "Base", "Search", "add_errors", "alternative_repairs", "apply_errors",
    "bound_errors", "cascade_order", "check_slack_repair", "coef_errors", "drop_action", "flip_errors", "fmt_value",
    "is_infeasible", "n_errors_for", "rhs_errors", "single_drop_stats", "try_repair", "typos", "vtype_errors",
]
