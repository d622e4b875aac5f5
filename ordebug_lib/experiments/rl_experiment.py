"""One runner for the OR-Debug RL experiments (notebooks 20–23 and the ones to come).

Every such notebook asks one question with the same machinery; the notebook keeps its question, its
parameters cell and its figures, and this module does the rest, top to bottom::

    exp = RLExperiment.from_params(globals(), slug="ordebug_dgro")   # the notebook's parameters
    exp.warm_start()        # a given SFT model + its benchmark (checked), or one trained here
    exp.ladder()            # baselines (random, greedy, leak detectors, search, oracle) on the test split
    res = exp.run_arms()    # arms as processes (experiments/jobs.py), tables over arms + ladder
    exp.write_report(title, setup, found)   # markdown + CSVs under run_dir/reports/
    exp.write_metrics(extra)                # metrics.json (provenance is the notebook runner's)

=============  ===============================================================================================
step           what it owns
=============  ===============================================================================================
warm_start     ``warm_start`` + ``benchmark_dir`` (the SFT's own benchmark: its train split is the RL prompts, its
               test split the evaluation set), the step budget it was trained with, or ``ordebug_warm_start``
               (trained once per settings and code and copied into the run: ``warm_start_cache.py``)
ladder         ``policy.data.parallel_baselines`` into ``baselines.sqlite`` (kind_prior learns on the train split)
run_arms       ``ordebug_rl.make_arms`` / ``one_task`` / ``arm_jobs`` / ``jobs.run_jobs``, then the tables
write_report   ``ordebug_report.write_report`` and the per-run CSVs named ``<slug>[_suffix].csv``
=============  ===============================================================================================

Arm-specific parameters (``dgro``, ``require_knobs``, ``curriculum``) are passed through to ``arm_jobs`` only when
the notebook defines them, so adding a parameter to one notebook touches that notebook and ``arm_jobs``.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .jobs import run_jobs
from .ordebug_report import (append_section, baseline_rows, breakdown_table, episode_table, load_arm_results,
                             paired_to_reference, results_table, write_report)
from .ordebug_rl import ARMS, arm_jobs, make_arms, one_task, split_instances, warm_start_config as make_ws_config

# the notebook parameters every OR-Debug RL experiment has (the parameters cell of notebook 20)
COMMON = ("run_dir", "seed", "warm_start", "require_warm_start", "benchmark_dir", "warm_start_config", "arms",
          "rl_seeds", "grpo", "n_train", "n_eval", "max_turns", "max_new_tokens", "max_prompt_tokens",
          "eval_batch_size", "baselines", "workers", "parallel", "device")
# parameters only some experiments have, passed to arm_jobs (dgro to make_arms) when the notebook defines them
OPTIONAL = ("dgro", "require_knobs", "curriculum", "warm_start_cache", "self_play")


@dataclass
class WarmStart:
    """The SFT checkpoint every arm starts from and the benchmark whose splits the experiment uses."""

    model_dir: Path
    benchmark: Path
    given: bool
    record: dict | None
    desc: str


@dataclass
class ArmResults:
    """What the arms produced, with the baseline ladder's rows beside them."""

    arms: list
    summaries: Any  # DataFrame, one row per arm
    rows: Any  # DataFrame, one row per (arm, test episode) and per (baseline, test episode)
    curves: Any  # DataFrame, one row per (arm, logged step)
    table: Any
    by_type: Any
    by_difficulty: Any
    wall_s: dict
    paired: Any = None  # DataFrame: every policy against the SFT warm start, paired per instance (None: no sft arm)
    paired_grpo: Any = None  # DataFrame: every other trained arm against GRPO over both sides' seeds (None: no such pair)


GRPO_KINDS = ("grpo", "baseline")
"""The arm kinds that are plain GRPO, the reference of ``ArmResults.paired_grpo`` (the DAPO ablation calls its
GRPO arm 'baseline')."""


@dataclass
class RLExperiment:
    """An OR-Debug RL experiment's parameters and state (see the module docstring)."""

    params: dict
    slug: str
    """Report name: ``reports/<slug>.md``, ``<slug>.csv``, ``<slug>_arms.csv``, ..."""
    timings: dict = field(default_factory=dict)
    ws: WarmStart | None = None
    train_insts: list = field(default_factory=list)
    test_insts: list = field(default_factory=list)
    base: Any = None
    results: ArmResults | None = None
    grpo: dict | None = None
    t_start: float = field(default_factory=time.perf_counter)

    @classmethod
    def from_params(cls, namespace: dict, slug: str) -> "RLExperiment":
        """The experiment of a notebook whose parameters are the names in ``namespace`` (its ``globals()``)."""
        from ..policy.loader import resolve_device

        missing = [k for k in COMMON if k not in namespace]
        if missing:
            raise ValueError(f"the notebook does not define the parameters {missing}")
        params = {k: namespace[k] for k in COMMON + OPTIONAL if k in namespace}
        params["run_dir"] = Path(params["run_dir"])
        params["device"] = resolve_device(params["device"])
        return cls(params, slug)

    @property
    def run_dir(self) -> Path:
        return self.params["run_dir"]

    @property
    def device(self) -> str:
        return self.params["device"]

    # -- 1. warm start and instances ----------------------------------------------------------------------
    def warm_start(self) -> WarmStart:
        """Resolve the warm start (checked against the step budget its observations name) and the splits."""
        p = self.params
        t0 = time.perf_counter()
        if p["warm_start"]:
            self.ws = given_warm_start(p["warm_start"], p["benchmark_dir"], p["max_turns"])
        else:
            if p["require_warm_start"]:
                raise ValueError("this profile needs -p warm_start runs/04_ordebug_sft/<profile>/<id>/model -p "
                                 "benchmark_dir <the benchmark that SFT used> (a warm start trained earlier in the session)")
            self.ws = trained_warm_start(p["warm_start_config"], p["max_turns"], self.run_dir, self.device,
                                         cache=p.get("warm_start_cache", True))
        self.train_insts, self.test_insts = split_instances(self.ws.benchmark, p["n_train"], p["n_eval"])
        self.timings["warm_start_s"] = time.perf_counter() - t0
        return self.ws

    def split_counts(self):
        """Test instances per error type × difficulty (a DataFrame)."""
        import pandas as pd

        return (pd.DataFrame([(i.error_type, i.difficulty) for i in self.test_insts], columns=["error_type", "difficulty"])
                .value_counts().unstack(fill_value=0))

    # -- 2. the baseline ladder ---------------------------------------------------------------------------
    def ladder(self):
        """Every baseline on the test instances, same step budget; returns their episode rows."""
        from ..policy.data import parallel_baselines

        p = self.params
        t0 = time.perf_counter()
        parallel_baselines(p["baselines"], self.test_insts, self.run_dir / "baselines.sqlite", seed=p["seed"],
                           max_turns=p["max_turns"], workers=p["workers"], train=self.train_insts)
        self.base = baseline_rows(self.run_dir / "baselines.sqlite", p["baselines"], self.test_insts, seed=p["seed"])
        self.timings["baselines_s"] = time.perf_counter() - t0
        return self.base

    # -- 3. the arms ---------------------------------------------------------------------------------------
    def task_grpo(self) -> dict:
        """The shared GRPO settings with the episode fields of the evaluated task (``one_task``)."""
        p = self.params
        if self.grpo is None:
            self.grpo = one_task(p["grpo"], p["max_turns"], p["max_new_tokens"], p["max_prompt_tokens"])
        return self.grpo

    def run_arms(self) -> ArmResults:
        """Run every arm (``parallel`` at a time; finished ones are reused) and build the tables."""
        import pandas as pd

        if self.ws is None or self.base is None:
            raise RuntimeError("run warm_start() and ladder() first")
        p = self.params
        arm_list = make_arms(p["arms"], seeds=p["rl_seeds"], **({"dgro": p["dgro"]} if "dgro" in p else {}))
        extra = {k: p[k] for k in ("require_knobs", "curriculum", "self_play") if k in p}
        jobs = arm_jobs(arm_list, self.run_dir / "arms", self.ws.model_dir, self.ws.benchmark, self.task_grpo(),
                        n_train=p["n_train"], n_eval=p["n_eval"], max_turns=p["max_turns"],
                        max_new_tokens=p["max_new_tokens"], max_prompt_tokens=p["max_prompt_tokens"],
                        eval_batch_size=p["eval_batch_size"], eval_seed=p["seed"], device=self.device, **extra)
        print(f"{len(arm_list)} arms:", ", ".join(a.name for a in arm_list))
        t0 = time.perf_counter()
        wall = run_jobs(jobs, parallel=p["parallel"])
        self.timings["arms_s"] = time.perf_counter() - t0
        summaries, rows, curves = load_arm_results(self.run_dir / "arms", arm_list, self.test_insts)
        all_rows = pd.concat([rows, self.base], ignore_index=True)
        paired = paired_to_reference(all_rows) if "sft" in set(all_rows["kind"]) else None
        trained = rows[rows["kind"] != "sft"]  # the arms' question is often "better than GRPO?", not only "than SFT?"
        grpo = next((k for k in GRPO_KINDS if k in set(trained["kind"])), None)
        paired_grpo = paired_to_reference(trained, reference=grpo) if grpo and trained["kind"].nunique() > 1 else None
        self.results = ArmResults(arm_list, summaries, all_rows, curves, results_table(all_rows),
                                  breakdown_table(all_rows, "error_type"), breakdown_table(all_rows, "difficulty"), wall,
                                  paired, paired_grpo)
        return self.results

    # -- 4. report and metrics ------------------------------------------------------------------------------
    def write_report(self, notebook: str, title: str, setup: dict, found: Sequence[str],
                     extra_csv: dict | None = None) -> Path:
        """``reports/<slug>.md`` and the CSVs (table, by error type, by difficulty, arms, curves, ``extra_csv``:
        suffix -> DataFrame); returns the report's path."""
        r = self.results
        out = self.run_dir / "reports"
        report = write_report(out / f"{self.slug}.md", title,
                              f"Generated by `notebooks/{notebook}.ipynb`; provenance in `reports/provenance/{notebook}*.json`.",
                              setup, r.table, r.by_type, r.by_difficulty, found)
        if r.paired is not None:
            append_section(report, "Paired against the SFT warm start (test split)",
                           "Per instance, each policy's value (averaged over its RL seeds) minus the warm start's, "
                           "for faithful recovery, DA and RR@5: the mean difference, its 95% CI, the minimum "
                           "detectable effect (80% power) and the between-seed spread; recomputable from "
                           f"`{self.slug}_episodes.csv`.", r.paired)
        if r.paired_grpo is not None:
            append_section(report, "Paired against GRPO (test split)",
                           "Per instance, each other trained arm's value minus GRPO's (the arm without a knob), each "
                           "averaged over its own RL seeds; the verdict weighs the seed spread of both sides. "
                           f"Recomputable from `{self.slug}_episodes.csv`.", r.paired_grpo)
        frames = {"": r.table, "_by_error_type": r.by_type, "_by_difficulty": r.by_difficulty, "_arms": r.summaries,
                  **(extra_csv or {}), "_curves": r.curves.drop(columns=["nonfinite_keys"], errors="ignore"),
                  "_episodes": episode_table(r.rows), **({"_paired": r.paired} if r.paired is not None else {}),
                  **({"_paired_grpo": r.paired_grpo} if r.paired_grpo is not None else {})}
        for suffix, df in frames.items():
            df.to_csv(out / f"{self.slug}{suffix}.csv", index=False)
        return report

    def setup_rl(self) -> str:
        """The report's 'RL' line: steps, group, episodes per step, turns, lr, temperature, reward, prompts, seeds."""
        g, p = self.task_grpo(), self.params
        if not any(ARMS[k].trains for k in p["arms"]):
            return f"none: no trained arm among the arms {p['arms']}"
        return (f"{g.get('max_steps')} optimizer steps per arm, group size {g.get('num_generations')}, "
                f"{g.get('per_device_train_batch_size') * g.get('gradient_accumulation_steps', 1)} episodes per step, up to "
                f"{g.get('max_turns')} turns of {g.get('max_new_tokens_per_turn')} tokens, lr {g.get('learning_rate')}, "
                f"temperature {g.get('temperature')}, reward {g.get('reward')}; {len(self.train_insts)} train-split prompts; "
                f"RL seeds {p['rl_seeds']}")

    def setup_evaluation(self) -> str:
        p = self.params
        return (f"{len(self.test_insts)} test-split instances, greedy, at most {p['max_turns']} steps of "
                f"{p['max_new_tokens']} tokens; baselines {', '.join(p['baselines'])} on the same instances")

    def write_metrics(self, trends, found: Sequence[str], extra: dict | None = None) -> dict:
        """``metrics.json``: warm start, sizes, arms, tables, trends, findings, timings (and ``extra``)."""
        from ..artifacts import write_metrics

        r = self.results

        def records(df):
            return json.loads(df.to_json(orient="records"))  # NaN -> null

        metrics = {
            "warm_start": {"dir": str(self.ws.model_dir), "benchmark": str(self.ws.benchmark), "given": self.ws.given,
                           "record": self.ws.record},
            "n_train": len(self.train_insts), "n_eval": len(self.test_insts), "rl_seeds": self.params["rl_seeds"],
            "arms": records(r.summaries), "table": records(r.table), "by_error_type": records(r.by_type),
            "by_difficulty": records(r.by_difficulty), "trends": records(trends), "findings": list(found),
            "paired": records(r.paired) if r.paired is not None else None,
            "paired_grpo": records(r.paired_grpo) if r.paired_grpo is not None else None, "arm_wall_s": r.wall_s,
            "nonfinite_logged": int(r.curves["nonfinite_keys"].map(len).sum()) if "nonfinite_keys" in r.curves else 0,
            **(extra or {}),
            "timings_s": self.timings, "wall_time_s": time.perf_counter() - self.t_start,
        }
        write_metrics(self.run_dir, metrics)
        return metrics


def given_warm_start(warm_start: str | Path, benchmark_dir: str | Path | None, max_turns: int) -> WarmStart:
    """A model saved by notebook 04 (``runs/04_ordebug_sft/<profile>/<id>/model``; or by ``03_sft``, which it replaced)
    and the benchmark its SFT used; refused when it was trained with another episode budget (its observations name
    it)."""
    from .sft_experiment import trained_max_turns

    if not benchmark_dir:
        raise ValueError("warm_start needs benchmark_dir: the benchmark its SFT used (its test split is the evaluation set)")
    model_dir, bench = Path(warm_start), Path(benchmark_dir)
    if not (model_dir / "config.json").exists():
        raise FileNotFoundError(f"no saved model at {model_dir}")
    record = None
    sft_run = model_dir.parent  # 04_ordebug_sft (and 03_sft) write metrics.json and provenance.json next to model/
    if (sft_run / "metrics.json").exists():
        m03 = json.loads((sft_run / "metrics.json").read_text())
        record = {"source_run": str(sft_run), "data": m03.get("data"), "sft": m03.get("sft"), "ladder": m03.get("ladder")}
    if (sft_run / "provenance.json").exists():
        trained = trained_max_turns(json.loads((sft_run / "provenance.json").read_text()).get("parameters", {}))
        if trained is not None and trained != max_turns:  # the observations name the episode budget
            raise ValueError(f"the warm start was trained with max_turns={trained}, not {max_turns}")
    return WarmStart(model_dir, bench, True, record, f"given: `{model_dir}` (benchmark `{bench}`)")


def trained_warm_start(config: dict, max_turns: int, run_dir: Path, device: str, cache: bool = True) -> WarmStart:
    """An OR-Debug SFT warm start trained here (``policy.ordebug_sft.ordebug_warm_start``), once per settings and
    code when ``cache`` (``warm_start_cache.py``: the run gets its own copy of the cached model and benchmark)."""
    from ..policy.ordebug_sft import ordebug_warm_start
    from .warm_start_cache import cached_warm_start

    ws_config = make_ws_config(config)
    if ws_config.max_turns != max_turns:
        raise ValueError(f"warm_start_config max_turns={ws_config.max_turns} must equal max_turns={max_turns} "
                         "(the observations name the episode budget)")

    def train(out: Path) -> tuple[dict, str]:
        ws = ordebug_warm_start(ws_config, out, device=device, save_dir=out / "warm_start_model")
        record = {"config": config, "data": ws.data, "sft": {
            "best_step": ws.sft.best_step, "initial_held_out_loss": ws.sft.initial_eval_loss,
            "final_held_out_loss": ws.sft.final_eval_loss, "best_held_out_loss": ws.sft.best_eval_loss}}
        desc = (f"trained here: `{ws_config.model}`, {ws.data['n_records']} per-action records from "
                f"{ws.data['n_train_instances']} train instances, {ws_config.sft.max_steps} SFT steps (kept step {ws.sft.best_step})")
        return record, desc

    if cache and not ws_config.benchmark_dir:  # a given benchmark_dir is not the run's own: train in the run
        record, desc = cached_warm_start(config, device, run_dir, train)
    else:
        record, desc = train(run_dir)
    # where ordebug_warm_start puts them (benchmark_path), or the run's copies of the cached ones
    return WarmStart(run_dir / "warm_start_model", Path(ws_config.benchmark_dir or run_dir / "benchmark"), False,
                     record, desc)


# -- figures every OR-Debug RL notebook draws ----------------------------------------------------------------
METRICS_SHOWN = ("RR@5", "RR@10", "RR", "faithful_recovery", "DA")


def metrics_figure(table, n_test: int, title: str, metrics: Sequence[str] = METRICS_SHOWN):
    """Bars of the test-split metrics, one group per metric, one bar per policy (arms and baselines)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.2))
    table.set_index("policy")[list(metrics)].T.plot.bar(ax=ax, rot=0, width=0.85)
    ax.set(ylabel=f"fraction of {n_test} test episodes", ylim=(0, 1.05), title=title)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3, axis="y")
    return fig


def breakdown_figure(table, by_type, by_difficulty, metric: str = "faithful_recovery"):
    """``metric`` by error type and by difficulty, one bar per policy in the table's order."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
    for ax, (key, df) in zip(axes, (("error_type", by_type), ("difficulty", by_difficulty))):
        df.pivot(index=key, columns="policy", values=metric)[table["policy"]].plot.bar(ax=ax, rot=0, width=0.85)
        ax.set(ylabel=metric.replace("_", " "), ylim=(0, 1.05), title=f"{metric.replace('_', ' ')} by {key.replace('_', ' ')}")
        ax.legend(fontsize=6, ncol=2)
    return fig


def variance_figure(curves, smooth: int):
    from .curves import plot_step_curves

    return plot_step_curves(curves, [("ordebug/reward/std", "reward std within the batch"),
                                     ("ordebug/groups/zero_std_frac", "fraction of zero-std groups")],
                            by="label", smooth=smooth, title=f"Reward variance per step (rolling mean over {smooth} steps)")


def training_figure(curves, smooth: int, reward: str):
    from .curves import plot_step_curves

    return plot_step_curves(curves, [("ordebug/reward/mean", f"mean training reward ({reward})"),
                                     ("ordebug/env/faithful_rate", "faithful recovery in training episodes"),
                                     ("ordebug/env/steps_mean", "env steps per training episode"),
                                     ("entropy", "token entropy")],
                            by="label", smooth=smooth, title=f"Training curves (rolling mean over {smooth} steps)")
