"""E1 (seeds/004): GRPO vs DR-GRPO on Countdown across completion budgets, from one SFT warm start.

The arms, all from the same warm start, seed, training problems and data order:

=================  ========================  =====================  ===========================================
arm                advantages                loss aggregation       why
=================  ========================  =====================  ===========================================
``grpo@L``         (r − mean) / (std + ε)    per-sequence mean      GRPO (DeepSeekMath arXiv 2402.03300)
``dr_grpo@L``      r − mean (no std)         Σ / (B · L_max)        Dr. GRPO (arXiv 2503.20783 §3.1); the paper
                                                                    drops the std scaling too, so we do
``graduated@L``    r − mean                  Σ / (B · L_max)        seeds/004 §4.2: DR-GRPO with a graduated reward
``hybrid@L``       (r − mean) / (std + ε)    α·DR-GRPO + (1−α)·GRPO seeds/004 §4.2 hybrid normalisation
``warm_start@L``   —                         —                      no RL: the "zero-shot" row of seeds/004
=================  ========================  =====================  ===========================================

for every budget L of ``budgets`` (the extra arms at the longest only). Every arm is evaluated greedily
on the same held-out problems at its own budget with the seed reward (correct 1 / partial 0.1 /
failed 0), so arms with different training rewards are compared on accuracy, never on reward means.

Each arm runs in its own process (``python -m ordebug_lib.experiments.countdown_e1 spec.json``, see
``jobs.py``) and writes ``metrics.jsonl`` (per-step training log), ``eval.json`` (summary),
``eval_rows.jsonl`` (every completion) and ``done.json`` into its directory.
"""
from __future__ import annotations

import dataclasses
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .jobs import Job, mark_done
from .stats import first_last_means

MODULE = "ordebug_lib.experiments.countdown_e1"


@dataclass(frozen=True)
class E1Arm:
    """One arm of E1."""

    kind: str
    """'grpo', 'dr_grpo', 'graduated', 'hybrid' or 'warm_start' (evaluation only)."""
    max_completion_length: int
    """L_max: generation budget in training and evaluation."""
    seed: int = 0
    """RL seed (sampling, data order)."""
    hybrid_alpha: float | None = None
    """α of the hybrid arm (None: ``losses.hybrid_alpha``'s min(1, L_max/512))."""

    @property
    def name(self) -> str:
        return f"{self.kind}@{self.max_completion_length}-s{self.seed}"

    @property
    def trains(self) -> bool:
        return self.kind != "warm_start"

    def run_fields(self) -> dict:
        """The ``GRPORunConfig`` fields that define this arm (see the module table)."""
        L = self.max_completion_length
        if self.kind == "grpo":
            return dict(advantage_method="grpo", loss_type="grpo", reward="countdown", max_completion_length=L)
        if self.kind == "dr_grpo":
            return dict(advantage_method="dr_grpo", loss_type="dr_grpo", reward="countdown", max_completion_length=L)
        if self.kind == "graduated":
            return dict(advantage_method="dr_grpo", loss_type="dr_grpo", reward="graduated", max_completion_length=L)
        if self.kind == "hybrid":
            return dict(advantage_method="grpo", loss_type="hybrid", reward="countdown", max_completion_length=L,
                        hybrid_alpha=self.hybrid_alpha)
        raise ValueError(f"arm kind {self.kind!r} does not train")


KINDS = ("grpo", "dr_grpo", "graduated", "hybrid", "warm_start")


def e1_arms(budgets: Sequence[int], extras: Sequence[str] = ("graduated", "hybrid"), seeds: Sequence[int] = (0,),
            hybrid_alpha: float | None = None) -> list[E1Arm]:
    """Every arm, longest budgets first (they take longest), evaluation-only arms last.

    >>> [a.name for a in e1_arms([128, 256], extras=["hybrid"])]  # doctest: +NORMALIZE_WHITESPACE
    ['grpo@256-s0', 'dr_grpo@256-s0', 'hybrid@256-s0', 'grpo@128-s0', 'dr_grpo@128-s0',
     'warm_start@256-s0', 'warm_start@128-s0']
    """
    budgets = sorted({int(b) for b in budgets}, reverse=True)
    if not budgets or budgets[-1] < 1:
        raise ValueError(f"budgets must be positive token counts, got {budgets}")
    bad = [e for e in extras if e not in ("graduated", "hybrid")]
    if bad:
        raise ValueError(f"unknown extra arm(s) {bad}; extras: graduated, hybrid")
    arms = []
    for L in budgets:
        for s in seeds:
            arms += [E1Arm("grpo", L, s), E1Arm("dr_grpo", L, s)]
            if L == budgets[0]:
                arms += [E1Arm(e, L, s, hybrid_alpha if e == "hybrid" else None) for e in extras]
    return arms + [E1Arm("warm_start", L, 0) for L in budgets]


def arm_jobs(arms: Sequence[E1Arm], root: str | Path, warm_start_dir: str | Path, train_problems: str | Path,
             eval_problems: str | Path, grpo: dict, template: str = "search", eval_batch_size: int = 256,
             device: str = "auto") -> list[Job]:
    """One ``jobs.Job`` per arm, in ``root/<arm name>``; ``grpo`` holds the ``GRPORunConfig`` fields every
    arm shares (learning rate, steps, group size, ...)."""
    clash = set(grpo) & {"advantage_method", "loss_type", "reward", "max_completion_length", "hybrid_alpha", "seed"}
    if clash:
        raise ValueError(f"{sorted(clash)} are set per arm, not in the shared GRPO settings")
    root = Path(root)
    return [Job(a.name, MODULE, root / a.name, {
        "arm": dataclasses.asdict(a), "grpo": dict(grpo), "warm_start": str(Path(warm_start_dir).resolve()),
        "train_problems": str(Path(train_problems).resolve()), "eval_problems": str(Path(eval_problems).resolve()),
        "template": template, "eval_batch_size": eval_batch_size, "device": device}) for a in arms]


def run_arm(spec: dict, out_dir: str | Path) -> dict:
    """Train one arm (unless it is evaluation-only), evaluate it, write its files; returns the summary."""
    import torch

    from ..policy.countdown_eval import evaluate_countdown
    from ..policy.countdown_sft import read_problems
    from ..policy.generation import SamplingConfig
    from ..policy.loader import load_policy, resolve_device
    from ..provenance import device_info

    out = Path(out_dir)
    arm = E1Arm(**spec["arm"])
    device = resolve_device(spec["device"])
    torch.manual_seed(arm.seed)
    policy = load_policy(spec["warm_start"], device=device, seed=arm.seed)
    model, tok = policy.model, policy.tokenizer
    timings = {}
    if arm.trains:
        from datasets import Dataset

        from ..tasks.countdown import to_records
        from ..training.config import GRPORunConfig
        from ..training.run import build_countdown_trainer

        cfg = GRPORunConfig.from_dict({**spec["grpo"], **arm.run_fields(), "seed": arm.seed, "save_final": False})
        dataset = Dataset.from_list(to_records(read_problems(spec["train_problems"]), template=spec["template"],
                                               conversational=True))
        overrides = {"use_cpu": True} if device == "cpu" else {}
        t0 = time.perf_counter()
        trainer = build_countdown_trainer(cfg, model, tok, dataset, out, **overrides)
        trainer.train()
        timings["train_s"] = time.perf_counter() - t0
        model = trainer.model
    model.eval()
    t0 = time.perf_counter()
    sampling = SamplingConfig(max_new_tokens=arm.max_completion_length, temperature=0.0,
                              batch_size=spec["eval_batch_size"], seed=0)
    with torch.no_grad():
        ev = evaluate_countdown(model, tok, read_problems(spec["eval_problems"]), sampling, template=spec["template"])
    timings["eval_s"] = time.perf_counter() - t0
    (out / "eval_rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ev.rows))
    summary = {"arm": arm.name, **dataclasses.asdict(arm), **ev.summary}
    (out / "eval.json").write_text(json.dumps(summary, indent=2) + "\n")
    mark_done(out, spec, summary=summary, timings_s=timings, device=device_info())
    return summary


# -- collecting results -------------------------------------------------------------------------------------
LOSS_LABEL = {"grpo": "GRPO", "dr_grpo": "DR-GRPO", "graduated": "DR-GRPO + graduated reward",
              "hybrid": "hybrid", "warm_start": "warm start (no RL)"}


def load_arm_results(root: str | Path, arms: Sequence[E1Arm]):
    """(summaries: one row per arm, curves: one row per arm and logged step) as DataFrames."""
    import pandas as pd

    from ..training.logging import read_metrics

    root = Path(root)
    summaries, curves = [], []
    for a in arms:
        d = root / a.name
        done = json.loads((d / "done.json").read_text())
        summaries.append({**json.loads((d / "eval.json").read_text()), **{f"{k}": v for k, v in done["timings_s"].items()}})
        if a.trains:
            for row in read_metrics(d / "metrics.jsonl"):
                curves.append({"arm": a.name, "kind": a.kind, "budget": a.max_completion_length, "seed": a.seed, **row})
    return pd.DataFrame(summaries), pd.DataFrame(curves)


def e1_table(summaries):
    """The seeds/004 table: per trained arm, warm-start ("zero-shot") and trained accuracy at the same
    budget, improvement, correct / partial / failed counts, mean output tokens and budget utilisation
    (means over seeds, with the number of seeds)."""
    import pandas as pd

    ws = summaries[summaries["kind"] == "warm_start"].set_index("max_completion_length")
    rows = []
    trained = summaries[summaries["kind"] != "warm_start"]
    for (kind, L), g in trained.groupby(["kind", "max_completion_length"], sort=False):
        if L not in ws.index:
            raise ValueError(f"no warm-start evaluation at budget {L}")
        z = ws.loc[L]
        rows.append({
            "_order": KINDS.index(kind),
            "loss / arm": LOSS_LABEL[kind] + (f" (α={g['hybrid_alpha'].iloc[0]:g})" if kind == "hybrid"
                                               and g["hybrid_alpha"].notna().all() else ""),
            "max tokens": int(L), "seeds": len(g), "warm-start accuracy": z["accuracy"],
            "trained accuracy": g["accuracy"].mean(), "improvement": g["accuracy"].mean() - z["accuracy"],
            "correct": g["n_correct"].mean(), "partial": g["n_partial"].mean(), "failed": g["n_failed"].mean(),
            "avg output tokens": g["mean_output_tokens"].mean(), "utilisation": g["budget_utilisation"].mean(),
            "warm-start output tokens": z["mean_output_tokens"],
        })
    df = pd.DataFrame(rows)
    return df.sort_values(["_order", "max tokens"]).drop(columns="_order").reset_index(drop=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit(f"usage: python -m {MODULE} SPEC.json")
    spec_path = Path(argv[0])
    summary = run_arm(json.loads(spec_path.read_text()), spec_path.parent)
    print(json.dumps({k: summary[k] for k in ("arm", "accuracy", "n_correct", "n_partial", "n_failed",
                                              "mean_output_tokens")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


# -- findings and report ---------------------------------------------------------------------------------------
def curve_trends(curves) -> "object":
    """Per trained arm: mean completion length, truncation ratio, reward std and zero-std group fraction
    over the first and the last quarter of training (a DataFrame)."""
    import pandas as pd

    cols = {"completions/mean_length": "length", "completions/clipped_ratio": "truncated",
            "ordebug/reward/std": "reward_std", "ordebug/groups/zero_std_frac": "zero_std_frac"}
    rows = []
    for arm, g in curves.sort_values("step").groupby("arm", sort=False):
        row = {"arm": arm, "kind": g["kind"].iloc[0], "budget": int(g["budget"].iloc[0]), "steps": int(g["step"].max())}
        for col, short in cols.items():
            first, last = first_last_means(g[col].astype(float))
            row[f"{short}_first"], row[f"{short}_last"] = first, last
        rows.append(row)
    return pd.DataFrame(rows)


def e1_findings(table, trends, n_eval: int, seeds: Sequence[int], tolerance: float | None = None) -> list[str]:
    """Sentences computed from the results (no hand-written claims): DR-GRPO vs GRPO per budget, whether
    DR-GRPO degrades at the longest budget, and what the length and variance trends were there. An
    accuracy change counts only beyond ``tolerance`` (default: ``stats.noise_band`` on ``n_eval`` problems)."""
    from .stats import noise_band

    def band(a, b):
        return noise_band(a, b, n_eval) if tolerance is None else tolerance

    def verb(a, b):
        return "within noise" if abs(b - a) <= band(a, b) else ("improved" if b > a else "degraded")

    out = []
    main = table[table["loss / arm"].isin([LOSS_LABEL["grpo"], LOSS_LABEL["dr_grpo"]])]
    budgets = sorted(main["max tokens"].unique())
    for L in budgets:
        g = main[main["max tokens"] == L].set_index("loss / arm")
        a, b = g.loc[LOSS_LABEL["grpo"]], g.loc[LOSS_LABEL["dr_grpo"]]
        out.append(f"At {L} tokens (warm start {a['warm-start accuracy']:.1%}): GRPO {a['trained accuracy']:.1%} "
                   f"({verb(a['warm-start accuracy'], a['trained accuracy'])}, {a['improvement']:+.1%}), DR-GRPO "
                   f"{b['trained accuracy']:.1%} ({verb(b['warm-start accuracy'], b['trained accuracy'])}, "
                   f"{b['improvement']:+.1%}); DR-GRPO − GRPO {b['trained accuracy'] - a['trained accuracy']:+.1%} "
                   f"({'within noise' if abs(b['trained accuracy'] - a['trained accuracy']) <= band(a['trained accuracy'], b['trained accuracy']) else 'beyond noise'}).")
    L = budgets[-1]
    d = main[(main["max tokens"] == L) & (main["loss / arm"] == LOSS_LABEL["dr_grpo"])].iloc[0]
    out.append(f"Does DR-GRPO degrade at the longest budget ({L} tokens)? "
               + ("Yes" if d["trained accuracy"] < d["warm-start accuracy"] - band(d["warm-start accuracy"], d["trained accuracy"]) else "No")
               + f": {d['warm-start accuracy']:.1%} → {d['trained accuracy']:.1%}; partial answers "
               f"{d['partial']:.0f} of {n_eval} (seeds/004 saw 32.5% → 4.9% with 971 of 1024 partial at 1024 tokens).")
    for _, t in trends[trends["budget"] == L].iterrows():
        out.append(f"{t['arm']}: mean completion length {t['length_first']:.0f} → {t['length_last']:.0f} tokens "
                   f"(truncated {t['truncated_first']:.0%} → {t['truncated_last']:.0%}), reward std "
                   f"{t['reward_std_first']:.3f} → {t['reward_std_last']:.3f}, zero-std groups "
                   f"{t['zero_std_frac_first']:.0%} → {t['zero_std_frac_last']:.0%} (first vs last quarter of "
                   f"{t['steps']} steps).")
    out.append(f"Evaluation: {n_eval} held-out problems, greedy decoding, seed reward; "
               + (f"single seed ({seeds[0]}): differences of a few points are within run-to-run noise."
                  if len(seeds) == 1 else f"{len(seeds)} seeds {list(seeds)}, means shown."))
    return out


def write_e1_report(path: str | Path, table, findings: Sequence[str], setup: dict) -> Path:
    """The markdown report: setup, the seeds/004 table, the computed findings."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# E1 · GRPO vs DR-GRPO on Countdown across completion budgets (seeds/004, corrected)", "",
             "Generated by `notebooks/10_countdown_grpo_vs_drgrpo.ipynb`; provenance in "
             "`reports/provenance/10_countdown_grpo_vs_drgrpo*.json`.", "", "## Setup", ""]
    lines += [f"- **{k}**: {v}" for k, v in setup.items()]
    lines += ["", "## Results", "", table.to_markdown(index=False, floatfmt=".3g"), "", "## Findings (computed)", ""]
    lines += [f"- {s}" for s in findings]
    path.write_text("\n".join(lines) + "\n")
    return path
