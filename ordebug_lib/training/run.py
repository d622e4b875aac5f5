"""Build and run one GRPO-family training run: Countdown (single-turn) or OR-Debug (multi-turn), one trainer.

::

    cfg = GRPORunConfig(advantage_method="dgro", loss_type="dr_grpo", beta=0.0, max_steps=50)
    policy = load_policy("runs/03_sft/.../final")             # or a preset, or a hub id in the local cache
    trainer = train_countdown(cfg, policy.model, policy.tokenizer, countdown_dataset(256, seed=0), "runs/x")
    # -> runs/x/metrics.jsonl, metrics.csv, run_config.json, final/ (policy + tokenizer)

``build_trainer`` wires: the TRL args from the config (``scale_rewards="none"``), the reward functions
(Countdown reward ± DAPO soft overlong punishment, or the env reward of OR-Debug episodes), the rollout
function (OR-Debug), the per-step JSONL logger. With β > 0 and no LoRA, TRL builds the reference model by
re-loading the policy from ``model.config._name_or_path``; a model that was not loaded from a directory
(a fresh preset) is first saved to ``<run_dir>/reference_policy`` so the reference is its initial weights.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from .config import GRPORunConfig
from .logging import JsonlMetricsCallback
from .trainer import OrdebugGRPOTrainer

COUNTDOWN_REWARDS = ("countdown", "graduated")


def countdown_dataset(n: int, seed: int, template: str = "think"):
    """A ``datasets.Dataset`` of ``n`` Countdown problems (conversational prompt, numbers, target, solution)."""
    from datasets import Dataset

    from ..tasks.countdown import generate_instances, to_records

    return Dataset.from_list(to_records(generate_instances(n, seed=seed), template=template, conversational=True))


def countdown_reward_funcs(cfg: GRPORunConfig) -> list:
    """The task reward named by ``cfg.reward`` and, when ``soft_overlong_cache > 0``, DAPO's soft overlong term."""
    from ..tasks.countdown_trl import REWARD_FUNCS, make_soft_overlong_reward_func

    if cfg.reward not in REWARD_FUNCS:
        raise ValueError(f"Countdown reward must be one of {sorted(REWARD_FUNCS)}, got {cfg.reward!r}")
    funcs = [REWARD_FUNCS[cfg.reward]]
    if cfg.soft_overlong_cache > 0:
        funcs.append(make_soft_overlong_reward_func(cfg.max_completion_length, cfg.soft_overlong_cache))
    return funcs


def _is_peft(model) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)


def _ensure_reference_path(model, tokenizer, run_dir: Path) -> None:
    name = getattr(model.config, "_name_or_path", "") or ""
    if name and (Path(name) / "config.json").exists():
        return
    ref = run_dir / "reference_policy"
    model.save_pretrained(str(ref))
    tokenizer.save_pretrained(str(ref))
    model.config._name_or_path = str(ref)


def build_trainer(cfg: GRPORunConfig, model, tokenizer, train_dataset, run_dir: str | Path, reward_funcs: Sequence,
                  rollout_func=None, callbacks: Sequence = (), **grpo_overrides) -> OrdebugGRPOTrainer:
    """An ``OrdebugGRPOTrainer`` writing to ``run_dir`` (``grpo_overrides`` go to ``GRPOConfig``, e.g.
    ``use_cpu=True``)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if cfg.beta > 0 and not _is_peft(model):
        _ensure_reference_path(model, tokenizer, run_dir)
    args = cfg.to_grpo_config(str(run_dir), **grpo_overrides)
    (run_dir / "run_config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    return OrdebugGRPOTrainer(
        model=model, processing_class=tokenizer, reward_funcs=list(reward_funcs), args=args,
        train_dataset=train_dataset, rollout_func=rollout_func,
        callbacks=[JsonlMetricsCallback(run_dir), *callbacks], run_config=cfg,
    )


def finish(trainer: OrdebugGRPOTrainer, run_dir: str | Path) -> Path | None:
    """Save the final policy and tokenizer to ``<run_dir>/final`` (main process), if the config asks."""
    if not trainer.run_config.save_final:
        return None
    out = Path(run_dir) / "final"
    trainer.save_model(str(out))
    if trainer.accelerator.is_main_process:
        trainer.processing_class.save_pretrained(str(out))
    return out


def build_countdown_trainer(cfg: GRPORunConfig, model, tokenizer, dataset, run_dir, **overrides) -> OrdebugGRPOTrainer:
    """Single-turn Countdown: TRL generates, ``countdown_reward_funcs(cfg)`` score."""
    return build_trainer(cfg, model, tokenizer, dataset, run_dir, countdown_reward_funcs(cfg), **overrides)


def build_ordebug_trainer(cfg: GRPORunConfig, model, tokenizer, instances, run_dir, **overrides) -> OrdebugGRPOTrainer:
    """Multi-turn OR-Debug: every rollout is a ``RepairEnv`` episode of at most ``cfg.max_turns`` actions,
    rewarded by the env component ``cfg.reward`` (``rollouts.py``)."""
    from .rollouts import OrDebugRollout, env_config_for, env_reward_func, fits_context, ordebug_dataset

    if cfg.soft_overlong_cache > 0:
        raise ValueError("soft overlong punishment is defined on one completion's length; it is not used for "
                         "multi-turn OR-Debug episodes (set soft_overlong_cache=0)")
    budget = cfg.max_turns * cfg.max_new_tokens_per_turn
    if cfg.max_completion_length < budget:
        raise ValueError(f"max_completion_length ({cfg.max_completion_length}) must cover an episode's model tokens, "
                         f"max_turns × max_new_tokens_per_turn = {budget} (it is Dr. GRPO's L_max)")
    env_config = env_config_for(cfg.max_turns, cfg.reward)
    # an instance whose first observation leaves no room for one action cannot be an episode: left out,
    # listed in <run_dir>/left_out_instances.json (longer episodes end as timeouts when the context is full)
    instances, left_out = fits_context(tokenizer, instances, env_config, cfg.max_new_tokens_per_turn,
                                       cfg.max_context_tokens)
    if not instances:
        raise ValueError(f"no instance's first observation fits max_context_tokens={cfg.max_context_tokens}")
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    (Path(run_dir) / "left_out_instances.json").write_text(json.dumps(
        {"reason": f"first observation + {cfg.max_new_tokens_per_turn} tokens > {cfg.max_context_tokens}",
         "ids": left_out}, indent=2))
    rollout = OrDebugRollout(instances, env_config, cfg.max_new_tokens_per_turn, cfg.max_context_tokens,
                             cfg.temperature, cfg.top_p, cfg.env_workers)
    trainer = build_trainer(cfg, model, tokenizer, ordebug_dataset(instances, env_config), run_dir,
                            [env_reward_func], rollout_func=rollout, **overrides)
    trainer.ordebug_rollout = rollout
    trainer.ordebug_left_out = left_out
    if cfg.prm_path is not None:  # step credit's process rewards and the reward-hacking detector (trainer.py)
        from ..policy.prm import load_prm

        trainer.prm = load_prm(cfg.prm_path, device=str(trainer.accelerator.device))
    return trainer


def train_countdown(cfg, model, tokenizer, dataset, run_dir, **overrides) -> OrdebugGRPOTrainer:
    """Build, train, save ``final``; returns the trainer."""
    trainer = build_countdown_trainer(cfg, model, tokenizer, dataset, run_dir, **overrides)
    trainer.train()
    finish(trainer, run_dir)
    return trainer


def train_ordebug(cfg, model, tokenizer, instances, run_dir, **overrides) -> OrdebugGRPOTrainer:
    """Build, train, save ``final``; returns the trainer."""
    trainer = build_ordebug_trainer(cfg, model, tokenizer, instances, run_dir, **overrides)
    trainer.train()
    finish(trainer, run_dir)
    return trainer
