"""E8 (issue 22, notebook 24): a process reward model for OR-Debug, from exact labels to guarded use in RL.

The notebook keeps its question, parameters and figures; this module does the rest, top to bottom::

    exp = PRMExperiment.from_params(globals(), slug="ordebug_prm")
    exp.rl.warm_start(); exp.rl.ladder()   # the shared OR-Debug runner (rl_experiment.py)
    exp.collect()           # episodes on train / val / test into prm_episodes.sqlite
    exp.labels()            # exact step labels of train + val, their distribution beside seeds/001's
    exp.train()             # the PRM: trained on train, its step chosen on val, saved to prm/model
    exp.evaluate()          # test: AUC-ROC with an episode-bootstrap CI, calibration, first-error F1
    exp.best_of_n()         # test: N sampled actions per step, the PRM's pick vs plain sampling, greedy, solver
    exp.rl.run_arms()       # GRPO vs + summed PRM vs PURE min-form vs GiGPO, every arm monitored by the PRM

=================  ==============================================================================================
step               what it owns (and which split it reads)
=================  ==============================================================================================
collect            ``label_policies`` (baselines, ``results.parallel_baselines``) and the warm start sampled at
                   ``label_temperature`` ``label_lm_samples`` times (``evaluate_lm``, policy ``sft_sampled``)
                   on the RL prompts (train), ``n_val`` val instances and the test instances
labels             ``prm_labels.label_episodes`` on train and val (the test split is refused there);
                   ``label_distribution`` against seeds/001's expected 20–30 / 30–40 / 10–20 / 20–30 %
train              ``policy.prm.train_prm``: train-split examples, the step chosen on val (``selection``)
evaluate           ``policy.prm.evaluate_prm`` on test-split examples (``evaluation_labels``): never chooses
best_of_n          ``policy.prm.best_of_n_episodes`` of the warm start on test, choosers 'prm', 'first' (plain
                   sampling) and 'solver' (the progress labels' upper bound) per N in ``best_of_n``, and greedy
                   decoding; ``paired_compare`` per instance against greedy and against the upper bound
RL                 ``rl_experiment.RLExperiment.run_arms`` with the PRM's path in the shared settings: the
                   step-credit arms read it, every arm logs ``ordebug/prm/*`` and ``ordebug/hacking/*``
=================  ==============================================================================================

The PRM is evaluated and used on the test split only after everything that chooses (its training step)
read val. Best-of-N and the RL arms are compared on faithful recovery, DA and RR@5 per instance, never on
reward means (the arms' rewards differ by definition).

>>> roc_points([0.9, 0.8, 0.3, 0.1], [1, 0, 1, 0])[["fpr", "tpr"]].values.tolist()
[[0.0, 0.0], [0.0, 0.5], [0.5, 0.5], [0.5, 1.0], [1.0, 1.0]]
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .rl_experiment import RLExperiment

# the notebook parameters of E8 beside RLExperiment's (the parameters cell of notebook 24)
PARAMS = ("label_policies", "label_lm_samples", "label_temperature", "n_val", "prm_source", "prm_config",
          "prm_max_prompt_tokens", "best_of_n", "bon_temperature", "n_boot")
PRM_SOURCES = ("warm_start", "tiny", "small", "base")
"""The PRM's backbone: the policy's own weights with a fresh scalar head, or a fresh preset."""
DB = "prm_episodes.sqlite"
TEST_SCORES = "test_scores.csv"
"""In ``prm/``: one row per test-split step (``policy.prm.examples_frame`` with the PRM's score), written by ``evaluate``."""
GREEDY = "greedy decoding"
"""The warm start decoding greedily (one action per step), best-of-N's reference (not the ``greedy`` baseline)."""
SAMPLED = "sft_sampled"
"""Policy name of the warm start's sampled episodes in the PRM's database."""


def check_prm_params(params: dict) -> None:
    """Refuse E8 parameters that cannot work (ValueError); the notebook and the runner's preflight call it. Absent
    keys are not checked (the preflight sees a profile's delta over the notebook's defaults)."""
    if "best_of_n" in params and (not params["best_of_n"] or any(int(n) < 2 for n in params["best_of_n"])):
        raise ValueError(f"best_of_n must list sample counts N >= 2, got {params['best_of_n']!r}")
    if any(params.get(k, 1.0) <= 0 for k in ("bon_temperature", "label_temperature")):
        raise ValueError("label_temperature and bon_temperature must be > 0 (N equal greedy samples tell nothing)")
    if params.get("prm_source", PRM_SOURCES[0]) not in PRM_SOURCES:
        raise ValueError(f"prm_source must be one of {PRM_SOURCES} ('warm_start': the policy's backbone), "
                         f"got {params['prm_source']!r}")


def roc_points(scores, targets) -> pd.DataFrame:
    """The ROC curve of ``scores`` for binary ``targets``: one row per distinct threshold (descending), the
    false- and true-positive rates of 'score ≥ threshold', from (0, 0) to (1, 1)."""
    s, y = np.asarray(scores, float), np.asarray(targets, int)
    pos, neg = int((y == 1).sum()), int((y == 0).sum())
    if pos == 0 or neg == 0:
        raise ValueError(f"a ROC curve needs both classes, got {pos} positives and {neg} negatives")
    rows = [{"threshold": np.inf, "fpr": 0.0, "tpr": 0.0}]
    for t in sorted(set(s.tolist()), reverse=True):
        hit = s >= t
        rows.append({"threshold": t, "fpr": float((hit & (y == 0)).sum() / neg), "tpr": float((hit & (y == 1)).sum() / pos)})
    return pd.DataFrame(rows)


@dataclass
class PRMExperiment:
    """E8's parameters and state (see the module docstring); ``rl`` runs the warm start, ladder and arms."""

    rl: RLExperiment
    params: dict
    instances: dict = field(default_factory=dict)
    """split -> the instances whose episodes the PRM reads."""
    label_rows: Any = None  # DataFrame: one row per labelled train / val step
    distribution: Any = None
    examples: dict = field(default_factory=dict)
    fit: Any = None  # policy.prm.PRMTrainResult
    evaluation: dict | None = None
    bon: dict = field(default_factory=dict)
    """'rows' (per episode), 'steps', 'paired', 'summary' DataFrames."""
    timings: dict = field(default_factory=dict)
    _loaded: Any = None  # the warm start (model, tokenizer), loaded once for every step that reads it

    @classmethod
    def from_params(cls, namespace: dict, slug: str = "ordebug_prm") -> "PRMExperiment":
        missing = [k for k in PARAMS if k not in namespace]
        if missing:
            raise ValueError(f"the notebook does not define the parameters {missing}")
        params = {k: namespace[k] for k in PARAMS}
        check_prm_params(params)
        return cls(RLExperiment.from_params(namespace, slug), params)

    @property
    def run_dir(self) -> Path:
        return self.rl.run_dir

    @property
    def db(self) -> Path:
        return self.run_dir / DB

    def _policy(self):
        from ..policy.loader import load_policy

        if self.rl.ws is None:
            raise RuntimeError("run exp.rl.warm_start() first")
        if self._loaded is None:
            self._loaded = load_policy(self.rl.ws.model_dir, device=self.rl.device, trainable=False)
        return self._loaded

    def _by_id(self) -> dict:
        return {i.id: i for insts in self.instances.values() for i in insts}

    # -- 1. episodes -------------------------------------------------------------------------------------------
    def collect(self) -> pd.DataFrame:
        """Episodes of every label policy on train, val and test (stored once; a rerun skips them); returns the
        count per (policy, split)."""
        from ..ordebug.dataset import load_benchmark, spread_over_cells
        from ..ordebug.results import load_results, parallel_baselines
        from ..policy.generation import SamplingConfig
        from ..policy.ordebug_lm_eval import evaluate_lm

        p, rp = self.params, self.rl.params
        t0 = time.perf_counter()
        self.instances = {"train": list(self.rl.train_insts),
                          "val": spread_over_cells(load_benchmark(self.rl.ws.benchmark, "val"), p["n_val"]),
                          "test": list(self.rl.test_insts)}
        if not self.instances["val"]:
            raise ValueError(f"the benchmark at {self.rl.ws.benchmark} has no val instances: the PRM's step is chosen there")
        every = [i for insts in self.instances.values() for i in insts]
        parallel_baselines(p["label_policies"], every, self.db, seed=rp["seed"], max_turns=rp["max_turns"],
                           workers=rp["workers"], train=self.instances["train"])
        model, tok = self._policy()
        sampling = SamplingConfig(max_new_tokens=rp["max_new_tokens"], temperature=p["label_temperature"])
        for s in range(p["label_lm_samples"]):
            evaluate_lm(model, tok, every, self.db, SAMPLED, seed=rp["seed"] + s, max_turns=rp["max_turns"],
                        batch_size=rp["eval_batch_size"], sampling=sampling, max_prompt_tokens=rp["max_prompt_tokens"])
        self.timings["collect_s"] = time.perf_counter() - t0
        stored = load_results(self.db)
        return stored.groupby(["policy", "split"]).size().unstack(fill_value=0)

    # -- 2. labels -----------------------------------------------------------------------------------------------
    def labels(self) -> pd.DataFrame:
        """Exact labels of every train and val step; returns their distribution (``label_distribution``)."""
        from ..ordebug.prm_labels import label_distribution, label_episodes

        t0 = time.perf_counter()
        by_id = self._by_id()
        self.label_rows = pd.concat([label_episodes(self.db, by_id, split) for split in ("train", "val")],
                                    ignore_index=True)
        self.distribution = label_distribution(self.label_rows)
        self.timings["labels_s"] = time.perf_counter() - t0
        return self.distribution

    # -- 3. the PRM ----------------------------------------------------------------------------------------------
    def train(self):
        """Examples of every split; the PRM trained on train with its step chosen on val, saved to ``prm/``."""
        from ..policy.prm import PRMTrainConfig, build_prm, examples_by_split, train_prm

        p = self.params
        t0 = time.perf_counter()
        _, tok = self._policy()
        by_id = self._by_id()
        source = str(self.rl.ws.model_dir) if p["prm_source"] == "warm_start" else p["prm_source"]
        config = PRMTrainConfig(**p["prm_config"])
        prm = build_prm(source, tokenizer=tok, seed=config.seed, device=self.rl.device)
        # every context + action fits the PRM (4048 + an action passed 4096); the CPU's workers build them
        self.examples = examples_by_split(self.db, by_id, ("train", "val", "test"), tok,
                                          max_prompt_tokens=p["prm_max_prompt_tokens"], max_length=prm.max_length,
                                          workers=self.rl.params["workers"])
        self.fit = train_prm(self.examples["train"], config, self.prm_dir, val_examples=self.examples["val"],
                             prm=prm)
        self.timings["prm_train_s"] = time.perf_counter() - t0
        return self.fit

    @property
    def prm_dir(self) -> Path:
        """``train_prm``'s output: the model and its training curve; then the test scores and the best-of-N
        episodes, each written as its step ends (``TEST_SCORES``, ``best_of_n_greedy_episodes.csv``,
        ``best_of_<N>_<chooser>_episodes.csv``), so that a run cut short keeps the rows it has."""
        return self.run_dir / "prm"

    @property
    def prm_path(self) -> Path:
        return self.prm_dir / "model"

    def evaluate(self) -> dict:
        """The PRM on the test split's examples (``evaluate_prm``): AUC and its CI, calibration, first error."""
        from ..policy.prm import evaluate_prm

        if self.fit is None:
            raise RuntimeError("run exp.train() first")
        t0 = time.perf_counter()
        self.evaluation = evaluate_prm(self.fit.prm, self.examples["test"], n_boot=self.params["n_boot"],
                                       seed=self.rl.params["seed"])
        self.timings["prm_eval_s"] = time.perf_counter() - t0
        # the rows behind the test AUC, on disk now: e8b's session ended in best-of-N, before the report
        self.evaluation["frame"].to_csv(self.prm_dir / TEST_SCORES, index=False)
        return self.evaluation

    def evaluation_table(self) -> pd.DataFrame:
        """One row per test metric of the PRM (the scalars of ``evaluate``)."""
        ev = self.evaluation
        lo, hi = ev["auc_ci"]
        fe = ev["first_error"]
        rows = [("test steps", ev["n_steps"]), ("test episodes", ev["n_episodes"]),
                ("positive share", ev["positive_rate"]), ("AUC-ROC", ev["auc"]),
                ("AUC 95% CI low", lo), ("AUC 95% CI high", hi), ("bootstrap resamples kept", ev["n_boot_used"]),
                ("ECE", ev["ece"]), ("Brier", ev["brier"]), ("first-error F1", fe["f1"]),
                ("ProcessBench F1", fe["processbench_f1"])]
        rows += [(f"AUC within {name}'s steps ({v['n_steps']}, {v['positive_rate']:.1%} progress)", v["auc"])
                 for name, v in ev.get("auc_by_policy", {}).items()]
        return pd.DataFrame(rows, columns=["metric", "value"])

    # -- 4. best-of-N at test time -------------------------------------------------------------------------------
    def best_of_n(self) -> pd.DataFrame:
        """The warm start's greedy decoding and, per N, the choosers 'prm', 'first' and 'solver' on the test split;
        returns the paired table (each against greedy decoding, and 'prm' against the solver's upper bound)."""
        from ..policy.generation import SamplingConfig
        from ..policy.ordebug_experts import episode_env_config
        from ..policy.ordebug_lm_eval import run_lm_episodes
        from ..ordebug.metrics import aggregate
        from ..ordebug.results import episode_row
        from ..policy.prm import best_of_n_episodes, paired_compare

        p, rp = self.params, self.rl.params
        t0 = time.perf_counter()
        model, tok = self._policy()
        test = self.instances["test"]
        config = episode_env_config(max_turns=rp["max_turns"])
        greedy_eps = run_lm_episodes(model, tok, test, config, SamplingConfig(max_new_tokens=rp["max_new_tokens"],
                                     batch_size=rp["eval_batch_size"]), max_prompt_tokens=rp["max_prompt_tokens"])
        rows = {GREEDY: pd.DataFrame([episode_row(i, e.outcome, GREEDY, rp["seed"]) for i, e in zip(test, greedy_eps)])}
        rows[GREEDY].to_csv(self.prm_dir / "best_of_n_greedy_episodes.csv", index=False)
        steps = []
        sampling = SamplingConfig(max_new_tokens=rp["max_new_tokens"], temperature=p["bon_temperature"], seed=rp["seed"])
        for n in p["best_of_n"]:
            for chooser in ("prm", "first", "solver"):
                name = f"best-of-{n} {chooser}"
                r = best_of_n_episodes(model, tok, self.fit.prm, test, int(n), sampling, config, chooser=chooser,
                                       max_prompt_tokens=rp["max_prompt_tokens"], policy_name=name, seed=rp["seed"],
                                       generate_batch_size=rp["eval_batch_size"])
                rows[name] = r.rows
                steps.append(r.steps.assign(policy=name, n=int(n), chooser=chooser))
                r.rows.to_csv(self.prm_dir / f"best_of_{int(n)}_{chooser}_episodes.csv", index=False)  # as each ends
        paired = []
        for name, df in rows.items():
            if name != GREEDY:
                paired.append(paired_compare(df, rows[GREEDY]).assign(policy=name, against=GREEDY))
        for n in p["best_of_n"]:
            paired.append(paired_compare(rows[f"best-of-{n} prm"], rows[f"best-of-{n} solver"])
                          .assign(policy=f"best-of-{n} prm", against=f"best-of-{n} solver (upper bound)"))
        agg = aggregate(pd.concat(list(rows.values()), ignore_index=True), by="policy")
        summary = pd.DataFrame([{"policy": k, "n": len(v), **{m: float(agg.loc[k, m]) for m in ("RR@5", "faithful_recovery", "DA")}}
                                for k, v in rows.items()])
        cols = ["policy", "against", "metric", "n", "a", "b", "diff", "se", "p", "mde"]
        self.bon = {"rows": pd.concat(list(rows.values()), ignore_index=True), "steps": pd.concat(steps, ignore_index=True),
                    "paired": pd.concat(paired, ignore_index=True)[cols], "summary": summary}
        self.timings["best_of_n_s"] = time.perf_counter() - t0
        return self.bon["paired"]

    # -- 5. RL ---------------------------------------------------------------------------------------------------
    def run_arms(self):
        """The RL arms with the trained PRM in the shared settings (``prm_path``)."""
        if self.fit is None:
            raise RuntimeError("train the PRM first (exp.train()): the step-credit arms and the monitor read it")
        grpo = self.rl.task_grpo()
        grpo["prm_path"] = str(self.prm_path)
        return self.rl.run_arms()

    def hacking_table(self) -> pd.DataFrame:
        """Per trained arm: steps logged, steps where the detector was evaluated and flagged, the PRM's mean score
        and the training faithful rate over the first and last quarter of steps."""
        from .stats import first_last_means

        c = self.rl.results.curves
        out = []
        for arm, g in c.groupby("arm"):
            g = g.sort_values("step")
            row = {"arm": arm, "steps": len(g)}
            flag = g["ordebug/hacking/flag"].dropna() if "ordebug/hacking/flag" in g else pd.Series(dtype=float)
            row["detector_steps"], row["flagged_steps"] = len(flag), int((flag > 0).sum())
            for col, name in (("ordebug/prm/score_mean", "prm_score"), ("ordebug/prm/faithful_rate", "faithful_rate")):
                s = g[col].dropna() if col in g else pd.Series(dtype=float)
                first, last = first_last_means(s) if len(s) else (np.nan, np.nan)
                row[f"{name}_first"], row[f"{name}_last"] = first, last
            out.append(row)
        ends = [f"{name}_{end}" for name in ("prm_score", "faithful_rate") for end in ("first", "last")]
        return pd.DataFrame(out, columns=["arm", "steps", "detector_steps", "flagged_steps", *ends])

    # -- 6. report -----------------------------------------------------------------------------------------------
    def write_report(self, notebook: str, title: str, setup: dict, found: Sequence[str]) -> Path:
        """The RL report of ``rl.write_report`` with the PRM's sections (labels, test evaluation, best-of-N,
        hacking detector) appended, and their CSVs."""
        from .ordebug_report import append_section

        out = self.run_dir / "reports"
        fe = self.evaluation["frame"]
        extra = {"_label_distribution": self.distribution, "_prm_eval": self.evaluation_table(),
                 "_prm_calibration": self.evaluation["calibration"], "_prm_val_curve": pd.DataFrame(self.fit.val_curve),
                 "_prm_test_scores": fe.drop(columns=["action_text"], errors="ignore"),
                 "_best_of_n": self.bon["summary"], "_best_of_n_paired": self.bon["paired"],
                 "_best_of_n_episodes": self.bon["rows"].drop(columns=["trajectory_json", "trajectory"], errors="ignore"),
                 "_hacking": self.hacking_table()}
        report = self.rl.write_report(notebook, title, setup, found, extra_csv=extra)
        seeds = self.distribution[(self.distribution.group == "all") & (self.distribution.label == "seed_label")]
        append_section(report, "Step labels (train and val)",
                       f"{len(self.label_rows)} labelled steps of {self.label_rows['episode_id'].nunique()} episodes. The "
                       "seeds' four-level label beside the share seeds/001 expected, and the exact progress label "
                       "(+1 toward the original and nothing broken, 0 none, −1 harm) the PRM learns.",
                       seeds[["value", "n", "share", "expected_low", "expected_high", "in_expected"]])
        append_section(report, "The PRM on the test split",
                       f"Trained on {len(self.examples['train'])} train-split steps, its step ({self.fit.best_step}) chosen "
                       f"on {len(self.examples['val'])} val-split steps; evaluated once on the test split's steps. The AUC's "
                       "interval resamples episodes, not steps.", self.evaluation_table())
        append_section(report, "Best-of-N at test time (paired per instance)",
                       "The warm start samples N actions per step; 'prm' sends the PRM's pick, 'first' the first sample "
                       "(plain sampling), 'solver' the one whose exact progress label is highest (the upper bound of a "
                       "perfect progress PRM over the same samples). diff = row − against, with its SE and the minimum "
                       "detectable effect; a |diff| under 2 SE is not detected.", self.bon["paired"])
        append_section(report, "Reward-hacking detector",
                       "Per trained arm: steps where the detector (PRM score rising while faithful recovery falls, "
                       "``step_credit.HackingMonitor``) was evaluated and flagged, and the PRM score and training "
                       "faithful rate over the first and last quarter of steps.", self.hacking_table())
        return report

    def metrics(self) -> dict:
        """What ``rl.write_metrics`` records beside the arms: the PRM's evaluation, best-of-N and timings. A value
        that is undefined on these data (e.g. ProcessBench F1 without an error-free episode) is null."""
        ev = {k: v for k, v in self.evaluation.items() if k not in ("frame", "calibration")}
        return {"prm": {"train": undefined_as_null({"best_step": self.fit.best_step, "val_curve": self.fit.val_curve,
                                                    "dropped": self.fit.dropped, "n_train": len(self.examples["train"]),
                                                    "n_val": len(self.examples["val"])}),
                        "test": undefined_as_null(ev),
                        "label_distribution": json.loads(self.distribution.to_json(orient="records"))},
                "best_of_n": json.loads(self.bon["paired"].to_json(orient="records")),
                "prm_timings_s": self.timings}


def undefined_as_null(obj):
    """``obj`` as JSON types, NaN and inf as None (JSON has neither; a metrics file refuses them).

    >>> undefined_as_null({"f1": float("nan"), "ci": (0.5, float("inf")), "n": np.int64(3)})
    {'f1': None, 'ci': [0.5, None], 'n': 3}
    """
    if isinstance(obj, dict):
        return {k: undefined_as_null(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [undefined_as_null(v) for v in obj]
    if isinstance(obj, (np.integer, int)) and not isinstance(obj, bool):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj) if np.isfinite(obj) else None
    return obj


# -- figures -------------------------------------------------------------------------------------------------------
def label_figure(distribution: pd.DataFrame):
    """Shares of the seeds' label levels per label policy, with seeds/001's expected range shaded."""
    import matplotlib.pyplot as plt

    d = distribution[distribution.label == "seed_label"]
    fig, ax = plt.subplots(figsize=(9, 3.8))
    levels = sorted(d["value"].unique(), reverse=True)
    groups = list(d["group"].unique())
    w = 0.8 / len(groups)
    for k, g in enumerate(groups):
        s = d[d.group == g].set_index("value").loc[levels]
        ax.bar(np.arange(len(levels)) + k * w, s["share"], w, label=g)
    for j, lv in enumerate(levels):
        r = d[(d.value == lv) & (d.group == "all")].iloc[0]
        ax.fill_between([j - w / 2, j + 0.8 - w / 2], r["expected_low"], r["expected_high"], color="grey", alpha=0.2, lw=0)
    ax.set_xticks(np.arange(len(levels)) + 0.4 - w / 2, [str(v) for v in levels])
    ax.set(xlabel="seeds/001 label", ylabel="share of steps", title="Step labels (grey: seeds/001's expected share)")
    ax.legend(fontsize=7, ncol=3)
    return fig


def roc_figure(evaluation: dict, val_curve: Sequence[dict]):
    """ROC of the PRM on the test split's steps, its calibration, and the val loss that chose its step."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    fr = evaluation["frame"]
    roc = roc_points(fr["score"], fr["target"])
    lo, hi = evaluation["auc_ci"]
    axes[0].plot(roc["fpr"], roc["tpr"], drawstyle="steps-post")
    axes[0].plot([0, 1], [0, 1], ls="--", c="grey")
    axes[0].set(xlabel="false-positive rate", ylabel="true-positive rate",
                title=f"test ROC: AUC {evaluation['auc']:.3f} [{lo:.3f}, {hi:.3f}]")
    cal = evaluation["calibration"]
    cal = cal[cal["n"] > 0]
    axes[1].plot([0, 1], [0, 1], ls="--", c="grey")
    axes[1].scatter(cal["mean_score"], cal["positive_rate"], s=10 + 3 * np.sqrt(cal["n"]))
    axes[1].set(xlabel="mean predicted P(progress)", ylabel="observed progress rate", title=f"calibration (ECE {evaluation['ece']:.3f})")
    vc = pd.DataFrame(val_curve)
    axes[2].plot(vc["step"], vc["loss"], marker="o")
    axes[2].set(xlabel="PRM training step", ylabel="val BCE", title="val loss (the step is chosen here)")
    fig.tight_layout()
    return fig


def best_of_n_figure(summary: pd.DataFrame, metrics: Sequence[str] = ("RR@5", "faithful_recovery", "DA")):
    """Test metrics of greedy decoding and each best-of-N chooser."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3.8))
    summary.set_index("policy")[list(metrics)].T.plot.bar(ax=ax, rot=0, width=0.85)
    ax.set(ylabel=f"fraction of {int(summary['n'].max())} test episodes", ylim=(0, 1.05),
           title="Best-of-N on the test split: PRM pick vs plain sampling vs solver upper bound")
    ax.legend(fontsize=7, ncol=2)
    return fig


def hacking_figure(curves: pd.DataFrame, smooth: int = 1):
    """Per arm and step: the PRM's mean score of the batch and the batch's faithful rate."""
    from .curves import plot_step_curves

    return plot_step_curves(curves, [("ordebug/prm/score_mean", "PRM score (batch mean)"),
                                     ("ordebug/prm/faithful_rate", "faithful rate of the batch")],
                            by="label", smooth=smooth, title="Reward-hacking watch: PRM score vs faithful recovery")


__all__ = ["PARAMS", "PRMExperiment", "undefined_as_null", "best_of_n_figure", "hacking_figure", "label_figure", "roc_figure", "roc_points"]
