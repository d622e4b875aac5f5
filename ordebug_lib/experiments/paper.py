"""The paper from the committed result files: no training, no GPU (notebook ``90_paper``).

Every published report is a markdown file in ``reports/`` whose tables were rendered from the CSV beside it;
``check_tables`` renders each committed CSV again and says whether the committed markdown holds it, so a
hand edit or a stale CSV shows. ``render_figures`` draws again, from the committed CSVs alone, the figures
whose plotting code lives in the package (the OR-Debug RL experiments' four figures, E1's accuracy by
budget and its training curves); the others' code is still in their notebooks, and the index says so.

==================  ==============================================================================================
function            what it reads (``reports/``)                      what it writes (``out``)
==================  ==============================================================================================
check_tables        every ``X.csv`` with an ``X.md`` (or the report    a table: file, rows, reproduced, format
                    that embeds it, ``EMBEDDED``)
render_figures      ``<slug>.csv``, ``_by_error_type``, ``_by_         ``figures/<name>.png`` (+ pdf), one per
                    difficulty``, ``_curves`` (OR-Debug RL);           figure, named as the publishing notebook
                    ``countdown_grpo_vs_drgrpo_arms`` / ``_curves``    names it
                    (E1); ``countdown_grpo_vs_drgrpo_budgets_tests``
                    / ``_results`` (E1 v2 joined, ``e1_parts.py``)
==================  ==============================================================================================
"""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORMATS = (".3g", ".4g")  # the floatfmt of the experiments' reports (.3g) and of artifacts.write_table (.4g)
# CSVs whose table lives in another report's markdown: (csv stem) -> report stem
RL_SLUGS = {"20_ordebug_sft_vs_grpo": ("ordebug_sft_vs_grpo", "grpo"), "21_ordebug_dgro": ("ordebug_dgro", "dgro"),
            "22_ordebug_dapo_ablation": ("ordebug_dapo_ablation", "dapo"),
            "23_ordebug_curriculum": ("ordebug_curriculum", "curriculum")}
EMBEDDED = {f"{slug}{suffix}": slug for slug, _ in RL_SLUGS.values() for suffix in ("_by_error_type", "_by_difficulty")}
EMBEDDED.update({f"countdown_grpo_vs_drgrpo_budgets{suffix}": "countdown_grpo_vs_drgrpo_budgets"
                 for suffix in ("_results", "_tests", "_interaction")})  # E1 v2 joined from its parts (e1_parts.py)
EMBEDDED["countdown_grpo_vs_drgrpo_warm_starts_tests"] = "countdown_grpo_vs_drgrpo_warm_starts"  # e1_parts.across_warm_starts
NOT_TABLES = ("_arms", "_curves", "_episodes", "_stages", "_instances")  # per-arm, per-step and per-instance data
# behind a report, not its tables


def check_tables(reports: str | Path = ROOT / "reports"):
    """Each committed CSV table rendered again (``to_markdown``) and looked up in its report (a DataFrame)."""
    import pandas as pd

    reports = Path(reports)
    rows = []
    for csv in sorted(reports.glob("*.csv")):
        stem = csv.stem
        if stem.endswith(NOT_TABLES) or stem.endswith("_paired") and not (reports / f"{stem}.md").exists():
            continue
        md = reports / f"{EMBEDDED.get(stem, stem)}.md"
        if not md.exists():
            rows.append({"table": csv.name, "report": None, "rows": None, "reproduced": False, "format": None})
            continue
        df, text = pd.read_csv(csv), md.read_text()
        fmt = next((f for f in FORMATS if df.to_markdown(index=False, floatfmt=f) in text), None)
        rows.append({"table": csv.name, "report": md.name, "rows": len(df), "reproduced": fmt is not None, "format": fmt})
    return pd.DataFrame(rows)


def render_figures(out: str | Path, reports: str | Path = ROOT / "reports") -> list[str]:
    """Draw the package-plotted figures of every published run from its CSVs into ``out/figures``; returns
    their names (each as the publishing notebook names it)."""
    import matplotlib.pyplot as plt
    import pandas as pd

    from ..artifacts import save_figure
    from .countdown_e1 import accuracy_figure
    from .curves import plot_step_curves
    from .e1_parts import budget_figure
    from .ordebug_report import mark_stages, stage_table
    from .rl_experiment import breakdown_figure, metrics_figure, training_figure, variance_figure

    reports, names = Path(reports), []

    def save(fig, name):
        save_figure(fig, out, name)
        plt.close(fig)
        names.append(name)

    for stem, (slug, fig) in RL_SLUGS.items():
        if not (reports / f"{slug}.csv").exists():
            continue
        table, curves = pd.read_csv(reports / f"{slug}.csv"), pd.read_csv(reports / f"{slug}_curves.csv")
        by_type = pd.read_csv(reports / f"{slug}_by_error_type.csv")
        by_difficulty = pd.read_csv(reports / f"{slug}_by_difficulty.csv")
        n_test = int(table["episodes"].iloc[0])
        save(metrics_figure(table, n_test, f"{stem}: test split"), f"ordebug_{fig}_test_metrics")
        save(breakdown_figure(table, by_type, by_difficulty), f"ordebug_{fig}_breakdown")
        smooth = max(1, int(curves["step"].max()) // 12)
        reward = "composite"  # every published OR-Debug RL run trained on the composite reward (their reports say so)
        stages = stage_table(curves) if "stage" in curves else None  # the curriculum's stage boundaries
        for f, name in ((variance_figure(curves, smooth), "reward_variance"),
                        (training_figure(curves, smooth, reward), "training_curves")):
            if stages is not None and len(stages):
                mark_stages(f, stages, label_axes=2)
            save(f, f"ordebug_{fig}_{name}")
    e1 = reports / "countdown_grpo_vs_drgrpo_arms.csv"
    if e1.exists():
        summaries, curves = pd.read_csv(e1), pd.read_csv(reports / "countdown_grpo_vs_drgrpo_curves.csv")
        alpha = summaries.loc[summaries["kind"] == "hybrid", "hybrid_alpha"]
        save(accuracy_figure(summaries, int(summaries["n"].iloc[0]), alpha.iloc[0] if len(alpha) else None),
             "countdown_accuracy_by_budget")
        smooth = max(1, int(curves["step"].max()) // 12)
        save(plot_step_curves(curves, [("ordebug/reward/std", "reward std within the batch"),
                                       ("ordebug/groups/zero_std_frac", "fraction of zero-std groups")],
                              smooth=smooth, title="Reward variance per step"), "countdown_reward_variance")
    joined = reports / "countdown_grpo_vs_drgrpo_budgets_tests.csv"
    if joined.exists():
        results = pd.read_csv(reports / "countdown_grpo_vs_drgrpo_budgets_results.csv")
        save(budget_figure(pd.read_csv(joined), dict(zip(results["max tokens"], results["part"]))),
             "countdown_grpo_vs_drgrpo_budgets")
    return names


def figure_index(rendered, figures_dir: str | Path = ROOT / "figures"):
    """Every published figure (``figures/*.png``) and whether ``render_figures`` drew it again here."""
    import pandas as pd

    published = sorted(p.stem for p in Path(figures_dir).glob("*.png"))
    rows = [{"figure": n, "published": n in published, "drawn again": n in rendered} for n in published]
    rows += [{"figure": n, "published": False, "drawn again": True} for n in rendered if n not in published]
    return pd.DataFrame(rows)


def write_index(path: str | Path, tables, figures) -> Path:
    """The paper's index: which tables reproduce and which figures were drawn again (markdown)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n_ok, n_drawn = int(tables["reproduced"].sum()), int(figures["drawn again"].sum())
    lines = ["# The paper from the committed results", "",
             f"{n_ok} of {len(tables)} committed tables reproduce from their CSVs; {n_drawn} of "
             f"{int(figures['published'].sum())} published figures were drawn again from the committed CSVs (the "
             "others are drawn by their notebooks only).", "", "## Tables", "", tables.to_markdown(index=False), "",
             "## Figures", "", figures.to_markdown(index=False)]
    path.write_text("\n".join(lines) + "\n")
    return path
