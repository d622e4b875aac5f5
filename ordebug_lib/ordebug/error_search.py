"""The per-type search of the saboteur: candidate errors (``error_kinds``) are tried in a seeded random
order and the first that meets the error type's definition and the difficulty's structure is kept
(``Search``; ``search_A`` ... ``search_I``, one per type of the registry ``error_types.ERROR_TYPES``)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import families
from .conflicts import alternative_repairs, conflict_depth, is_infeasible
from .difficulty import DIFFICULTY, Difficulty
from .error_kinds import (Base, Error, GenerationError, add_errors, apply_errors, bound_errors, coef_errors,
                          flip_errors, rhs_errors, vtype_errors)
from .model import LinearModel
from .solver import IIS, compute_iis


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
