"""Multi-turn OR-Debug rollouts for GRPO: one rollout is one real ``RepairEnv`` episode (brief §3.8).

Layout of one rollout as TRL sees it (``prompt_ids`` + ``completion_ids``, ChatML of the project tokenizer)::

    prompt:      <|im_start|>user\\n OBS_0 <|im_end|><|im_start|>assistant\\n
    completion:  ACTION_1 <|im_end|>                                      env_mask 1 (the policy wrote it)
                 <|im_start|>user\\n OBS_1 <|im_end|><|im_start|>assistant\\n   env_mask 0 (the env wrote it)
                 ACTION_2 <|im_end|>                                      env_mask 1
                 ...                                                      up to K = max_turns actions

The policy generates each action from the exact token context so far (prompt + completion), so the
tokens trained on are the tokens sampled — no re-tokenisation of text. The env answers each action; its
observation tokens get **zero loss weight**: TRL multiplies the completion mask by ``env_mask`` (it calls
it ``tool_mask``) in the loss, the KL, the entropy and the length statistics. An action that hits
``max_new_tokens_per_turn`` without EOS gets an EOS appended *as an env token* (mask 0) before the next
observation, so the transcript stays well-formed; a final action without EOS stays unterminated, which
TRL counts as truncated (``mask_truncated_completions`` then drops the episode from the loss).
The episode's reward is the env's terminal reward (``EnvConfig.reward``: composite, outcome, diagnosis
or efficiency), passed to TRL as the ``env_reward`` column and returned by ``env_reward_func``.

**Why TRL's ``rollout_func``** (and not ``environment_factory`` or our own generation loop):

- ``environment_factory`` exposes an environment's *methods as tools*: the model must emit the chat
  template's tool-call format, parsed by the tokenizer's ``response_schema``. Our policy speaks the
  OR-Debug action grammar (``<action>SET_RHS cap 12</action>``), the project tokenizer has no tool-call
  format, and every action goes through one ``step(action_text)`` — not a tool per verb. It would force a
  different interface on the env and on every checkpoint.
- ``rollout_func`` hands us the prompts and the trainer and takes back token ids plus an ``env_mask``
  that TRL already threads through masking, truncation and logging — exactly the multi-turn contract,
  with TRL still doing rewards, old/ref log-probs, the loss, accelerate and PEFT.
- Overriding ``_generate`` ourselves would duplicate what ``rollout_func`` already does, on a private
  method. The only private thing we need is the dataset row of each prompt (``instance_id``), which
  ``rollout_func`` does not receive: ``OrdebugGRPOTrainer`` keeps the rows of the current batch in
  ``trainer._rollout_inputs`` and the rollout checks that they match the prompts it was given.

Generation is in lockstep over the live episodes, one call per turn: with ``GRPORunConfig.engine='generate'``
plain ``model.generate`` over each whole context (``ordebug_lib.policy.generation.generate_ids``), with
'static' the run's ``policy.engine.StaticEngine`` whose episodes keep their KV cache across turns (it checks
that every context extends the tokens it holds). ``logprobs`` are returned as None (TRL recomputes log-probs
with the training forward; vLLM importance-sampling correction is not supported on this path).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from ..ordebug.env import EnvConfig, RepairEnv
from ..ordebug.env_batch import make_envs
from ..ordebug.instance import Instance
from ..ordebug.rewards import REWARD_COMPONENTS
from ..policy.generation import SamplingConfig, eos_ids, generate_ids, render_prompts
from ..policy.ordebug_experts import episode_env_config

# generate_fn(contexts, max_new_tokens) -> per context (generated ids cut at EOS, stopped with EOS)
GenerateFn = Callable[[list[list[int]], int], list[tuple[list[int], bool]]]


@dataclass
class TokenEpisode:
    """One episode as token ids: the rollout TRL trains on."""

    instance_id: str
    prompt_ids: list[int]
    completion_ids: list[int]
    env_mask: list[int]
    """1 on tokens the policy generated, 0 on tokens the environment (or the transcript format) added."""
    reward: float
    """The env's terminal reward (the component chosen by ``EnvConfig.reward``)."""
    reward_components: dict
    steps: int
    submitted: bool
    feasible: bool
    faithful: bool | None
    actions: list[str] = field(default_factory=list)
    context_truncated: bool = False
    """The episode ended early because its next turn would not fit ``max_context_tokens`` (a timeout)."""
    observations: list[str] = field(default_factory=list)
    """The observation each action answered, in order (obs_0 = the prompt's, then the env's reply to every action
    but the last): one per step, the states of step credit (``step_credit.observation_anchor_keys``)."""
    stopped: list[bool] = field(default_factory=list)
    """Per action: it ended with EOS (False: cut at ``max_new_tokens_per_turn``; its EOS is an env token, if any)."""


def env_config_for(max_turns: int, reward: str) -> EnvConfig:
    """The conversational env settings of ``policy.ordebug_experts`` (SFT demos use the same), with
    the step budget K = ``max_turns`` and the terminal reward ``reward``."""
    if reward not in REWARD_COMPONENTS:
        raise ValueError(f"OR-Debug reward must be one of {REWARD_COMPONENTS}, got {reward!r}")
    return episode_env_config(max_turns=max_turns, reward=reward)


def observation_ids(tokenizer, observation: str) -> list[int]:
    """Tokens of one env turn: the user message ``observation`` and the assistant generation prompt."""
    return render_prompts(tokenizer, [[{"role": "user", "content": observation}]])[0]


def run_token_episodes(generate_fn: GenerateFn, tokenizer, instances: Sequence[Instance], env_config: EnvConfig,
                       max_new_tokens: int, max_context_tokens: int, clock=None,
                       env_workers: int = 1) -> list[TokenEpisode]:
    """Run one episode per instance in lockstep; each turn, one ``generate_fn`` call over the live ones.

    ``env_workers``: processes stepping the envs (``ordebug.env_batch.make_envs``: 1 in this process; the
    results are the same). ``clock`` (a ``timing.StageClock``): env seconds are added to its ``env`` stage.
    """
    eos = tokenizer.eos_token_id
    n = len(instances)
    t0 = time.perf_counter()  # the env stage includes starting the workers
    with make_envs(instances, env_config, env_workers) as envs:
        first = envs.reset()
        prompts = [observation_ids(tokenizer, obs) for obs in first]
        env_seconds = time.perf_counter() - t0
        completions: list[list[int]] = [[] for _ in range(n)]
        masks: list[list[int]] = [[] for _ in range(n)]
        actions: list[list[str]] = [[] for _ in range(n)]
        observations: list[list[str]] = [[o] for o in first]
        stops: list[list[bool]] = [[] for _ in range(n)]
        rewards: list[float | None] = [None] * n
        live = list(range(n))
        cut = [False] * n
        first = [len(p) + max_new_tokens for p in prompts if len(p) + max_new_tokens > max_context_tokens]
        if first:
            raise ValueError(f"an OR-Debug first observation needs {max(first)} context tokens with one action, "
                             f"more than max_context_tokens={max_context_tokens}; leave such instances out "
                             "(training.rollouts.fits_context) or use smaller ones")
        while live:
            # a turn that would not fit the context ends its episode as a timeout (never silently cut text)
            full = [i for i in live if len(prompts[i]) + len(completions[i]) + max_new_tokens > max_context_tokens]
            if full:
                for i, r in zip(full, envs.truncate(full, f"context full ({max_context_tokens} tokens)")):
                    rewards[i], cut[i] = r, True
                live = [i for i in live if not cut[i]]
            if not live:
                break
            outs = generate_fn([prompts[i] + completions[i] for i in live], max_new_tokens)
            if len(outs) != len(live):
                raise ValueError(f"generate_fn returned {len(outs)} completions for {len(live)} contexts")
            texts = []
            for i, (ids, stopped) in zip(live, outs):
                if not ids:
                    raise ValueError("generate_fn returned an empty completion")
                completions[i] += list(ids)
                masks[i] += [1] * len(ids)
                stops[i].append(bool(stopped))
                texts.append(tokenizer.decode(ids, skip_special_tokens=True))
                actions[i].append(texts[-1])
            t0 = time.perf_counter()
            results = envs.step(live, texts)
            env_seconds += time.perf_counter() - t0
            still = []
            for i, (ids, stopped), (obs, reward, terminated, truncated) in zip(live, outs, results):
                if terminated or truncated:
                    rewards[i] = float(reward)
                    continue
                seg = ([] if stopped else [eos]) + observation_ids(tokenizer, obs)
                completions[i] += seg
                masks[i] += [0] * len(seg)
                observations[i].append(obs)
                still.append(i)
            live = still
        outcomes = envs.outcomes()
    if clock is not None:
        clock.add("env", env_seconds)
    return [TokenEpisode(inst.id, p, c, m, r, dict(o.rewards), o.steps, o.submitted, o.feasible_end, o.faithful, a, k,
                         observations=ob[:len(a)], stopped=st)
            for inst, o, p, c, m, a, r, k, ob, st in zip(instances, outcomes, prompts, completions, masks, actions,
                                                          rewards, cut, observations, stops)]


def model_generate_fn(model, tokenizer, temperature: float, top_p: float) -> GenerateFn:
    """A ``GenerateFn`` sampling from ``model`` (``policy.generation.generate_ids``; temperature 0 = greedy)."""
    eos = eos_ids(model, tokenizer)

    def generate(contexts: list[list[int]], max_new_tokens: int):
        cfg = SamplingConfig(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                             batch_size=len(contexts))
        return generate_ids(model, contexts, eos, tokenizer.pad_token_id, cfg)

    return generate


class OrDebugRollout:
    """TRL ``rollout_func``: every (prompt, dataset row) of the batch becomes one ``RepairEnv`` episode.

    ``instances``: the training instances; dataset rows carry ``instance_id`` (``ordebug_dataset``).
    Extra per-rollout fields returned to TRL (and so to the reward functions): ``env_reward``,
    ``env_steps``, ``env_feasible``, ``env_submitted``, ``env_faithful``.
    """

    def __init__(self, instances: Sequence[Instance], env_config: EnvConfig, max_new_tokens_per_turn: int,
                 max_context_tokens: int, temperature: float = 1.0, top_p: float = 1.0, env_workers: int = 1):
        self.instances = {inst.id: inst for inst in instances}
        if len(self.instances) != len(instances):
            raise ValueError("instances contain duplicate ids")
        self.env_config = env_config
        self.max_new_tokens = max_new_tokens_per_turn
        self.max_context_tokens = max_context_tokens
        self.temperature, self.top_p = temperature, top_p
        self.env_workers = env_workers
        self.last_episodes: list[TokenEpisode] = []

    def __call__(self, prompts: list, trainer) -> dict:
        from trl.models import unwrap_model_for_generation

        rows = getattr(trainer, "_rollout_inputs", None)
        if rows is None or len(rows) != len(prompts):
            raise RuntimeError("OrDebugRollout needs OrdebugGRPOTrainer (it passes the dataset rows of the batch)")
        for row, prompt in zip(rows, prompts):
            if row["prompt"] != prompt:
                raise RuntimeError("the dataset rows kept by the trainer do not match the prompts TRL passed")
        missing = sorted({r["instance_id"] for r in rows} - set(self.instances))
        if missing:
            raise KeyError(f"instance ids {missing[:3]} of the dataset are not among the rollout's instances")
        tokenizer = trainer.processing_class
        clock = getattr(trainer, "stage_clock", None)
        engine = getattr(getattr(trainer, "run_config", None), "engine", "generate")
        with unwrap_model_for_generation(trainer.model_wrapped, trainer.accelerator,
                                         gather_deepspeed3_params=trainer.args.ds3_gather_for_generation) as model:
            if engine == "generate":
                gen = model_generate_fn(model, tokenizer, self.temperature, self.top_p)
            else:  # the run's engine, sampling as run_config says; each episode keeps its KV cache across turns
                gen = trainer.generation_engine(model).multi_turn()
            try:
                episodes = run_token_episodes(gen, tokenizer, [self.instances[r["instance_id"]] for r in rows],
                                              self.env_config, self.max_new_tokens, self.max_context_tokens, clock,
                                              self.env_workers)
            finally:
                if hasattr(gen, "reset"):
                    gen.reset()
        for ep, prompt in zip(episodes, prompts):
            expected = render_prompts(tokenizer, [prompt])[0]
            if ep.prompt_ids != expected:
                raise RuntimeError(f"the dataset prompt of {ep.instance_id} is not the env's first observation "
                                   "(was the dataset built with another EnvConfig?)")
        self.last_episodes = episodes
        return {
            "prompt_ids": [e.prompt_ids for e in episodes],
            "completion_ids": [e.completion_ids for e in episodes],
            "logprobs": None,
            "env_mask": [e.env_mask for e in episodes],
            "env_reward": [e.reward for e in episodes],
            "env_steps": [e.steps for e in episodes],
            "env_feasible": [float(e.feasible) for e in episodes],
            "env_submitted": [float(e.submitted) for e in episodes],
            "env_faithful": [float(bool(e.faithful)) for e in episodes],
            "env_context_truncated": [float(e.context_truncated) for e in episodes],
        }


def env_reward_func(*, env_reward: Sequence[float], env_steps=None, env_feasible=None, env_submitted=None,
                    env_faithful=None, env_context_truncated=None, log_metric=None, **kwargs) -> list[float]:
    """TRL reward: the env's terminal reward of each episode (no transform, no noise), and task metrics
    (``ordebug/env/*``: feasible, faithful, submitted rates, mean steps) through TRL's ``log_metric``."""
    if env_reward is None:
        raise ValueError("env_reward_func needs the 'env_reward' column from OrDebugRollout")
    if log_metric is not None:
        for name, col in (("feasible_rate", env_feasible), ("faithful_rate", env_faithful),
                          ("submitted_rate", env_submitted), ("steps_mean", env_steps),
                          ("context_truncated_rate", env_context_truncated)):
            if col is not None and len(col):
                log_metric(f"ordebug/env/{name}", sum(float(v) for v in col) / len(col))
    return [float(r) for r in env_reward]


def fits_context(tokenizer, instances: Sequence[Instance], env_config: EnvConfig, max_new_tokens: int,
                 max_context_tokens: int) -> tuple[list[Instance], list[str]]:
    """(instances whose first observation leaves room for at least one action, ids of those left out)."""
    keep, out = [], []
    for inst in instances:
        obs, _ = RepairEnv(inst, env_config).reset()
        (keep if len(observation_ids(tokenizer, obs)) + max_new_tokens <= max_context_tokens else out).append(inst)
    return keep, [i.id for i in out]


def ordebug_dataset(instances: Sequence[Instance], env_config: EnvConfig):
    """A ``datasets.Dataset`` with one row per instance: ``prompt`` (the env's first observation as a user
    message) and ``instance_id``."""
    from datasets import Dataset

    rows = []
    for inst in instances:
        obs, _ = RepairEnv(inst, env_config).reset()
        rows.append({"prompt": [{"role": "user", "content": obs}], "instance_id": inst.id})
    return Dataset.from_list(rows)

