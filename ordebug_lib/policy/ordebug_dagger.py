"""On-policy relabelling of OR-Debug states: DAgger (Ross, Gordon & Bagnell 2011, arXiv:1011.0686).

Expert and recovery demonstrations show the expert's states and a few scripted mistakes. A greedy SFT
policy soon reaches states no demo shows: its own wrong guess, a RESET, and the same guess again (the
loop of the GPU runs, where most test episodes never SUBMIT). DAgger runs the policy, labels every
state it visited with the expert's action there, and trains on the aggregate.

The expert (``expert_continuation``) compares the current model with the sabotaged model after the first
``j`` actions of the true repair (by ``LinearModel.fingerprint``):

====================================  =============================================================
state                                 expert continuation
====================================  =============================================================
sabotaged model, no IIS asked yet     GET_IIS, the true repair, SUBMIT of the root cause
sabotaged + first ``j`` repair steps  the remaining true repair, SUBMIT (after a GET_IIS or a RESET)
true repair done, or faithful         SUBMIT of the root cause
anything else, still infeasible       RESET, the true repair, SUBMIT
feasible but not faithful             no label ("looks_solved"): the original optimum is never shown,
                                      so the policy cannot tell this state from success (see
                                      ``ordebug_recovery._replay``)
====================================  =============================================================

With ``expert="slack"`` the label is instead what ``baselines.SlackRelaxPolicy`` does from the state on
(played live, so it reads the policy's own history: CHECK_SLACK when it has no answer to act on, the
next member it names otherwise, SUBMIT of what was moved once feasible), kept when it *recovers*
(feasible and submitted): the observable expert of the ``slack`` demos, whose every argument the policy
can read, labels the policy's own states too.

``relabel_episode`` replays the policy's own turns verbatim in a fresh ``RepairEnv`` (its generated text,
malformed or refused actions included) up to each state, checks the observation is the one the policy
saw, then plays the continuation; only continuations that end in a successful episode are kept. The
resulting ``Transcript`` trains on the continuation only (``trained_turns``), never on the policy's own
actions: the prefix is context.

    >>> from ordebug_lib.ordebug.saboteur import make_instance
    >>> inst = make_instance("production_planning", "A", "easy", seed=0)
    >>> inst.true_repair, inst.root_cause
    (['FLIP_SENSE material_plastic'], ['material_plastic'])
    >>> kept, counts = relabel_episode(inst, ["GET_IIS", "DROP cap_assembly", "RESET", "DROP cap_assembly"])
    >>> sorted(counts.items())
    [('get_iis', 1), ('repair', 2), ('reset', 1)]
    >>> t = kept[3]  # the state after the policy's RESET: its wrong DROP is in the history
    >>> [m["content"] for m in t.messages if m["role"] == "assistant"], t.trained_turns
    (['GET_IIS', 'DROP cap_assembly', 'RESET', '<action>FLIP_SENSE material_plastic</action>', '<action>SUBMIT material_plastic</action>'], [3, 4])
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

from ..ordebug.actions import apply_action, parse_action
from ..ordebug.baselines import SlackRelaxPolicy, submit_line
from ..ordebug.env import EnvConfig, RepairEnv
from ..ordebug.instance import Instance
from ..processes import process_map
from .ordebug_experts import Transcript, action_message, episode_env_config
from .ordebug_recovery import _is_faithful_now

DAGGER_EXPERTS = ("oracle", "slack")


def repair_prefix_fingerprints(instance: Instance) -> list[str]:
    """Fingerprints of the sabotaged model after the first 0, 1, ..., n actions of the true repair."""
    model, out = instance.sabotaged, [instance.sabotaged.fingerprint()]
    for a in instance.true_repair:
        model = apply_action(model, parse_action(a))
        out.append(model.fingerprint())
    return out


def expert_continuation(instance: Instance, info: dict, iis_asked: bool,
                        fingerprints: list[str] | None = None) -> tuple[list[str] | None, str]:
    """(the expert's actions from this state to the end, label) or (None, "looks_solved"); see the module
    docstring. ``info`` is the env's info dict, ``iis_asked`` whether GET_IIS was sent in the episode."""
    fps = fingerprints or repair_prefix_fingerprints(instance)
    repair, submit = list(instance.true_repair), submit_line(list(instance.root_cause))
    here = info["model"].fingerprint()
    if here == fps[-1] or _is_faithful_now(info, instance):
        return [submit], "submit"
    if info["feasible"]:
        return None, "looks_solved"
    if here in fps[:-1]:
        j = fps.index(here)
        if j == 0 and not iis_asked:
            return ["GET_IIS", *repair, submit], "get_iis"
        return [*repair[j:], submit], "repair"
    return ["RESET", *repair, submit], "reset"


def relabel_episode(instance: Instance, turns: Sequence[str], env_config: EnvConfig | None = None,
                    max_turns: int = 8, observations: Sequence[str] | None = None, expert: str = "oracle",
                    ) -> tuple[list[Transcript], Counter]:
    """Expert-labelled transcripts of the states an episode visited before each of its first ``max_turns``
    turns (``turns``: the policy's generated text per turn, verbatim). ``observations`` (the observation
    the policy saw before each turn) are checked against the replay when given: a state the env does not
    reproduce is skipped as "replay_mismatch". ``expert``: "oracle" (``expert_continuation``) or "slack"
    (see the module docstring). Counts: one per state, by label kept or reason skipped."""
    if expert not in DAGGER_EXPERTS:
        raise ValueError(f"expert must be one of {DAGGER_EXPERTS}, got {expert!r}")
    env_config = env_config or episode_env_config()
    fps = repair_prefix_fingerprints(instance) if expert == "oracle" else None
    kept, counts = [], Counter()
    for k in range(min(len(turns), max_turns)):
        env = RepairEnv(instance, env_config)
        obs, info = env.reset()
        messages: list[dict] = []
        for text in turns[:k]:
            messages += [{"role": "user", "content": obs}, {"role": "assistant", "content": text}]
            obs, _, _, _, info = env.step(text)
        if env.done:
            break
        if observations is not None and obs != observations[k]:
            counts["replay_mismatch"] += 1
            continue
        if expert == "slack":
            t, label = _slack_continuation(instance, env, obs, info, messages, k)
            counts[label] += 1
            if t is not None:
                kept.append(t)
            continue
        asked = any(h["action"] == "GET_IIS" for h in info["history"])  # the env's canonical action text
        continuation, label = expert_continuation(instance, info, asked, fps)
        if continuation is None:
            counts[label] += 1
            continue
        if k + len(continuation) > env_config.max_turns:
            counts["too_long"] += 1
            continue
        for action in continuation:
            messages += [{"role": "user", "content": obs}, action_message(action)]
            obs, _, _, _, info = env.step(action)
        t = Transcript(instance.id, f"dagger:{label}", messages, env.outcome() if env.done else None,
                       trained_turns=list(range(k, k + len(continuation))))
        if not env.done or not t.success:
            counts["failed"] += 1
            continue
        counts[label] += 1
        kept.append(t)
    return kept, counts


def _slack_continuation(instance: Instance, env: RepairEnv, obs: str, info: dict, messages: list[dict],
                        k: int) -> tuple[Transcript | None, str]:
    """Play ``SlackRelaxPolicy`` from this state (turn ``k``) to the end: (transcript, "slack:<first verb>")
    if it recovers, else (None, "failed")."""
    policy, first = SlackRelaxPolicy(), None
    while not env.done:
        action = policy.act(obs, info)
        first = first or action.split()[0]
        messages = messages + [{"role": "user", "content": obs}, action_message(action)]
        obs, _, _, _, info = env.step(action)
    t = Transcript(instance.id, f"dagger:slack:{first}", messages, env.outcome(),
                   trained_turns=list(range(k, len(messages) // 2)))
    return (t, f"slack:{first}") if t.recovered else (None, "failed")


def episode_turns(messages: Sequence[dict]) -> tuple[list[str], list[str]]:
    """(assistant texts, the observation before each) of an LM episode's conversation."""
    turns = [m["content"] for m in messages if m["role"] == "assistant"]
    obs = [m["content"] for m in messages if m["role"] == "user"]
    return turns, obs[:len(turns)]


def _relabel(args: tuple):
    instance, messages, env_config, max_turns, expert = args
    turns, observations = episode_turns(messages)
    return relabel_episode(instance, turns, env_config, max_turns, observations, expert)


def dagger_transcripts(instances: Sequence[Instance], episodes: Sequence, env_config: EnvConfig | None = None,
                       max_turns: int = 8, workers: int = 1, expert: str = "oracle") -> tuple[list[Transcript], dict]:
    """``relabel_episode`` of every LM episode (``ordebug_lm_eval.LMEpisode``, one per instance, in the
    same order) in worker processes: (kept transcripts, counts summed over the episodes)."""
    if [i.id for i in instances] != [e.instance_id for e in episodes]:
        raise ValueError("episodes must be those of the instances, in the same order")
    done = process_map(_relabel, [(inst, ep.messages, env_config, max_turns, expert)
                                  for inst, ep in zip(instances, episodes)], workers)
    kept, counts = [], Counter()
    for transcripts, c in done:
        kept += transcripts
        counts.update(c)
    return kept, dict(counts)
