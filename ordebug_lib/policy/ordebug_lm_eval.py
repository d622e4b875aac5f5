"""OR-Debug episodes of an LM: batched multi-turn evaluation, and what the episodes did.

**Evaluation** (``run_lm_episodes`` / ``evaluate_lm``): the episodes of a batch step together, with one
``generate`` call per turn over the episodes still running; the generated text is sent to the env
verbatim (``parse_action`` takes the last ``<action>`` block); rows go to the SQLite results store of
``ordebug/results.py``, one per (policy, instance, seed), resumable as ``results.evaluate``.
If a conversation outgrows ``max_prompt_tokens``, by ``context_policy``: 'trim' leaves the oldest (action,
observation) pairs after the first observation out of the prompt (the model listing is kept; ``context_trims``
counts it); 'end' ends the episode as a timeout, as RL training does (``training.rollouts``: an episode is one
token sequence, so nothing can be left out of it). RL experiments evaluate with 'end' so that the evaluated
task is the trained one (``experiments.ordebug_rl.one_task``).

The episodes are conversations of the SFT demos' format and env settings (``ordebug_experts``);
``action_profile`` and ``profile_summary`` count what they did (failure analysis).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from ..ordebug.env import EnvConfig, EpisodeOutcome, RepairEnv
from ..ordebug.instance import Instance
from .engine import ENGINES
from .generation import SamplingConfig, generate_chats, render_prompts
from .ordebug_experts import episode_env_config

CONTEXT_POLICIES = ("trim", "end")


# -- LM episodes --------------------------------------------------------------------------------------
@dataclass
class LMEpisode:
    """One LM episode: its conversation (generated text verbatim) and outcome."""

    instance_id: str
    messages: list[dict]
    outcome: EpisodeOutcome
    output_tokens: list[int] = field(default_factory=list)
    """Generated tokens per turn (EOS included)."""
    context_trims: int = 0
    """Turns whose prompt left out old (action, observation) pairs to fit ``max_prompt_tokens``."""


def fit_context(tokenizer, messages: list[dict], max_prompt_tokens: int) -> tuple[list[dict], bool]:
    """``messages`` or, if its prompt is longer than ``max_prompt_tokens``, the first observation plus
    the most recent turns that fit; and whether anything was left out."""
    fitted, _, trimmed = fit_context_ids(tokenizer, messages, max_prompt_tokens)
    return fitted, trimmed


def fit_context_ids(tokenizer, messages: list[dict], max_prompt_tokens: int) -> tuple[list[dict], list[int], bool]:
    """``fit_context`` with the token ids of the fitted prompt (``render_prompts``) it measured, for a caller
    that needs them: rendering a prompt is most of the cost of building PRM examples."""
    ids = render_prompts(tokenizer, [messages])[0]
    if len(ids) <= max_prompt_tokens:
        return messages, ids, False
    head, tail = messages[:1], messages[1:]  # tail: (assistant, user) pairs
    while len(tail) > 2:
        tail = tail[2:]  # drop the oldest pair
        ids = render_prompts(tokenizer, [head + tail])[0]
        if len(ids) <= max_prompt_tokens:
            return head + tail, ids, True
    raise ValueError(f"the first observation and the last turn alone exceed max_prompt_tokens={max_prompt_tokens}; "
                     "raise it (the presets have a 4096-token context)")


def turn_prompts(tokenizer, convs: list[list[dict]], envs: list[RepairEnv], live: list[int], trims: list[int],
                 max_prompt_tokens: int, context_policy: str) -> tuple[list[int], list[list[dict]]]:
    """(the episodes that go on, their prompts) for one turn: under 'end' a conversation whose prompt no longer
    fits ends as a timeout (as in RL); the prompts are ``fit_context``'s ('trim' counts into ``trims``)."""
    if context_policy == "end":
        for i in live:
            if len(render_prompts(tokenizer, [convs[i]])[0]) > max_prompt_tokens:
                envs[i].truncate(f"context full (prompt over {max_prompt_tokens} tokens)")
        live = [i for i in live if not envs[i].done]
        return live, [convs[i] for i in live]  # each fits whole: fit_context would only render it again
    prompts = []
    for i in live:
        msgs, trimmed = fit_context(tokenizer, convs[i], max_prompt_tokens)
        trims[i] += trimmed
        prompts.append(msgs)
    return live, prompts


def run_lm_episodes(model, tokenizer, instances: Sequence[Instance], env_config: EnvConfig | None = None,
                    sampling: SamplingConfig | None = None, max_prompt_tokens: int = 3072,
                    on_generate: Callable[[int], None] | None = None,
                    max_turns: int | None = None, context_policy: str = "trim",
                    engine: str = "generate") -> list[LMEpisode]:
    """Run every instance as one lockstep batch: each turn, one ``generate_chats`` call over the live episodes
    with ``engine`` ('generate' or 'static'; ``on_generate(n_live)`` is called once per such call, for tests and
    progress). ``max_turns`` stops the batch early (on-policy data needs only the first turns): episodes still
    running then end as timeouts (``RepairEnv.truncate``), their observations those of the full budget
    ``env_config.max_turns``."""
    if context_policy not in CONTEXT_POLICIES:
        raise ValueError(f"context_policy must be one of {CONTEXT_POLICIES}, got {context_policy!r}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {tuple(ENGINES)}, got {engine!r}")
    sampling = sampling or SamplingConfig()
    env_config = env_config or episode_env_config()
    envs = [RepairEnv(inst, env_config) for inst in instances]
    convs = [[{"role": "user", "content": env.reset()[0]}] for env in envs]
    tokens: list[list[int]] = [[] for _ in envs]
    trims = [0] * len(envs)
    live = list(range(len(envs)))
    turn = 0
    while live:
        live, prompts = turn_prompts(tokenizer, convs, envs, live, trims, max_prompt_tokens, context_policy)
        if not live:
            break
        turn_sampling = dataclasses.replace(sampling, batch_size=len(live), seed=sampling.seed + turn)
        if on_generate is not None:
            on_generate(len(live))
        gens = generate_chats(model, tokenizer, prompts, turn_sampling, engine=engine)
        for i, g in zip(live, gens):
            convs[i].append({"role": "assistant", "content": g.text})
            tokens[i].append(g.n_tokens)
            obs, _, terminated, truncated, _ = envs[i].step(g.text)
            if not (terminated or truncated):
                convs[i].append({"role": "user", "content": obs})
        live = [i for i in live if not envs[i].done]
        turn += 1
        if max_turns is not None and turn >= max_turns:
            for i in live:
                envs[i].truncate(f"rollout stopped after {max_turns} turns")
            live = []
    return [LMEpisode(inst.id, c, env.outcome(), t, n)
            for inst, c, env, t, n in zip(instances, convs, envs, tokens, trims)]


def evaluate_lm(model, tokenizer, instances: Sequence[Instance], db_path: str | Path, policy_name: str,
                seed: int = 0, max_turns: int = 20, batch_size: int = 16, sampling: SamplingConfig | None = None,
                max_prompt_tokens: int = 3072, env_config: EnvConfig | None = None, context_policy: str = "trim",
                engine: str = "generate"):
    """Evaluate an LM policy on ``instances`` in lockstep batches of ``batch_size`` episodes (``run_lm_episodes``
    with ``engine``) and store one row per episode in the results database (skipping instances already stored
    for this policy and seed, as ``results.evaluate`` does). Returns (rows of these instances as a DataFrame,
    LMEpisodes run now)."""
    from ..ordebug import results

    instances = list(instances)
    ids = [i.id for i in instances]
    if len(set(ids)) != len(ids):
        raise ValueError("instances contain duplicate ids")
    config = dataclasses.replace(env_config or episode_env_config(), max_turns=max_turns)
    sampling = dataclasses.replace(sampling or SamplingConfig(), seed=seed)
    conn = results.connect(db_path)
    episodes: list[LMEpisode] = []
    try:
        stored = results.done_ids(conn, policy_name, seed)
        clash = sorted(i for i in ids if i in stored and stored[i] != max_turns)
        if clash:
            raise ValueError(f"{len(clash)} stored rows of {policy_name!r} seed {seed} used another max_turns "
                             f"(e.g. {clash[0]}: {stored[clash[0]]}); use another policy_name or database")
        todo = [inst for inst in instances if inst.id not in stored]
        for start in range(0, len(todo), batch_size):
            chunk = todo[start:start + batch_size]
            eps = run_lm_episodes(model, tokenizer, chunk, config, sampling, max_prompt_tokens,
                                  context_policy=context_policy, engine=engine)
            results.insert_rows(conn, [results.episode_row(inst, ep.outcome, policy_name, seed) for inst, ep in zip(chunk, eps)])
            episodes += eps
    finally:
        conn.close()
    df = results.load_results(db_path, policy=policy_name, seed=seed)
    return df[df["instance_id"].isin(ids)].reset_index(drop=True), episodes


# -- failure analysis ----------------------------------------------------------------------------------
def action_profile(episodes: Sequence[LMEpisode]):
    """One row per episode: how it ended and what it did. Columns: instance_id, steps, submitted,
    timed_out, success, one count per verb taken (``GET_IIS``, ``SET_RHS``, ..., ``SUBMIT``),
    ``malformed`` (did not parse), ``rejected`` (parsed, refused by the env, e.g. an unknown name),
    ``repeat_frac`` (steps whose action had been sent before in the episode), ``consecutive_repeat_frac``
    (steps that repeat the step just before) and ``context_trims``. Actions compare in canonical form
    when they parse, else as stripped text."""
    import pandas as pd

    from ..ordebug.actions import GRAMMAR

    rows = []
    for ep in episodes:
        o = ep.outcome
        row = {"instance_id": ep.instance_id, "steps": o.steps, "submitted": o.submitted, "timed_out": o.truncated,
               "success": bool(o.submitted and o.faithful and set(o.diagnosis or []) == set(o.root_cause or [None])),
               **{v: 0 for v in GRAMMAR}, "malformed": 0, "rejected": 0}
        seen, prev, repeats, consecutive = set(), None, 0, 0
        for s in o.trajectory:
            if s.verb is None:
                row["malformed"] += 1
            else:
                row[s.verb] += 1
                row["rejected"] += s.error is not None
            key = s.action if s.action is not None else s.action_text.strip()
            repeats += key in seen
            consecutive += key == prev
            seen.add(key)
            prev = key
        n = max(1, len(o.trajectory))
        row.update(repeat_frac=repeats / n, consecutive_repeat_frac=consecutive / n, context_trims=ep.context_trims)
        rows.append(row)
    return pd.DataFrame(rows)


def profile_summary(profile) -> dict:
    """Totals of an ``action_profile``: episodes, never submitted, successes, mean steps, the share of
    each action kind among all steps, mean repeat fractions."""
    from ..ordebug.actions import GRAMMAR

    kinds = [*GRAMMAR, "malformed"]
    total = max(1, int(profile["steps"].sum()))
    return {
        "episodes": len(profile), "never_submitted": int((~profile["submitted"]).sum()),
        "successes": int(profile["success"].sum()), "mean_steps": float(profile["steps"].mean()),
        "action_share": {k: float(profile[k].sum() / total) for k in kinds if profile[k].sum()},
        "rejected_share": float(profile["rejected"].sum() / total),
        "repeat_frac_mean": float(profile["repeat_frac"].mean()),
        "consecutive_repeat_frac_mean": float(profile["consecutive_repeat_frac"].mean()),
    }
