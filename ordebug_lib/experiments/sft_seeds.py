"""How much an OR-Debug SFT result depends on the run: several ``04_ordebug_sft`` runs (or runs of ``03_sft``, the
notebook it replaced: every run published so far) side by side.

Each run is given by its provenance file (``reports/provenance/03_sft.gpu_ordebug*.json``,
``04_ordebug_sft[.<profile>].json``, with its ``.metrics.json`` beside it). A row per run: the SFT policy's test
metrics, its episodes that never SUBMIT, its share of RESET actions, and the random baseline of the same run (same
test instances, seeded with the run's seed), with ``RR@5 - random`` and whether that gap is beyond two binomial
standard errors (``stats.noise_band``). A summary gives mean, standard deviation, min and max over the runs of
one recipe.

A run's single gap to random is measured on 101 episodes, so a real DA gap of a few points stays inside
its band. Where every run of a recipe also has its episodes beside the provenance (``x.episodes.csv``,
written from the run's ``results.sqlite`` by ``--export-episodes``), the report pools the recipe's runs,
paired by instance (``stats.paired_gap``)::

    python -m ordebug_lib.experiments.sft_seeds --export-episodes runs/04_ordebug_sft/<...>/results.sqlite \\
        reports/provenance/03_sft.gpu_ordebug.seed1.episodes.csv
    python -m ordebug_lib.experiments.sft_seeds reports/provenance/03_sft.gpu_ordebug.json \\
        reports/provenance/03_sft.gpu_ordebug.seed1.json --out reports/sft_ordebug_seeds.md
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

import pandas as pd

from .stats import noise_band, paired_gap

METRICS = ("RR", "RR@5", "faithful_recovery", "DA", "avg_steps")
# The episode columns behind a run's RR@5 and DA (ordebug.metrics: each is the mean of its column).
EPISODE_METRICS = {"RR@5": "rr_at_5", "DA": "diagnosis_recall"}
EPISODE_COLUMNS = ("policy", "instance_id", "seed", "rr_at_5", "diagnosis_recall", "faithful", "submitted")
SFT_PREFIX = "sft:"  # 04_ordebug_sft (and 03_sft) store the policy's episodes as "sft:<model>"


def _beside(provenance: str | Path, suffix: str) -> Path:
    p = Path(provenance)
    return p.with_name(p.name.removesuffix(".json") + suffix)


def metrics_path(provenance: str | Path) -> Path:
    """``x.json`` -> ``x.metrics.json``."""
    return _beside(provenance, ".metrics.json")


def episodes_path(provenance: str | Path) -> Path:
    """``x.json`` -> ``x.episodes.csv``."""
    return _beside(provenance, ".episodes.csv")


def export_episodes(results_db: str | Path, out: str | Path) -> Path:
    """The per-episode columns the pooled comparison needs (``EPISODE_COLUMNS``), every policy of a
    run's ``results.sqlite``, as a small csv to keep beside its provenance."""
    from ..ordebug.results import load_results

    rows = load_results(results_db)
    if rows.empty:
        raise ValueError(f"{results_db}: no episodes")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows[list(EPISODE_COLUMNS)].to_csv(out, index=False)
    return out


def _sft_vs_random(episodes: pd.DataFrame, name: str) -> pd.DataFrame:
    """One row per test instance: the SFT policy's and the random baseline's episode columns."""
    sft = sorted(p for p in episodes["policy"].unique() if p.startswith(SFT_PREFIX))
    if len(sft) != 1 or "random" not in set(episodes["policy"]):
        raise ValueError(f"{name}: needs one '{SFT_PREFIX}*' policy and 'random' in its episodes, has "
                         f"{sorted(episodes['policy'].unique())}")
    cols = ["instance_id", *EPISODE_METRICS.values()]
    pair = episodes.loc[episodes["policy"] == sft[0], cols].merge(
        episodes.loc[episodes["policy"] == "random", cols], on="instance_id", suffixes=("", "_random"),
        validate="one_to_one")
    if len(pair) != (episodes["policy"] == sft[0]).sum():
        raise ValueError(f"{name}: the random baseline did not run on every instance the SFT policy did")
    return pair


def pooled_table(runs: Sequence[tuple[str | Path, str]]) -> pd.DataFrame:
    """Per recipe with two or more runs, all with an episodes csv: the SFT policy's gap to random on RR@5
    and DA pooled over its runs, paired by instance (``stats.paired_gap``). Recipes with a run lacking
    its episodes are left out (their runs predate the export), not pooled from part of their runs."""
    by_recipe: dict[str, list[Path]] = {}
    for path, recipe in runs:
        by_recipe.setdefault(recipe, []).append(Path(path))
    rows = []
    for recipe, paths in by_recipe.items():
        if len(paths) < 2 or not all(episodes_path(p).exists() for p in paths):
            continue
        pairs = pd.concat([_sft_vs_random(pd.read_csv(episodes_path(p)), p.name).assign(run=i)
                           for i, p in enumerate(paths)])
        row = {"recipe": recipe}
        for metric, col in EPISODE_METRICS.items():
            g = paired_gap(pairs.rename(columns={col: "policy", f"{col}_random": "baseline"})
                           [["run", "instance_id", "policy", "baseline"]].astype({"policy": float, "baseline": float}))
            row.update({"runs": g["runs"], "instances": g["instances"], metric: g["policy"],
                        f"random_{metric}": g["baseline"], f"{metric}_minus_random": g["gap"],
                        f"{metric}_band": g["band"], f"beats_random_{metric}": bool(g["gap"] > g["band"])})
        rows.append(row)
    return pd.DataFrame(rows)


def run_row(provenance: dict, metrics: dict, recipe: str, name: str) -> dict:
    """One run's row (see the module docstring)."""
    if metrics.get("task") != "ordebug" or not metrics.get("eval_after") or not metrics.get("ladder"):
        raise ValueError(f"{name}: not an OR-Debug SFT run (04_ordebug_sft, 03_sft) with an evaluation and a baseline "
                         "ladder")
    after, random = metrics["eval_after"], metrics["ladder"].get("random")
    if random is None:
        raise ValueError(f"{name}: its ladder has no random baseline")
    n = int(after["n"])
    fa = (metrics.get("failure_analysis") or {}).get("sft") or {}
    row = {"run": name, "recipe": recipe, "commit": (provenance.get("git") or {}).get("commit", "")[:7],
           "seed": provenance["parameters"].get("seed", 0), "n": n}  # absent: the parameters cell's default, 0
    row.update({m: after[m] for m in METRICS})
    row["never_submitted"] = fa.get("never_submitted")
    row["reset_share"] = (fa.get("action_share") or {}).get("RESET")
    row["random_RR@5"], row["random_DA"] = random["RR@5"], random["DA"]
    gap, band = after["RR@5"] - random["RR@5"], noise_band(after["RR@5"], random["RR@5"], n)
    row["RR@5_minus_random"], row["RR@5_band"] = gap, band
    row["beats_random_RR@5"] = bool(gap > band)
    row["beats_random_DA"] = bool(after["DA"] - random["DA"] > noise_band(after["DA"], random["DA"], n))
    return row


def seeds_table(runs: Sequence[tuple[str | Path, str]]) -> pd.DataFrame:
    """Rows of ``(provenance path, recipe label)`` runs, in the given order."""
    rows = []
    for path, recipe in runs:
        path = Path(path)
        prov = json.loads(path.read_text())
        rows.append(run_row(prov, json.loads(metrics_path(path).read_text()), recipe, path.name.removesuffix(".json")))
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame, metrics: Sequence[str] = ("RR@5", "DA", "RR@5_minus_random")) -> pd.DataFrame:
    """Mean, std (ddof 1; NaN for one run), min and max per recipe.

    >>> t = pd.DataFrame({"recipe": ["a", "a"], "RR@5": [0.2, 0.3], "DA": [0.1, 0.1], "RR@5_minus_random": [0.0, 0.1]})
    >>> summary(t).round(3).to_dict("records")[0]["RR@5 mean"]
    0.25
    """
    out = []
    for recipe, g in table.groupby("recipe", sort=False):
        row = {"recipe": recipe, "runs": len(g)}
        for m in metrics:
            row.update({f"{m} mean": g[m].mean(), f"{m} std": g[m].std(ddof=1), f"{m} min": g[m].min(),
                        f"{m} max": g[m].max()})
        out.append(row)
    return pd.DataFrame(out)


def seeds_figure(table: pd.DataFrame, pooled: pd.DataFrame | None = None):
    """Per run, the SFT policy's gap to its own random baseline on RR@5 and on DA, with the two-standard-
    error band as error bars (a bar crossing 0 is not beyond noise), runs grouped and coloured by recipe;
    below them, as diamonds, the ``pooled_table`` rows (a recipe's runs pooled, paired by instance)."""
    import matplotlib.pyplot as plt

    pooled = pooled if pooled is not None else pd.DataFrame()
    rows = len(table) + len(pooled)
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.45 * rows + 1.6), sharey=True)
    colors = {r: f"C{i}" for i, r in enumerate(dict.fromkeys(table["recipe"]))}
    y = list(range(rows))[::-1]  # first run on top, pooled rows at the bottom
    labels = [f"{r.recipe} · seed {r.seed} · {r.commit}" for r in table.itertuples()]
    labels += [f"{r['recipe']} · {r['runs']} runs pooled" for r in pooled.to_dict("records")]
    for ax, metric in zip(axes, ("RR@5", "DA")):
        gap = table[metric] - table[f"random_{metric}"]
        band = [noise_band(a, b, int(n)) for a, b, n in zip(table[metric], table[f"random_{metric}"], table["n"])]
        for yi, g, b, r in zip(y, gap, band, table["recipe"]):
            ax.errorbar(g, yi, xerr=b, fmt="o", color=colors[r], capsize=3)
        for yi, r in zip(y[len(table):], pooled.to_dict("records")):
            ax.errorbar(r[f"{metric}_minus_random"], yi, xerr=r[f"{metric}_band"], fmt="D",
                        color=colors.get(r["recipe"], "k"), capsize=4, ms=8, mec="k")
        ax.axvline(0, color="grey", lw=0.8)
        ax.set(xlabel=f"{metric}: SFT policy minus random (± 2 SE)", title=f"{metric} gap to random, per run")
    axes[0].set_yticks(y, labels)
    fig.tight_layout()
    return fig


def write_seeds_report(runs: Sequence[tuple[str | Path, str]], out: str | Path, notes: Sequence[str] = (),
                       figure_dir: str | Path | None = None) -> Path:
    """``out`` (markdown) and ``out`` with .csv: the per-run table, the per-recipe summary, then ``notes``
    (one bullet each: what the recipe labels mean); with ``figure_dir``, ``seeds_figure`` as
    ``<figure_dir>/figures/<out stem>.{png,pdf}``."""
    out = Path(out)
    table, pooled = seeds_table(runs), pooled_table(runs)
    if figure_dir is not None:
        import matplotlib.pyplot as plt

        from ..artifacts import save_figure

        fig = seeds_figure(table, pooled)
        save_figure(fig, figure_dir, out.stem)
        plt.close(fig)
    lines = ["# OR-Debug SFT across runs (03_sft)", "",
             "Generated by `python -m ordebug_lib.experiments.sft_seeds` from the runs' provenance and metrics "
             "in `reports/provenance/`. Each run is the whole notebook (demonstrations, SFT of `small`, evaluation "
             f"on the same {int(table['n'].iloc[0])} test instances, the baseline ladder). `beats_random_*`: the gap "
             "to the run's own random baseline is beyond two binomial standard errors (`RR@5_band`).", "",
             "## Runs", "", table.to_markdown(index=False, floatfmt=".3g"), "",
             "## Per recipe", "", summary(table).to_markdown(index=False, floatfmt=".3g"), ""]
    if not pooled.empty:
        lines += ["## Per recipe, pooled over its runs (paired by instance)", "",
                  "Each test instance's gap to random is averaged over the recipe's runs; the band is two "
                  "standard errors of the mean gap over the instances (`stats.paired_gap`), so the runs are not "
                  "counted as independent episodes. Only recipes whose every run kept its episodes "
                  "(`*.episodes.csv` beside the provenance).", "",
                  pooled.to_markdown(index=False, floatfmt=".3g"), ""]
    if notes:
        lines += ["## Notes", "", *(f"- {n}" for n in notes), ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    table.to_csv(out.with_suffix(".csv"), index=False)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ordebug_lib.experiments.sft_seeds", description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="*", metavar="PROVENANCE[=RECIPE]",
                    help="a 04_ordebug_sft (or 03_sft) provenance json, optionally =<recipe label> (default: 'current')")
    ap.add_argument("--out", help="markdown path; the csv goes beside it")
    ap.add_argument("--note", action="append", default=[], help="a bullet under Notes (repeatable)")
    ap.add_argument("--figures", metavar="DIR", help="also write the figure to DIR/figures/<out stem>.{png,pdf}")
    ap.add_argument("--export-episodes", nargs=2, metavar=("RESULTS_DB", "CSV"),
                    help="only write a run's episodes csv (see export_episodes) and exit")
    args = ap.parse_args(argv)
    if args.export_episodes:
        print(export_episodes(*args.export_episodes))
        return 0
    if not args.runs or not args.out:
        ap.error("give the runs and --out (or --export-episodes)")
    runs = [tuple(r.split("=", 1)) if "=" in r else (r, "current") for r in args.runs]
    print(write_seeds_report(runs, args.out, args.note, args.figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
