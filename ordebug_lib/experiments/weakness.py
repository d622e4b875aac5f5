"""E9 foundations (issue 23; seeds/001 Strategies 1 and 4): where a policy fails, and new instances there.

A self-play round is: evaluate the policy on the benchmark's val split into the results store
(``ordebug.results.evaluate``) → ``collect_episodes`` → ``weakness_profile`` → ``generate_for_cells``
(the saboteur makes new, validated training instances for the cells worth training on) → train → repeat.
This module holds every step but the evaluation and the training.

Failure classes of one episode (``failure_class``; the first rule that applies, so the classes are mutually
exclusive, and exhaustive because recall lies in [0, 1]):

=====================  ================================================================================
class                  rule, on the columns the results store holds for the episode
=====================  ================================================================================
``timeout``            ``submitted`` is False: the step budget was spent, or the episode was ended from
                       outside (``RepairEnv.truncate``, e.g. an LM whose context is full), without SUBMIT
``wrong_fix``          submitted, ``faithful`` False: the final model is not OPTIMAL, or its optimum is not
                       the original one (``solver.objectives_match``), whatever the diagnosis
``wrong_diagnosis``    submitted, faithful, ``diagnosis_recall`` 0: the SUBMIT names no root-cause token
``partial_diagnosis``  submitted, faithful, 0 < recall < 1: some root-cause tokens named, not all
success (``None``)     submitted, faithful, recall 1
=====================  ================================================================================

**Success is faithful recovery of a submitted episode whose diagnosis names the whole root cause**:
faithful recovery (``metrics``: feasible at the end with the original optimum kept) is the repair half,
recall 1 (DA) the diagnosis half. Faithful recovery alone cannot be the success criterion of this
taxonomy: every submitted episode that is not faithful is a wrong fix, so with faithful = success the two
diagnosis classes would be empty by construction. The rules are exactly ``metrics.classify_failure``,
which wrote the store's ``failure_class`` column (``'success'`` there is ``None`` here); ``collect_episodes``
refuses a row whose stored class disagrees. Extra blamed tokens (precision < 1) and a repair that keeps
the optimum without undoing the injected change (``exact_repair`` False) do not make an episode fail:
neither is part of faithful recovery or DA (BRIEF §5). An episode without ground truth (a user model,
``faithful`` None) has no class here: it cannot feed a curriculum.

Weakness profile (``weakness_profile``): one row per cell (error_type, difficulty, family) with the
number of episodes, successes, success rate p, the faithful-recovery rate, a count per failure class and

    learnability = 4 · p̃ · (1 − p̃),    p̃ = (successes + prior) / (episodes + 2 · prior)

(prior 0 by default: p̃ = p). p(1 − p) is the variance of the 0/1 success outcome in the cell: where the
policy always or never succeeds, the members of a GRPO group on one of its instances agree on the outcome,
so the outcome's share of their advantages is zero and they teach nothing about succeeding; the variance,
and with it that signal, is largest at p = ½. The factor 4 puts the weight in [0, 1] (1 at p = ½). The idea of proposing tasks the solver
solves about half the time is that of Absolute Zero (arXiv 2505.03335, its proposer's learnability
reward) and R-Zero (arXiv 2508.05004, its challenger's uncertainty reward); the p(1 − p) form is ours.
``prior`` > 0 (Beta pseudo-counts) gives cells with few episodes, all of one outcome, some weight.

Generation (``generate_for_cells``) draws cells with probability learnability / Σ learnability and makes
each instance the way the benchmark builder does (``dataset._Builder._try``): ``saboteur.make_instance``
(which validates with ``saboteur.validate``) from base seeds of the benchmark's *train* split
(``dataset.seeds_in_split``), at most ``dataset.ATTEMPTS_PER_SLOT`` base models per draw. Each instance is
validated again with ``saboteur.validate`` and kept only if neither of its canonical fingerprints (the
saboteur's ``meta['canonical_fingerprint']`` and ``meta['canonical_original_fingerprint']``, which the
builder's split guard compares) is among the benchmark's val and test fingerprints, those the caller
excludes, or those of an instance already kept.

    >>> rows = [dict(error_type="A", difficulty="easy", family="diet", split="val", submitted=s, feasible_end=f,
    ...              faithful=f, diagnosis_recall=r) for s, f, r in ((True, True, 1.0), (True, True, 0.5),
    ...                                                               (False, False, 0.0), (True, False, 1.0))]
    >>> [failure_class(r) for r in rows]
    [None, 'partial_diagnosis', 'timeout', 'wrong_fix']
    >>> weakness_profile(rows)[["episodes", "success_rate", "n_wrong_fix", "learnability"]]
                                episodes  success_rate  n_wrong_fix  learnability
    error_type difficulty family
    A          easy       diet         4          0.25            1          0.75
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import chain
from pathlib import Path

import numpy as np
import pandas as pd

from ..ordebug import families as fam_lib
from ..ordebug.dataset import ATTEMPTS_PER_SLOT, check_format, read_index, seeds_in_split
from ..ordebug.difficulty import DIFFICULTY
from ..ordebug.env import EpisodeOutcome
from ..ordebug.instance import DIFFICULTIES, ERROR_TYPES, Instance
from ..ordebug.metrics import FAILURE_CLASSES as _METRIC_CLASSES
from ..ordebug.metrics import classify_failure, episode_metrics
from ..ordebug.results import load_results
from ..ordebug.saboteur import GenerationError, derive_seed, make_instance
from ..ordebug.validation import validate

FAILURE_CLASSES = tuple(c for c in _METRIC_CLASSES if c != "success")
CELL = ("error_type", "difficulty", "family")
CURRICULUM_SPLITS = ("train", "val")  # a curriculum chooses on val (or train), never on test
CANONICAL_KEYS = ("canonical_original_fingerprint", "canonical_fingerprint")  # what the builder's guard compares
OUTCOME_KEYS = ("submitted", "feasible_end", "faithful", "diagnosis_recall")
DRAWS_PER_INSTANCE = 5  # default bound on draws: max_draws = DRAWS_PER_INSTANCE * n
REPORT_COLUMNS = ("learnability", "probability", "drawn", "accepted", "rejected_collision", "rejected_invalid",
                  "rejected_duplicate", "set_aside")


class WeaknessGenerationError(GenerationError):
    """``generate_for_cells`` could not make the instances asked for; ``report`` holds the per-cell counts."""

    def __init__(self, message: str, report: pd.DataFrame):
        super().__init__(message)
        self.report = report


class GeneratedInstances(list):
    """The instances ``generate_for_cells`` made (a plain list of ``Instance``), with ``report``: one row
    per profile cell (``REPORT_COLUMNS``): its learnability and draw probability, how often it was drawn,
    kept, rejected for a fingerprint collision with val / test / an excluded fingerprint, rejected as
    invalid (no valid instance from the draw's base models, or ``validate`` found problems), rejected as a
    duplicate of an instance already kept; and why it was set aside, if it was."""

    def __init__(self, instances: Iterable[Instance], report: pd.DataFrame):
        super().__init__(instances)
        self.report = report


# -- failure classes -----------------------------------------------------------------------------
def _optional(x):
    """None for SQL NULL / pandas NaN, the value otherwise."""
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return None
    return x


def failure_class(row: Mapping | EpisodeOutcome) -> str | None:
    """The failure class of one episode (module docstring), None for a success.

    ``row``: a results-store row (dict or pandas Series with ``OUTCOME_KEYS``) or an ``EpisodeOutcome``.
    Raises ValueError for an episode without ground truth (``faithful`` None) or a recall outside [0, 1].

    >>> failure_class(dict(submitted=True, feasible_end=True, faithful=True, diagnosis_recall=0.0))
    'wrong_diagnosis'
    >>> failure_class(dict(submitted=False, feasible_end=True, faithful=True, diagnosis_recall=1.0))
    'timeout'
    """
    if isinstance(row, EpisodeOutcome):
        row = episode_metrics(row)
    missing = [k for k in OUTCOME_KEYS if k not in row]
    if missing:
        raise KeyError(f"an episode row needs {OUTCOME_KEYS}; this one lacks {missing}")
    faithful, recall = _optional(row["faithful"]), _optional(row["diagnosis_recall"])
    if faithful is None:
        raise ValueError("the episode has no ground truth (faithful is None: a user model): it has no failure "
                         "class and cannot feed a curriculum")
    if recall is None or not 0.0 <= float(recall) <= 1.0:
        raise ValueError(f"diagnosis_recall must lie in [0, 1] for an episode with ground truth, got {recall!r}")
    if faithful and not row["feasible_end"]:  # faithful means feasible at the end: the row is not an episode's
        raise ValueError("inconsistent episode row: faithful but not feasible at the end")
    cls = classify_failure(bool(row["submitted"]), bool(row["feasible_end"]), bool(faithful), float(recall))
    return None if cls == "success" else cls


# -- collection from the results store -----------------------------------------------------------
def _check_split(split: str | None) -> None:
    if split not in CURRICULUM_SPLITS:
        raise ValueError(f"split {split!r} refused: a curriculum or self-play round chooses its cells on "
                         f"{' or '.join(CURRICULUM_SPLITS)} episodes, never on test (the split its results are "
                         "reported on) nor on episodes of unknown split")


def collect_episodes(db_path: str | Path, policy: str, split: str = "val", seed: int | None = None) -> list[dict]:
    """Every stored episode of ``policy`` (of one evaluation ``seed``, or all seeds) on instances of
    ``split``, as ``results.load_results`` rows (metrics, instance metadata error_type / difficulty /
    family / naming / split, diagnosis, root cause, trajectory), with ``failure_class`` None for a success.

    Refused (ValueError): a split other than train / val; a policy with no episodes there (the message
    lists the policies and splits the database holds); a stored failure class that disagrees with
    ``failure_class`` (the database was written under other rules).
    """
    _check_split(split)
    df = load_results(db_path, policy=policy, seed=seed)
    if df.empty:
        known = sorted(load_results(db_path)["policy"].unique())
        raise ValueError(f"no episodes of policy {policy!r}" + ("" if seed is None else f" seed {seed}")
                         + f" in {db_path}; policies there: {known}")
    selected = df[df["split"] == split]
    if selected.empty:
        counts = df["split"].fillna("none").value_counts().to_dict()
        raise ValueError(f"policy {policy!r} has no {split} episodes in {db_path} (episodes per split: {counts})")
    rows = []
    for row in selected.to_dict("records"):
        cls = failure_class(row)
        if row["failure_class"] != (cls or "success"):
            raise ValueError(f"{row['instance_id']} (seed {row['seed']}): stored failure_class "
                             f"{row['failure_class']!r} but the episode's metrics give {cls or 'success'!r}")
        row["failure_class"] = cls
        rows.append(row)
    return rows


def collect_failures(db_path: str | Path, policy: str, split: str = "val", seed: int | None = None) -> list[dict]:
    """The episodes of ``collect_episodes`` that failed (``failure_class`` not None). A weakness profile
    needs the successes too: build it from ``collect_episodes``."""
    return [r for r in collect_episodes(db_path, policy, split, seed) if r["failure_class"] is not None]


# -- profile -------------------------------------------------------------------------------------
def learnability(successes, episodes, prior: float = 0.0):
    """4 p̃ (1 − p̃) with p̃ = (successes + prior) / (episodes + 2 prior): 1 at p̃ = ½, 0 when every episode
    had the same outcome (prior 0). Scalars or arrays.

    >>> learnability(5, 10), learnability(0, 10), learnability(10, 10), learnability(1, 4)
    (1.0, 0.0, 0.0, 0.75)
    >>> round(learnability(0, 1, prior=1.0), 3)        # p̃ = 1/3
    0.889
    """
    if prior < 0:
        raise ValueError(f"prior must be >= 0, got {prior}")
    s, n = np.asarray(successes, dtype=float), np.asarray(episodes, dtype=float)
    if np.any(n + 2 * prior <= 0):
        raise ValueError("learnability needs at least one episode (or a prior > 0)")
    p = (s + prior) / (n + 2 * prior)
    out = 4.0 * p * (1.0 - p)
    return float(out) if out.ndim == 0 else out


def weakness_profile(rows: Iterable[Mapping] | pd.DataFrame, prior: float = 0.0) -> pd.DataFrame:
    """Per cell (index ``CELL``: error_type, difficulty, family): ``episodes``, ``successes``,
    ``success_rate``, ``faithful_rate``, ``n_<class>`` for each of ``FAILURE_CLASSES`` and ``learnability``
    (module docstring; ``prior`` as in ``learnability``). Every episode counts once: evaluation seeds are
    episodes, so the counts add up to ``len(rows)``.

    ``rows``: episodes as ``collect_episodes`` returns them (successes included). Rows of a split other
    than train / val (test, or none recorded) are refused: the profile chooses what to train on.
    """
    df = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if df.empty:
        raise ValueError("no episodes to profile")
    missing = [k for k in (*CELL, "split", *OUTCOME_KEYS) if k not in df.columns]
    if missing:
        raise KeyError(f"episode rows lack the column(s) {missing}")
    bad = sorted(set(df["split"].map(lambda s: "none" if _optional(s) is None else s)) - set(CURRICULUM_SPLITS))
    if bad:
        _check_split(bad[0])
    df["_class"] = [failure_class(r) for r in df.to_dict("records")]
    df["_success"] = df["_class"].isna()
    df["_faithful"] = df["faithful"].astype(bool)
    grouped = df.groupby(list(CELL), sort=True)
    out = pd.DataFrame({"episodes": grouped.size(), "successes": grouped["_success"].sum().astype(int)})
    out["success_rate"] = out["successes"] / out["episodes"]
    out["faithful_rate"] = grouped["_faithful"].mean()
    for cls in FAILURE_CLASSES:
        out[f"n_{cls}"] = grouped["_class"].apply(lambda c, cls=cls: int((c == cls).sum())).astype(int)
    out["learnability"] = learnability(out["successes"].to_numpy(), out["episodes"].to_numpy(), prior)
    out.attrs.update(prior=prior, splits=sorted(set(df["split"])))
    return out


def plot_weakness(profile: pd.DataFrame, ax=None):
    """Heatmap of the success rate by error type (rows) × difficulty (columns), families pooled
    (successes / episodes over the cell's families), each square annotated with its rate and episode
    count; a combination without episodes is left blank. Returns the axes."""
    import matplotlib.pyplot as plt

    pooled = profile.groupby(["error_type", "difficulty"])[["episodes", "successes"]].sum()
    types = sorted(pooled.index.get_level_values("error_type").unique())
    present = set(pooled.index.get_level_values("difficulty"))
    levels = [d for d in DIFFICULTIES if d in present] + sorted(present - set(DIFFICULTIES))
    rate = np.full((len(types), len(levels)), np.nan)
    count = np.zeros((len(types), len(levels)), dtype=int)
    for (t, d), r in pooled.iterrows():
        i, j = types.index(t), levels.index(d)
        count[i, j] = int(r["episodes"])
        rate[i, j] = r["successes"] / r["episodes"]
    if ax is None:
        _, ax = plt.subplots(figsize=(1.6 + 1.3 * len(levels), 1.0 + 0.55 * len(types)))
    image = ax.imshow(np.ma.masked_invalid(rate), cmap="RdYlGn", vmin=0.0, vmax=1.0, aspect="auto")
    for i in range(len(types)):
        for j in range(len(levels)):
            if count[i, j]:
                ax.text(j, i, f"{rate[i, j]:.2f}\nn={count[i, j]}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(levels)), levels)
    ax.set_yticks(range(len(types)), types)
    ax.set(xlabel="difficulty", ylabel="error type",
           title="success rate (faithful, full recall); families pooled")
    ax.figure.colorbar(image, ax=ax, label="success rate")
    return ax


# -- generation ----------------------------------------------------------------------------------
def instance_fingerprints(inst: Instance) -> tuple[str, str]:
    """The canonical fingerprints (original, sabotaged; names and row order ignored) the saboteur records
    and the builder's split guard compares."""
    missing = [k for k in CANONICAL_KEYS if k not in inst.meta]
    if missing:
        raise KeyError(f"{inst.id} has no {missing} in its meta: not an instance of saboteur.sabotage")
    return tuple(inst.meta[k] for k in CANONICAL_KEYS)


def split_fingerprints(benchmark: str | Path, splits: Iterable[str] = ("val", "test")) -> set[str]:
    """Every canonical fingerprint of the instances of ``splits`` of a built benchmark (from its index)."""
    return {row["meta"][k] for split in splits for row in read_index(benchmark, split) for k in CANONICAL_KEYS}


def _cells(profile: pd.DataFrame) -> tuple[list[tuple[str, str, str]], np.ndarray]:
    if list(profile.index.names) != list(CELL) or "learnability" not in profile.columns:
        raise ValueError(f"a weakness profile is indexed by {CELL} with a 'learnability' column "
                         f"(weakness_profile); got index {profile.index.names} and columns {list(profile.columns)}")
    cells = [tuple(c) for c in profile.index]
    weights = profile["learnability"].to_numpy(dtype=float)
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError("learnability weights must be finite and >= 0")
    for (t, d, family), w in zip(cells, weights):
        if w == 0:
            continue  # never drawn: whatever it names
        if t not in ERROR_TYPES or d not in DIFFICULTY:
            raise ValueError(f"cell {(t, d, family)}: unknown error type or difficulty")
        fam_lib.family_module(family)  # ModelError naming the known families
    return cells, weights


def generate_for_cells(profile: pd.DataFrame, n: int, seed: int, exclude_fingerprints: Iterable[str], *,
                       benchmark: str | Path, naming: str | None = None,
                       max_draws: int | None = None) -> GeneratedInstances:
    """``n`` new training instances for the profile's cells, drawn with probability ∝ ``learnability``
    (a cell of weight 0 is never drawn), deterministic for ``seed`` (use one seed per self-play round).

    ``benchmark``: the built benchmark the profile was evaluated on. Instances come from base seeds of its
    train split (its build seed and split fractions), with its naming unless ``naming`` says otherwise,
    and never share a canonical fingerprint with its val or test instances, with ``exclude_fingerprints``
    (e.g. the train split's, ``split_fingerprints(benchmark, ["train"])``, or an earlier round's) or with
    each other. Each draw picks a cell, tries up to ``dataset.ATTEMPTS_PER_SLOT`` base models as the
    builder does, and keeps the instance if it passes ``saboteur.validate`` and the fingerprint check. A
    cell whose draw yields no valid instance before it has made any is set aside for the rest of the call,
    as the builder sets a family aside for a cell (a cell that has made instances stays). Instances carry
    ``meta['split'] = 'train'`` and ``meta['weakness']`` (the cell, its learnability, the round seed).

    Raises WeaknessGenerationError (with the per-cell ``report``) when ``n`` instances are not made within
    ``max_draws`` draws (default ``DRAWS_PER_INSTANCE * n``) or every cell of positive weight is set aside;
    ValueError when no cell has positive learnability.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    max_draws = DRAWS_PER_INSTANCE * n if max_draws is None else int(max_draws)
    if max_draws < n:
        raise ValueError(f"max_draws ({max_draws}) is below n ({n})")
    manifest = check_format(benchmark)
    fractions, salt = tuple(manifest["split_fractions"]), manifest["seed"]
    if fractions[0] <= 0:  # seeds_in_split would search forever
        raise ValueError(f"the benchmark at {benchmark} has no train split (split_fractions {list(fractions)}): "
                         "new training instances come from base seeds of its train split")
    naming = naming or manifest["naming"]
    cells, weights = _cells(profile)
    if weights.sum() <= 0:
        raise ValueError("no cell of the profile has learnability > 0 (every cell was solved always or never): "
                         "nothing to draw; evaluate more episodes per cell, or profile with prior > 0")
    guard = set(exclude_fingerprints) | split_fingerprints(benchmark, ("val", "test"))
    report = pd.DataFrame(0, index=profile.index, columns=list(REPORT_COLUMNS[2:-1]))
    report.insert(0, "probability", weights / weights.sum())
    report.insert(0, "learnability", weights)
    report["set_aside"] = ""
    rng = np.random.default_rng(derive_seed("weakness", seed))
    active = weights.copy()
    streams: dict[tuple, object] = {}
    kept: list[Instance] = []
    seen: set[str] = set()
    draws = 0
    while len(kept) < n and draws < max_draws and active.sum() > 0:
        draws += 1
        k = int(rng.choice(len(cells), p=active / active.sum()))
        t, d, family = cell = cells[k]
        report.iloc[k, report.columns.get_loc("drawn")] += 1
        if cell not in streams:  # own stream name: base models apart from the builder's for this cell
            streams[cell] = seeds_in_split(family, DIFFICULTY[d].size, "train", fractions, salt,
                                           f"weakness/{seed}/{t}/{d}")
        stream = streams[cell]
        first = next(stream)
        try:
            inst = make_instance(family, t, d, first, naming, max_attempts=ATTEMPTS_PER_SLOT,
                                 base_seeds=chain([first], stream))
        except GenerationError as e:
            report.iloc[k, report.columns.get_loc("rejected_invalid")] += 1
            if report.iloc[k, report.columns.get_loc("accepted")] == 0:
                # never made one: likely cannot (as the builder concludes for a family); a cell that has made
                # instances stays, so one unlucky run of base models does not skew the draw distribution
                report.iloc[k, report.columns.get_loc("set_aside")] = str(e).splitlines()[-1].strip()
                active[k] = 0.0
            continue
        if validate(inst):
            report.iloc[k, report.columns.get_loc("rejected_invalid")] += 1
            continue
        fps = set(instance_fingerprints(inst))
        if fps & guard:
            report.iloc[k, report.columns.get_loc("rejected_collision")] += 1
            continue
        if fps & seen:
            report.iloc[k, report.columns.get_loc("rejected_duplicate")] += 1
            continue
        seen |= fps
        inst.meta["split"] = "train"
        inst.meta["weakness"] = {"cell": list(cell), "learnability": float(weights[k]), "seed": int(seed)}
        kept.append(inst)
        report.iloc[k, report.columns.get_loc("accepted")] += 1
    if len(kept) < n:
        why = "every cell of positive weight was set aside" if active.sum() <= 0 else f"max_draws={max_draws}"
        shown = report[report["drawn"] > 0].to_string()
        raise WeaknessGenerationError(f"generate_for_cells made {len(kept)} of {n} instances in {draws} draws "
                                      f"({why}); per drawn cell:\n{shown}", report)
    return GeneratedInstances(kept, report)


__all__ = ["CANONICAL_KEYS", "CELL", "CURRICULUM_SPLITS", "FAILURE_CLASSES", "GeneratedInstances",
           "WeaknessGenerationError", "collect_episodes", "collect_failures", "failure_class",
           "generate_for_cells", "instance_fingerprints", "learnability", "plot_weakness", "split_fingerprints",
           "weakness_profile"]
