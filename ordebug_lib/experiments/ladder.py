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

The figures of notebook ``02_ordebug_benchmark`` are drawn from these tables (or the committed CSVs of them),
in the notebook's seaborn theme (``seaborn_theme``), whatever the caller's:

=======================  =================================================================================
figure                   table
=======================  =================================================================================
iis_size_figure          one row per instance: error_type, difficulty, iis_size
root_kind_figure         ``root_kind_rates``
ladder_figure            ``ladder_table(..., by="difficulty")``
faithful_by_type_figure  ``ladder_table(..., by="error_type")``
ladder_paired_figure     ``paired_rungs`` and ``leaks.detector_table``
=======================  =================================================================================
"""
from __future__ import annotations

from contextlib import contextmanager
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


@contextmanager
def seaborn_theme():
    """The theme notebook 02 sets (``sns.set_theme(style="whitegrid", context="notebook")``: its style, context
    and palette), for the figures drawn inside this block only."""
    import seaborn as sns

    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"), sns.color_palette("deep"):
        yield


def iis_size_figure(instances: pd.DataFrame, levels: Sequence[str]):
    """Boxplot of the sabotaged models' IIS sizes per error type, one box per difficulty (``levels``)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    with seaborn_theme():
        fig, ax = plt.subplots(figsize=(9, 3.8))
        sns.boxplot(data=instances, x="error_type", y="iis_size", hue="difficulty", hue_order=list(levels), ax=ax,
                    order=sorted(instances["error_type"].unique()), fliersize=2)
        ax.set(xlabel="error type", ylabel="IIS size (rows + bounds)", title="IIS size of the sabotaged models")
    return fig


def root_kind_figure(kind_rates: pd.DataFrame):
    """Per family, each row kind's roots per IIS appearance (marker size: appearances) beside the family's
    pooled rate (``root_kind_rates``)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    with seaborn_theme():
        fig, ax = plt.subplots(figsize=(10, 3.6))
        shown = kind_rates.dropna(subset=["rate"])
        sns.scatterplot(data=shown, x="family", y="rate", size="iis_appearances", hue="row_kind", legend=False, ax=ax,
                        sizes=(20, 300))
        ax.scatter(shown["family"], shown["family_rate"], marker="_", s=600, color="black", label="family's pooled rate")
        ax.set(ylabel="roots per IIS appearance", xlabel="",
               title="Which row kinds carry the root (marker size: IIS appearances)")
        ax.legend(loc="upper right")
        plt.setp(ax.get_xticklabels(), rotation=20)
    return fig


def ladder_figure(by_difficulty: pd.DataFrame, levels: Sequence[str], n: int, split: str):
    """RR@5, faithful recovery, exact repair and DA per policy, one bar per difficulty (``levels``), on ``n``
    instances of ``split``."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    with seaborn_theme():
        fig, axes = plt.subplots(1, 4, figsize=(16, 3.8), sharey=True)
        for ax, metric in zip(axes, ["RR@5", "faithful_recovery", "exact_repair", "DA"]):
            sns.barplot(data=by_difficulty, x="policy", y=metric, hue="difficulty", hue_order=list(levels), ax=ax)
            ax.set(title=metric, xlabel="", ylabel="fraction of instances", ylim=(0, 1.05))
            plt.setp(ax.get_xticklabels(), rotation=30)
            if ax is not axes[-1]:
                ax.get_legend().remove()
        fig.suptitle(f"Baseline ladder by difficulty ({n} {split}-split instances)")
    return fig


def faithful_by_type_figure(by_type: pd.DataFrame, policies: Sequence[str], split: str):
    """Heatmap of faithful recovery per error type (rows) and policy (columns, in ``policies`` order)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    with seaborn_theme():
        pt = by_type.pivot(index="error_type", columns="policy", values="faithful_recovery")[[p for p in policies]]
        fig, ax = plt.subplots(figsize=(1.2 * len(policies) + 2, 4.5))
        sns.heatmap(pt, annot=True, fmt=".2f", vmin=0, vmax=1, cmap="viridis", ax=ax)
        ax.set(title=f"faithful recovery by error type ({split} split)", xlabel="", ylabel="error type")
    return fig


def ladder_paired_figure(paired: pd.DataFrame, detectors: pd.DataFrame, split: str):
    """Every rung comparison (``paired_rungs``) and leak detector against greedy (``leaks.detector_table``):
    the paired difference ± 2 SE beside its minimum detectable effect."""
    import matplotlib.pyplot as plt

    with seaborn_theme():
        both = pd.concat([paired.assign(kind="rung"),
                          detectors.rename(columns={"detector": "comparison"}).assign(kind="detector")
                          .assign(comparison=lambda d: d["comparison"] + " - greedy")], ignore_index=True)
        fig, ax = plt.subplots(figsize=(9, 0.32 * len(both) + 1))
        labels = both["comparison"] + " · " + both["metric"]
        ax.errorbar(both["diff"], range(len(both)), xerr=2 * both["se"], fmt="o", color="tab:blue",
                    label="difference ± 2 SE")
        ax.scatter(both["mde"], range(len(both)), marker="|", color="tab:red", s=80, label="MDE")
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(range(len(both)), labels)
        ax.invert_yaxis()
        ax.set(xlabel="paired difference", title=f"Rungs and leak detectors, paired by instance ({split} split)")
        ax.legend(loc="lower right")
    return fig


__all__ = ["LADDER_COLUMNS", "PAIRED_METRICS", "SATURATED", "faithful_by_type_figure", "iis_size_figure",
           "ladder_figure", "ladder_paired_figure", "ladder_table", "one_split", "paired_rungs", "root_kind_figure",
           "root_kind_rates", "seaborn_theme", "separation"]
