"""Is a built OR-Debug benchmark free of position and kind leaks? Two checks, both on measured data.

A benchmark is leak-free only when agents that read no number do no better than the greedy agent
(GET_IIS, drop the first IIS row). Two such agents sit in every baseline ladder
(``baselines.LEAK_DETECTORS``): ``last_iis_row`` (the last IIS row instead) and ``kind_prior`` (the IIS
row whose family row kind was most often the root on the train split). ``detector_table`` compares each
with greedy, paired by instance, on faithful recovery and DA. ``position_table`` tests, per error type,
whether the root's rank among the IIS members and its position in the model are uniform (a builder
that lists an added row after its siblings fails it).

=================  ==========================================================================
root token         ``iis_rank`` among                       ``position`` among
=================  ==========================================================================
a row              the IIS rows (model order)               all rows
``x.lb``/``x.ub``  the IIS bounds (column order)            all columns
``x.type``         (not in an IIS)                          all columns
=================  ==========================================================================
"""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Sequence

import pandas as pd

from .stats import paired_test, uniform_rank_test

DETECTOR_METRICS = {"faithful": "faithful_recovery", "diagnosis_recall": "DA"}
LEAK_Z = 2.0  # a detector "beats" greedy when its gain exceeds this many paired standard errors


def root_positions(instances: Iterable) -> dict[tuple[str, str], list[tuple[int, int]]]:
    """(error type, 'iis_rank' | 'position') -> (rank, out_of) pairs, one per root token (see the table
    in the module docstring); the IIS is the one recorded at build time (``meta['iis']``)."""
    out: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for inst in instances:
        m, iis = inst.sabotaged, inst.meta["iis"]
        iis_rows = [t for t in iis if t in m.constrs]
        iis_bounds = [t for t in iis if t not in m.constrs]
        rows, cols = list(m.constrs), list(m.vars)
        for tok in inst.root_cause:
            if tok in m.constrs:
                if tok in iis_rows:
                    out[(inst.error_type, "iis_rank")].append((iis_rows.index(tok), len(iis_rows)))
                out[(inst.error_type, "position")].append((rows.index(tok), len(rows)))
                continue
            var, _, side = tok.rpartition(".")
            if side in ("lb", "ub") and tok in iis_bounds:
                out[(inst.error_type, "iis_rank")].append((iis_bounds.index(tok), len(iis_bounds)))
            out[(inst.error_type, "position")].append((cols.index(var), len(cols)))
    return dict(out)


def position_table(instances: Iterable, min_n: int = 8) -> pd.DataFrame:
    """Uniformity of the root's rank and position per error type (``stats.uniform_rank_test``): one row
    per (error_type, measure) with n, chi2, df, p. Bins: 4, or 2 below 20 roots; groups with fewer than
    ``min_n`` roots are left out (no test has power there)."""
    rows = []
    for (t, measure), pairs in sorted(root_positions(instances).items()):
        if len(pairs) < min_n:
            continue
        r = uniform_rank_test(pairs, bins=4 if len(pairs) >= 20 else 2)
        rows.append({"error_type": t, "measure": measure, "n": r["n"], "observed": r["observed"],
                     "expected": r["expected"], "chi2": r["chi2"], "df": r["df"], "p": r["p"]})
    return pd.DataFrame(rows, columns=["error_type", "measure", "n", "observed", "expected", "chi2", "df", "p"])


def detector_table(results: pd.DataFrame, detectors: Sequence[str] = ("last_iis_row", "kind_prior"),
                   reference: str = "greedy") -> pd.DataFrame:
    """Each detector against ``reference`` on the same episodes (results rows with columns policy,
    instance_id, faithful, diagnosis_recall), paired by instance: a row per (detector, metric) with both
    means, the difference, its standard error, p, the minimum detectable effect and ``beats`` (difference
    beyond ``LEAK_Z`` standard errors)."""
    ref = _by_instance(results, reference)
    rows = []
    for det in detectors:
        got = _by_instance(results, det)
        if set(got.index) != set(ref.index):
            raise ValueError(f"{det} and {reference} were not run on the same instances")
        for col, label in DETECTOR_METRICS.items():
            t = paired_test(got.loc[ref.index, col], ref[col])
            rows.append({"detector": det, "metric": label, "n": t["n"], det: t["a"], reference: t["b"],
                         "diff": t["diff"], "se": t["se"], "p": t["p"], "mde": t["mde"],
                         "beats": t["diff"] > LEAK_Z * t["se"]})
    out = pd.DataFrame(rows)
    # one column for the detector's own mean, whichever it is
    out.insert(3, "detector_mean", [r[r["detector"]] for _, r in out.iterrows()])
    return out.drop(columns=list(detectors)).rename(columns={reference: f"{reference}_mean"})


def _by_instance(results: pd.DataFrame, policy: str) -> pd.DataFrame:
    df = results[results["policy"] == policy]
    if df.empty:
        raise ValueError(f"no episodes of {policy!r} in the results")
    if df["instance_id"].duplicated().any():
        raise ValueError(f"{policy!r} has several episodes of one instance: pass one seed's rows")
    return df.set_index("instance_id")[list(DETECTOR_METRICS)].astype(float)


__all__ = ["DETECTOR_METRICS", "LEAK_Z", "detector_table", "position_table", "root_positions"]
