"""The paper from the committed result files: no training, no GPU (notebook ``90_paper``).

Every published report is a markdown file in ``reports/`` whose tables were rendered from the CSV beside it;
``check_tables`` renders each committed CSV again and says whether the committed markdown holds it, so a
hand edit or a stale CSV shows. ``render_figures`` draws every published figure (``figures/*.png``) again from
the committed files alone, with the package function its notebook draws it with; ``figure_index`` lists
each published figure, the files it was drawn from, and for one not drawn, why (``WAITING``: its data is
still to come; never drawn from other data).

==================  ==============================================================================================
function            what it reads (``reports/``)                      what it writes (``out``)
==================  ==============================================================================================
check_tables        every ``X.csv`` with an ``X.md`` (or the report    a table: file, rows, reproduced, format
                    that embeds it, ``EMBEDDED``)
render_figures      per figure, the files ``figure_sources`` names:    ``figures/<name>.png`` (+ pdf), one per
                    the OR-Debug RL runs' ``<slug>*.csv``; E1's        figure, named as the publishing notebook
                    ``countdown_grpo_vs_drgrpo_arms`` / ``_curves``    names it
                    and E1 v2's ``_budgets_tests`` / ``_results``;
                    01's ``token_weights`` / ``advantages`` with
                    its ``provenance/*.metrics.json`` (every length,
                    the reward groups); 02's ``ordebug_benchmark_*``
                    / ``ordebug_baseline_ladder*`` / ``ordebug_leak_
                    detectors``; the SFT runs' ``sft_<task>_curve``
                    / ``_eval`` / ``_actions`` with the provenance
                    metrics of the run that recorded that curve;
                    ``sft_ordebug_seeds`` with the runs it names
figure_index        ``figures/*.png`` and the files above              a table: figure, drawn again, drawn from,
                                                                       why not
==================  ==============================================================================================

A file lacking a column its figure is drawn from is refused (ValueError), never drawn as an empty panel.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

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


def _read(reports: Path, name: str, columns: Sequence[str] = (), **kw):
    """``reports/<name>`` (a CSV) with the columns a figure is drawn from; a CSV lacking one is refused
    (a panel drawn from a missing column would be empty, not wrong enough to be seen)."""
    import pandas as pd

    df = pd.read_csv(reports / name, **kw)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{reports / name} lacks the column(s) {missing} its figure is drawn from")
    return df


def _metrics(reports: Path, name: str, keys: Sequence[str] = ()) -> dict:
    """A run's recorded metrics (``reports/provenance/<x>.metrics.json``) with the entries a figure needs."""
    m = json.loads((reports / name).read_text())
    missing = [k for k in keys if k not in m]
    if missing:
        raise ValueError(f"{reports / name} lacks the entr(ies) {missing} its figure is drawn from")
    return m


def _split_curve(curve):
    """``sft_<task>_curve.csv`` (training and held-out loss merged on the step) back into its two curves."""
    return (curve[["step", "train_loss"]].dropna().reset_index(drop=True),
            curve[["step", "held_out_loss"]].dropna().reset_index(drop=True))


def _run_of_curve(reports: Path, task: str, curve) -> dict:
    """The one run in ``reports/provenance/`` whose recorded SFT curves are the committed ``curve``: the
    run that published it (its model, records, pretraining curve, kept step); none or several: ValueError."""
    import numpy as np

    train, held_out = _split_curve(curve)
    found = []
    for path in sorted((reports / "provenance").glob("*.metrics.json")):
        m = json.loads(path.read_text())
        if m.get("task") != task or not isinstance(m.get("sft"), dict):
            continue
        t, e = (np.asarray(m["sft"].get(k) or [], dtype=float).reshape(-1, 2) for k in ("train_curve", "eval_curve"))
        if (t.shape == train.shape and e.shape == held_out.shape and np.allclose(t, train.to_numpy(dtype=float))
                and np.allclose(e, held_out.to_numpy(dtype=float))):
            found.append((path, m))
    if len(found) != 1:
        raise ValueError(f"sft_{task}_curve.csv: {len(found)} runs in {reports / 'provenance'} recorded that curve "
                         f"({', '.join(p.name for p, _ in found) or 'none'}); its figure needs the one that published it")
    return found[0][1]


def _one(values, what: str):
    values = list(dict.fromkeys(values))
    if len(values) != 1:
        raise ValueError(f"{what}: expected one value, the table holds {values}")
    return values[0]


def figure_sources(reports: str | Path = ROOT / "reports") -> dict:
    """Every figure ``render_figures`` can draw: name -> (the committed files it is drawn from, relative to
    ``reports``; a function of ``reports`` that draws it). Names are the publishing notebooks' names."""
    from .countdown_e1 import accuracy_figure, reward_length_figure
    from .curves import plot_step_curves
    from .e1_parts import budget_figure
    from .ladder import faithful_by_type_figure, iis_size_figure, ladder_figure, ladder_paired_figure, root_kind_figure
    from .normalization import (advantages_figure, rewards_from_metrics, sequence_weight_figure, token_weight_figure,
                                weights_from_metrics)
    from .ordebug_report import mark_stages, stage_table
    from .rl_experiment import breakdown_figure, metrics_figure, training_figure, variance_figure
    from .sft_experiment import (action_shares, countdown_figure, ordebug_figure, recorded_action_shares,
                                 recorded_curves, recorded_loss_inputs)
    from .sft_seeds import pooled_table, seeds_figure

    out = {}

    def rl(stem, slug, kind):
        files = (f"{slug}.csv", f"{slug}_by_error_type.csv", f"{slug}_by_difficulty.csv", f"{slug}_curves.csv")

        def curves_figure(r, name):
            curves = _read(r, files[3], ["arm", "step"])
            smooth = max(1, int(curves["step"].max()) // 12)
            reward = "composite"  # every published OR-Debug RL run trained on the composite reward (their reports say so)
            f = variance_figure(curves, smooth) if name == "reward_variance" else training_figure(curves, smooth, reward)
            stages = stage_table(curves) if "stage" in curves else None  # the curriculum's stage boundaries
            if stages is not None and len(stages):
                mark_stages(f, stages, label_axes=2)
            return f

        def test_metrics(r):
            table = _read(r, files[0], ["policy", "episodes"])
            return metrics_figure(table, int(table["episodes"].iloc[0]), f"{stem}: test split")

        out[f"ordebug_{kind}_test_metrics"] = (files, test_metrics)
        out[f"ordebug_{kind}_breakdown"] = (files, lambda r: breakdown_figure(
            _read(r, files[0], ["policy", "episodes"]), _read(r, files[1]), _read(r, files[2])))
        for name in ("reward_variance", "training_curves"):
            out[f"ordebug_{kind}_{name}"] = (files, lambda r, name=name: curves_figure(r, name))

    for stem, (slug, kind) in RL_SLUGS.items():
        rl(stem, slug, kind)

    # E1 (10_countdown_grpo_vs_drgrpo) and E1 v2 joined from its parts (e1_parts.py)
    arms, curves = "countdown_grpo_vs_drgrpo_arms.csv", "countdown_grpo_vs_drgrpo_curves.csv"

    def accuracy(r):
        summaries = _read(r, arms, ["kind", "hybrid_alpha", "n", "max_completion_length", "accuracy", "seed"])
        alpha = summaries.loc[summaries["kind"] == "hybrid", "hybrid_alpha"]
        return accuracy_figure(summaries, int(summaries["n"].iloc[0]), alpha.iloc[0] if len(alpha) else None)

    def step_curves(r, columns):
        c = _read(r, curves, ["arm", "kind", "step", *columns])
        return c, max(1, int(c["step"].max()) // 12)

    def variance(r):
        c, smooth = step_curves(r, ["ordebug/reward/std", "ordebug/groups/zero_std_frac"])
        return plot_step_curves(c, [("ordebug/reward/std", "reward std within the batch"),
                                    ("ordebug/groups/zero_std_frac", "fraction of zero-std groups")],
                                smooth=smooth, title="Reward variance per step")

    def reward_length(r):
        return reward_length_figure(*step_curves(r, ["ordebug/reward/mean", "completions/mean_length",
                                                     "completions/clipped_ratio", "entropy"]))

    def budgets(r):
        results = _read(r, "countdown_grpo_vs_drgrpo_budgets_results.csv", ["max tokens", "part"])
        return budget_figure(_read(r, "countdown_grpo_vs_drgrpo_budgets_tests.csv"),
                             dict(zip(results["max tokens"], results["part"])))

    out["countdown_accuracy_by_budget"] = ((arms,), accuracy)
    out["countdown_reward_variance"] = ((curves,), variance)
    out["countdown_reward_length_curves"] = ((curves,), reward_length)
    out["countdown_grpo_vs_drgrpo_budgets"] = (("countdown_grpo_vs_drgrpo_budgets_tests.csv",
                                                "countdown_grpo_vs_drgrpo_budgets_results.csv"), budgets)

    # 01_normalization_math: token_weights.csv holds each batch's extremes only; the run's metrics every length
    m01 = "provenance/01_normalization_math.metrics.json"

    def weights(r):
        committed = _read(r, "token_weights.csv", ["L_max", "loss_type", "length", "token_weight", "sequence_weight"])
        m = _metrics(r, m01, ["weights", "batch_size"])
        return weights_from_metrics(m, committed), m["batch_size"]

    def advantages(r):
        table = _read(r, "advantages.csv", ["group", "method", "a1", "kept_by_dynamic_sampling"])
        return advantages_figure(table, rewards_from_metrics(_metrics(r, m01, ["advantages"])))

    out["token_weight_vs_length"] = (("token_weights.csv", m01), lambda r: token_weight_figure(*weights(r)))
    out["sequence_weight_vs_length"] = (("token_weights.csv", m01), lambda r: sequence_weight_figure(weights(r)[0]))
    out["advantages_by_estimator"] = (("advantages.csv", m01), advantages)

    # 02_ordebug_benchmark
    from ..ordebug.instance import DIFFICULTIES

    def levels(table):
        return [d for d in DIFFICULTIES if d in set(table["difficulty"])]

    def iis(r):
        inst = _read(r, "ordebug_benchmark_instances.csv", ["error_type", "difficulty", "iis_size"])
        return iis_size_figure(inst, levels(inst))

    def ladder(r):
        by = _read(r, "ordebug_baseline_ladder_by_difficulty.csv",
                   ["policy", "split", "difficulty", "RR@5", "faithful_recovery", "exact_repair", "DA"])
        whole = _read(r, "ordebug_baseline_ladder.csv", ["policy", "split", "n"])
        n = _one(whole["n"], "ordebug_baseline_ladder.csv: instances per policy")  # every policy ran every instance
        return ladder_figure(by, levels(by), int(n), _one(by["split"], "the ladder's split"))

    def by_type(r):
        t = _read(r, "ordebug_baseline_ladder_by_type.csv", ["policy", "split", "error_type", "faithful_recovery"])
        return faithful_by_type_figure(t, list(dict.fromkeys(t["policy"])), _one(t["split"], "the ladder's split"))

    def paired(r):
        p = _read(r, "ordebug_baseline_ladder_paired.csv", ["split", "comparison", "metric", "diff", "se", "mde"])
        d = _read(r, "ordebug_leak_detectors.csv", ["detector", "metric", "diff", "se", "mde"])
        return ladder_paired_figure(p, d, _one(p["split"], "the paired table's split"))

    out["ordebug_iis_size"] = (("ordebug_benchmark_instances.csv",), iis)
    out["ordebug_root_kind_rates"] = (("ordebug_benchmark_root_kinds.csv",), lambda r: root_kind_figure(_read(
        r, "ordebug_benchmark_root_kinds.csv", ["family", "row_kind", "iis_appearances", "rate", "family_rate"])))
    out["ordebug_baseline_ladder"] = (("ordebug_baseline_ladder_by_difficulty.csv", "ordebug_baseline_ladder.csv"), ladder)
    out["ordebug_faithful_by_type"] = (("ordebug_baseline_ladder_by_type.csv",), by_type)
    out["ordebug_ladder_paired"] = (("ordebug_baseline_ladder_paired.csv", "ordebug_leak_detectors.csv"), paired)

    # 03_countdown_sft / 04_ordebug_sft: the CSVs, and the run that recorded the same curve (provenance/)
    loss_columns = ["step", "train_loss", "held_out_loss"]

    def countdown_sft(r):
        curve = _read(r, "sft_countdown_curve.csv", loss_columns)
        table = _read(r, "sft_countdown_eval.csv", ["policy", "correct", "partial", "failed"])
        stages = table[table["policy"].str.endswith(" SFT")]  # "<model> before SFT", "<model> after SFT"
        outcomes = stages.set_index(stages["policy"].str.split(" ", n=1).str[1])[["correct", "partial", "failed"]]
        outcomes.index.name = None
        n_eval = _one(outcomes.sum(axis=1).astype(int), "sft_countdown_eval.csv: problems per stage")
        return countdown_figure(*_split_curve(curve), outcomes, n_eval,
                                **recorded_loss_inputs(_run_of_curve(r, "countdown", curve)))

    def ordebug_sft(r):
        curve = _read(r, "sft_ordebug_curve.csv", loss_columns)
        ladder = _read(r, "sft_ordebug_eval.csv", ["policy", "RR@5", "DA"]).set_index("policy")
        actions = _read(r, "sft_ordebug_actions.csv", ["stage", "steps"])
        return ordebug_figure(*_split_curve(curve), ladder, action_shares(actions),
                              **recorded_loss_inputs(_run_of_curve(r, "ordebug", curve)))

    # the slack_lm run of 03_sft (the notebook 04 replaced) kept no curve or action CSV: its metrics hold both
    slack_lm = "provenance/03_sft.gpu_ordebug_slack_lm.metrics.json"

    def slack_lm_sft(r):
        m = _metrics(r, slack_lm, ["sft", "data", "model", "task", "failure_analysis", "ladder"])
        ladder = _read(r, "sft_ordebug_slack_lm_eval.csv", ["policy", "RR@5", "DA"]).set_index("policy")
        for policy, row in ladder.iterrows():  # the eval table is that run's ladder
            if any(abs(row[k] - m["ladder"][policy][k]) > 1e-12 for k in ("RR@5", "DA")):
                raise ValueError(f"sft_ordebug_slack_lm_eval.csv: {policy} is not what {slack_lm} recorded")
        return ordebug_figure(*recorded_curves(m), ladder, recorded_action_shares(m["failure_analysis"]),
                              **recorded_loss_inputs(m))

    def seeds(r):
        table = _read(r, "sft_ordebug_seeds.csv", ["run", "recipe", "seed", "commit", "n", "RR@5", "random_RR@5", "DA",
                                                   "random_DA"], dtype={"commit": str})
        runs = [(r / "provenance" / f"{run}.json", recipe) for run, recipe in zip(table["run"], table["recipe"])]
        return seeds_figure(table, pooled_table(runs))

    out["sft_countdown_learning_curve"] = (("sft_countdown_curve.csv", "sft_countdown_eval.csv"), countdown_sft)
    out["sft_ordebug_learning_curve"] = (("sft_ordebug_curve.csv", "sft_ordebug_eval.csv", "sft_ordebug_actions.csv"),
                                         ordebug_sft)
    out["sft_ordebug_slack_lm_learning_curve"] = ((slack_lm, "sft_ordebug_slack_lm_eval.csv"), slack_lm_sft)
    out["sft_ordebug_seeds"] = (("sft_ordebug_seeds.csv",), seeds)  # with the runs' provenance it names
    return out


# Published figures whose committed data is still to come: name -> why (shown in the index, never drawn from other data)
WAITING = {"ordebug_iis_size": "waits for reports/ordebug_benchmark_instances.csv (per-instance IIS sizes), which "
                               "02_ordebug_benchmark writes from its next publication: the published run predates it"}


def render_figures(out: str | Path, reports: str | Path = ROOT / "reports") -> list[str]:
    """Draw every figure of ``figure_sources`` whose committed files are all in ``reports`` into
    ``out/figures``; returns their names (each as the publishing notebook names it). A figure whose files are
    missing is not drawn (``figure_index`` says which files); a file lacking a column its figure needs raises."""
    import matplotlib.pyplot as plt

    from ..artifacts import save_figure

    reports, names = Path(reports), []
    for name, (files, draw) in figure_sources(reports).items():
        if not all((reports / f).exists() for f in files):
            continue
        fig = draw(reports)
        save_figure(fig, out, name)
        plt.close(fig)
        names.append(name)
    return names


def figure_index(rendered, figures_dir: str | Path = ROOT / "figures", reports: str | Path = ROOT / "reports"):
    """Every published figure (``figures/*.png``): whether ``render_figures`` drew it again here, from which
    committed files, and if not, why (its files missing, its data still to come: ``WAITING``)."""
    import pandas as pd

    reports = Path(reports)
    sources = figure_sources(reports)
    published = sorted(p.stem for p in Path(figures_dir).glob("*.png"))

    def row(n, is_published):
        files = sources.get(n, ((), None))[0]
        missing = [f for f in files if not (reports / f).exists()]
        why = (None if n in rendered else WAITING[n] if n in WAITING and missing
               else f"missing {', '.join(f'reports/{f}' for f in missing)}" if missing
               else "no package function draws it" if n not in sources else "not drawn")
        return {"figure": n, "published": is_published, "drawn again": n in rendered,
                "drawn from": ", ".join(files) or None, "why not": why}

    rows = [row(n, True) for n in published] + [row(n, False) for n in rendered if n not in published]
    return pd.DataFrame(rows)


def write_index(path: str | Path, tables, figures) -> Path:
    """The paper's index: which tables reproduce and which figures were drawn again (markdown)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n_ok, n_drawn = int(tables["reproduced"].sum()), int(figures["drawn again"].sum())
    not_drawn = figures[figures["published"] & ~figures["drawn again"]]
    lines = ["# The paper from the committed results", "",
             f"{n_ok} of {len(tables)} committed tables reproduce from their CSVs; {n_drawn} of "
             f"{int(figures['published'].sum())} published figures were drawn again from the committed result files"
             + (". Not drawn: " + "; ".join(f"{r['figure']} ({r['why not']})" for _, r in not_drawn.iterrows())
                if len(not_drawn) else "") + ".", "", "## Tables", "", tables.to_markdown(index=False), "",
             "## Figures", "", figures.to_markdown(index=False)]
    path.write_text("\n".join(lines) + "\n")
    return path
