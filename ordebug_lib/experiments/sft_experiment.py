"""The SFT warm-start notebooks' runner: Countdown SFT (``03_countdown_sft``) and OR-Debug SFT (``04_ordebug_sft``).

Each notebook takes its SFT settings as one mapping, ``warm_start_config``, in the shape the RL notebooks take
theirs: ``CountdownSFTConfig`` fields (notebook 10's ``warm_start_config``) or ``OrdebugSFTConfig`` fields with
``sft`` a mapping of ``SFTRunConfig`` fields (notebooks 20-23's). Beside it are the run's own parameters: ``seed``
(the whole run's: the config's and its SFT's, which may repeat it but not differ, the evaluation's, the baselines'),
for OR-Debug the benchmark paths of this machine (``benchmark_dir``, ``train_benchmark_dir``: parameters, so that ``-p``
can set them without replacing the whole mapping, which may name them too, not differently) and the held-out
evaluation. :func:`countdown_run` / :func:`ordebug_run` turn
the parameters into what runs (checked, no side effect); the experiment classes run it, top to bottom::

    exp = OrdebugSFTExperiment.from_params(globals())   # or CountdownSFTExperiment
    exp.load_policy()          # the policy before SFT (evaluated when eval_before)
    exp.demonstrations()       # Countdown: search streams; OR-Debug: ordebug_warm_start (benchmark, demos, SFT, DAgger)
    exp.evaluate_before()      # None unless eval_before
    exp.train()                # Countdown: run_sft; OR-Debug: what the warm start trained
    exp.evaluate_after()
    exp.ladder(); exp.failure_analysis()                 # OR-Debug: baselines on the same test instances, why episodes fail
    exp.figure(); exp.write_tables(); exp.write_metrics()   # reports/sft_<task>_eval|curve, metrics.json

The figures are functions of tables (``countdown_figure``, ``ordebug_figure``; the learning curve ``loss_axes``),
so that the committed CSVs of a published run draw them again (``experiments/paper.py``).
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..policy.countdown_sft import CountdownSFTConfig
from ..policy.generation import SamplingConfig
from ..policy.ordebug_sft import OrdebugSFTConfig


# -- what a notebook runs with -----------------------------------------------------------------------------------
@dataclass
class CountdownSFTRun:
    """Everything notebook ``03_countdown_sft`` runs with (its parameters, checked)."""

    config: CountdownSFTConfig
    """Problems, streams, policy and SFT (``warm_start_config``, seeded with ``seed``)."""
    n_eval: int
    """Held-out problems the policy is evaluated on (drawn with the val problems, disjoint from every stream)."""
    sampling: SamplingConfig
    """Decoding of the evaluation."""
    eval_before: bool
    save_model: bool
    device: str


@dataclass
class OrdebugSFTRun:
    """Everything notebook ``04_ordebug_sft`` runs with (its parameters, checked)."""

    config: OrdebugSFTConfig
    """The warm start (``warm_start_config``, seeded with ``seed``, with the benchmark paths)."""
    n_eval: int
    """Test-split instances the policy and the ladder are evaluated on, spread over the cells (``dataset.spread_over_cells``)."""
    baselines: tuple[str, ...]
    sampling: SamplingConfig
    """Decoding of one action in the evaluation (``batch_size``: episodes stepping together)."""
    max_prompt_tokens: int
    """Evaluation: longer conversations leave out their oldest turns."""
    eval_before: bool
    save_model: bool
    device: str


def _seed_of(config: Mapping, seed: int, where: str) -> None:
    if "seed" in config and config["seed"] != seed:
        raise ValueError(f"{where} seed={config['seed']} differs from seed={seed}: the seed parameter seeds the whole "
                         f"run; leave seed out of {where} or give the same")


def _sampling(params: Mapping) -> SamplingConfig:
    return SamplingConfig(max_new_tokens=params["max_new_tokens"], temperature=params["temperature"],
                          batch_size=params["eval_batch_size"], seed=params["seed"])


def countdown_run(params: Mapping) -> CountdownSFTRun:
    """The run of notebook ``03_countdown_sft``'s parameters (every name of its parameters cell). Raises
    ValueError for a config that cannot be built."""
    config = dict(params["warm_start_config"])
    _seed_of(config, params["seed"], "warm_start_config")
    return CountdownSFTRun(CountdownSFTConfig.from_dict({**config, "seed": params["seed"]}), params["n_eval"],
                           _sampling(params), params["eval_before"], params["save_model"], params["device"])


def ordebug_run(params: Mapping) -> OrdebugSFTRun:
    """The run of notebook ``04_ordebug_sft``'s parameters (every name of its parameters cell). Raises
    ValueError for a config that cannot be built or that repeats a run parameter with another value."""
    from .ordebug_rl import warm_start_config

    config, seed = dict(params["warm_start_config"]), params["seed"]
    _seed_of(config, seed, "warm_start_config")
    _seed_of(config.get("sft") or {}, seed, "warm_start_config.sft")
    for name in ("benchmark_dir", "train_benchmark_dir"):
        if params[name] is not None:
            if config.get(name) not in (None, params[name]):
                raise ValueError(f"warm_start_config {name}={config[name]!r} differs from {name}={params[name]!r}; "
                                 f"give it once, as the {name} parameter")
            config[name] = params[name]
    ws = warm_start_config(config)
    ws = dataclasses.replace(ws, seed=seed, sft=dataclasses.replace(ws.sft, seed=seed))
    return OrdebugSFTRun(ws, params["n_eval"], tuple(params["baselines"]), _sampling(params),
                         params["max_prompt_tokens"], params["eval_before"], params["save_model"], params["device"])


def settings(run: CountdownSFTRun | OrdebugSFTRun) -> dict:
    """What the run's code receives, as plain JSON values: the run's fields, and the ``SFTRunConfig`` SFT runs with as
    ``run_config`` (Countdown: ``CountdownSFTConfig.run_config``; OR-Debug: ``ordebug_sft.run_sft_config``, which
    tokenises in ``workers`` processes unless ``sft.dataset_num_proc`` says otherwise, and is also its ``config.sft``)."""
    from ..policy.ordebug_sft import run_sft_config

    if isinstance(run, CountdownSFTRun):
        sft = run.config.run_config()
    else:
        sft = run_sft_config(run.config)
        run = dataclasses.replace(run, config=dataclasses.replace(run.config, sft=sft))
    return json.loads(json.dumps({**dataclasses.asdict(run), "run_config": dataclasses.asdict(sft)}))


# -- running it ------------------------------------------------------------------------------------------------------
def _clean(d: dict | None) -> dict | None:
    """NaN -> None (JSON)."""
    return None if d is None else {k: (None if isinstance(v, float) and v != v else v) for k, v in d.items()}


@dataclass
class _SFTExperiment:
    run: Any
    run_dir: Path
    device: str = ""
    timings: dict = field(default_factory=dict)
    data_stats: dict = field(default_factory=dict)
    policy: Any = None
    tok: Any = None
    n_trainable: int = 0
    n_total: int = 0
    eval_insts: list = field(default_factory=list)
    n_train_records: int = 0
    before: dict | None = None
    after: dict | None = None
    result: Any = None
    t_start: float = field(default_factory=time.perf_counter)

    TASK = ""

    def __post_init__(self):
        import torch

        from ..policy.loader import resolve_device

        self.run_dir = Path(self.run_dir)
        self.device = resolve_device(self.run.device)
        torch.manual_seed(self.config.seed)
        self.t_start = time.perf_counter()

    @property
    def config(self):
        return self.run.config

    @property
    def model_name(self) -> str:
        return self.config.model

    def load_policy(self) -> str:
        """The policy before SFT (``config.model``, ``lora``, ``dtype``, seeded); a line describing it."""
        from ..policy.loader import load_policy, trainable_parameters

        c = self.config
        self.policy = load_policy(c.model, lora=c.lora, device=self.device, dtype=c.dtype, seed=c.seed)
        self.tok = self.policy.tokenizer
        self.n_trainable, self.n_total = trainable_parameters(self.policy.model)
        return (f"{c.model} ({self.policy.source}) on {self.device}: {self.n_total:,} parameters, "
                f"{self.n_trainable:,} trainable; vocabulary {len(self.tok)}")

    def evaluate_before(self) -> dict | None:
        """The policy before SFT on the held-out instances (``eval_before``; else None)."""
        if not self.run.eval_before:
            return None
        t0 = time.perf_counter()
        self.before = self._evaluate("untrained", self.policy.model)
        self.timings["eval_before_s"] = time.perf_counter() - t0
        return self.before

    def evaluate_after(self) -> dict:
        """The trained policy on the held-out instances."""
        t0 = time.perf_counter()
        self.after = self._evaluate("sft", self.policy.model)
        self.timings["eval_after_s"] = time.perf_counter() - t0
        return self.after

    def describe_training(self) -> str:
        r = self.result
        return (f"held-out loss {r.initial_eval_loss:.3f} -> {r.final_eval_loss:.3f} in {r.eval_curve[-1][0]} steps "
                f"({r.train_runtime:.1f} s)" + (f"; kept step {r.best_step} ({r.best_eval_loss:.3f})"
                                                if r.best_step is not None else ""))

    # what the subclasses define
    def _evaluate(self, label: str, lm) -> dict:
        raise NotImplementedError

    @property
    def sft_steps(self) -> int:
        raise NotImplementedError

    @property
    def total_steps(self) -> int:
        return self.sft_steps

    def curves(self):
        """(training loss per logged step, held-out loss per evaluated step) as DataFrames."""
        import pandas as pd

        return (pd.DataFrame(self.result.train_curve, columns=["step", "train_loss"]),
                pd.DataFrame(self.result.eval_curve, columns=["step", "held_out_loss"]))

    def loss_inputs(self) -> dict:
        """What ``loss_axes`` draws beside the two curves: the model, the task, the records, the pretraining
        curve (OR-Debug), the step kept, the DAgger rounds."""
        return {"model": self.model_name, "task": self.TASK, "n_records": self.n_train_records,
                "pretrain": self.data_stats.get("pretrain") if self.TASK == "ordebug" else None,
                "best_step": self.result.best_step, "dagger": self.data_stats.get("dagger") or []}

    def write_tables(self):
        """``reports/sft_<task>_eval`` (the evaluation table, with its caption) and ``sft_<task>_curve``; the table."""
        from ..artifacts import write_table

        table, caption = self.eval_table()
        write_table(table, self.run_dir, f"sft_{self.TASK}_eval", caption=caption)
        train_curve, eval_curve = self.curves()
        write_table(train_curve.merge(eval_curve, on="step", how="outer"), self.run_dir, f"sft_{self.TASK}_curve")
        return table

    def eval_table(self):
        raise NotImplementedError

    def metrics(self) -> dict:
        r = self.result
        return {
            "task": self.TASK, "model": self.model_name, "source": self.policy.source, "device": self.device,
            "parameters": self.n_total, "trainable_parameters": self.n_trainable, "vocab_size": len(self.tok),
            "data": self.data_stats,
            "sft": {"steps": self.sft_steps, "total_steps": self.total_steps, "initial_held_out_loss": r.initial_eval_loss,
                    "final_held_out_loss": r.final_eval_loss, "train_curve": r.train_curve,
                    "eval_curve": r.eval_curve, "train_runtime_s": r.train_runtime,
                    "keep_best": self.keep_best, "best_step": r.best_step, "best_held_out_loss": r.best_eval_loss},
            "eval_before": _clean(self.before), "eval_after": _clean(self.after),
            "ladder": None, "failure_analysis": None, "copying": None,
            "timings_s": self.timings, "wall_time_s": time.perf_counter() - self.t_start,
        }

    def write_metrics(self) -> dict:
        """``metrics.json`` (the model saved to ``run_dir/model`` when ``save_model``); the metrics."""
        from ..artifacts import write_metrics

        metrics = self.metrics()
        model_dir = self._saved_model()
        if model_dir is not None:
            metrics["model_dir"] = str(model_dir)
        write_metrics(self.run_dir, metrics)
        return metrics

    def _saved_model(self):
        return self.policy.save(self.run_dir / "model") if self.run.save_model else None


class CountdownSFTExperiment(_SFTExperiment):
    """Notebook ``03_countdown_sft``: SFT on Stream-of-Search streams, evaluated on held-out problems."""

    TASK = "countdown"

    @classmethod
    def from_params(cls, namespace: Mapping) -> "CountdownSFTExperiment":
        """The experiment of the notebook whose parameters are the names in ``namespace`` (its ``globals()``)."""
        return cls(countdown_run(namespace), namespace["run_dir"])

    @property
    def sft_steps(self) -> int:
        return self.config.steps

    @property
    def keep_best(self) -> bool:
        return self.config.keep_best

    def demonstrations(self) -> dict:
        """Problems (train / val / evaluation, disjoint), one stream per train and val problem, records within
        ``max_length``; the data statistics."""
        from ..policy.data import countdown_splits
        from ..policy.sft import countdown_records, fit_records
        from ..tasks.countdown_streams import make_streams

        c, t0 = self.config, time.perf_counter()
        budget = tuple(c.stream_max_nodes)
        train_insts, held_out = countdown_splits(c.n_demos, c.n_val + self.run.n_eval, seed=c.seed, workers=c.workers,
                                                 num_numbers=tuple(c.num_numbers))
        val_insts, self.eval_insts = held_out[:c.n_val], held_out[c.n_val:]
        train_all, traces = countdown_records(train_insts, seed=c.seed, max_nodes=budget, template=c.template)
        val_all, _ = countdown_records(val_insts, seed=c.seed + 1, max_nodes=budget, template=c.template)
        # the imitated solvers on the evaluation problems: what a perfect imitation of the streams would score
        solver_on_eval = (sum(t.reached_goal for t in make_streams(self.eval_insts, seed=c.seed + 2, max_nodes=budget))
                          / len(self.eval_insts))
        self.train_records, lengths = fit_records(self.tok, train_all, c.max_length)
        self.val_records, _ = fit_records(self.tok, val_all, c.max_length)
        self.data_stats.update(
            streams_reaching_goal=sum(t.reached_goal for t in traces) / len(traces),
            stream_solvers_accuracy_on_eval=solver_on_eval,
            n_train_instances=len(train_insts), n_val_instances=len(val_insts), n_eval_instances=len(self.eval_insts),
            n_demos=len(self.train_records), n_demos_dropped_too_long=len(train_all) - len(self.train_records),
            n_val_records=len(self.val_records), demo_tokens_mean=sum(lengths) / len(lengths),
            demo_tokens_max=max(lengths))
        if not self.train_records or not self.val_records:
            raise ValueError(f"every demonstration is longer than max_length={c.max_length}: {self.data_stats}")
        self.n_train_records = len(self.train_records)
        self.timings["data_s"] = time.perf_counter() - t0
        return self.data_stats

    def _evaluate(self, label: str, lm) -> dict:
        from ..policy.countdown_eval import evaluate_countdown

        return evaluate_countdown(lm, self.tok, self.eval_insts, self.run.sampling, template=self.config.template).summary

    def train(self):
        """SFT of the policy on the streams (``run_sft``), the val streams as held-out loss; the result."""
        from ..policy.sft import run_sft

        self.result = run_sft(self.policy.model, self.tok, self.train_records, self.config.run_config(),
                              eval_records=self.val_records)
        self.policy.model = self.result.trainer.model
        self.timings["train_s"] = self.result.train_runtime
        return self.result

    def figure(self):
        """Learning curve, and the outcomes (correct / partial / failed) before and after SFT (``countdown_figure``)."""
        import pandas as pd

        stages = {"before SFT": self.before, "after SFT": self.after} if self.before else {"after SFT": self.after}
        counts = pd.DataFrame({k: [v["n_correct"], v["n_partial"], v["n_failed"]] for k, v in stages.items()},
                              index=["correct", "partial", "failed"]).T
        return countdown_figure(*self.curves(), counts, len(self.eval_insts), **self.loss_inputs())

    def eval_table(self):
        import pandas as pd

        rows = [{"policy": f"{self.model_name} {stage}", "accuracy": s["accuracy"], "correct": s["n_correct"],
                 "partial": s["n_partial"], "failed": s["n_failed"], "mean output tokens": s["mean_output_tokens"],
                 "budget utilisation": s["budget_utilisation"], "stopped at EOS": s["frac_stopped_at_eos"]}
                for stage, s in (("before SFT", self.before), ("after SFT", self.after)) if s is not None]
        rows.append({"policy": "search-stream solvers (imitated)",
                     "accuracy": self.data_stats["stream_solvers_accuracy_on_eval"]})
        t = self.run.sampling.temperature
        caption = (f"Countdown, {len(self.eval_insts)} held-out problems, budget {self.run.sampling.max_new_tokens} tokens, "
                   f"{'greedy' if t == 0 else f'temperature {t}'}; SFT on {self.n_train_records} streams, "
                   f"{self.config.steps} steps.")
        return pd.DataFrame(rows), caption


class OrdebugSFTExperiment(_SFTExperiment):
    """Notebook ``04_ordebug_sft``: the OR-Debug warm start (``ordebug_warm_start``), evaluated in multi-turn
    episodes on the test split against the baseline ladder."""

    TASK = "ordebug"

    def __init__(self, run: OrdebugSFTRun, run_dir):
        super().__init__(run, run_dir)
        self.ws = None
        self.profiles: dict = {}
        self.rows = self.ladder_table = self.action_table = self.copying = self.failure = None

    @classmethod
    def from_params(cls, namespace: Mapping) -> "OrdebugSFTExperiment":
        """The experiment of the notebook whose parameters are the names in ``namespace`` (its ``globals()``)."""
        return cls(ordebug_run(namespace), namespace["run_dir"])

    @property
    def db(self) -> Path:
        return self.run_dir / "results.sqlite"

    @property
    def sft_steps(self) -> int:
        return self.config.sft.max_steps

    @property
    def total_steps(self) -> int:
        return self.config.sft.max_steps + self.config.dagger_rounds * self.config.dagger_steps

    @property
    def keep_best(self) -> bool:
        return self.config.sft.keep_best

    def demonstrations(self) -> dict:
        """The warm start (``ordebug_warm_start``: benchmark, demonstrations, SFT, DAgger rounds, saved to
        ``run_dir/model`` when ``save_model``) and the test instances; the data statistics."""
        from ..ordebug.dataset import load_benchmark, spread_over_cells
        from ..policy.ordebug_sft import ordebug_warm_start

        t0 = time.perf_counter()
        self.ws = ordebug_warm_start(self.config, self.run_dir, device=self.device,
                                     save_dir=self.run_dir / "model" if self.run.save_model else None)
        self.eval_insts = spread_over_cells(load_benchmark(self.ws.benchmark, "test"), self.run.n_eval)
        if not self.eval_insts:
            raise ValueError(f"the benchmark at {self.ws.benchmark} has no test instance: build more per cell")
        self.data_stats.update(self.ws.data, n_eval_instances=len(self.eval_insts))
        self.n_train_records = (self.ws.data["dagger"][-1]["n_records"] if self.ws.data["dagger"]
                                else self.ws.data["n_records"])
        self.timings["data_s"] = time.perf_counter() - t0  # benchmark, demonstrations and training
        return self.data_stats

    def _evaluate(self, label: str, lm) -> dict:
        """Aggregated results of ``lm`` on the test instances (rows ``<label>:<model>`` in ``results.sqlite``);
        its action profile goes to ``profiles[label]``."""
        from ..ordebug.metrics import aggregate
        from ..policy.ordebug_lm_eval import action_profile, evaluate_lm

        r = self.run
        df, episodes = evaluate_lm(lm, self.tok, self.eval_insts, self.db, f"{label}:{self.model_name}",
                                   seed=self.config.seed, max_turns=self.config.max_turns,
                                   batch_size=r.sampling.batch_size, sampling=r.sampling,
                                   max_prompt_tokens=r.max_prompt_tokens)
        out = aggregate(df).iloc[0].to_dict()
        out["context_trims"] = sum(e.context_trims for e in episodes)
        out["mean_output_tokens_per_action"] = (sum(sum(e.output_tokens) for e in episodes)
                                                / max(1, sum(len(e.output_tokens) for e in episodes)))
        self.profiles[label] = action_profile(episodes)
        return out

    def train(self):
        """What the warm start trained (the policy and its SFT result: every run chained)."""
        self.policy, self.result = self.ws.policy, self.ws.sft
        self.timings["train_s"] = self.result.train_runtime
        return self.result

    def ladder(self):
        """The baselines on the same test instances and step budget (``parallel_baselines``; kind_prior learns on
        the train split), every policy of ``results.sqlite`` aggregated: one row per policy."""
        from ..ordebug.dataset import load_benchmark
        from ..ordebug.metrics import aggregate
        from ..ordebug.results import load_results
        from ..policy.data import parallel_baselines

        c, t0 = self.config, time.perf_counter()  # the rows results.evaluate would write, episodes spread over the workers
        parallel_baselines(list(self.run.baselines), self.eval_insts, self.db, seed=c.seed, max_turns=c.max_turns,
                           workers=c.workers, train=load_benchmark(self.ws.benchmark, "train"))
        self.timings["baselines_s"] = time.perf_counter() - t0
        rows = load_results(self.db, seed=c.seed)
        self.rows = rows[rows["instance_id"].isin([i.id for i in self.eval_insts])]
        self.ladder_table = aggregate(self.rows, by="policy")
        return self.ladder_table

    def failure_analysis(self):
        """Per evaluated stage, what the LM policy did (``reports/sft_ordebug_actions``), and per policy of the
        ladder its moves after a CHECK_SLACK answer (``reports/sft_ordebug_copying``); (summaries, actions, copying)."""
        import pandas as pd

        from ..artifacts import write_table
        from ..policy.ordebug_lm_eval import profile_summary
        from .copying import copy_table

        self.failure = {stage: profile_summary(p) for stage, p in self.profiles.items()}
        self.action_table = pd.concat([p.assign(stage=stage) for stage, p in self.profiles.items()], ignore_index=True)
        write_table(self.action_table, self.run_dir, "sft_ordebug_actions")
        self.copying = copy_table(self.rows)  # the ladder's rows: moves after CHECK_SLACK, its names / numbers copied?
        write_table(self.copying, self.run_dir, "sft_ordebug_copying")
        return self.failure, self.action_table, self.copying

    def action_means(self):
        """Mean steps, SUBMITs, successes, repeats, malformed and rejected actions per stage."""
        return self.action_table.groupby("stage")[["steps", "submitted", "success", "repeat_frac",
                                                   "consecutive_repeat_frac", "malformed", "rejected"]].mean()

    def figure(self):
        """Learning curve, RR@5 and DA of every policy, and the share of each action kind the LM policy took
        (``ordebug_figure``)."""
        return ordebug_figure(*self.curves(), self.ladder_table, action_shares(self.action_table), **self.loss_inputs())

    def eval_table(self):
        c, r = self.config, self.result
        cols = ["n", "RR", "RR@5", "RR@10", "faithful_recovery", "DA", "diagnosis_precision", "avg_steps"]
        table = self.ladder_table[cols].reset_index()
        caption = (f"OR-Debug test split, {len(self.eval_insts)} instances, at most {c.max_turns} steps; SFT on "
                   f"{self.n_train_records} {'per-action records' if c.per_turn else 'expert episodes'}"
                   + (f" (with recovery demonstrations: {', '.join(c.recovery)}"
                      + ("; mistakes that leave the model feasible skipped" if c.recovery_observable_only else "") + ")"
                      if c.recovery else "")
                   + (f"; after {c.pretrain_steps} steps of language modelling on "
                      f"{self.data_stats['pretrain']['n_records']} expert transcripts" if c.pretrain_steps else "")
                   + (f"; {c.dagger_rounds} DAgger round(s) of {c.dagger_steps} steps on the policy's own states "
                      f"(first {c.dagger_max_turns} turns)" if c.dagger_rounds else "")
                   + (f", weights of step {r.best_step} of {self.total_steps} (best held-out loss)."
                      if r.best_step is not None else "."))
        return table, caption

    def metrics(self) -> dict:
        m = super().metrics()
        m["ladder"] = {p: _clean(row) for p, row in self.ladder_table.to_dict(orient="index").items()}
        m["failure_analysis"] = self.failure
        m["copying"] = [_clean(row) for row in self.copying.to_dict(orient="records")]
        return m

    def _saved_model(self):
        return self.ws.model_dir  # saved by the warm start when save_model


# -- the figures, from tables (a run's, or the committed CSVs of one) --------------------------------------------------
def loss_axes(ax, train_curve, eval_curve, *, model: str, task: str, n_records: int, pretrain: Mapping | None = None,
              best_step: int | None = None, dagger: Sequence[Mapping] = ()) -> None:
    """The learning curve: training loss (``step``, ``train_loss``) and held-out loss (``step``,
    ``held_out_loss``), the pretraining curve (``pretrain``: its ``steps`` and ``eval_curve``), the step kept,
    the DAgger rounds (each ``round``, ``starts_at_step``, ``n_transcripts``)."""
    ax.plot(train_curve["step"], train_curve["train_loss"], label="training loss")
    ax.plot(eval_curve["step"], eval_curve["held_out_loss"], "o-", label="held-out loss")
    pre = pretrain
    if pre:  # a different loss (every token of the transcripts), drawn before step 0
        ax.plot([s - pre["steps"] for s, _ in pre["eval_curve"]], [x for _, x in pre["eval_curve"]], "s--",
                color="grey", label=f"pretraining held-out loss, every token ({pre['steps']} steps)")
    if best_step is not None:
        ax.axvline(best_step, color="grey", ls=":", label=f"kept: step {best_step}")
    for r in (dagger or []):  # the held-out set grows at each round: the loss jumps there
        ax.axvline(r["starts_at_step"], color="tab:red", ls="--", lw=0.8,
                   label=f"DAgger round {r['round']} (+{r['n_transcripts']} relabelled states)")
    ax.set(xlabel="optimizer step", ylabel="cross-entropy per trained token (nats)",
           title=f"SFT of {model} on {task} ({n_records} records)")
    ax.legend()


def countdown_figure(train_curve, eval_curve, outcomes, n_eval: int, **loss):
    """Countdown SFT: the learning curve (``loss_axes``, ``loss`` its keywords but ``task``), and the held-out
    outcomes per stage (``outcomes``: one row per stage, columns correct, partial, failed) of ``n_eval`` problems."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    loss_axes(axes[0], train_curve, eval_curve, **loss)
    outcomes.plot.bar(stacked=True, ax=axes[1], color=["tab:green", "tab:orange", "tab:red"], rot=0)
    axes[1].set(ylabel=f"held-out problems (of {n_eval})", title="Countdown outcomes")
    fig.tight_layout()
    return fig


def action_shares(actions):
    """Per stage, each action kind's share of all steps (kinds never taken left out), from the per-episode
    action table (``reports/sft_ordebug_actions``: stage, steps, one count column per kind, malformed)."""
    kinds = [k for k in actions.columns if k.isupper() or k == "malformed"]
    share = actions.groupby("stage")[kinds].sum()
    return share.loc[:, share.sum() > 0].div(actions.groupby("stage")["steps"].sum(), axis=0)


def ordebug_figure(train_curve, eval_curve, ladder, shares, **loss):
    """OR-Debug SFT: the learning curve (``loss_axes``), RR@5 and DA of every policy (``ladder``, indexed by
    policy) and the share of each action kind the LM policy took (``shares``: ``action_shares``)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4))
    loss_axes(axes[0], train_curve, eval_curve, **loss)
    ladder[["RR@5", "DA"]].plot.bar(ax=axes[1], rot=30)
    axes[1].set(ylabel="fraction of test episodes", ylim=(0, 1.05), title="OR-Debug: RR@5 and DA")
    shares.plot.barh(stacked=True, ax=axes[2])
    axes[2].set(xlabel="share of all steps", title="OR-Debug: what the LM policy did")
    axes[2].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig



def recorded_loss_inputs(metrics: Mapping) -> dict:
    """``loss_axes``'s keywords from what a finished run recorded (its ``metrics.json``, as ``write_metrics``
    writes it): the records it trained on (Countdown: its streams, ``n_demos``; OR-Debug: after the last DAgger
    round), the pretraining curve, the step kept (None for runs from before ``keep_best``: they kept none)."""
    data, sft, task = metrics["data"], metrics["sft"], metrics["task"]
    dagger = data.get("dagger") or []
    n = data["n_demos"] if task == "countdown" else dagger[-1]["n_records"] if dagger else data["n_records"]
    return {"model": metrics["model"], "task": task, "n_records": n,
            "pretrain": data.get("pretrain") if task == "ordebug" else None, "best_step": sft.get("best_step"),
            "dagger": dagger}


def recorded_curves(metrics: Mapping):
    """(training loss, held-out loss) as DataFrames from a finished run's ``metrics.json`` (what ``curves`` gave)."""
    import pandas as pd

    return (pd.DataFrame(metrics["sft"]["train_curve"], columns=["step", "train_loss"]),
            pd.DataFrame(metrics["sft"]["eval_curve"], columns=["step", "held_out_loss"]))


def recorded_action_shares(failure: Mapping):
    """``action_shares`` from a finished run's ``failure_analysis`` (``profile_summary`` per stage: the same
    shares, kinds never taken left out), kinds in the grammar's order as in the action table."""
    import pandas as pd

    from ..ordebug.actions import GRAMMAR

    shares = pd.DataFrame({stage: s["action_share"] for stage, s in failure.items()}).T.fillna(0.0)
    shares.index.name = "stage"
    return shares[[k for k in (*GRAMMAR, "malformed") if k in shares.columns]]


# -- what a finished OR-Debug SFT run recorded -------------------------------------------------------------------------
LEGACY_MAX_TURNS = "max_steps"
"""The episode budget's name in the provenance of runs before issue 18 renamed it ``max_turns``: 04_ordebug_sft's
``warm_start_config.max_steps`` and 03_sft's flat ``max_steps``. Read by ``trained_max_turns`` only, never written."""


def trained_max_turns(parameters: Mapping) -> int | None:
    """The episode budget an OR-Debug SFT run trained with (its observations name it), from the parameters its
    provenance records: ``warm_start_config.max_turns`` of ``04_ordebug_sft`` (absent: ``OrdebugSFTConfig``'s
    default), or the flat budget of ``03_sft``, the notebook it replaced; None when neither is recorded. Runs
    before the rename recorded it as ``max_steps`` (``LEGACY_MAX_TURNS``), which is read the same way.

    >>> trained_max_turns({"warm_start_config": {"max_turns": 8}})
    8
    >>> trained_max_turns({"warm_start_config": {"max_steps": 12, "sft": {"max_steps": 600}}})  # before the rename
    12
    """
    config = parameters.get("warm_start_config")
    if isinstance(config, Mapping):
        return config.get("max_turns", config.get(LEGACY_MAX_TURNS, OrdebugSFTConfig.max_turns))
    return parameters.get(LEGACY_MAX_TURNS)  # 03_sft, retired before the rename
