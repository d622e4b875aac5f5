"""The OR-Debug baseline ladder as tables: metrics per policy, paired differences between rungs with the
minimum detectable effect, and which metrics still separate the rungs.

The rows are results rows (``ordebug.results.load_results``) of several policies on the same instances
of one split. Every table carries that split: a number in a report says where it comes from.

=====================  =====================================================  =======================
metric                 episode column (``ordebug.metrics``)                   rung comparison
=====================  =====================================================  =======================
RR@5                   ``rr_at_5``: feasible by step 5                        paired, by instance
faithful_recovery      ``faithful``: feasible with the original optimum       paired, by instance
exact_repair           ``exact_repair``: faithful, every injected change undone  paired, by instance
DA                     ``diagnosis_recall``: root cause recalled by SUBMIT    paired, by instance
=====================  =====================================================  =======================
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from ..ordebug.instance import DIFFICULTIES
from ..ordebug.metrics import aggregate
from .stats import paired_test

LADDER_COLUMNS = ["n", "RR", "RR@5", "RR@10", "faithful_recovery", "exact_repair", "DA", "diagnosis_precision",
                  "avg_steps", "optimality_preservation"]
PAIRED_METRICS = {"RR@5": "rr_at_5", "faithful_recovery": "faithful", "exact_repair": "exact_repair",
                  "DA": "diagnosis_recall"}
SATURATED = 0.95  # a metric the greedy agent already reaches this far leaves no room above it


def one_split(results: pd.DataFrame) -> str:
    """The split every row comes from (a ladder mixing splits is refused)."""
    splits = sorted(results["split"].dropna().unique())
    if len(splits) != 1 or results["split"].isna().any():
        raise ValueError(f"a ladder is measured on one split; the rows hold {splits or 'none'}")
    return splits[0]


def ladder_table(results: pd.DataFrame, policies: Sequence[str], by: str | list[str] | None = None) -> pd.DataFrame:
    """``metrics.aggregate`` per policy (and ``by``), policies in ladder order, with the split as a column."""
    split = one_split(results)
    keys = ["policy"] + ([by] if isinstance(by, str) else list(by or []))
    table = aggregate(results, by=keys)[LADDER_COLUMNS].reset_index()
    table["policy"] = pd.Categorical(table["policy"], [p for p in policies if p in set(table["policy"])], ordered=True)
    if "difficulty" in keys:  # easy, medium, hard: not the alphabet
        table["difficulty"] = pd.Categorical(table["difficulty"], [d for d in DIFFICULTIES if d in set(table["difficulty"])],
                                             ordered=True)
    table = table.sort_values(keys).reset_index(drop=True)
    table.insert(1, "split", split)
    return table


def paired_rungs(results: pd.DataFrame, pairs: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """For each (higher, lower) pair of policies and each ``PAIRED_METRICS`` metric: both means, the paired
    difference, its SE, p and the minimum detectable effect (``stats.paired_test``)."""
    split = one_split(results)
    wide = {p: g.set_index("instance_id") for p, g in results.groupby("policy")}
    rows = []
    for hi, lo in pairs:
        for p in (hi, lo):
            if p not in wide:
                raise ValueError(f"no episodes of {p!r} in the results")
        a, b = wide[hi], wide[lo]
        if set(a.index) != set(b.index):
            raise ValueError(f"{hi} and {lo} were not run on the same instances")
        for label, col in PAIRED_METRICS.items():
            t = paired_test(a[col].astype(float), b.loc[a.index, col].astype(float))
            rows.append({"split": split, "comparison": f"{hi} - {lo}", "metric": label, "n": t["n"], "higher": t["a"],
                         "lower": t["b"], "diff": t["diff"], "se": t["se"], "p": t["p"], "mde": t["mde"]})
    return pd.DataFrame(rows)


def separation(paired: pd.DataFrame, ladder: pd.DataFrame, rungs: Sequence[str] = ("greedy", "search", "oracle"),
               z: float = 2.0) -> pd.DataFrame:
    """Per metric: the rungs' values and a verdict. ``saturated`` when the first rung already reaches
    ``SATURATED``; otherwise which consecutive rungs it tells apart (difference beyond ``z`` SE) and which
    it does not ("not detected", with that comparison's MDE)."""
    values = ladder.set_index("policy")
    rows = []
    for label in PAIRED_METRICS:
        row = {"metric": label, **{r: float(values.loc[r, label]) for r in rungs}}
        if row[rungs[0]] >= SATURATED:
            row["verdict"] = f"saturated ({rungs[0]} {row[rungs[0]]:.2f})"
        else:
            said = []
            for lo, hi in zip(rungs, rungs[1:]):
                t = paired.set_index(["comparison", "metric"]).loc[(f"{hi} - {lo}", label)]
                said.append(f"{hi} > {lo} (+{t['diff']:.3f}, SE {t['se']:.3f})" if t["diff"] > z * t["se"]
                            else f"{hi} vs {lo} not detected (MDE {t['mde']:.3f})")
            row["verdict"] = "; ".join(said)
        rows.append(row)
    return pd.DataFrame(rows)


def root_kind_rates(manifest: dict) -> pd.DataFrame:
    """From a build's manifest: per (family, row kind), roots in the IIS, IIS appearances and their rate,
    beside the family's pooled rate (the builder steers each kind towards it; ``dataset.KindTally``)."""
    rows = []
    for family, t in manifest["root_kinds"].items():
        roots, seen = t["roots_in_iis"], t["iis_appearances"]
        pooled = sum(roots.values()) / max(1, sum(seen.values()))
        for kind in roots:
            rows.append({"family": family, "row_kind": kind, "roots_in_iis": roots[kind], "iis_appearances": seen[kind],
                         "rate": roots[kind] / seen[kind] if seen[kind] else float("nan"), "family_rate": pooled})
    return pd.DataFrame(rows)


__all__ = ["LADDER_COLUMNS", "PAIRED_METRICS", "SATURATED", "ladder_table", "one_split", "paired_rungs",
           "root_kind_rates", "separation"]
