"""The OR-Debug RL experiments' results (notebooks 20–23): each arm's episodes and curves collected, the tables
over arms and the baseline ladder, the paired tests against the SFT warm start, the computed findings and the
markdown report. The arms themselves (registry, jobs, the arm process, the curriculum's training) are
``ordebug_rl``'s; this module only reads what they wrote.

=======================  ================================================================================
function                 what it gives
=======================  ================================================================================
load_arm_results         per arm: summary, one row per test episode, one row per logged step
baseline_rows            the ladder's episode rows (``baselines.sqlite``)
results_table            the seeds/000 table: per policy, RR, RR@k, faithful recovery, DA, steps
episode_table            the per-episode rows a report commits
paired_to_reference      every policy against SFT or GRPO, paired per instance (CI, MDE, verdict)
breakdown_table          per policy and error type (or difficulty)
curve_trends, findings   first vs last quarter of training; the computed sentences of a report
write_report, ...        the markdown report; the curriculum's stage table, figure marks and findings
=======================  ================================================================================
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from ..policy.data import BASELINES
from .ordebug_rl import LABEL, OrdebugArm
from .stats import first_last_means

BASELINE_LABEL = {name: f"baseline: {name}" for name in BASELINES}
TABLE_METRICS = ("RR", "RR@5", "RR@10", "RR@15", "RR@20", "faithful_recovery", "DA", "avg_steps")


# -- collecting results -------------------------------------------------------------------------------------
def load_arm_results(root: str | Path, arms: Sequence[OrdebugArm], instances: Sequence | None = None):
    """(summaries: one row per arm, rows: one row per arm and test episode, curves: one row per trained arm
    and logged step) as DataFrames. ``instances``: the test instances; every arm must have evaluated each
    once, and the rows' error type / difficulty / family are checked against them."""
    import pandas as pd

    from ..ordebug.results import load_results
    from ..training.logging import read_metrics

    root = Path(root)
    summaries, rows, curves = [], [], []
    meta = None if instances is None else {i.id: (i.error_type, i.difficulty, i.family) for i in instances}
    for a in arms:
        d = root / a.name
        done = json.loads((d / "done.json").read_text())
        summaries.append({**json.loads((d / "eval.json").read_text()), "label": a.label, **done["timings_s"]})
        r = load_results(d / "results.sqlite", policy=a.name).assign(arm=a.name, kind=a.kind, label=a.label,
                                                                      rl_seed=a.seed)
        if meta is not None:
            if sorted(r["instance_id"]) != sorted(meta):
                raise ValueError(f"{a.name} evaluated {len(r)} episodes, not each of the {len(meta)} test instances once")
            got = list(zip(r["error_type"], r["difficulty"], r["family"]))
            if got != [meta[i] for i in r["instance_id"]]:
                raise ValueError(f"{a.name}: stored error type / difficulty / family differ from the instances'")
        rows.append(r)
        if a.trains:
            for row in read_metrics(d / "metrics.jsonl"):
                curves.append({"arm": a.name, "kind": a.kind, "label": a.label, "seed": a.seed, **row})
    curves = pd.DataFrame(curves) if curves else pd.DataFrame(columns=["arm", "kind", "label", "seed", "step"])  # no trained arm
    return pd.DataFrame(summaries), pd.concat(rows, ignore_index=True), curves


def baseline_rows(db_path: str | Path, names: Sequence[str], instances: Sequence, seed: int = 0):
    """The baseline ladder's episode rows on ``instances`` (written by ``data.parallel_baselines``)."""
    from ..ordebug.results import load_results

    df = load_results(db_path, seed=seed)
    ids = {i.id for i in instances}
    df = df[df["policy"].isin(list(names)) & df["instance_id"].isin(ids)]
    for n in names:
        if (df["policy"] == n).sum() != len(ids):
            raise ValueError(f"baseline {n!r} has {(df['policy'] == n).sum()} rows for {len(ids)} instances")
    return df.assign(arm=df["policy"], kind=df["policy"], label=df["policy"].map(BASELINE_LABEL), rl_seed=seed)


def _ordered_labels(rows) -> list[str]:
    """The labels in ``LABEL`` order, then the baselines'; a reward-range arm ("DGRO, reward ×c") right after
    its kind's label, by scale."""
    order = list(LABEL.values()) + list(BASELINE_LABEL.values())

    def key(label):
        if label in order:
            return order.index(label), 1.0
        base, _, scale = label.rpartition(", reward ×")
        return order.index(base), float(scale)

    return sorted(rows["label"].unique(), key=key)


def results_table(rows):
    """The seeds/000 table: per policy (SFT, each RL arm pooled over its seeds, each baseline) the
    episodes, seeds, RR, RR@5/10/15/20, faithful recovery, DA and average steps on the test split."""
    import pandas as pd

    from ..ordebug.metrics import aggregate

    agg = aggregate(rows, by="label")
    out = []
    for label in _ordered_labels(rows):
        g = rows[rows["label"] == label]
        out.append({"policy": label, "episodes": int(agg.loc[label, "n"]), "seeds": g["rl_seed"].nunique(),
                    **{m: float(agg.loc[label, m]) for m in TABLE_METRICS}})
    return pd.DataFrame(out)


PAIRED = {"faithful_recovery": "faithful", "DA": "diagnosis_recall", "RR@5": "rr_at_5"}
EPISODE_COLUMNS = ("arm", "kind", "label", "rl_seed", "instance_id", "family", "error_type", "difficulty", "steps",
                   "submitted", "truncated", "feasible_end", "faithful", "exact_repair", "diagnosis_recall",
                   "diagnosis_precision", *(f"rr_at_{k}" for k in (5, 10, 15, 20)), "failure_class")


def episode_table(rows):
    """The per-episode rows a report commits (no trajectories): enough to recompute every table and test."""
    missing = [c for c in EPISODE_COLUMNS if c not in rows.columns]
    if missing:
        raise ValueError(f"episode rows lack {missing}")
    return rows[list(EPISODE_COLUMNS)].reset_index(drop=True)


def paired_to_reference(rows, reference: str = "sft", metrics: dict[str, str] = PAIRED):
    """Every other policy (arm kinds pooled over their RL seeds, baselines) against ``reference`` (a kind), per
    metric: the paired per-instance test (``stats.paired_test`` on each instance's value averaged over the seeds
    of each side, so seeds on the same instances do not count as more instances), its 95% CI, the minimum
    detectable effect, the between-seed spread of the policy's mean, the SE of the difference across seeds
    (``stats.seed_se`` over both sides: a reference of one evaluation, as SFT, counts as fixed; a trained reference,
    as GRPO over its seeds, adds its own spread), and ``stats.verdict``: "beyond the CI", "within the seed spread"
    (only the problem CI excludes 0) or "not detected".

    >>> import pandas as pd
    >>> r = pd.DataFrame({"kind": ["sft"] * 4 + ["grpo"] * 8, "label": ["SFT (no RL)"] * 4 + ["GRPO"] * 8,
    ...                   "rl_seed": [0] * 4 + [0] * 4 + [1] * 4, "instance_id": list("abcd") * 3,
    ...                   "faithful": [0, 0, 1, 0] + [1, 0, 1, 0] + [1, 1, 1, 0]})
    >>> t = paired_to_reference(r, metrics={"faithful_recovery": "faithful"}).iloc[0]
    >>> t["policy"], int(t["instances"]), int(t["seeds"]), float(t["policy mean"]), float(t["reference mean"])
    ('GRPO', 4, 2, 0.625, 0.25)
    >>> round(float(t["diff"]), 3), round(float(t["se"]), 3), t["verdict"]   # per instance 1, .5, 0, 0
    (0.375, 0.239, 'not detected')
    >>> round(float(t["seed se"]), 3)   # seed means 0.5 and 0.75
    0.125
    >>> t = paired_to_reference(r, reference="grpo", metrics={"faithful_recovery": "faithful"}).iloc[0]
    >>> t["policy"], float(t["reference mean"]), round(float(t["diff"]), 3), round(float(t["seed se"]), 3)
    ('SFT (no RL)', 0.625, -0.375, 0.125)
    """
    import pandas as pd

    from .stats import paired_test, seed_se, verdict

    ref = rows[rows["kind"] == reference]
    if ref.empty:
        raise ValueError(f"no episodes of the reference {reference!r}")

    def by_seed(g, label, col):  # (instances, seeds); every seed must hold every instance once
        wide = g.pivot_table(index="instance_id", columns="rl_seed", values=col, aggfunc="mean").astype(float)
        if g.duplicated(["instance_id", "rl_seed"]).any() or wide.isna().any().any():
            raise ValueError(f"{label}: not every seed evaluated the same instances once ({col})")
        return wide

    ref_by = {col: by_seed(ref, reference, col) for col in metrics.values()}  # once, for every policy
    out = []
    for label in [x for x in _ordered_labels(rows) if x not in set(ref["label"])]:
        g = rows[rows["label"] == label]
        for name, col in metrics.items():
            ref_wide, wide = ref_by[col], by_seed(g, label, col)
            if set(wide.index) != set(ref_wide.index):
                raise ValueError(f"{label}: not every seed evaluated the reference's instances ({name})")
            per_seed = wide.mean(axis=0)
            t = paired_test(wide.mean(axis=1).to_numpy(), ref_wide.loc[wide.index].mean(axis=1).to_numpy())
            spread = seed_se(per_seed, ref_wide.mean(axis=0))  # a one-evaluation reference counts as fixed
            lo, hi = t["diff"] - 1.96 * t["se"], t["diff"] + 1.96 * t["se"]
            out.append({"policy": label, "metric": name, "instances": t["n"], "seeds": wide.shape[1],
                        "policy mean": t["a"], "reference mean": t["b"], "diff": t["diff"], "se": t["se"],
                        "ci low": lo, "ci high": hi, "p": t["p"], "mde": t["mde"],
                        "seed sd": float(per_seed.std(ddof=1)) if len(per_seed) > 1 else float("nan"),
                        "seed se": spread, "verdict": verdict(t["diff"], t["se"], spread)})
    return pd.DataFrame(out)


def breakdown_table(rows, key: str, metrics: Sequence[str] = ("RR@5", "faithful_recovery", "DA", "avg_steps")):
    """One row per (policy, ``key`` value), e.g. key 'error_type' or 'difficulty': episodes and metrics."""
    from ..ordebug.metrics import aggregate

    agg = aggregate(rows, by=["label", key]).reset_index()
    agg["_o"] = agg["label"].map(_ordered_labels(rows).index)
    agg = agg.sort_values(["_o", key]).rename(columns={"label": "policy", "n": "episodes"})
    return agg[["policy", key, "episodes", *metrics]].reset_index(drop=True)


TREND_COLUMNS = {"ordebug/reward/mean": "reward", "ordebug/reward/std": "reward_std",
                 "ordebug/groups/zero_std_frac": "zero_std_frac", "ordebug/env/faithful_rate": "faithful_rate",
                 "ordebug/env/steps_mean": "steps"}


def curve_trends(curves):
    """Per trained arm: training reward, reward std, zero-std group fraction, faithful rate and episode
    steps over the first and the last quarter of training (NaN where a key was never logged)."""
    import numpy as np
    import pandas as pd

    out = []
    for arm, g in curves.sort_values("step").groupby("arm", sort=False):
        row = {"arm": arm, "label": g["label"].iloc[0], "steps": int(g["step"].max())}
        for col, short in TREND_COLUMNS.items():
            first, last = first_last_means(g[col].astype(float)) if col in g and g[col].notna().any() else (np.nan, np.nan)
            row[f"{short}_first"], row[f"{short}_last"] = first, last
        out.append(row)
    columns = ["arm", "label", "steps", *(f"{short}_{end}" for short in TREND_COLUMNS.values() for end in ("first", "last"))]
    return pd.DataFrame(out, columns=columns)


def findings(table, trends, n_eval: int, seeds: Sequence[int], reward: str, tolerance: float | None = None,
             paired=None) -> list[str]:
    """Sentences computed from the results (no hand-written claims): each RL arm against SFT on RR@5,
    faithful recovery and DA (and whether it moves past SFT), where SFT stands on the baseline ladder, and
    the reward-variance trend of each trained arm. A change counts only beyond ``tolerance`` (default:
    ``stats.noise_band``, two binomial standard errors of the difference on ``n_eval`` episodes).

    With ``paired`` (``paired_to_reference``'s table) each RL arm's sentence is its paired per-instance test
    instead: the difference, its 95% CI, the MDE and ``stats.verdict`` per metric ("not detected", never "no").

    >>> import pandas as pd
    >>> t = pd.DataFrame({"policy": ["SFT (no RL)", "GRPO"], "RR@5": [.4, .5], "faithful_recovery": [.1, .1],
    ...                   "DA": [.2, .2], "avg_steps": [12.0, 11.0]})
    >>> pr = pd.DataFrame({"policy": ["GRPO"] * 3, "metric": ["RR@5", "faithful_recovery", "DA"],
    ...                    "instances": 378, "seeds": 3, "diff": [.1, .0, .0], "ci low": [.05, -.02, -.03],
    ...                    "ci high": [.15, .02, .03], "mde": [.04, .03, .04], "verdict": ["beyond the CI",
    ...                    "not detected", "not detected"]})
    >>> findings(t, pd.DataFrame(columns=["arm"]), 378, [0, 1, 2], "composite", paired=pr)[0]  # doctest: +NORMALIZE_WHITESPACE
    'GRPO against SFT, paired over 378 instances (3 RL seeds): RR@5 +10.0% (CI +5.0% to +15.0%, MDE 4.0%; beyond
     the CI); faithful_recovery +0.0% (CI -2.0% to +2.0%, MDE 3.0%; not detected); DA +0.0% (CI -3.0% to +3.0%,
     MDE 4.0%; not detected); average steps 12.0 → 11.0.'
    """
    from .stats import noise_band

    t = table.set_index("policy")
    sft = t.loc[LABEL["sft"]] if LABEL["sft"] in t.index else None
    out = []

    def band(a, b):
        return noise_band(a, b, n_eval) if tolerance is None else tolerance

    def verb(a, b):
        return "within noise" if abs(b - a) <= band(a, b) + 1e-12 else ("up" if b > a else "down")

    if sft is not None:
        for label in [p for p in t.index if p != LABEL["sft"] and not p.startswith("baseline")]:
            r = t.loc[label]
            if paired is not None and label in set(paired["policy"]):
                out.append(_paired_sentence(paired[paired["policy"] == label], label)
                           + f"; average steps {sft['avg_steps']:.1f} → {r['avg_steps']:.1f}.")
                continue
            parts = [f"{m} {sft[m]:.1%} → {r[m]:.1%} ({verb(sft[m], r[m])})" for m in ("RR@5", "faithful_recovery", "DA")]
            moved = [m for m in ("RR@5", "faithful_recovery", "DA") if r[m] - sft[m] > band(sft[m], r[m])]
            worse = [m for m in ("RR@5", "faithful_recovery", "DA") if sft[m] - r[m] > band(sft[m], r[m])]
            answer = ("Yes" if moved and not worse else "Mixed" if moved else "No")
            out.append(f"Does {label} move past SFT? {answer}: " + "; ".join(parts)
                       + f"; average steps {sft['avg_steps']:.1f} → {r['avg_steps']:.1f}.")
        ladder = [p for p in t.index if p.startswith("baseline")]
        if ladder:
            below = [p.split(": ")[1] for p in ladder if t.loc[p, "faithful_recovery"] - sft["faithful_recovery"]
                     > band(sft["faithful_recovery"], t.loc[p, "faithful_recovery"])]
            out.append(f"SFT's faithful recovery {sft['faithful_recovery']:.1%} against the ladder ("
                       + ", ".join(f"{p.split(': ')[1]} {t.loc[p, 'faithful_recovery']:.1%}" for p in ladder)
                       + "): " + (f"below {', '.join(below)}." if below else "at or above every baseline."))
    for _, r in trends.iterrows():
        out.append(f"{r['arm']}: training reward std ({reward} reward) {r['reward_std_first']:.3g} → "
                   f"{r['reward_std_last']:.3g}, zero-std groups {r['zero_std_frac_first']:.0%} → "
                   f"{r['zero_std_frac_last']:.0%} (first vs last quarter of {r['steps']} steps).")
    out.append(f"Evaluation: {n_eval} test-split instances (disjoint from the RL and SFT instances), greedy decoding; "
               + (f"single RL seed ({seeds[0]}): one episode is {1 / n_eval:.1%}, and differences of a few episodes "
                  "are within run-to-run noise." if len(seeds) == 1 else f"RL seeds {list(seeds)}, episodes pooled."))
    return out


def _paired_sentence(rows, label: str) -> str:
    """One policy's paired tests against SFT (rows of ``paired_to_reference`` for ``label``), in one sentence."""
    first = rows.iloc[0]
    parts = [f"{r['metric']} {r['diff']:+.1%} (CI {r['ci low']:+.1%} to {r['ci high']:+.1%}, MDE {r['mde']:.1%}; "
             f"{r['verdict']})" for _, r in rows.iterrows()]
    return (f"{label} against SFT, paired over {int(first['instances'])} instances ({int(first['seeds'])} RL seed"
            f"{'s' if int(first['seeds']) != 1 else ''}): " + "; ".join(parts))


def write_report(path: str | Path, title: str, intro: str, setup: dict, table, by_type, by_difficulty,
                 found: Sequence[str]) -> Path:
    """The markdown report: setup, the seeds/000 table, the breakdowns, the computed findings."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"# {title}", "", intro, "", "## Setup", ""]
    lines += [f"- **{k}**: {v}" for k, v in setup.items()]
    lines += ["", "## Results on the test split", "", table.to_markdown(index=False, floatfmt=".3g"), "",
              "## By error type", "", by_type.to_markdown(index=False, floatfmt=".3g"), "",
              "## By difficulty", "", by_difficulty.to_markdown(index=False, floatfmt=".3g"), "",
              "## Findings (computed)", ""]
    lines += [f"- {s}" for s in found]
    path.write_text("\n".join(lines) + "\n")
    return path


# -- curriculum analysis ---------------------------------------------------------------------------------------
def stage_table(curves):
    """One row per (curriculum arm, stage) of the concatenated curves: difficulties, global steps, and
    the stage's mean training reward, reward std, zero-std group fraction, faithful rate and episode steps.
    Rewards of different stages come from different difficulty mixes, so they are not a learning curve."""
    import numpy as np
    import pandas as pd

    if "stage" not in curves or curves["stage"].isna().all():
        return pd.DataFrame(columns=["arm", "stage", "difficulties", "first_step", "last_step"])
    out = []
    for (arm, stage), g in curves[curves["stage"].notna()].groupby(["arm", "stage"], sort=True):
        row = {"arm": arm, "stage": int(stage), "difficulties": g["stage_difficulties"].iloc[0],
               "first_step": int(g["step"].min()), "last_step": int(g["step"].max())}
        for col, short in TREND_COLUMNS.items():
            row[short] = float(g[col].astype(float).mean()) if col in g and g[col].notna().any() else np.nan
        out.append(row)
    return pd.DataFrame(out)


def mark_stages(fig, stages, label_axes: int = 1) -> None:
    """Dashed vertical lines at the curriculum's stage boundaries on every panel of ``fig`` (a
    ``stage_table``), the stages' difficulties written at the top of the first ``label_axes`` panels."""
    if stages is None or not len(stages):
        return
    for i, ax in enumerate(fig.axes):
        for _, r in stages.drop_duplicates("stage").iterrows():
            if r["first_step"] > stages["first_step"].min():
                ax.axvline(r["first_step"] - 0.5, color="0.4", ls="--", lw=0.9)
            if i < label_axes:
                ax.text((r["first_step"] + r["last_step"]) / 2, 1.0, f"{int(r['stage'])}: {r['difficulties']}",
                        transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=7, color="0.3")


def curriculum_findings(table, by_difficulty, stages, n_eval: int, metrics: Sequence[str] = ("RR@5", "faithful_recovery", "DA"),
                        tolerance: float | None = None) -> list[str]:
    """Sentences computed from the results: the curriculum arm against the plain GRPO arm (the same total
    RL steps) on the test split, overall and per difficulty (each on its own episode count), and each
    stage's training signal. A change counts only beyond ``tolerance`` (default ``stats.noise_band``)."""
    from .stats import noise_band

    cur, grpo = LABEL["curriculum"], LABEL["grpo"]
    t = table.set_index("policy")
    out = []
    if cur not in t.index or grpo not in t.index:
        return out

    def verb(a, b, n):
        band = noise_band(a, b, n) if tolerance is None else tolerance
        return "within noise" if abs(b - a) <= band + 1e-12 else ("up" if b > a else "down"), band

    calls = {m: verb(t.loc[grpo, m], t.loc[cur, m], n_eval) for m in metrics}
    up = [m for m, (v, _) in calls.items() if v == "up"]
    down = [m for m, (v, _) in calls.items() if v == "down"]
    answer = "Yes" if up and not down else "Mixed" if up else "No"
    out.append(f"Does the curriculum beat plain GRPO with the same number of RL steps? {answer}: "
               + "; ".join(f"{m} {t.loc[grpo, m]:.1%} → {t.loc[cur, m]:.1%} ({calls[m][0]}, band ±{calls[m][1]:.1%})"
                           for m in metrics)
               + f"; average steps {t.loc[grpo, 'avg_steps']:.1f} → {t.loc[cur, 'avg_steps']:.1f}.")
    bd = by_difficulty.set_index(["policy", "difficulty"])
    for diff in sorted(by_difficulty["difficulty"].unique(), key=["easy", "medium", "hard"].index):
        if (grpo, diff) not in bd.index or (cur, diff) not in bd.index:
            continue
        g, c = bd.loc[(grpo, diff)], bd.loc[(cur, diff)]
        n = int(c["episodes"])
        parts = [f"{m} {g[m]:.1%} → {c[m]:.1%} ({verb(g[m], c[m], n)[0]})" for m in metrics if m in bd.columns]
        out.append(f"{diff} test instances ({n} episode{'' if n == 1 else 's'}), GRPO → curriculum: " + "; ".join(parts) + ".")
    for _, r in stages.iterrows():
        out.append(f"{r['arm']} stage {r['stage']} ({r['difficulties']}, steps {r['first_step']}–{r['last_step']}): "
                   f"training reward std {r['reward_std']:.3g}, zero-std groups {r['zero_std_frac']:.0%}, "
                   f"faithful rate {r['faithful_rate']:.0%} (stage means; its difficulty mix differs from the others').")
    return out


def append_section(path: str | Path, title: str, text: str, df=None) -> Path:
    """Append a ``## title`` section (a paragraph and optionally a table) to a report."""
    path = Path(path)
    lines = ["", f"## {title}", "", text]
    if df is not None:
        lines += ["", df.to_markdown(index=False, floatfmt=".3g")]
    with path.open("a") as f:
        f.write("\n".join(lines) + "\n")
    return path
