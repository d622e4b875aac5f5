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

Choose on val, report on test: with a learning-rate sweep (``sweep_arms``), each arm also carries its
learning rate (``grpo@512-s0-lr0.0002``) and is evaluated on a validation split beside the test split;
``choose_learning_rates`` picks each loss's rate on val accuracy alone, and the arms at the chosen rate are
the experiment (the sweep's arm at the chosen rate is the same job, so it is reused, not rerun).
``paired_tests`` compares arms problem by problem on the test split (each problem's correctness averaged
over the seeds first), with the between-seed spread and the minimum detectable effect.

Each arm runs in its own process (``python -m ordebug_lib.experiments.countdown_e1 spec.json``, see
``jobs.py``) and writes ``metrics.jsonl`` (per-step training log), ``eval.json`` (summary),
``eval_rows.jsonl`` (every completion) and ``done.json`` into its directory.
"""
from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .jobs import Job, mark_done
from .stats import SEED_SPREAD, first_last_means

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
    learning_rate: float | None = None
    """This arm's learning rate (a sweep, or the rate chosen on val); None: the shared ``grpo`` settings'."""

    @property
    def name(self) -> str:
        lr = "" if self.learning_rate is None else f"-lr{self.learning_rate:g}"
        return f"{self.kind}@{self.max_completion_length}-s{self.seed}{lr}"

    @property
    def trains(self) -> bool:
        return self.kind != "warm_start"

    def run_fields(self) -> dict:
        """The ``GRPORunConfig`` fields that define this arm (see the module table)."""
        fields = self._loss_fields()
        if self.learning_rate is not None:
            fields["learning_rate"] = self.learning_rate
        return fields

    def _loss_fields(self) -> dict:
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


# the loss whose chosen learning rate an extra arm takes (graduated is DR-GRPO on another reward)
LR_OF = {"grpo": "grpo", "dr_grpo": "dr_grpo", "graduated": "dr_grpo", "hybrid": "grpo"}


def e1_arms(budgets: Sequence[int], extras: Sequence[str] = ("graduated", "hybrid"), seeds: Sequence[int] = (0,),
            hybrid_alpha: float | None = None, learning_rates: dict[str, float] | None = None) -> list[E1Arm]:
    """Every arm: the evaluation-only warm-start arms first (seconds each, and a run stopped early still has the
    baseline of every arm that finished), then the trained arms, longest budgets first (they take longest).
    ``learning_rates`` ({'grpo': lr, 'dr_grpo': lr}, e.g. from ``choose_learning_rates``) gives each arm its
    loss's rate.

    >>> [a.name for a in e1_arms([128, 256], extras=["hybrid"])]  # doctest: +NORMALIZE_WHITESPACE
    ['warm_start@256-s0', 'warm_start@128-s0', 'grpo@256-s0', 'dr_grpo@256-s0', 'hybrid@256-s0', 'grpo@128-s0',
     'dr_grpo@128-s0']
    >>> [a.name for a in e1_arms([64], extras=[], learning_rates={"grpo": 5e-5, "dr_grpo": 2e-4})]
    ['warm_start@64-s0', 'grpo@64-s0-lr5e-05', 'dr_grpo@64-s0-lr0.0002']
    """
    budgets = sorted({int(b) for b in budgets}, reverse=True)
    if not budgets or budgets[-1] < 1:
        raise ValueError(f"budgets must be positive token counts, got {budgets}")
    bad = [e for e in extras if e not in ("graduated", "hybrid")]
    if bad:
        raise ValueError(f"unknown extra arm(s) {bad}; extras: graduated, hybrid")
    if learning_rates is not None and set(learning_rates) != {"grpo", "dr_grpo"}:
        raise ValueError(f"learning_rates needs exactly the keys 'grpo' and 'dr_grpo', got {sorted(learning_rates)}")

    def lr(kind):
        return None if learning_rates is None else float(learning_rates[LR_OF[kind]])

    arms = []
    for L in budgets:
        for s in seeds:
            arms += [E1Arm("grpo", L, s, learning_rate=lr("grpo")), E1Arm("dr_grpo", L, s, learning_rate=lr("dr_grpo"))]
            if L == budgets[0]:
                arms += [E1Arm(e, L, s, hybrid_alpha if e == "hybrid" else None, learning_rate=lr(e)) for e in extras]
    return [E1Arm("warm_start", L, 0) for L in budgets] + arms


def sweep_arms(budget: int, learning_rates: Sequence[float], seed: int = 0,
               kinds: Sequence[str] = ("grpo", "dr_grpo")) -> list[E1Arm]:
    """The learning-rate sweep: each loss at each rate, one seed, one budget (judged on val).

    >>> [a.name for a in sweep_arms(512, [5e-5, 5e-4])]
    ['grpo@512-s0-lr5e-05', 'grpo@512-s0-lr0.0005', 'dr_grpo@512-s0-lr5e-05', 'dr_grpo@512-s0-lr0.0005']
    """
    rates = [float(r) for r in learning_rates]
    if len(rates) < 2 or len(set(rates)) != len(rates) or min(rates) <= 0:
        raise ValueError(f"a sweep needs at least two distinct positive learning rates, got {list(learning_rates)}")
    bad = [k for k in kinds if k not in ("grpo", "dr_grpo")]
    if bad:
        raise ValueError(f"the sweep chooses the rates of 'grpo' and 'dr_grpo', not {bad}")
    return [E1Arm(k, int(budget), seed, learning_rate=r) for k in kinds for r in rates]


def choose_learning_rates(summaries, metric: str = "val_accuracy") -> dict[str, float]:
    """Per loss, the swept rate with the highest ``metric`` (validation accuracy; never a test column). Ties
    go to the smaller rate (the more conservative step).

    >>> import pandas as pd
    >>> s = pd.DataFrame({"kind": ["grpo", "grpo", "dr_grpo", "dr_grpo"], "learning_rate": [1e-4, 1e-3, 1e-4, 1e-3],
    ...                   "val_accuracy": [0.20, 0.25, 0.30, 0.30]})
    >>> choose_learning_rates(s)
    {'grpo': 0.001, 'dr_grpo': 0.0001}
    """
    if not metric.startswith("val_"):
        raise ValueError(f"learning rates are chosen on the validation split, not on {metric!r}")
    out = {}
    for kind in ("grpo", "dr_grpo"):
        g = summaries[(summaries["kind"] == kind) & summaries["learning_rate"].notna()]
        if g[metric].isna().any() or len(g) < 2:
            raise ValueError(f"{kind}: need >= 2 swept rates with {metric}, got {len(g)}")
        g = g.sort_values("learning_rate")
        out[kind] = float(g.loc[g[metric].idxmax(), "learning_rate"])
    return out


def arm_jobs(arms: Sequence[E1Arm], root: str | Path, warm_start_dir: str | Path, train_problems: str | Path,
             eval_problems: str | Path, grpo: dict, template: str = "search", eval_batch_size: int = 256,
             device: str = "auto", val_problems: str | Path | None = None, eval_engine: str = "generate") -> list[Job]:
    """One ``jobs.Job`` per arm, in ``root/<arm name>``; ``grpo`` holds the ``GRPORunConfig`` fields every
    arm shares (steps, group size, ...). ``eval_problems`` is the test split; ``val_problems`` (optional)
    is evaluated too, for choices. ``eval_engine``: 'generate' or 'static' (``generation.generate_chats``)."""
    clash = set(grpo) & {"advantage_method", "loss_type", "reward", "max_completion_length", "hybrid_alpha", "seed"}
    if clash:
        raise ValueError(f"{sorted(clash)} are set per arm, not in the shared GRPO settings")
    twice = [a.name for a in arms if a.learning_rate is not None and "learning_rate" in grpo]
    if twice:
        raise ValueError(f"arms {twice} carry their own learning rate; remove learning_rate from the shared settings")
    if eval_engine not in ("generate", "static"):
        raise ValueError(f"eval_engine must be 'generate' or 'static', got {eval_engine!r}")
    root = Path(root)
    extra = {} if val_problems is None else {"val_problems": str(Path(val_problems).resolve())}
    if eval_engine != "generate":
        extra["eval_engine"] = eval_engine
    return [Job(a.name, MODULE, root / a.name, {
        "arm": dataclasses.asdict(a), "grpo": dict(grpo), "warm_start": str(Path(warm_start_dir).resolve()),
        "train_problems": str(Path(train_problems).resolve()), "eval_problems": str(Path(eval_problems).resolve()),
        "template": template, "eval_batch_size": eval_batch_size, "device": device, **extra}) for a in arms]


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
    sampling = SamplingConfig(max_new_tokens=arm.max_completion_length, temperature=0.0,
                              batch_size=spec["eval_batch_size"], seed=0)
    summary = {"arm": arm.name, **dataclasses.asdict(arm)}
    # test -> eval_rows.jsonl and the summary's plain keys; val -> eval_rows_val.jsonl and val_* keys
    for split, key, rows_file in (("test", "eval_problems", "eval_rows.jsonl"), ("val", "val_problems", "eval_rows_val.jsonl")):
        if key not in spec:
            continue
        t0 = time.perf_counter()
        with torch.no_grad():
            ev = evaluate_countdown(model, tok, read_problems(spec[key]), sampling, template=spec["template"],
                                    engine=spec.get("eval_engine", "generate"))
        timings["eval_s" if split == "test" else "eval_val_s"] = time.perf_counter() - t0
        (out / rows_file).write_text("".join(json.dumps(r) + "\n" for r in ev.rows))
        summary.update(ev.summary if split == "test" else {f"val_{k}": v for k, v in ev.summary.items()})
    (out / "eval.json").write_text(json.dumps(summary, indent=2) + "\n")
    mark_done(out, spec, summary=summary, timings_s=timings, device=device_info())
    return summary


# -- collecting results -------------------------------------------------------------------------------------
LOSS_LABEL = {"grpo": "GRPO", "dr_grpo": "DR-GRPO", "graduated": "DR-GRPO + graduated reward",
              "hybrid": "hybrid", "warm_start": "warm start (no RL)"}


def arm_curve_rows(arm_dir: str | Path, arm: E1Arm) -> list[dict]:
    """One row per logged training step of ``arm`` (its ``metrics.jsonl``), with the arm's name, kind, budget and
    seed."""
    from ..training.logging import read_metrics

    return [{"arm": arm.name, "kind": arm.kind, "budget": arm.max_completion_length, "seed": arm.seed, **row}
            for row in read_metrics(Path(arm_dir) / "metrics.jsonl")]


def load_arm_results(root: str | Path, arms: Sequence[E1Arm]):
    """(summaries: one row per arm, curves: one row per arm and logged step) as DataFrames."""
    import pandas as pd

    root = Path(root)
    summaries, curves = [], []
    for a in arms:
        d = root / a.name
        done = json.loads((d / "done.json").read_text())
        summaries.append({**json.loads((d / "eval.json").read_text()), **{f"{k}": v for k, v in done["timings_s"].items()}})
        if a.trains:
            curves += arm_curve_rows(d, a)
    return pd.DataFrame(summaries), pd.DataFrame(curves)


def load_episode_rows(root: str | Path, arms: Sequence[E1Arm]):
    """Every evaluated completion of ``arms`` as one DataFrame (the per-episode rows a report commits):
    arm, kind, budget, seed, learning_rate, split ('test' / 'val'), problem (its index in the split's file),
    numbers, target, outcome, reward, n_tokens, stopped."""
    import pandas as pd

    root = Path(root)
    frames = []
    for a in arms:
        for split, name in (("test", "eval_rows.jsonl"), ("val", "eval_rows_val.jsonl")):
            path = root / a.name / name
            if not path.exists():
                if split == "test":
                    raise FileNotFoundError(f"{path}: arm {a.name} has no test evaluation")
                continue
            rows = [json.loads(line) for line in path.read_text().splitlines()]
            frames.append(pd.DataFrame({
                "arm": a.name, "kind": a.kind, "budget": a.max_completion_length, "seed": a.seed,
                "learning_rate": a.learning_rate, "split": split, "problem": range(len(rows)),
                "numbers": [" ".join(map(str, r["numbers"])) for r in rows], "target": [r["target"] for r in rows],
                "outcome": [r["outcome"] for r in rows], "reward": [r["reward"] for r in rows],
                "n_tokens": [r["n_tokens"] for r in rows], "stopped": [r["stopped"] for r in rows]}))
    return pd.concat(frames, ignore_index=True)


def _per_problem(episodes, kind: str, budget: int, split: str):
    """(problems,) correctness of one arm group averaged over its seeds, and its per-seed accuracies."""
    g = episodes[(episodes["kind"] == kind) & (episodes["budget"] == budget) & (episodes["split"] == split)]
    if g.empty:
        raise ValueError(f"no {split} episodes of {kind}@{budget}")
    if g.groupby("seed")["arm"].nunique().max() > 1:
        raise ValueError(f"{kind}@{budget}: several arms per seed (a sweep?); pass the chosen arms only")
    correct = (g["outcome"] == "correct").astype(float)
    wide = correct.groupby([g["problem"], g["seed"]]).mean().unstack("seed")  # (problems, seeds)
    if wide.isna().any().any():
        raise ValueError(f"{kind}@{budget}: the seeds were not evaluated on the same {split} problems")
    return wide.mean(axis=1), wide.mean(axis=0)


COMPARISONS = (("dr_grpo", "grpo"), ("grpo", "warm_start"), ("dr_grpo", "warm_start"))


def paired_tests(episodes, split: str = "test", comparisons: Sequence[tuple[str, str]] = COMPARISONS):
    """Per budget and comparison a − b: the paired per-problem test (``stats.paired_test`` on each problem's
    correctness averaged over the seeds, so seeds on the same problems are not counted as more problems),
    its 95% CI, the minimum detectable effect, the between-seed spread of each side's accuracy and the SE of the
    difference across seeds (``stats.seed_se``; the warm start, one evaluation, counts as fixed).

    The verdict is ``stats.verdict``: "beyond the CI" when the 95% CI excludes 0 and the seeds do not scatter
    by as much, "within the seed spread" when only the problem CI excludes 0, else "not detected" (with its MDE).
    """
    import pandas as pd

    from .stats import paired_test, seed_se, verdict

    rows = []
    for L in sorted(episodes["budget"].unique()):
        for a, b in comparisons:
            if not {a, b} <= set(episodes.loc[episodes["budget"] == L, "kind"]):
                continue
            (pa, sa), (pb, sb) = _per_problem(episodes, a, L, split), _per_problem(episodes, b, L, split)
            t = paired_test(pa.to_numpy(), pb.loc[pa.index].to_numpy())
            spread = seed_se(sa, sb)
            lo, hi = t["diff"] - 1.96 * t["se"], t["diff"] + 1.96 * t["se"]
            rows.append({"budget": int(L), "comparison": f"{LOSS_LABEL[a]} − {LOSS_LABEL[b]}", "a": a, "b": b,
                         "seeds a": len(sa), "seeds b": len(sb), "problems": t["n"], "accuracy a": t["a"],
                         "accuracy b": t["b"], "diff": t["diff"], "se": t["se"], "ci low": lo, "ci high": hi,
                         "p": t["p"], "mde": t["mde"],
                         "seed sd a": float(sa.std(ddof=1)) if len(sa) > 1 else float("nan"),
                         "seed sd b": float(sb.std(ddof=1)) if len(sb) > 1 else float("nan"),
                         "seed se": spread, "verdict": verdict(t["diff"], t["se"], spread)})
    return pd.DataFrame(rows)


def sweep_table(episodes, split: str = "val"):
    """The learning-rate sweep on ``split`` (val: where the rate is chosen): per loss and rate, accuracy,
    partial and failed fractions, mean output tokens, and the paired difference to the warm start."""
    import pandas as pd

    from .stats import paired_test

    swept = episodes[(episodes["split"] == split) & episodes["learning_rate"].notna()]
    rows = []
    for (kind, L, lr), g in swept.groupby(["kind", "budget", "learning_rate"], sort=True):
        ws = episodes[(episodes["kind"] == "warm_start") & (episodes["budget"] == L) & (episodes["split"] == split)]
        ws = ws.set_index("problem").loc[g["problem"]]
        t = paired_test((g["outcome"] == "correct").to_numpy(float), (ws["outcome"] == "correct").to_numpy(float))
        rows.append({"loss": LOSS_LABEL[kind], "kind": kind, "budget": int(L), "learning rate": float(lr),
                     "seeds": g["seed"].nunique(), f"{split} accuracy": t["a"], "warm-start accuracy": t["b"],
                     "diff to warm start": t["diff"], "se": t["se"],
                     "partial": float((g["outcome"] == "partial").mean()), "failed": float((g["outcome"] == "failed").mean()),
                     "avg output tokens": float(g["n_tokens"].mean()),
                     "below warm start": bool(t["diff"] + 1.96 * t["se"] < 0)})
    return pd.DataFrame(rows)


def stage_timings(curves):
    """Per arm group (kind, budget): seconds per optimizer step, each stage's share of the whole training
    time (summed over steps: a step that reuses a buffered generation has only update time) and generated
    tokens per second of generation (``training/timing.py``'s columns)."""
    import pandas as pd

    if "timing/step_s" not in curves.columns:
        raise ValueError("the training curves carry no timing/* columns (runs before training/timing.py)")
    stages = [s for s in ("generation", "env", "rewards", "logprobs", "update") if f"timing/{s}_s" in curves.columns]
    rows = []
    for (kind, L), g in curves.groupby(["kind", "budget"], sort=False):
        total = g["timing/step_s"].sum()
        row = {"kind": kind, "budget": int(L), "arms": g["arm"].nunique(), "steps per arm": int(g["step"].max()),
               "step s": float(g["timing/step_s"].mean())}
        row.update({f"{s} share": float(g[f"timing/{s}_s"].fillna(0).sum() / total) for s in stages})
        gen = g["timing/generation_s"].fillna(0).sum() if "timing/generation_s" in g else 0.0
        if gen > 0 and "timing/gen_tokens_per_s" in g:
            tokens = (g["timing/gen_tokens_per_s"].fillna(0) * g["timing/generation_s"].fillna(0)).sum()
            row["gen tokens/s"] = float(tokens / gen)
        rows.append(row)
    return pd.DataFrame(rows)


def e1_table(summaries):
    """The seeds/004 table: per trained arm, warm-start ("zero-shot") and trained accuracy at the same
    budget, improvement, correct / partial / failed counts, mean output tokens and budget utilisation
    (means over seeds, with the number of seeds)."""
    import pandas as pd

    ws = summaries[summaries["kind"] == "warm_start"].set_index("max_completion_length")
    rows = []
    trained = summaries[summaries["kind"] != "warm_start"]
    for (kind, L), g in trained.groupby(["kind", "max_completion_length"], sort=False):
        if "learning_rate" in g and g["learning_rate"].nunique(dropna=False) > 1:
            raise ValueError(f"{kind}@{L}: arms at several learning rates (a sweep); pass the chosen arms only")
        if L not in ws.index:
            raise ValueError(f"no warm-start evaluation at budget {L}")
        z = ws.loc[L]
        rows.append({
            "_order": KINDS.index(kind),
            "loss / arm": LOSS_LABEL[kind] + (f" (α={g['hybrid_alpha'].iloc[0]:g})" if kind == "hybrid"
                                               and g["hybrid_alpha"].notna().all() else ""),
            "max tokens": int(L), "seeds": len(g), "warm-start accuracy": z["accuracy"],
            "trained accuracy": g["accuracy"].mean(), "improvement": g["accuracy"].mean() - z["accuracy"],
            "seed sd": g["accuracy"].std(ddof=1) if len(g) > 1 else float("nan"),
            **({"learning rate": g["learning_rate"].iloc[0]} if "learning_rate" in g and g["learning_rate"].notna().all() else {}),
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
    over the first and the last quarter of training, and the updates skipped for a non-finite gradient
    (``training/nonfinite.py``; NaN for a run logged before that count existed) (a DataFrame)."""
    import pandas as pd

    cols = {"completions/mean_length": "length", "completions/clipped_ratio": "truncated",
            "ordebug/reward/std": "reward_std", "ordebug/groups/zero_std_frac": "zero_std_frac"}
    rows = []
    for arm, g in curves.sort_values("step").groupby("arm", sort=False):
        row = {"arm": arm, "kind": g["kind"].iloc[0], "budget": int(g["budget"].iloc[0]), "steps": int(g["step"].max())}
        for col, short in cols.items():
            first, last = first_last_means(g[col].astype(float))
            row[f"{short}_first"], row[f"{short}_last"] = first, last
        skipped = "ordebug/nonfinite_skipped"
        row["skipped_updates"] = float(g[skipped].max()) if skipped in g and g[skipped].notna().any() else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def plateau_steps(curves, frac: float = 0.9, window: int | None = None):
    """Per arm group (kind, budget): where the seed-mean training reward plateaus: the first step at which its
    rolling mean (``window`` steps, default a twelfth of training) has made ``frac`` of its whole rise from the
    first window to its best; the reward there, at the best, and over the last window. Reward means are
    compared within a group only (the graduated arm's reward is another definition)."""
    import pandas as pd

    rows = []
    for (kind, L), g in curves.groupby(["kind", "budget"], sort=False):
        r = g.groupby("step")["ordebug/reward/mean"].mean().sort_index()  # (steps,) mean over seeds
        w = window or max(1, len(r) // 12)
        sm = r.rolling(w, min_periods=1).mean()
        first, best = float(sm.iloc[min(w, len(sm)) - 1]), float(sm.max())
        rise = best - first
        at = int(sm.index[(sm >= first + frac * rise).to_numpy().argmax()]) if rise > 0 else None
        rows.append({"kind": kind, "budget": int(L), "steps": int(r.index.max()), "reward first": first,
                     "reward best": best, "reward last": float(r.iloc[-w:].mean()), "plateau step": at})
    return pd.DataFrame(rows)


def batch_sentence(grpo: dict) -> str:
    """The RL batch of the shared ``grpo`` settings in words, as TRL 1.16 counts it: an optimizer step takes
    ``per_device_train_batch_size`` x ``gradient_accumulation_steps`` completions, and one generation round makes
    ``per_device_train_batch_size`` x ``steps_per_generation`` (default: the accumulation) for several steps.

    >>> batch_sentence({"per_device_train_batch_size": 64, "gradient_accumulation_steps": 4, "steps_per_generation": 16})
    '256 completions per optimizer step (64 x 4 accumulated), 1024 generated per round (4 optimizer steps per generation)'
    >>> batch_sentence({"per_device_train_batch_size": 8})
    '8 completions per optimizer step (8 x 1 accumulated), 8 generated per round (1 optimizer step per generation)'
    """
    micro, accum = int(grpo["per_device_train_batch_size"]), int(grpo.get("gradient_accumulation_steps") or 1)
    spg = int(grpo.get("steps_per_generation") or accum)
    if spg % accum:
        raise ValueError(f"steps_per_generation {spg} is not a multiple of gradient_accumulation_steps {accum}")
    k = spg // accum
    return (f"{micro * accum} completions per optimizer step ({micro} x {accum} accumulated), {micro * spg} generated "
            f"per round ({k} optimizer step{'s' if k > 1 else ''} per generation)")


def _ci(t) -> str:
    said = {"beyond the CI": "beyond the CI",
            SEED_SPREAD: f"beyond the problem CI but within the seed spread (|diff| < 1.96 × seed SE {t['seed se']:.1%})"}
    return (f"{t['diff']:+.1%} [95% CI {t['ci low']:+.1%}, {t['ci high']:+.1%}], "
            + said.get(t["verdict"], f"not detected (MDE {t['mde']:.1%})"))


def sweep_finding(sweep, seed: int, chosen: dict | None = None) -> str:
    """One sentence from ``sweep_table`` on val: each rate's accuracy per loss, and whether a collapse (below the
    warm start beyond the 95% CI) follows the step size (both losses at the same rates) or the loss."""
    budget = int(sweep["budget"].iloc[0])
    parts = []
    for lr, g in sweep.groupby("learning rate"):
        acc = {r["kind"]: r["val accuracy"] for _, r in g.iterrows()}
        parts.append(f"lr {lr:g}: GRPO {acc.get('grpo', float('nan')):.1%}, DR-GRPO {acc.get('dr_grpo', float('nan')):.1%}")
    low = {k: sorted(g.loc[g["below warm start"], "learning rate"]) for k, g in sweep.groupby("kind")}
    lg, ld = low.get("grpo", []), low.get("dr_grpo", [])
    if not lg and not ld:
        cause = "no swept rate took either loss below its warm start on val"
    elif lg == ld:
        cause = (f"both losses fell below the warm start at the same rate(s) {[f'{x:g}' for x in lg]}: the collapse "
                 "follows the step size, not the loss")
    else:
        cause = (f"below the warm start: GRPO at {[f'{x:g}' for x in lg] or 'no rate'}, DR-GRPO at "
                 f"{[f'{x:g}' for x in ld] or 'no rate'}: the losses differ in where they collapse")
    ws = float(sweep["warm-start accuracy"].iloc[0])
    return (f"Learning-rate sweep at {budget} tokens on val (warm start {ws:.1%}, seed {seed}): " + "; ".join(parts)
            + f"; {cause}." + (f" Chosen on val: GRPO lr {chosen['grpo']:g}, DR-GRPO lr {chosen['dr_grpo']:g}." if chosen else ""))


def e1_findings(table, paired, trends, seeds: Sequence[int], sweep=None, chosen: dict | None = None,
                plateaus=None) -> list[str]:
    """Sentences computed from the results (no hand-written claims): per budget each loss against the warm
    start and DR-GRPO against GRPO (paired per-problem tests on the test split, seeds averaged per problem),
    whether DR-GRPO degrades at the longest budget, the learning-rate sweep on val (does a collapse follow
    the loss or the step size?), where training reward plateaus, and the length and variance trends."""
    out = []
    main = table[table["loss / arm"].isin([LOSS_LABEL["grpo"], LOSS_LABEL["dr_grpo"]])]
    budgets = sorted(main["max tokens"].unique())

    def test(L, a, b):
        hit = paired[(paired["budget"] == L) & (paired["a"] == a) & (paired["b"] == b)]
        if len(hit) != 1:
            raise ValueError(f"no paired test {a} − {b} at {L} tokens")
        return hit.iloc[0]

    n = int(paired["problems"].iloc[0])
    for L in budgets:
        g, d, dg = test(L, "grpo", "warm_start"), test(L, "dr_grpo", "warm_start"), test(L, "dr_grpo", "grpo")
        out.append(f"At {L} tokens (warm start {g['accuracy b']:.1%}): GRPO {g['accuracy a']:.1%} (vs warm start "
                   f"{_ci(g)}; between-seed sd {g['seed sd a']:.1%}), DR-GRPO {d['accuracy a']:.1%} (vs warm start "
                   f"{_ci(d)}; sd {d['seed sd a']:.1%}); DR-GRPO − GRPO {_ci(dg)}.")
    L = budgets[-1]
    d = test(L, "dr_grpo", "warm_start")
    row = main[(main["max tokens"] == L) & (main["loss / arm"] == LOSS_LABEL["dr_grpo"])].iloc[0]
    answer = (f"Not established: {_ci(d)}" if d["verdict"] == SEED_SPREAD else
              "Yes: below the warm start beyond the 95% CI" if d["ci high"] < 0 else
              "No: above the warm start beyond the 95% CI" if d["ci low"] > 0 else
              f"Not detected: within the CI of the warm start (MDE {d['mde']:.1%})")
    out.append(f"Does DR-GRPO degrade at the longest budget ({L} tokens)? {answer}: {d['accuracy b']:.1%} → "
               f"{d['accuracy a']:.1%}; partial answers {row['partial']:.0f} of {n} (seeds/004 saw 32.5% → 4.9% "
               "with 971 of 1024 partial at 1024 tokens).")
    if sweep is not None and len(sweep):
        out.append(sweep_finding(sweep, seeds[0], chosen))
    if plateaus is not None:
        for _, p in plateaus[plateaus["kind"].isin(["grpo", "dr_grpo"])].iterrows():
            where = (f"plateaus near step {p['plateau step']} of {p['steps']}" if p["plateau step"] is not None
                     and p["plateau step"] == p["plateau step"] else "never rises above its first steps")
            out.append(f"{LOSS_LABEL[p['kind']]}@{p['budget']}: training reward {p['reward first']:.3f} → best "
                       f"{p['reward best']:.3f}, last {p['reward last']:.3f}; it {where} (seed mean, rolling).")
    for _, t in trends[trends["budget"] == L].iterrows():
        out.append(f"{t['arm']}: mean completion length {t['length_first']:.0f} → {t['length_last']:.0f} tokens "
                   f"(truncated {t['truncated_first']:.0%} → {t['truncated_last']:.0%}), reward std "
                   f"{t['reward_std_first']:.3f} → {t['reward_std_last']:.3f}, zero-std groups "
                   f"{t['zero_std_frac_first']:.0%} → {t['zero_std_frac_last']:.0%} (first vs last quarter of "
                   f"{t['steps']} steps)" + (f"; {t['skipped_updates']:.0f} update(s) skipped for a non-finite "
                   "gradient (nonfinite_updates.jsonl of the arm)" if t.get("skipped_updates", 0) > 0 else "") + ".")
    out.append(f"Evaluation: {n} held-out test problems, greedy decoding, seed reward; {len(seeds)} seed(s) "
               f"{list(seeds)}; paired per-problem tests with each problem's correctness averaged over the seeds.")
    return out


def accuracy_figure(summaries, n_eval: int, hybrid_alpha: float | None = None):
    """Held-out accuracy against the budget: the warm start, and each loss's mean over seeds (line) with every
    seed (dots); from the per-arm summaries (``load_arm_results`` or the committed ``_arms.csv``)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    zs = summaries[summaries["kind"] == "warm_start"].sort_values("max_completion_length")
    ax.plot(zs["max_completion_length"], zs["accuracy"], "k--o", label=LOSS_LABEL["warm_start"])
    styles = {"grpo": "C0-o", "dr_grpo": "C3-s", "graduated": "C2^", "hybrid": "C4D"}
    for kind, style in styles.items():
        s = summaries[summaries["kind"] == kind]
        g = s.groupby("max_completion_length")["accuracy"].mean()
        if len(g):
            ax.plot(g.index, g.values, style, ms=8, label=LOSS_LABEL[kind] + (f" (α={hybrid_alpha})" if kind == "hybrid" else ""))
            ax.plot(s["max_completion_length"], s["accuracy"], style[:2] + ".", alpha=0.4, ms=5)  # each seed
    budgets = sorted(int(b) for b in summaries["max_completion_length"].unique())
    seeds = summaries.loc[summaries["kind"] != "warm_start", "seed"].nunique()
    ax.set_xscale("log", base=2)
    ax.set_xticks(budgets, [str(b) for b in budgets])
    ax.set(xlabel="max completion tokens (training and evaluation)", ylabel=f"held-out accuracy ({n_eval} problems)",
           title=f"Countdown: test accuracy after RL by budget and loss (dots: the {seeds} seed(s))")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig



def reward_length_figure(curves, smooth: int):
    """Per-step training curves of every arm (rolling mean over ``smooth`` steps): the mean training reward of
    the arms trained on the seed reward (the graduated arm's reward is another definition), completion length,
    the fraction truncated at L_max and the token entropy; from the per-step curves (``load_arm_results`` or the
    committed ``_curves.csv``)."""
    from .curves import plot_step_curves

    seed_reward = curves.assign(**{"reward (seed reward arms)": curves["ordebug/reward/mean"].where(curves["kind"] != "graduated")})
    return plot_step_curves(seed_reward, [("reward (seed reward arms)", "mean training reward"),
                                          ("completions/mean_length", "mean completion length (tokens)"),
                                          ("completions/clipped_ratio", "fraction truncated at L_max"),
                                          ("entropy", "token entropy")],
                            smooth=smooth, title=f"Training curves (rolling mean over {smooth} steps)")

def write_e1_report(path: str | Path, table, findings: Sequence[str], setup: dict, sections: dict | None = None) -> Path:
    """The markdown report: setup, the seeds/004 table, further tables (``sections``: title -> DataFrame, e.g.
    the paired tests, the sweep, the stage timings), the computed findings."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# E1 · GRPO vs DR-GRPO on Countdown across completion budgets (seeds/004, corrected)", "",
             "Generated by `notebooks/10_countdown_grpo_vs_drgrpo.ipynb`; provenance in "
             "`reports/provenance/10_countdown_grpo_vs_drgrpo*.json`.", "", "## Setup", ""]
    lines += [f"- **{k}**: {v}" for k, v in setup.items()]
    lines += ["", "## Results (test split)", "", table.to_markdown(index=False, floatfmt=".3g"), ""]
    for title, frame in (sections or {}).items():
        lines += [f"## {title}", "", frame.to_markdown(index=False, floatfmt=".3g"), ""]
    lines += ["## Findings (computed)", ""]
    lines += [f"- {s}" for s in findings]
    path.write_text("\n".join(lines) + "\n")
    return path
