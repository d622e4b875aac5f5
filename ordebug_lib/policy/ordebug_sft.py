"""The OR-Debug warm start as one call: benchmark, demonstrations, SFT with the best held-out step, save.

Notebook ``04_ordebug_sft`` and the OR-Debug RL notebooks (when no warm start is given) call::

    ws = ordebug_warm_start(OrdebugSFTConfig(model="small", sft=SFTRunConfig(max_steps=400, bf16=True)),
                            run_dir, device="cuda", save_dir=run_dir / "model")
    ws.policy.model, ws.policy.tokenizer     # the trained policy (best held-out step)
    ws.sft.best_step, ws.data["n_records"]   # what happened

Steps:

1. the benchmark: ``benchmark_dir``, or one built into ``run_dir/benchmark`` (``dataset.build_benchmark``);
2. demonstrations on its train split (and, for the held-out loss, its val split; both from
   ``train_benchmark_dir`` when given, a larger build checked apart from the test split), in worker processes:
   successful expert episodes (``experts``) and recovery demonstrations (``recovery``; see
   ``ordebug_recovery.recovery_transcripts``), all with the env settings of evaluation
   (``episode_env_config(max_turns)``: the observation text names the episode budget);
3. records: one prompt/completion record per trained assistant turn (``per_turn``; ``sft.turn_records``),
   so the loss covers one action per record and never an injected mistake; or, with ``per_turn=False``,
   one multi-turn ``messages`` record per episode (assistant-only loss; no recovery demos then).
   Exact duplicate records are dropped, records longer than ``sft.max_length`` tokens are dropped
   (``fit_records``); both are counted;
4. optionally ``pretrain_steps`` of language modelling on the whole expert transcripts (every token;
   ``pretrain``), so a model built from scratch learns to read what it must copy; then
   SFT (``sft.run_sft``) on the train records with the val records as held-out loss, ``keep_best`` on
   by default: the policy returned holds the weights of the best held-out step;
5. optionally, ``dagger_rounds`` rounds of on-policy relabelling (DAgger; ``ordebug_dagger``): the
   policy runs greedily on the same train and val instances for ``dagger_max_turns`` turns, every state
   it visited is labelled with the expert's continuation, and ``dagger_steps`` more SFT steps train on
   all records so far (the val records grow the same way, so the held-out loss, and the step kept,
   cover the policy's own states too);
6. optionally ``policy.save(save_dir)`` (model and tokenizer, loadable by ``load_policy(save_dir)``).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..ordebug.error_types import ALL_TYPES, error_type_letters
from ..selection import check_instances_for_choice
from .ordebug_recovery import RECOVERY_KINDS, without_recoveries
from .sft import SFTResult, SFTRunConfig


def _default_sft() -> SFTRunConfig:
    return SFTRunConfig(max_steps=200, learning_rate=1e-3, warmup_steps=20, batch_size=8, max_length=4096,
                        logging_steps=10, eval_steps=25, keep_best=True)


@dataclass
class OrdebugSFTConfig:
    """Everything an OR-Debug warm start depends on (the device and the output paths are arguments)."""

    model: str = "tiny"
    """Preset (tiny / small / base), a local directory or a cached hub id (``loader.load_policy``)."""
    lora: dict | None = None
    """LoRA settings (e.g. ``{"r": 16, "lora_alpha": 32}``) to train adapters only; None: all weights."""
    dtype: str | None = None
    """Weights dtype: None (float32) or "bfloat16"."""
    seed: int = 0
    """Seed of the model initialisation, the benchmark build, the recovery draws and SFT."""
    benchmark_dir: str | None = None
    """A built benchmark (``02_ordebug_benchmark``); None builds one into ``run_dir/benchmark``."""
    train_benchmark_dir: str | None = None
    """Take the train and val instances from this benchmark instead (a larger build with the same seed and
    fractions: more demonstrations, while evaluation stays on ``benchmark_dir``'s test split). Refused if it
    shares a base model or a model with that test split (``dataset.check_splits_apart``)."""
    bench_n_per_cell: int = 4
    """When building: instances per (error type, difficulty) cell (70/15/15 train/val/test)."""
    bench_error_types: str = ALL_TYPES
    """When building: error types, letters of ``saboteur.ERROR_TYPES`` or ``"all"`` (``ALL_TYPES``: every
    registered type, in registry order; replaced by those letters on construction, so a config that says
    "all" equals one that lists them, and reuses its benchmark). Unknown letters raise ValueError."""
    bench_difficulties: tuple[str, ...] = ("easy",)
    """When building: difficulties."""
    n_train: int | None = None
    """Train-split instances that give demonstrations, spread over the cells (``dataset.spread_over_cells``;
    None: all of them)."""
    n_val: int | None = 16
    """Val-split instances that give the held-out loss records, spread over the cells (None: all of them)."""
    experts: tuple[str, ...] = ("oracle_iis", "search")
    """Demonstrators (``ordebug_experts.EXPERTS``); only their successful episodes are kept."""
    per_turn: bool = True
    """One prompt/completion record per trained action (False: one multi-turn record per episode)."""
    recovery: tuple[str, ...] = RECOVERY_KINDS
    """Recovery demonstration kinds (``ordebug_recovery.RECOVERY_KINDS``); () for none. Needs ``per_turn``."""
    recovery_n_wrong: int = 2
    """``wrong_repair`` and ``near_miss`` demonstrations per instance (distinct wrong repairs)."""
    recovery_observable_only: bool = True
    """Skip recovery demos whose mistake leaves the model feasible: a RESET there is not learnable (the
    original optimum is never shown) and taught RESET after success-looking states, where the expert
    demos SUBMIT: the RESET -> same repair loops of the first GPU runs."""
    max_turns: int = 20
    """Episode budget (actions per episode); must be the evaluation's (the observations name it)."""
    workers: int = 1
    """Processes for demonstrations and for TRL's tokenisation."""
    sft: SFTRunConfig = field(default_factory=_default_sft)
    """Optimisation settings (``keep_best`` with ``eval_steps``: end at the best held-out step)."""
    pretrain_steps: int = 0
    """Steps of language modelling on the whole expert transcripts (every token, observations included;
    ``sft.text_records``) before SFT, with ``sft``'s other settings and a fresh schedule; val transcripts
    give its held-out loss. A model built from scratch sees ~10 trained tokens per SFT record (its action)
    but must copy names and amounts out of a ~1300-token prompt; this phase trains the reading on all of
    them. Recovery demos are left out (their injected mistakes would be trained on). 0: none."""
    pretrain_learning_rate: float | None = None
    """Peak learning rate of that phase (None: ``sft.learning_rate``). After it, SFT wants a lower one: on
    the H200, SFT at 1e-3 after 500 such steps raised the held-out action loss from 0.42 to 0.84 in its first
    100 steps (0.51 after 300)."""
    dagger_rounds: int = 0
    """Rounds of on-policy relabelling after SFT (DAgger, Ross, Gordon & Bagnell 2011, arXiv:1011.0686;
    ``ordebug_dagger``). 0: plain SFT."""
    dagger_expert: str = "oracle"
    """Who labels the policy's states: "oracle" (the true repair; ``ordebug_dagger.expert_continuation``) or
    "slack" (``baselines.SlackRelaxPolicy`` played from the state, kept when it recovers): use "slack" with
    ``experts=("slack",)``, so the demos and the labels come from one observable expert."""
    dagger_steps: int = 200
    """SFT steps of each DAgger round, on all records so far (same settings as ``sft`` otherwise)."""
    dagger_max_turns: int = 8
    """States labelled per rollout: those before its first this many turns (the rollout stops there)."""
    dagger_batch_size: int = 64
    """Rollout episodes stepping together (one ``generate`` call per turn)."""
    dagger_max_new_tokens: int = 48
    """Token budget of one generated action in the rollouts (the evaluation's)."""
    dagger_max_prompt_tokens: int = 3072
    """Longer rollout conversations leave out their oldest turns (the evaluation's setting)."""

    def __post_init__(self):
        letters = error_type_letters(self.bench_error_types)  # validates: unknown letters name the registry
        if self.bench_error_types == ALL_TYPES:
            self.bench_error_types = letters


@dataclass
class OrdebugWarmStart:
    """What ``ordebug_warm_start`` produced."""

    policy: object
    """``loader.LoadedPolicy``: the trained model (best held-out step with ``keep_best``) and tokenizer."""
    sft: SFTResult
    """Learning curves, best step, the trainer: with DAgger rounds, all runs chained (``chain_results``)."""
    data: dict
    """Demonstration statistics (episodes per expert, recovery counts, records, tokens, timings)."""
    benchmark: Path
    """The benchmark whose train / val splits were used (its test split is untouched)."""
    model_dir: Path | None = None
    """Where the policy was saved (``save_dir``), if it was."""
    rounds: list[SFTResult] = field(default_factory=list)
    """Every SFT run in order (the first SFT, then one per DAgger round)."""


def check_config(config: OrdebugSFTConfig) -> None:
    """Reject settings that cannot work, before any data is made."""
    from .ordebug_experts import EXPERTS

    bad = set(config.experts) - set(EXPERTS)
    if bad or not config.experts:
        raise ValueError(f"experts must be a non-empty subset of {EXPERTS}, got {config.experts}")
    bad = set(config.recovery) - set(RECOVERY_KINDS)
    if bad:
        raise ValueError(f"unknown recovery kinds {sorted(bad)}; kinds: {RECOVERY_KINDS}")
    if config.recovery and not config.per_turn:
        raise ValueError("recovery demonstrations need per_turn=True: a multi-turn record would train on the "
                         "injected mistakes")
    from .ordebug_dagger import DAGGER_EXPERTS

    if config.dagger_expert not in DAGGER_EXPERTS:
        raise ValueError(f"dagger_expert must be one of {DAGGER_EXPERTS}, got {config.dagger_expert!r}")
    if config.pretrain_steps < 0:
        raise ValueError(f"pretrain_steps must be >= 0, got {config.pretrain_steps}")
    if config.dagger_rounds < 0 or config.dagger_steps < 1 or config.dagger_max_turns < 1:
        raise ValueError("dagger_rounds must be >= 0, dagger_steps and dagger_max_turns >= 1")
    if config.dagger_rounds and not config.per_turn:
        raise ValueError("DAgger needs per_turn=True: its records must not train on the policy's own actions")


def run_sft_config(config: OrdebugSFTConfig) -> SFTRunConfig:
    """The settings SFT runs with: ``config.sft``, tokenising in ``workers`` processes when it names none."""
    if config.workers > 1 and config.sft.dataset_num_proc is None:
        return replace(config.sft, dataset_num_proc=config.workers)
    return config.sft


def benchmark_path(config: OrdebugSFTConfig, run_dir: str | Path) -> Path:
    """``config.benchmark_dir``, or a benchmark built into ``run_dir/benchmark`` (reused if one is there
    already with the same settings)."""
    from ..ordebug.dataset import build_benchmark

    if config.benchmark_dir:
        return Path(config.benchmark_dir)
    out = Path(run_dir) / "benchmark"
    if (out / "manifest.json").exists():
        m = json.loads((out / "manifest.json").read_text())
        same = (m["n_per_cell"] == config.bench_n_per_cell and m["error_types"] == "".join(config.bench_error_types)
                and list(m["difficulties"]) == list(config.bench_difficulties) and m["seed"] == config.seed)
        if not same:
            raise FileExistsError(f"{out} holds a benchmark built with other settings; use another run_dir")
        return out
    return build_benchmark(out, config.bench_n_per_cell, error_types=config.bench_error_types,
                           difficulties=list(config.bench_difficulties), seed=config.seed, progress=False)


def demonstrations(config: OrdebugSFTConfig, instances, workers: int | None = None) -> tuple[list, dict]:
    """(successful transcripts: experts then recovery demos, counts) on ``instances``."""
    from .data import parallel_recoveries, parallel_transcripts
    from .ordebug_experts import episode_env_config

    env_config = episode_env_config(config.max_turns)
    workers = config.workers if workers is None else workers
    transcripts, expert_counts = parallel_transcripts(instances, config.experts, env_config, workers)
    counts = {"experts": expert_counts}
    if config.recovery:
        rec, rec_counts = parallel_recoveries(instances, config.recovery, config.recovery_n_wrong, env_config,
                                              workers, config.seed, config.recovery_observable_only)
        transcripts += rec
        counts["recovery"] = rec_counts
    return transcripts, counts


def records_of(transcripts, per_turn: bool) -> tuple[list[dict], list[str]]:
    """SFT records of the transcripts and the source of each ("oracle_iis", "recovery:wrong_repair", ...),
    exact duplicates dropped (the first kept)."""
    from .sft import messages_records, turn_records

    records, sources, seen = [], [], set()
    for t in transcripts:
        if per_turn:
            recs = turn_records(t.messages, t.trained_turns)
        elif t.trained_turns is not None:
            raise ValueError(f"{t.policy} transcript of {t.instance_id} trains on some turns only: use per_turn")
        else:
            recs = messages_records([t.messages])
        for r in recs:
            key = json.dumps(r, sort_keys=True)
            if key not in seen:
                seen.add(key)
                records.append(r)
                sources.append(t.policy)
    return records, sources


def fitted_records(tokenizer, train_t, val_t, config: OrdebugSFTConfig):
    """SFT records of the train and val transcripts (``records_of``) within ``sft.max_length`` tokens
    (``sft.fit_records``): (train records, token length of every train record before the cut, the source
    of each kept train record, val records, number of train records before the cut)."""
    from .sft import fit_records

    train_all, sources = records_of(train_t, config.per_turn)
    train, lengths = fit_records(tokenizer, train_all, config.sft.max_length)
    val, _ = fit_records(tokenizer, records_of(val_t, config.per_turn)[0], config.sft.max_length)
    kept_sources = [s for s, n in zip(sources, lengths) if n <= config.sft.max_length]
    return train, lengths, kept_sources, val, len(train_all)


def ordebug_warm_start(config: OrdebugSFTConfig, run_dir: str | Path, device: str = "auto",
                       save_dir: str | Path | None = None) -> OrdebugWarmStart:
    """Build or load the benchmark, make demonstrations, train the policy, save it (see the module
    docstring). ``run_dir`` holds the built benchmark (when ``benchmark_dir`` is None)."""
    from collections import Counter

    from ..ordebug.dataset import check_splits_apart, load_benchmark, spread_over_cells
    from .loader import load_policy, resolve_device
    from .sft import run_sft

    check_config(config)
    run_dir = Path(run_dir)
    device = resolve_device(device)
    t0 = time.perf_counter()
    bench = benchmark_path(config, run_dir)
    t_bench = time.perf_counter() - t0
    demo_bench, apart = bench, None
    if config.train_benchmark_dir:
        demo_bench = Path(config.train_benchmark_dir)
        apart = check_splits_apart(demo_bench, bench)
    train_insts = spread_over_cells(load_benchmark(demo_bench, "train"), config.n_train)
    val_insts = spread_over_cells(load_benchmark(demo_bench, "val"), config.n_val)
    if not (train_insts and val_insts):
        raise ValueError(f"the benchmark at {demo_bench} needs train and val instances; has {len(train_insts)}, "
                         f"{len(val_insts)}: build more per cell")
    check_instances_for_choice(val_insts, "the keep_best checkpoint (its held-out loss)")
    policy = load_policy(config.model, lora=config.lora, device=device, dtype=config.dtype, seed=config.seed)
    tok = policy.tokenizer

    t1 = time.perf_counter()
    train_t, train_counts = demonstrations(config, train_insts)
    val_t, val_counts = demonstrations(config, val_insts)
    t_demos = time.perf_counter() - t1
    train_records, lengths, kept_src, val_all, n_all = fitted_records(tok, train_t, val_t, config)
    if not train_records or not val_all:
        raise ValueError(f"no record to learn from within max_length={config.sft.max_length}: train "
                         f"{len(train_records)} of {n_all}, val {len(val_all)}")
    experts = without_recoveries(train_t)
    data = {
        "benchmark": str(bench), "train_benchmark": str(demo_bench), "splits_apart": apart,
        "n_train_instances": len(train_insts), "n_val_instances": len(val_insts),
        "expert_episodes": train_counts["experts"], "recovery": train_counts.get("recovery"),
        "val_expert_episodes": val_counts["experts"], "val_recovery": val_counts.get("recovery"),
        "n_transcripts": len(train_t), "n_expert_transcripts": len(experts),
        "expert_turns_mean": sum(len(t.messages) // 2 for t in experts) / max(1, len(experts)),
        "per_turn": config.per_turn, "n_records": len(train_records),
        "n_records_dropped_too_long": n_all - len(train_records),
        "n_records_by_source": dict(Counter(kept_src)), "n_val_records": len(val_all),
        "record_tokens_mean": sum(lengths) / len(lengths), "record_tokens_max": max(lengths),
        "benchmark_s": t_bench, "demos_s": t_demos, "records_s": time.perf_counter() - t1 - t_demos,
    }
    sft_config = run_sft_config(config)
    data["pretrain"] = pretrain(config, policy, train_t, val_t, sft_config) if config.pretrain_steps else None
    result = run_sft(policy.model, tok, train_records, sft_config, eval_records=val_all)
    policy.model = result.trainer.model
    data["train_s"] = result.train_runtime
    rounds, data["dagger"] = [result], []
    for r in range(config.dagger_rounds):
        t_round = time.perf_counter()
        new_train, stats = dagger_round(config, policy.model, tok, train_insts)
        new_val, val_stats = dagger_round(config, policy.model, tok, val_insts)
        train_t, val_t = train_t + new_train, val_t + new_val
        train_records, _, kept_src, val_all, _ = fitted_records(tok, train_t, val_t, config)
        result = run_sft(policy.model, tok, train_records,
                         replace(sft_config, max_steps=config.dagger_steps, seed=config.sft.seed + r + 1),
                         eval_records=val_all)
        policy.model = result.trainer.model
        rounds.append(result)
        data["dagger"].append({
            "round": r + 1, "starts_at_step": sum(x.trainer.state.global_step for x in rounds[:-1]), **stats,
            "val": val_stats, "n_records": len(train_records), "n_records_by_source": dict(Counter(kept_src)), "n_val_records": len(val_all),
            "train_s": result.train_runtime, "best_step": result.best_step,
            "round_s": time.perf_counter() - t_round})
    model_dir = policy.save(save_dir) if save_dir is not None else None
    return OrdebugWarmStart(policy, chain_results(rounds), data, bench, model_dir, rounds)


def pretrain(config: OrdebugSFTConfig, policy, train_t, val_t, sft_config: SFTRunConfig) -> dict:
    """The language-modelling phase (``pretrain_steps``) on the expert transcripts, in place on
    ``policy.model``: its statistics and curves (losses over every token: not comparable with SFT's)."""
    from .sft import fit_records, run_sft, text_records

    def texts(transcripts):
        return text_records(policy.tokenizer, [t.messages for t in without_recoveries(transcripts)])

    train, lengths = fit_records(policy.tokenizer, texts(train_t), sft_config.max_length)
    val, _ = fit_records(policy.tokenizer, texts(val_t), sft_config.max_length)
    if not train or not val:
        raise ValueError(f"no expert transcript within max_length={sft_config.max_length} to pretrain on: "
                         f"train {len(train)}, val {len(val)}")
    lr = sft_config.learning_rate if config.pretrain_learning_rate is None else config.pretrain_learning_rate
    result = run_sft(policy.model, policy.tokenizer, train,
                     replace(sft_config, max_steps=config.pretrain_steps, learning_rate=lr), eval_records=val)
    policy.model = result.trainer.model
    return {"steps": config.pretrain_steps, "learning_rate": lr, "n_records": len(train), "n_dropped_too_long": len(lengths) - len(train),
            "n_val_records": len(val), "tokens_mean": sum(lengths) / len(lengths), "train_s": result.train_runtime,
            "best_step": result.best_step, "train_curve": result.train_curve, "eval_curve": result.eval_curve}


def chain_results(rounds: list[SFTResult]) -> SFTResult:
    """One ``SFTResult`` of runs made one after another: curves on a common step axis (each run's steps
    offset by the steps before it; a run's step-0 held-out loss sits at the previous run's last step, on
    its own, possibly larger, held-out set), runtimes summed, the last run's trainer and kept step."""
    if len(rounds) == 1:
        return rounds[0]
    train, evals, offset = [], [], 0
    for r in rounds:
        train += [(s + offset, x) for s, x in r.train_curve]
        evals += [(s + offset, x) for s, x in r.eval_curve]
        last = offset
        offset += r.trainer.state.global_step
    final = rounds[-1]
    return SFTResult(final.trainer, train, evals, sum(r.train_runtime for r in rounds),
                     None if final.best_step is None else final.best_step + last, final.best_eval_loss)


def dagger_round(config: OrdebugSFTConfig, model, tokenizer, instances) -> tuple[list, dict]:
    """Greedy rollouts of the policy on ``instances`` (``dagger_max_turns`` turns) and their expert-labelled
    states (``ordebug_dagger.dagger_transcripts``): (transcripts, statistics of the rollouts and labels)."""
    from ..ordebug.metrics import episode_metrics
    from .generation import SamplingConfig
    from .ordebug_dagger import dagger_transcripts
    from .ordebug_experts import episode_env_config
    from .ordebug_lm_eval import run_lm_episodes

    env_config = episode_env_config(config.max_turns)
    sampling = SamplingConfig(max_new_tokens=config.dagger_max_new_tokens, temperature=0.0,
                              batch_size=config.dagger_batch_size, seed=config.seed)
    t0 = time.perf_counter()
    episodes = []
    for start in range(0, len(instances), config.dagger_batch_size):
        episodes += run_lm_episodes(model, tokenizer, instances[start:start + config.dagger_batch_size], env_config,
                                    sampling, config.dagger_max_prompt_tokens, max_turns=config.dagger_max_turns)
    t_roll = time.perf_counter() - t0
    transcripts, labels = dagger_transcripts(instances, episodes, env_config, config.dagger_max_turns, config.workers,
                                             config.dagger_expert)
    rr5 = [episode_metrics(e.outcome)["rr_at_5"] for e in episodes]
    return transcripts, {
        "rollouts": len(episodes), "rollout_rr_at_5": sum(rr5) / max(1, len(rr5)),
        "rollout_submitted": sum(e.outcome.submitted for e in episodes),
        "labels": labels, "n_transcripts": len(transcripts), "rollout_s": t_roll,
        "relabel_s": time.perf_counter() - t0 - t_roll}
