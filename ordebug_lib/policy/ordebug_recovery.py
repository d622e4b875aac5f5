"""OR-Debug recovery demonstrations for SFT: a plausible mistake, then the expert's way back.

**Recovery demonstrations** (``recovery_transcripts``, DAgger-style): a prefix in which a plausible
wrong step happened (a repair of an IIS member that is not the true repair, the search baseline's first
repair when it is wrong, a repeated GET_IIS, a wrong repair sent twice, a *near miss*: the true repair's
verb on another target, a *rejected* action: the true repair with a misspelt name), followed
by the expert's continuation from that state: RESET, the ground-truth repair and SUBMIT of the root
cause after a change to the model, the repair and SUBMIT directly after a wasted GET_IIS or an action
the env refused. Near misses and rejected actions are what a greedy SFT policy loops on (right verb,
wrong target; a name it cannot spell): after them the demos always act differently. **A mistake never
carries the answer**: the value of a near miss or rejected action is drawn from the mistake's own target
(``_valued``), not copied from the true repair, so the policy cannot learn to copy the repair's value
from its own earlier mistake (before this rule every C/H/I near miss and rejected action held it).
Every demo is replayed in
``RepairEnv``; a "mistake" that leaves the model feasible with the original optimum is not one and is
skipped, and only continuations that end in a successful episode are kept. ``Transcript.trained_turns``
names the continuation's assistant turns: the SFT records (``sft.turn_records``) train on those only,
never on the injected mistakes.

The demos are conversations of the expert transcripts' format and env settings (``ordebug_experts``).
"""
from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from typing import Sequence

from ..ordebug.actions import MUTATING, parse_action
from ..ordebug.baselines import SearchRepairPolicy, submit_line
from ..ordebug.env import EnvConfig, RepairEnv
from ..ordebug.instance import Instance
from ..ordebug.model import fmt_num
from ..ordebug.solver import objectives_match
from .ordebug_experts import Transcript, action_message, episode_env_config

RECOVERY_PREFIX = "recovery:"  # Transcript.policy of a recovery demonstration: recovery:<kind>
RECOVERY_KINDS = ("wrong_repair", "search_repair", "repeat_get_iis", "repeat_repair", "near_miss", "rejected_action")


def _stable_seed(*parts) -> int:
    return int(hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:8], 16)


def _is_faithful_now(info: dict, instance: Instance) -> bool:
    return bool(info["feasible"]) and objectives_match(info["objective"], instance.original_objective)


def _replay(instance: Instance, env_config: EnvConfig, prefix: list[str], continuation: list[str],
            mutating_mistake: bool, observable_only: bool = True) -> tuple[Transcript | None, str]:
    """Play ``prefix`` then ``continuation`` in a fresh env; (transcript, "kept") or (None, why not).

    With ``observable_only`` a mistake that leaves the model feasible ("looks_solved") is skipped: the
    policy cannot tell it from a faithful repair (the original optimum is never shown), so a RESET there
    would teach RESET after success-looking states, which the expert demos answer with SUBMIT."""
    if len(prefix) + len(continuation) > env_config.max_turns:
        return None, "too_long"
    env = RepairEnv(instance, env_config)
    obs, info = env.reset()
    messages: list[dict] = []
    for k, action in enumerate(prefix + continuation):
        if k == len(prefix) and mutating_mistake:
            if _is_faithful_now(info, instance):
                return None, "not_a_mistake"  # the "wrong" change restored the original optimum
            if observable_only and info["feasible"]:
                return None, "looks_solved"
        messages += [{"role": "user", "content": obs}, action_message(action)]
        obs, _, _, _, info = env.step(action)
        if env.done and k < len(prefix) + len(continuation) - 1:
            return None, "ended_early"
    if not env.done:
        return None, "no_submit"
    t = Transcript(instance.id, "", messages, env.outcome(),
                   trained_turns=list(range(len(prefix), len(prefix) + len(continuation))))
    return (t, "kept") if t.success else (None, "failed")


def _wrong_repairs(instance: Instance, model, iis: list[str]) -> list[str]:
    """Candidate repairs of the IIS members (the search baseline's candidate set) other than the true
    repair's actions, in IIS order."""
    search, true = SearchRepairPolicy(), {str(parse_action(a)) for a in instance.true_repair}
    out: list[str] = []
    for tok in iis:
        for cand in search.candidates(model, tok, iis):
            if cand.action not in true and cand.action not in out:
                out.append(cand.action)
    return out


def _changes(model, action: str) -> bool:
    """Whether ``action`` parses and changes ``model`` (the env would neither refuse nor ignore it)."""
    from ..ordebug.actions import ActionError, apply_action

    try:
        apply_action(model, parse_action(action))
    except ActionError:
        return False
    return True


def _writes(model, action) -> dict[tuple, float]:
    """What a mutating ``action`` changes in ``model``: position -> new value, positions ``("rhs", c)``,
    ``("coef", c, x)``, ``("lb", x)``, ``("ub", x)`` (a removed term has the value 0).

    >>> from ordebug_lib.ordebug.model import LinearModel
    >>> m = LinearModel("t"); _ = m.add_var("x", ub=960); _ = m.add_constr("c", {"x": 1}, "<=", 3)
    >>> _writes(m, parse_action("SET_BOUNDS x 0 96")), _writes(m, parse_action("FLIP_SENSE c"))
    ({('ub', 'x'): 96.0}, {})
    """
    from ..ordebug.actions import apply_action

    new, out = apply_action(model, action), {}
    for name, c in model.constrs.items():
        d = new.constrs.get(name)
        if d is None:
            continue
        if d.rhs != c.rhs:
            out[("rhs", name)] = d.rhs
        for x in set(c.coeffs) | set(d.coeffs):
            if c.coeffs.get(x, 0.0) != d.coeffs.get(x, 0.0):
                out[("coef", name, x)] = d.coeffs.get(x, 0.0)
    for name, v in model.vars.items():
        for side in ("lb", "ub"):
            if getattr(new.vars[name], side) != getattr(v, side):
                out[(side, name)] = getattr(new.vars[name], side)
    return out


@dataclass(frozen=True)
class _Answer:
    """The numbers of an instance's true repair, as a demo's mistake must avoid them."""

    numbers: frozenset
    """Every number the true repair's actions hold, those that restate a value the model has included
    (the 0 of ``SET_BOUNDS x 0 96``): a value a mistake draws is none of them."""
    written: frozenset
    """The values the true repair writes (96 there; a RELAX amount): the answer, in no mistake at all."""
    writes: dict
    """Positions (``_writes``) the true repair changes, played in order from the sabotaged model."""
    steps: tuple
    """(action, its ``_writes``) for each action of the true repair, in order."""

    @classmethod
    def of(cls, instance: Instance, model) -> "_Answer":
        from ..ordebug.actions import ActionError, apply_action

        numbers, written, writes, steps = set(), set(), {}, []
        for a in map(parse_action, instance.true_repair):
            numbers |= set(_numbers(a))
            try:
                w = _writes(model, a)
                model = apply_action(model, a)
            except ActionError:  # not expected of a validated instance; such a step writes nothing known
                w = {}
            writes.update(w)
            written |= set(w.values()) | ({float(a.args[1])} if a.verb == "RELAX" else set())
            steps.append((a, w))
        return cls(frozenset(numbers), frozenset(written), writes, tuple(steps))


def _numbers(action) -> list[float]:
    """The numeric arguments of a parsed action.

    >>> _numbers(parse_action("SET_BOUNDS x 0 inf")), _numbers(parse_action("DROP c"))
    ([0.0, inf], [])
    """
    from ..ordebug.actions import GRAMMAR

    return [float(x) for k, x in zip(GRAMMAR[action.verb], action.args) if k in ("n", "b")]


def _round_numbers(ref: float) -> list[float]:
    """1..9 times the power of ten of ``|ref|``'s decade. A decimal slip of ``ref`` (x10, /10) is never
    among them, so avoiding the answer of a slipped value never removes one (which would tell it).

    >>> _round_numbers(880)[:3], _round_numbers(880)[-1], _round_numbers(0.25)[0]
    ([100.0, 200.0, 300.0], 900.0, 0.1)
    """
    k = math.floor(math.log10(abs(ref)))
    return [float(f"{d}e{k}") for d in range(1, 10)]


def _draws(current: float, scale: float, avoid: frozenset, rng: random.Random, slip: bool = True,
           positive: bool = False) -> list[float]:
    """Values a mistake may write at a position now holding ``current``, best first: its decimal slips
    (x10, /10) in a seeded order when ``slip``, then in a seeded order the round numbers (``_round_numbers``)
    of ``current``'s decade (``scale``'s when ``current`` is 0 or infinite), last those of the decade
    below (for a caller that finds none of the others valid, e.g. a lower bound under an upper bound of
    1). Never ``current``, 0 or one of ``avoid``; with ``positive`` (a RELAX amount) positive only.

    >>> _draws(880.0, 1.0, frozenset({88.0}), random.Random(0))[0]
    8800.0
    >>> 88.0 in _draws(880.0, 1.0, frozenset({88.0}), random.Random(0))
    False
    """
    finite = math.isfinite(current) and current != 0
    slips = [round(current * 10, 9), round(current / 10, 9)] if slip and finite else []
    sign = -1.0 if finite and current < 0 and not positive else 1.0
    ref = abs(current) if finite else scale
    rounds, below = ([sign * r for r in _round_numbers(x)] for x in (ref, ref / 10))
    for xs in (slips, rounds, below):
        rng.shuffle(xs)
    out: list[float] = []
    for v in slips + rounds + below:
        if v != current and v != 0 and v not in avoid and v not in out and (v > 0 or not positive):
            out.append(v)
    return out


def _scale(model, target: str) -> float:
    """A magnitude of a constraint or variable for round numbers when its own value is 0 or infinite: a
    constraint's |rhs|, else its largest |coefficient|; a variable's finite nonzero |bound|, else the
    largest |rhs / coefficient| of its rows; else 1."""
    if target in model.constrs:
        c = model.constrs[target]
        return abs(c.rhs) if c.rhs and math.isfinite(c.rhs) else max(map(abs, c.coeffs.values()), default=1.0)
    v = model.vars[target]
    for b in (v.ub, v.lb):
        if b and math.isfinite(b):
            return abs(b)
    return max((abs(c.rhs / c.coeffs[target]) for c in model.constrs.values()
                if c.coeffs.get(target) and c.rhs and math.isfinite(c.rhs)), default=1.0)


def _valued(model, verb: str, shown: Sequence[str], target: Sequence[str], answer: _Answer, rng: random.Random,
            sides: Sequence[str] = ()) -> list[str]:
    """Actions ``verb <shown names> <values>`` whose values come from the mistake's own ``target`` (names
    of ``model``; ``shown`` are the names written, a misspelt one for a rejected action), best first.

    The rule (documented in ``recovery_transcripts``): each number the action changes is drawn by
    ``_draws`` from the target's current value (rhs, coefficient, bound; the RELAX amount from its
    absolute value), never equal to a number of the true repair; slips only where the true repair does
    not write (a slip of a sabotaged value is the answer or, the answer avoided, tells its direction).
    SET_BOUNDS changes the ``sides`` the true repair changes on its own target and keeps the other as
    the target has it (that number is in the model listing). No action holds a value the true repair
    writes."""
    avoid = answer.numbers
    if verb in ("RELAX", "SET_RHS"):
        name = target[0]
        if name in model.constrs:
            pos, current, scale = ("rhs", name), model.constrs[name].rhs, _scale(model, name)
        else:  # a bound token x.lb / x.ub (RELAX only)
            var, _, side = name.rpartition(".")
            pos, current, scale = (side, var), getattr(model.vars[var], side), _scale(model, var)
        if verb == "RELAX":
            current = abs(current) if math.isfinite(current) else current
        values = _draws(current, scale, avoid, rng, slip=pos not in answer.writes, positive=verb == "RELAX")
        out = [f"{verb} {shown[0]} {fmt_num(v, exact=True)}" for v in values]
    elif verb == "SET_COEF":
        c, x = target
        values = _draws(model.constrs[c].coeffs.get(x, 0.0), _scale(model, c), avoid, rng,
                        slip=("coef", c, x) not in answer.writes)
        out = [f"SET_COEF {shown[0]} {shown[1]} {fmt_num(v, exact=True)}" for v in values]
    elif verb == "SET_BOUNDS":
        v = model.vars[target[0]]
        choices = [_draws(getattr(v, s), _scale(model, v.name), avoid, rng, slip=(s, v.name) not in answer.writes)
                   if s in sides else [getattr(v, s)] for s in ("lb", "ub")]
        out = [f"SET_BOUNDS {shown[0]} {fmt_num(lb, exact=True)} {fmt_num(ub, exact=True)}"
               for lb in choices[0] for ub in choices[1] if lb <= ub and lb != math.inf and ub != -math.inf]
    else:
        raise ValueError(f"{verb} carries no value")
    return [a for a in out if not answer.written & set(_numbers(parse_action(a)))]


def _bound_sides(step_writes: dict, var: str) -> tuple[str, ...]:
    """The sides of ``var`` a SET_BOUNDS step of the true repair changes (the upper one if none)."""
    return tuple(s for s in ("lb", "ub") if (s, var) in step_writes) or ("ub",)


def _value_rng(seed: int, instance: Instance, *parts) -> random.Random:
    return random.Random(_stable_seed("mistake_value", seed, instance.id, *parts))


def _near_misses(instance: Instance, model, iis: list[str], seed: int = 0) -> list[str]:
    """The true repair's verb on another target near the IIS, for every action of the true repair:
    FLIP_SENSE / DROP / RELAX / SET_RHS of another IIS constraint, SET_COEF of another variable of the
    constraint (or of the variable in another IIS constraint), SET_BOUNDS / SET_VTYPE of another
    variable of the IIS. "Another" target: none that a true-repair action of that verb acts on (with
    several errors, E and G, a root's repair with another value would be a wrong value, not a wrong
    target). Only actions that change the model; in IIS order, without duplicates.

    A near miss never carries the true repair's value: RELAX / SET_RHS / SET_COEF / SET_BOUNDS get the
    first valid value ``_valued`` draws from the *near miss's own target* (a decimal slip of its rhs,
    coefficient or bound, or a round number on its scale), seeded by (``seed``, instance id, verb,
    target); FLIP_SENSE, DROP and SET_VTYPE (no value, or a type) are the true repair's verb on the
    other target.

    A greedy SFT policy usually gets the verb right and the target wrong; these demos show what to do
    after such a try (RESET, then the true repair), so its own likely guess appears in the history
    without the answer it could copy from there."""
    answer = _Answer.of(instance, model)
    true = {str(a) for a, _ in answer.steps}
    true_targets = {(a.verb, a.args[:2] if a.verb == "SET_COEF" else a.args[:1]) for a, _ in answer.steps}
    constrs = [t for t in iis if t in model.constrs]
    names: list[str] = []  # variables of the IIS: bound tokens, then the variables of its constraints
    for t in iis:
        for v in ([t.rpartition(".")[0]] if t not in model.constrs else model.constrs[t].coeffs):
            if v in model.vars and v not in names:
                names.append(v)
    out: list[str] = []
    for a, step in answer.steps:
        verb, args = a.verb, a.args
        if verb in ("FLIP_SENSE", "DROP"):
            cands = [[f"{verb} {c}"] for c in constrs]
        elif verb == "SET_VTYPE":
            cands = [[f"{verb} {y} {args[1]}"] for y in names]
        else:
            if verb in ("RELAX", "SET_RHS"):
                targets = [(c,) for c in constrs]
            elif verb == "SET_COEF":
                c, x = args[:2]
                targets = ([(c, y) for y in (model.constrs[c].coeffs if c in model.constrs else ())]
                           + [(d, x) for d in constrs if x in model.constrs[d].coeffs])
            elif verb == "SET_BOUNDS":
                targets = [(y,) for y in names]
            else:
                targets = []
            # another target: a true one with another value would be a wrong value, not a wrong target
            targets = [tgt for tgt in targets if (verb, tgt) not in true_targets]
            cands = [_valued(model, verb, tgt, tgt, answer, _value_rng(seed, instance, verb, *tgt),
                             sides=_bound_sides(step, args[0]) if verb == "SET_BOUNDS" else ())
                     for tgt in targets]
        for options in cands:  # the first valid value of each target
            pick = next((c for c in options if str(parse_action(c)) not in true and _changes(model, c)), None)
            if pick is not None and pick not in out:
                out.append(pick)
    return out


def _misspelt(instance: Instance, model, seed: int = 0) -> str | None:
    """The first true-repair action with its first name argument missing its last character, if that is
    no name of the model (so the env refuses it with "no constraint/variable named ..."). Its value is
    not the true repair's: RELAX / SET_RHS / SET_COEF / SET_BOUNDS get the first value ``_valued`` draws
    from the target's current (sabotaged) rhs, coefficient or bound, a round number on its scale since
    the true repair writes there, seeded by (``seed``, instance id); FLIP_SENSE, DROP and SET_VTYPE keep
    their arguments."""
    answer = _Answer.of(instance, model)
    for a, step in answer.steps:
        if not a.args:
            continue
        bad = a.args[0][:-1]
        if not bad or bad in model.constrs or bad in model.vars:
            continue
        if a.verb not in ("RELAX", "SET_RHS", "SET_COEF", "SET_BOUNDS"):
            return " ".join((a.verb, bad, *a.args[1:]))
        target = a.args[:2] if a.verb == "SET_COEF" else a.args[:1]
        shown = (bad, *target[1:])
        try:
            options = _valued(model, a.verb, shown, target, answer, _value_rng(seed, instance, "rejected", a.verb),
                              sides=_bound_sides(step, a.args[0]))
        except KeyError:  # a target the sabotaged model lacks (not expected): try the next action
            options = []
        if options:
            return options[0]
    return None


def _search_first_repair(instance: Instance, env_config: EnvConfig, limit: int = 4) -> list[str] | None:
    """The search baseline's actions up to and including its first change of the model (None if it
    SUBMITs or errs first)."""
    env, policy = RepairEnv(instance, env_config), SearchRepairPolicy()
    obs, info = env.reset()
    actions: list[str] = []
    for _ in range(limit):
        action = policy.act(obs, info)
        actions.append(action)
        verb = parse_action(action).verb
        if verb == "SUBMIT":
            return None
        obs, _, _, _, info = env.step(action)
        if info["last_error"] is not None:
            return None
        if verb in MUTATING:
            return actions
    return None


def recovery_transcripts(instance: Instance, kinds: Sequence[str] = RECOVERY_KINDS, n_wrong: int = 2,
                         env_config: EnvConfig | None = None, seed: int = 0,
                         observable_only: bool = True) -> tuple[list[Transcript], dict]:
    """Successful recovery demonstrations of one instance (see the module docstring), and counts
    ``{kind: {"tried": n, "kept": k, <reason skipped>: m}}``.

    Kinds: ``wrong_repair`` (up to ``n_wrong`` candidate repairs of IIS members other than the true
    repair, drawn with a seed from ``seed`` and the instance id, after GET_IIS), ``search_repair`` (the
    search baseline's opening up to its first repair), ``repeat_get_iis`` (GET_IIS twice), and
    ``repeat_repair`` (the first drawn wrong repair sent twice), ``near_miss`` (up to ``n_wrong`` of
    ``_near_misses``, drawn the same way, after GET_IIS) and ``rejected_action`` (``_misspelt`` after
    GET_IIS). After a change to the model the continuation is RESET, the true repair, SUBMIT of the root
    cause; after a repeated GET_IIS or a refused action it is the true repair and SUBMIT.

    Values of near misses and rejected actions (RELAX, SET_RHS, SET_COEF, SET_BOUNDS; FLIP_SENSE, DROP
    and SET_VTYPE carry none and are unchanged), seeded by (``seed``, instance id, the mistake's target):
    each number the mistake changes is a decimal slip (x10 or /10) of its own target's current rhs,
    coefficient or bound, or, where the true repair itself writes (the misspelt target of a rejected
    action: a slip of the sabotaged value would be the answer, or tell its direction) or there is
    nothing to slip (0, inf), a round number d x 10^k of the target's decade (``_draws``). A drawn value
    never equals a number of the true repair. SET_BOUNDS changes the sides the true repair changes and
    keeps the target's other bound as it is (a number of the model listing, e.g. the 0 also restated by
    ``SET_BOUNDS x 0 96``); no mistake holds a value the true repair writes.
    ``observable_only`` (default) skips mistakes after which the model is feasible (see ``_replay``):
    measured on 80 train instances of the 25-per-cell benchmark, half of the wrong_repair demos and
    nearly all search_repair demos were such states."""
    unknown = set(kinds) - set(RECOVERY_KINDS)
    if unknown:
        raise ValueError(f"unknown recovery kinds {sorted(unknown)}; kinds: {', '.join(RECOVERY_KINDS)}")
    env_config = env_config or episode_env_config()
    submit = submit_line(list(instance.root_cause))
    restart = ["RESET", *instance.true_repair, submit]
    env = RepairEnv(instance, env_config)
    env.reset()
    info = env.step("GET_IIS")[4]
    wrong, near = [], []
    if info["iis"] and {"wrong_repair", "repeat_repair"} & set(kinds):
        wrong = _wrong_repairs(instance, info["model"], info["iis"])
        random.Random(_stable_seed("recovery", seed, instance.id)).shuffle(wrong)
    if info["iis"] and "near_miss" in kinds:
        near = _near_misses(instance, info["model"], info["iis"], seed)
        random.Random(_stable_seed("near_miss", seed, instance.id)).shuffle(near)
    plans: list[tuple[str, list[str], list[str], bool]] = []  # kind, prefix, continuation, mutating mistake
    for kind in kinds:
        if kind == "wrong_repair":
            plans += [(kind, ["GET_IIS", w], restart, True) for w in wrong[:n_wrong]]
        elif kind == "repeat_repair" and wrong:
            plans.append((kind, ["GET_IIS", wrong[0], wrong[0]], restart, True))
        elif kind == "repeat_get_iis":
            plans.append((kind, ["GET_IIS", "GET_IIS"], [*instance.true_repair, submit], False))
        elif kind == "near_miss":
            plans += [(kind, ["GET_IIS", m], restart, True) for m in near[:n_wrong]]
        elif kind == "rejected_action":
            bad = _misspelt(instance, info["model"], seed)
            if bad is not None:
                plans.append((kind, ["GET_IIS", bad], [*instance.true_repair, submit], False))
        elif kind == "search_repair":
            opening = _search_first_repair(instance, env_config)
            true = {str(parse_action(a)) for a in instance.true_repair}
            if opening is not None and str(parse_action(opening[-1])) not in true:
                plans.append((kind, opening, restart, True))
    kept, counts = [], {k: {"tried": 0, "kept": 0} for k in kinds}
    for kind, prefix, continuation, mutating in plans:
        t, why = _replay(instance, env_config, prefix, continuation, mutating, observable_only)
        counts[kind]["tried"] += 1
        counts[kind][why] = counts[kind].get(why, 0) + 1
        if t is not None:
            t.policy = f"{RECOVERY_PREFIX}{kind}"
            kept.append(t)
    return kept, counts


def without_recoveries(transcripts: Sequence[Transcript]) -> list[Transcript]:
    """The expert transcripts among ``transcripts``: recovery demonstrations left out (their prefixes hold
    injected mistakes)."""
    return [t for t in transcripts if not t.policy.startswith(RECOVERY_PREFIX)]
