"""OR-Debug metrics (BRIEF §5): per-episode record, aggregate over a set, failure classes.

Per episode (``episode_metrics``):

=====================  ===========================================================================
``feasible_end``       RR: the model is feasible-and-bounded (status OPTIMAL) when the episode ends
``rr_at_k``            RR@k, k in 5/10/15/20: the model first became feasible at step <= k
                       (``first_feasible_step``; a later change may have broken it again)
``faithful``           feasible at the end AND the final optimum equals the original optimal objective
                       within ``solver.objectives_match`` (|z − z*| <= 1e-6 · max(1, |z*|))
``exact_repair``       faithful AND every injected change undone (``env.undone``): the sabotaged rows,
                       bounds and types as in the original, an added row gone. Faithful alone counts a
                       DROP of a flipped row that never binds, or a RELAX that happens to keep z*
``diagnosis_recall``   DA: |blamed ∩ root cause| / |root cause| of the SUBMIT diagnosis (0 if none)
``diagnosis_precision`` |blamed ∩ root cause| / |blamed| (0 if nothing blamed)
``steps``              steps used, SUBMIT included
``failure_class``      see ``classify_failure``
=====================  ===========================================================================

Aggregates (``aggregate``) are means over the episodes of a group: RR, RR@k, faithful recovery, DA,
precision, average steps, and optimality preservation = faithful / feasible_end among the episodes that
end feasible (NaN when none does). User models (no ground truth) have no faithful / DA values; their
means are taken over the episodes where the value exists.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from .env import EpisodeOutcome
from .rewards import diagnosis_score

RR_KS = (5, 10, 15, 20)
FAILURE_CLASSES = ("timeout", "wrong_fix", "wrong_diagnosis", "partial_diagnosis", "success")
UNVERIFIED = "unverified"  # a user model repaired and submitted: nothing to check it against
METRIC_COLUMNS = ("RR", *(f"RR@{k}" for k in RR_KS), "faithful_recovery", "exact_repair", "DA",
                  "diagnosis_precision", "avg_steps", "optimality_preservation")


def classify_failure(submitted: bool, feasible_end: bool, faithful: bool | None, recall: float | None) -> str:
    """First rule that applies:

    ``timeout``            no SUBMIT before the step limit;
    ``wrong_fix``          not feasible at the end, or feasible but the original optimum not preserved;
    ``wrong_diagnosis``    recall of the root cause is 0;
    ``partial_diagnosis``  0 < recall < 1;
    ``success``            faithful and recall 1.

    Without ground truth (``faithful`` None) a feasible, submitted episode is ``unverified``.

    >>> classify_failure(True, True, False, 1.0), classify_failure(True, True, True, 0.5)
    ('wrong_fix', 'partial_diagnosis')
    >>> classify_failure(False, True, True, 1.0), classify_failure(True, True, None, None)
    ('timeout', 'unverified')
    """
    if not submitted:
        return "timeout"
    if not feasible_end or faithful is False:
        return "wrong_fix"
    if faithful is None:
        return UNVERIFIED
    if recall is None:
        raise ValueError("an episode with ground truth needs a diagnosis recall")
    if recall == 0:
        return "wrong_diagnosis"
    return "partial_diagnosis" if recall < 1 else "success"


def episode_metrics(outcome: EpisodeOutcome) -> dict:
    """Flat metric columns of one finished episode (see the module docstring)."""
    first = outcome.first_feasible_step
    row = {
        "steps": outcome.steps, "max_turns": outcome.max_turns, "submitted": outcome.submitted,
        "truncated": outcome.truncated, "initial_status": outcome.initial_status,
        "final_status": outcome.final_status, "feasible_end": outcome.feasible_end,
        "first_feasible_step": first,
        **{f"rr_at_{k}": first is not None and first <= k for k in RR_KS},
        "faithful": outcome.faithful, "exact_repair": outcome.exact_repair, "final_objective": outcome.final_objective,
        "original_objective": outcome.original_objective,
    }
    if outcome.root_cause is None:
        recall = precision = f1 = None
    else:
        score = diagnosis_score(outcome.diagnosis, outcome.root_cause)
        recall, precision, f1 = score.recall, score.precision, score.f1
    row.update(diagnosis_recall=recall, diagnosis_precision=precision, diagnosis_f1=f1,
               failure_class=classify_failure(outcome.submitted, outcome.feasible_end, outcome.faithful, recall),
               wall_time=outcome.wall_time)
    row.update({f"reward_{k}": v for k, v in outcome.rewards.items()})
    return row


def _as_float(series: pd.Series) -> pd.Series:
    """bool / None columns -> 1.0 / 0.0 / NaN so that means skip missing values."""
    return pd.to_numeric(series.map(lambda x: np.nan if x is None else float(x)), errors="raise")


def _summary(group: pd.DataFrame) -> pd.Series:
    feasible = _as_float(group["feasible_end"])
    faithful = _as_float(group["faithful"])
    out = {"n": len(group), "RR": feasible.mean()}
    out.update({f"RR@{k}": _as_float(group[f"rr_at_{k}"]).mean() for k in RR_KS})
    out["faithful_recovery"] = faithful.mean()
    out["exact_repair"] = _as_float(group["exact_repair"]).mean()
    out["DA"] = _as_float(group["diagnosis_recall"]).mean()
    out["diagnosis_precision"] = _as_float(group["diagnosis_precision"]).mean()
    out["avg_steps"] = float(group["steps"].mean())
    kept = faithful[feasible == 1.0].dropna()
    out["optimality_preservation"] = kept.mean() if len(kept) else np.nan
    for cls in (*FAILURE_CLASSES, UNVERIFIED):
        out[f"n_{cls}"] = int((group["failure_class"] == cls).sum())
    return pd.Series(out)


def aggregate(records: pd.DataFrame | Iterable[dict], by: str | list[str] | None = None) -> pd.DataFrame:
    """Metrics over a set of episode records (rows of ``episode_metrics``, plus metadata columns such as
    error_type / difficulty / family for ``by``). One row per group; ``by=None`` gives one row 'all'.

    >>> rows = [dict(feasible_end=True, faithful=True, exact_repair=True, diagnosis_recall=1.0,
    ...              diagnosis_precision=1.0, steps=2, failure_class="success", **{f"rr_at_{k}": True for k in RR_KS}),
    ...         dict(feasible_end=False, faithful=False, exact_repair=False, diagnosis_recall=0.0,
    ...              diagnosis_precision=0.0, steps=20, failure_class="timeout", **{f"rr_at_{k}": False for k in RR_KS})]
    >>> aggregate(rows).loc["all", ["RR", "faithful_recovery", "avg_steps", "optimality_preservation"]].tolist()
    [0.5, 0.5, 11.0, 1.0]
    """
    df = records if isinstance(records, pd.DataFrame) else pd.DataFrame(list(records))
    if df.empty:
        raise ValueError("no episode records to aggregate")
    if by is None:
        out = _summary(df).to_frame("all").T
        out.index.name = "group"
    else:
        keys = [by] if isinstance(by, str) else list(by)
        missing = [k for k in keys if k not in df.columns]
        if missing:
            raise KeyError(f"records have no column(s) {missing} to group by")
        grouped = df.groupby(by if isinstance(by, str) else keys, dropna=False)  # a str key gives scalar labels
        out = pd.DataFrame({key: _summary(g) for key, g in grouped}).T
        out.index.names = keys
    out["n"] = out["n"].astype(int)
    for cls in (*FAILURE_CLASSES, UNVERIFIED):
        out[f"n_{cls}"] = out[f"n_{cls}"].astype(int)
    return out


def breakdowns(records: pd.DataFrame, keys: Iterable[str] = ("error_type", "difficulty", "family")) -> dict[str, pd.DataFrame]:
    """``aggregate`` overall and by each key present in the records: {'all': ..., 'error_type': ...}."""
    out = {"all": aggregate(records)}
    for key in keys:
        if key in records.columns and records[key].notna().any():
            out[key] = aggregate(records, by=key)
    return out
