"""Countdown evaluation of a policy: accuracy, correct / partial / failed counts, output tokens.

Every completion is scored with the seed reward ``tasks.countdown.countdown_reward`` and classified by
its value, as in seeds/004: 1.0 correct, 0.1 partial (an ``<answer>`` that is wrong or invalid), 0.0
failed (no complete ``<answer>...</answer>``). Output tokens count the generated ids up to and including
EOS; budget utilisation is mean output tokens / ``max_new_tokens`` (seeds/004 §3.1: "240.8 avg, 93.9%").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..tasks.countdown import CountdownInstance, countdown_reward, make_prompt
from .generation import SamplingConfig, generate_chats

OUTCOMES = {1.0: "correct", 0.1: "partial", 0.0: "failed"}


def countdown_conversation(inst: CountdownInstance, template: str = "search") -> list[dict]:
    """The chat prompt of one instance: a single user message."""
    return [{"role": "user", "content": make_prompt(inst.numbers, inst.target, template)}]


def outcome_of(reward: float) -> str:
    """'correct' / 'partial' / 'failed' from the seed reward (any other value is an error)."""
    if reward not in OUTCOMES:
        raise ValueError(f"countdown_reward returned {reward!r}; expected one of {sorted(OUTCOMES)}")
    return OUTCOMES[reward]


@dataclass
class CountdownEval:
    """Per-instance rows and the summary of one evaluation."""

    rows: list[dict]
    """numbers, target, completion, reward, outcome, n_tokens, stopped, prompt_tokens per instance."""
    summary: dict
    """n, accuracy, n_correct, n_partial, n_failed, mean_reward, mean_output_tokens, max_new_tokens,
    budget_utilisation, frac_stopped_at_eos."""


def summarise(rows: Sequence[dict], max_new_tokens: int) -> dict:
    """Summary of scored rows (see ``CountdownEval.summary``)."""
    n = len(rows)
    if n == 0:
        raise ValueError("no rows to summarise")
    counts = {o: sum(r["outcome"] == o for r in rows) for o in OUTCOMES.values()}
    mean_tokens = sum(r["n_tokens"] for r in rows) / n
    return {
        "n": n, "accuracy": counts["correct"] / n,
        "n_correct": counts["correct"], "n_partial": counts["partial"], "n_failed": counts["failed"],
        "mean_reward": sum(r["reward"] for r in rows) / n,
        "mean_output_tokens": mean_tokens, "max_new_tokens": max_new_tokens,
        "budget_utilisation": mean_tokens / max_new_tokens,
        "frac_stopped_at_eos": sum(r["stopped"] for r in rows) / n,
    }


def evaluate_countdown(model, tokenizer, instances: Sequence[CountdownInstance], sampling: SamplingConfig | None = None,
                       template: str = "search", engine: str = "generate", engine_options: dict | None = None
                       ) -> CountdownEval:
    """Generate one completion per instance (batched; ``engine`` as in ``generation.generate_chats``) and
    score it."""
    sampling = sampling or SamplingConfig()
    instances = list(instances)
    gens = generate_chats(model, tokenizer, [countdown_conversation(i, template) for i in instances], sampling,
                          engine=engine, engine_options=engine_options)
    rows = []
    for inst, g in zip(instances, gens):
        reward = countdown_reward(g.text, list(inst.numbers), inst.target)
        rows.append({"numbers": list(inst.numbers), "target": inst.target, "completion": g.text,
                     "reward": reward, "outcome": outcome_of(reward), "n_tokens": g.n_tokens,
                     "stopped": g.stopped, "prompt_tokens": g.prompt_tokens})
    return CountdownEval(rows, summarise(rows, sampling.max_new_tokens))
