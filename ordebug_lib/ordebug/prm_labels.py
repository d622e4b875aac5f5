"""Exact step labels for the OR-Debug process reward model (E8, seeds/001 Strategy 2), from stored episodes.

Two labels per step. The **seed label** uses only solver feedback the environment can reveal to the
agent (the seeds' four levels); the **progress label** uses ground truth no agent sees (the instance's
original model) and says what the step did to the model's distance from it.

Seed label (``seed_label``): the first rule that applies, in this order. "Changed the model" means a
valid (no ``ActionError``) mutating verb (RELAX, SET_RHS, FLIP_SENSE, SET_COEF, SET_BOUNDS, SET_VTYPE,
DROP) or RESET.

=====  ==================  ==========================================================================
label  name                exact rule
=====  ==================  ==========================================================================
1.0    solved              the step changed the model, the model after it is OPTIMAL and the model
                           before it was not (a transition: edits after the model is already feasible
                           are not "solved" again, or a PRM reward would pay for idle edits)
1.0    IIS shrank          the step changed the model, the model after it is INFEASIBLE, and the size
                           of its IIS (the env's hidden ``track_iis`` search, ``StepRecord.iis_size``)
                           is strictly smaller than the IIS size of the model before the step (the
                           size the env computed for that same model; unknown, e.g. a failed IIS search
                           or a model that was not INFEASIBLE, never shrinks). Sizes of IISs of two
                           models are compared, not their members: Gurobi's IIS is one irreducible
                           subsystem, not the smallest
0.5    correct diagnosis   a valid SUBMIT whose tokens meet the *reference*: the IIS of the episode's
                           starting model as GET_IIS shows it at step 1 (the seeds' ``diagnosis ∩
                           actual_IIS ≠ ∅``; the start IIS, because a SUBMIT usually comes once the
                           model is feasible and has no IIS, and RESET can always bring it back), plus
                           ``<var>.type`` for every integer / binary variable of the starting model
                           that is in an IIS row or bound (an IIS lists rows and bounds, never
                           integrality, so a type error could otherwise never be "correct")
0.2    diagnostic action   a valid GET_IIS, CHECK_SLACK or INSPECT (``env.DIAGNOSTIC_VERBS``), whatever
                           it answered (an IIS, "no IIS: the model is OPTIMAL", "not available")
0.0    no progress         everything else: malformed or refused actions, changes that neither solve
                           nor shrink the IIS, a SUBMIT that misses the reference
=====  ==================  ==========================================================================

Progress label (``progress_label``), on *elements* of a model: ``row(c)`` (the row exists),
``sense(c)``, ``rhs(c)``, ``coef(c,x)`` (a missing term is 0), ``lb(x)``, ``ub(x)``, ``vtype(x)``. A
missing row's sense, rhs and coefficients are None, a value that equals only None. For each element
the step changed, with ``o`` its value in the instance's original, ``b`` before and ``a`` after the step:

==================  ================================================================================
field               exact rule (numbers are equal within rel 1e-6 / abs 1e-9: the model text prints
                    6 significant digits, so a value read off it restores within 5e-7 relative)
==================  ================================================================================
removed_error       some changed element was wrong before and equals the original after: b ≠ o, a = o
                    ("wrong" is relative to the original, so undoing an earlier step's damage counts)
toward_repair       some changed element moved strictly closer to the original: removed_error, or
                    b ≠ o, a ≠ o and dist(a, o) < dist(b, o)
broke_correct       some changed element was right before and is not after: b = o, a ≠ o
away_from_repair    some changed element was wrong and moved strictly farther: dist(a, o) > dist(b, o)
progress            −1 if broke_correct or away_from_repair; else +1 if toward_repair; else 0. Harm
                    takes precedence so that a step that fixes one element and breaks another earns
                    nothing: a dense reward that paid it could be farmed by breaking and fixing
==================  ================================================================================

Distance per element kind: rhs, coefficient, bound: |a − o|; toward an infinite original bound
(``ub = inf``) "closer" means larger (smaller for ``lb = -inf``), and an infinite value is infinitely far
from a finite one. sense, vtype, row (dropped or added): 0 when equal, else 1, so the only categorical
moves are removed_error (to the original) and broke_correct (away from it); I → B when the original is C
is neither. Where a value is None (a row missing before or after) there is no distance: such a change is
removed_error or broke_correct or nothing. Consequences: DROP of a row of the original is broke_correct
even when it is the sabotaged row (the original keeps it; ``env.undone`` judges it the same way), DROP of
an injected (added) row is removed_error, and an edit *inside* an added row (RELAX of it) is 0.

How this differs from ``env.step_progress_label`` (a solver-feedback label, the seed label's first
version): there "solved" is any change that leaves the model OPTIMAL, also when it already was, and the
0.5 level compares the SUBMIT with the root cause, which is ground truth the env never reveals; here the
0.5 level uses only what GET_IIS reveals, and the ground truth goes into the separate progress label. The
IIS size there carries forward past a failed IIS search; here an unknown size is unknown.

Stored episodes (``label_episodes``) are replayed through ``RepairEnv`` from the instance and the stored
action texts; every stored field of every step (but its wall time) must come back, or ``ReplayMismatch``
is raised. Labels are made for the train and val splits only: they train the PRM, and test stays
untouched. ``label_distribution`` sets the seed-label shares beside the seeds' expected ranges.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from .actions import MUTATING, Action, ActionError, parse_action
from .env import DIAGNOSTIC_VERBS, FEASIBLE_STATUS, EnvConfig, EpisodeOutcome, RepairEnv, StepRecord
from .instance import Instance
from .model import LinearModel
from .results import load_results

SEED_LEVELS = (1.0, 0.5, 0.2, 0.0)
SEED_EXPECTED = {1.0: (0.20, 0.30), 0.5: (0.30, 0.40), 0.2: (0.10, 0.20), 0.0: (0.20, 0.30)}
"""The seeds' expected share of each level (seeds/001, "PRM Label Distribution (Expected)")."""
PROGRESS_LEVELS = (1, 0, -1)
LABEL_SPLITS = ("train", "val")
CHANGING_VERBS = MUTATING | {"RESET"}
REL_TOL, ABS_TOL = 1e-6, 1e-9
PROGRESS_FIELDS = ("removed_error", "toward_repair", "broke_correct", "away_from_repair", "progress")


class ReplayMismatch(ValueError):
    """Replaying a stored episode did not reproduce what the database holds for it."""


# -- seed label (solver feedback only) ---------------------------------------------------------------
def _field(step: StepRecord | Mapping, name: str):
    return step[name] if isinstance(step, Mapping) else getattr(step, name)


def changed_model(step: StepRecord | Mapping) -> bool:
    """Did the step change the model: a valid mutating verb or RESET?"""
    return _field(step, "error") is None and _field(step, "verb") in CHANGING_VERBS


def seed_label(step: StepRecord | Mapping, status_before: str, iis_size_before: int | None,
               reference: Iterable[str]) -> float:
    """The seeds' four-level label of one step (the table in the module docstring). ``step`` is a
    ``StepRecord`` or its dict (as stored); ``status_before`` / ``iis_size_before`` describe the model the
    step acted on; ``reference`` is ``diagnosis_reference`` of the starting model.

    >>> step = dict(verb="SET_RHS", error=None, status="INFEASIBLE", feasible=False, iis_size=2, diagnosis=None)
    >>> seed_label(step, "INFEASIBLE", 3, []), seed_label(step, "INFEASIBLE", 2, [])   # IIS 3 -> 2; 2 -> 2
    (1.0, 0.0)
    >>> solved = dict(step, status="OPTIMAL", feasible=True, iis_size=None)
    >>> seed_label(solved, "INFEASIBLE", 3, []), seed_label(solved, "OPTIMAL", None, [])  # only the transition
    (1.0, 0.0)
    >>> submit = dict(verb="SUBMIT", error=None, status="OPTIMAL", feasible=True, iis_size=None, diagnosis=["c"])
    >>> seed_label(submit, "OPTIMAL", None, ["c", "x.ub"]), seed_label(submit, "OPTIMAL", None, ["d"])
    (0.5, 0.0)
    >>> refused = dict(step, error="no constraint named 'nope'")                  # IIS 3 -> 2, but refused
    >>> seed_label(dict(step, verb="GET_IIS"), "INFEASIBLE", 2, []), seed_label(refused, "INFEASIBLE", 3, [])
    (0.2, 0.0)
    """
    verb, error = _field(step, "verb"), _field(step, "error")
    if verb is None or error is not None:
        return 0.0
    if changed_model(step):
        if _field(step, "feasible") and status_before != FEASIBLE_STATUS:
            return 1.0
        after = _field(step, "iis_size")
        if not _field(step, "feasible") and after is not None and iis_size_before is not None \
                and after < iis_size_before:
            return 1.0
        return 0.0
    if verb == "SUBMIT":
        return 0.5 if set(_field(step, "diagnosis") or []) & set(reference) else 0.0
    return 0.2 if verb in DIAGNOSTIC_VERBS else 0.0


def seed_labels(trajectory: Iterable[StepRecord | Mapping], initial_status: str, initial_iis_size: int | None,
                reference: Iterable[str]) -> list[float]:
    """``seed_label`` of every step of one episode, tracking the status and IIS size of the current model:
    a change sets both from the step (the IIS size None when unknown); GET_IIS of an unchanged model
    records the size of the same IIS the env keeps, so it is taken too.

    >>> t = [dict(verb="GET_IIS", error=None, status="INFEASIBLE", feasible=False, iis_size=4, diagnosis=None),
    ...      dict(verb="DROP", error=None, status="INFEASIBLE", feasible=False, iis_size=3, diagnosis=None),
    ...      dict(verb="DROP", error=None, status="OPTIMAL", feasible=True, iis_size=None, diagnosis=None),
    ...      dict(verb="SUBMIT", error=None, status="OPTIMAL", feasible=True, iis_size=None, diagnosis=["a"])]
    >>> seed_labels(t, "INFEASIBLE", 4, reference=["a", "b"])
    [0.2, 1.0, 1.0, 0.5]
    """
    reference = set(reference)
    status = initial_status
    iis = initial_iis_size if initial_status == "INFEASIBLE" else None
    labels = []
    for step in trajectory:
        labels.append(seed_label(step, status, iis, reference))
        if changed_model(step):
            iis = _field(step, "iis_size")
        elif _field(step, "iis_size") is not None:
            iis = _field(step, "iis_size")
        status = _field(step, "status")
    return labels


def diagnosis_reference(model: LinearModel, iis_tokens: Iterable[str]) -> frozenset[str]:
    """The tokens a SUBMIT must meet for the 0.5 level: the IIS members, plus ``<var>.type`` of each
    integer / binary variable in an IIS row or bound.

    >>> m = LinearModel("t"); _ = m.add_var("n", vtype="I", ub=10); _ = m.add_var("y")
    >>> _ = m.add_constr("pour", {"n": 2}, "==", 5); _ = m.add_constr("cap", {"n": 1, "y": 1}, "<=", 8)
    >>> sorted(diagnosis_reference(m, ["pour"]))
    ['n.type', 'pour']
    """
    tokens = list(iis_tokens)
    in_iis: set[str] = set()
    for t in tokens:
        if t in model.constrs:
            in_iis |= set(model.constrs[t].coeffs)
        else:
            in_iis.add(t.rpartition(".")[0])
    types = {f"{v}.type" for v in in_iis if v in model.vars and model.vars[v].vtype != "C"}
    return frozenset(tokens) | types


def start_reference(instance: Instance, config: EnvConfig | None = None) -> frozenset[str]:
    """``diagnosis_reference`` of the IIS that GET_IIS shows at step 1 of an episode on ``instance``
    (empty when the start model is not INFEASIBLE or the IIS search fails): exactly what the env reveals."""
    env = RepairEnv(instance, dataclasses.replace(config or EnvConfig(), max_turns=2))
    env.reset()
    start = env.model
    _, _, _, _, info = env.step("GET_IIS")
    return diagnosis_reference(start, info["iis"] or [])


# -- progress label (ground truth) -------------------------------------------------------------------
def model_elements(model: LinearModel) -> dict[str, object]:
    """Element -> value (see the module docstring): rows, senses, rhs, coefficients, bounds, types.

    >>> m = LinearModel("t"); _ = m.add_var("x", ub=4); _ = m.add_constr("c", {"x": 2}, "<=", 9)
    >>> model_elements(m)
    {'row(c)': True, 'sense(c)': '<=', 'rhs(c)': 9.0, 'coef(c,x)': 2.0, 'lb(x)': 0.0, 'ub(x)': 4.0, 'vtype(x)': 'C'}
    """
    out: dict[str, object] = {}
    for c in model.constrs.values():
        out[f"row({c.name})"] = True
        out[f"sense({c.name})"] = c.sense
        out[f"rhs({c.name})"] = c.rhs
        out.update({f"coef({c.name},{v})": a for v, a in c.coeffs.items()})
    for v in model.vars.values():
        out.update({f"lb({v.name})": v.lb, f"ub({v.name})": v.ub, f"vtype({v.name})": v.vtype})
    return out


def _value(elements: dict, key: str):
    """An element's value, also when absent: a missing row is False, its parts None, a missing term 0."""
    if key in elements:
        return elements[key]
    if key.startswith("row("):
        return False
    if key.startswith("coef("):
        row = key[5:].rsplit(",", 1)[0]
        return 0.0 if f"row({row})" in elements else None
    return None


def _is_num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)  # a hand-set bound may be an int


def _same(a, b) -> bool:
    if _is_num(a) and _is_num(b):
        return a == b or math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    return a == b and type(a) is type(b)  # None, bool and str compare exactly; True is no number here


def _closer(a, b, o) -> bool:
    """Is ``a`` strictly closer to ``o`` than ``b`` is (numbers only; categories have no in-between)?"""
    if not all(_is_num(x) for x in (a, b, o)):
        return False
    if math.isinf(o):
        return a > b if o > 0 else a < b
    da, db = abs(a - o), abs(b - o)
    return da < db and not math.isclose(da, db, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def changed_elements(before: LinearModel, after: LinearModel) -> list[str]:
    """The elements whose value differs between two models (within the tolerance), in a fixed order."""
    eb, ea = model_elements(before), model_elements(after)
    keys = list(dict.fromkeys([*eb, *ea]))
    return [k for k in keys if not _same(_value(eb, k), _value(ea, k))]


def progress_label(instance: Instance | LinearModel, model_before: LinearModel, model_after: LinearModel,
                   action: Action | str | None = None) -> dict:
    """The ground-truth progress of one step (the table in the module docstring): ``removed_error``,
    ``toward_repair``, ``broke_correct``, ``away_from_repair``, ``progress`` in {+1, 0, −1} and
    ``changed`` (the elements the step changed). ``instance`` is the Instance (its ``original`` is the
    truth) or the original model itself. ``action``, when given, must agree: a verb that cannot change
    the model (or an action that does not parse) with models that differ raises ValueError.

    >>> orig = LinearModel("t"); _ = orig.add_var("x", ub=4); _ = orig.add_constr("c", {"x": 1}, "<=", 9)
    >>> _ = orig.add_constr("d", {"x": 1}, ">=", 1)
    >>> typo = orig.copy(); typo.constrs["c"].rhs = 0.9            # the injected error: rhs 9 -> 0.9
    >>> def step(before, line):
    ...     from ordebug_lib.ordebug.actions import apply_action
    ...     return progress_label(orig, before, apply_action(before, parse_action(line)), line)
    >>> step(typo, "SET_RHS c 9")["progress"], step(typo, "SET_RHS c 9")["removed_error"]   # undone
    (1, True)
    >>> r = step(typo, "RELAX c 5"); r["toward_repair"], r["removed_error"], r["progress"]  # 0.9 -> 5.9
    (True, False, 1)
    >>> r = step(typo, "SET_RHS d 0"); r["broke_correct"], r["progress"], r["changed"]     # d was right
    (True, -1, ['rhs(d)'])
    >>> step(typo, "SET_RHS c 0.5")["away_from_repair"], step(typo, "DROP c")["progress"]  # farther; dropped
    (True, -1)
    """
    original = instance.original if isinstance(instance, Instance) else instance
    verb = action.verb if isinstance(action, Action) else None
    if isinstance(action, str):
        try:
            verb = parse_action(action).verb
        except ActionError:
            verb = None
    changed = changed_elements(model_before, model_after)
    if changed and action is not None and verb not in CHANGING_VERBS:
        raise ValueError(f"action {action!r} cannot change the model, yet these elements differ: {changed[:5]}")
    eo, eb, ea = model_elements(original), model_elements(model_before), model_elements(model_after)
    removed = toward = broke = away = False
    for k in changed:
        o, b, a = _value(eo, k), _value(eb, k), _value(ea, k)
        right_before, right_after = _same(b, o), _same(a, o)
        if right_before and not right_after:
            broke = True
        elif right_after and not right_before:
            removed = toward = True
        elif not right_before and not right_after:
            toward |= _closer(a, b, o)
            away |= _closer(b, a, o)
    progress = -1 if broke or away else 1 if toward else 0
    return {"removed_error": removed, "toward_repair": toward, "broke_correct": broke,
            "away_from_repair": away, "progress": progress, "changed": changed}


# -- stored episodes ---------------------------------------------------------------------------------
def _floats_match(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_floats_match(a[k], b[k]) for k in a)
    return a == b


def replay_episode(instance: Instance, trajectory: list[Mapping], config: EnvConfig,
                   truncated: bool = False) -> tuple[EpisodeOutcome, list[LinearModel]]:
    """Re-run a stored episode: a fresh ``RepairEnv(instance, config)`` steps through the stored action
    texts. Returns the replayed outcome and the models before each step and after the last one
    (``len(trajectory) + 1`` models). Every field of every stored step but ``wall_time`` must come back
    (numbers within rel 1e-9), or ``ReplayMismatch`` says where. ``truncated``: the stored episode was
    ended from outside (``RepairEnv.truncate``) after its last step."""
    env = RepairEnv(instance, config)
    env.reset()
    models = [env.model]
    for k, stored in enumerate(trajectory, 1):
        if env.done:
            raise ReplayMismatch(f"{instance.id}: the replay ended after step {k - 1}, the stored episode has "
                                 f"{len(trajectory)} steps")
        env.step(stored["action_text"])
        models.append(env.model)
        got = dataclasses.asdict(env.trajectory[-1])
        for name, want in stored.items():
            if name == "wall_time":
                continue
            if name not in got:
                raise ReplayMismatch(f"{instance.id} step {k}: stored field {name!r} is not a StepRecord field")
            if not _floats_match(got[name], want):
                raise ReplayMismatch(f"{instance.id} step {k} ({stored['action_text']!r}): {name} replays as "
                                     f"{got[name]!r}, stored {want!r} (another EnvConfig or solver version?)")
    if not env.done:
        if not truncated:
            raise ReplayMismatch(f"{instance.id}: the stored episode ends after {len(trajectory)} steps, "
                                 "without SUBMIT or the step limit, and is not marked truncated")
        env.truncate("replay of an episode ended from outside")
    return env.outcome(), models


def episode_id(policy: str, instance_id: str, seed: int) -> str:
    """The results table's primary key as one string.

    >>> episode_id("greedy", "diet-4c30d13257", 0)
    'greedy/diet-4c30d13257/seed0'
    """
    return f"{policy}/{instance_id}/seed{seed}"


ROW_CHECKS = ("steps", "submitted", "truncated", "initial_status", "final_status", "feasible_end")


def label_episodes(db_path: str | Path, instances_by_id: Mapping[str, Instance], split: str,
                   policy: str | None = None, env_config: EnvConfig | None = None) -> pd.DataFrame:
    """One row per stored step of every episode of ``split`` ("train" or "val"; "test" is refused) in the
    results database (optionally of one ``policy``): episode_id, policy, seed, instance_id, split, step
    (1-based), action_text, verb, seed_label, the ``progress_label`` fields and ``changed`` (elements,
    "; "-joined).

    Episodes are selected by the split stored with them; an instance whose own ``meta['split']`` says
    otherwise raises, so does a stored instance missing from ``instances_by_id``. Each episode is replayed
    (``replay_episode``; ``env_config`` as in the evaluation, default ``EnvConfig()``, the stored
    max_turns) and must reproduce every stored step and the row's summary columns (``ROW_CHECKS``).
    """
    if split == "test":
        raise ValueError("label_episodes refuses the test split: these labels train the PRM, and the test "
                         "split stays untouched until the final evaluation")
    if split not in LABEL_SPLITS:
        raise ValueError(f"split must be one of {LABEL_SPLITS}, got {split!r}")
    rows = split_rows(load_results(db_path, policy=policy), split, db_path, policy)
    return label_stored_rows(rows, instances_by_id, split, env_config)


def split_rows(stored: pd.DataFrame, split: str, db_path, policy: str | None = None) -> pd.DataFrame:
    """The rows of ``stored`` (``results.load_results`` of ``db_path``) on ``split``; none is an error that names
    the splits the database does hold."""
    rows = stored[stored["split"] == split]
    if rows.empty:
        counts = stored["split"].fillna("<none>").value_counts().to_dict()
        raise ValueError(f"no stored episode of split {split!r} in {db_path}"
                         f"{f' for policy {policy!r}' if policy else ''}; stored splits: {counts}")
    return rows


def label_stored_rows(rows: pd.DataFrame, instances_by_id: Mapping[str, Instance], split: str,
                      env_config: EnvConfig | None = None) -> pd.DataFrame:
    """The labelling of ``label_episodes`` on stored result rows of one ``split``, with its replay checks and
    no split guard: ``label_episodes`` (training labels) refuses test, ``policy.prm.evaluation_labels`` (PRM
    evaluation) reaches it."""
    base = env_config or EnvConfig()
    out, references = [], {}
    for row in rows.itertuples(index=False):
        inst = instances_by_id.get(row.instance_id)
        if inst is None:
            raise KeyError(f"instance {row.instance_id!r} of a stored {split} episode is not in instances_by_id")
        if inst.meta.get("split", split) != split:
            raise ValueError(f"instance {inst.id} is in split {inst.meta['split']!r} but stored as {split!r}")
        config = dataclasses.replace(base, max_turns=int(row.max_turns))
        outcome, models = replay_episode(inst, row.trajectory, config, truncated=bool(row.truncated))
        for name in ROW_CHECKS:
            if getattr(outcome, name) != getattr(row, name):
                raise ReplayMismatch(f"{inst.id}: {name} replays as {getattr(outcome, name)!r}, "
                                     f"stored {getattr(row, name)!r}")
        if inst.id not in references:
            references[inst.id] = start_reference(inst, base)
        seeds = seed_labels(outcome.trajectory, outcome.initial_status, outcome.initial_iis_size,
                            references[inst.id])
        eid = episode_id(row.policy, row.instance_id, int(row.seed))
        for step, label, before, after in zip(outcome.trajectory, seeds, models, models[1:]):
            prog = progress_label(inst, before, after, step.action)
            out.append({"episode_id": eid, "policy": row.policy, "seed": int(row.seed),
                        "instance_id": row.instance_id, "split": split, "step": step.index,
                        "action_text": step.action_text, "verb": step.verb, "seed_label": label,
                        **{k: prog[k] for k in PROGRESS_FIELDS}, "changed": "; ".join(prog["changed"])})
    return pd.DataFrame(out)


def label_distribution(df: pd.DataFrame) -> pd.DataFrame:
    """Shares of each seed-label level (beside the seeds' expected range) and of each progress value, per
    policy and over all rows (group "all"). Columns: group, label ("seed_label" / "progress"), value, n,
    share, expected_low, expected_high, in_expected (NaN / None for progress: the seeds expect nothing).
    Every level appears, with share 0 when absent, so the shares of each (group, label) sum to 1.

    >>> df = pd.DataFrame({"policy": ["p", "p", "q", "q"], "seed_label": [1.0, 0.2, 0.0, 0.2],
    ...                    "progress": [1, 0, 0, -1]})
    >>> t = label_distribution(df)
    >>> seed = t[(t.group == "all") & (t.label == "seed_label")]
    >>> list(seed["value"]), list(seed["share"]), list(seed["in_expected"])
    ([1.0, 0.5, 0.2, 0.0], [0.25, 0.0, 0.5, 0.25], [True, False, False, True])
    >>> t[(t.group == "q") & (t.label == "progress")][["value", "share"]].values.tolist()
    [[1, 0.0], [0, 0.5], [-1, 0.5]]
    """
    if df.empty:
        raise ValueError("no labelled steps: nothing to count")
    bad = set(df["seed_label"]) - set(SEED_LEVELS)
    if bad:
        raise ValueError(f"seed labels outside {SEED_LEVELS}: {sorted(bad)}")
    groups = [(p, df[df["policy"] == p]) for p in sorted(df["policy"].unique())] + [("all", df)]
    out = []
    for name, g in groups:
        for label, levels in (("seed_label", SEED_LEVELS), ("progress", PROGRESS_LEVELS)):
            counts = g[label].value_counts()
            for level in levels:
                n = int(counts.get(level, 0))
                share = n / len(g)
                lo, hi = SEED_EXPECTED[level] if label == "seed_label" else (math.nan, math.nan)
                inside = (lo <= share <= hi) if label == "seed_label" else None
                out.append({"group": name, "label": label, "value": level, "n": n, "share": share,
                            "expected_low": lo, "expected_high": hi, "in_expected": inside})
    table = pd.DataFrame(out)
    table["value"] = pd.Series([r["value"] for r in out], dtype=object)  # progress stays int beside float levels
    return table


__all__ = ["ReplayMismatch", "SEED_EXPECTED", "SEED_LEVELS", "changed_elements", "diagnosis_reference",
           "episode_id", "label_distribution", "label_episodes", "model_elements", "progress_label",
           "replay_episode", "seed_label", "seed_labels", "split_rows", "start_reference"]
