"""OR-Debug episodes as conversations, and the experts' transcripts of them: the SFT demonstrations.

An episode is a chat. The user turns are the environment's observations (``RepairEnv`` text), the
assistant turns are actions in the grammar of ``ordebug/actions.py`` wrapped in ``<action>...</action>``::

    user:      OR-Debug. Step 0 of 20 ... Model production_planning: maximize ... Actions: GET_IIS | ...
    assistant: <action>GET_IIS</action>
    user:      OR-Debug. Step 1 of 20 ... IIS of the current model (3 members): cap_assembly, ...
    assistant: <action>SET_BOUNDS make_valve 0 96</action>
    user:      ... Solver status: OPTIMAL ...
    assistant: <action>SUBMIT make_valve.ub</action>

The observation after SUBMIT ends the episode and is not part of the transcript. The env is configured
for conversations (``episode_env_config``): the model is listed in the first observation only and past
actions are not repeated (the chat already holds them).

**Expert transcripts** (``expert_transcript``) come from the non-LLM baselines: ``oracle`` (the ground
truth repair, then SUBMIT of the root cause), ``oracle_iis`` (the same after a GET_IIS, so the demo
looks before it acts), ``search`` (the solver-search repair baseline) and ``slack`` (CHECK_SLACK, then
each member it names moved by the amount it names, copied from the text). Only *successful* episodes of
the first three are SFT demonstrations: faithful recovery and a SUBMIT whose diagnosis is exactly the
root cause. The slack expert acts on nothing the policy cannot read, so it cannot know the original
optimum; its demos are kept when they *recover* (feasible at the end, SUBMIT of what it moved): they
teach what reading alone can do, where the oracle's numbers (original values, never shown) are labels
no policy can learn from its observations (``keep_demo``).

The recovery demonstrations (``ordebug_recovery``) and the LM's own episodes (``ordebug_lm_eval``) are
conversations of this format and settings.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..ordebug.baselines import OraclePolicy, SearchRepairPolicy, SlackRelaxPolicy, submit_line
from ..ordebug.env import EnvConfig, EpisodeOutcome, RepairEnv, run_episode
from ..ordebug.instance import Instance

EXPERTS = ("oracle", "oracle_iis", "search", "slack")
RECOVERING_EXPERTS = frozenset({"slack"})  # demos kept when they recover; the others' when they succeed


def episode_env_config(max_turns: int = 20, **overrides) -> EnvConfig:
    """The env settings of every LM episode, SFT demos and evaluation alike (they must match)."""
    return EnvConfig(max_turns=max_turns, **{"history_len": 0, "show_model": False, **overrides})


def action_message(action: str) -> dict:
    """The assistant turn of one action line."""
    return {"role": "assistant", "content": f"<action>{action.strip()}</action>"}


# -- experts ----------------------------------------------------------------------------------------
class DiagnoseThenOracle(OraclePolicy):
    """GET_IIS first, then the ground-truth repair, then SUBMIT of the root cause."""

    def act(self, observation: str, info: dict) -> str:
        k = info["step"]
        if k == 0:
            return "GET_IIS"
        return self.repair[k - 1] if k - 1 < len(self.repair) else submit_line(self.root_cause)


def make_expert(name: str, instance: Instance):
    """An expert policy object for one instance."""
    if name == "oracle":
        return OraclePolicy(instance)
    if name == "oracle_iis":
        return DiagnoseThenOracle(instance)
    if name == "search":
        return SearchRepairPolicy()
    if name == "slack":
        return SlackRelaxPolicy()
    raise ValueError(f"unknown expert {name!r}; experts: {', '.join(EXPERTS)}")


@dataclass
class Transcript:
    """One episode as a conversation."""

    instance_id: str
    policy: str
    messages: list[dict]
    outcome: EpisodeOutcome
    trained_turns: list[int] | None = None
    """Assistant turns (0 = the first action) an SFT record may train on; None: all. Recovery demos
    list their continuation only, so the injected mistakes are never trained on."""

    @property
    def success(self) -> bool:
        """Faithful recovery and a SUBMIT that names exactly the root cause."""
        o = self.outcome
        return bool(o.submitted and o.faithful and o.root_cause is not None
                    and set(o.diagnosis or []) == set(o.root_cause))

    @property
    def recovered(self) -> bool:
        """SUBMITted with the model feasible (RR), whatever the objective and the diagnosis."""
        return bool(self.outcome.submitted and self.outcome.feasible_end)


def keep_demo(t: Transcript) -> bool:
    """Whether an expert transcript is an SFT demonstration: ``success`` (faithful and the exact root
    cause), or for an expert in ``RECOVERING_EXPERTS`` ``recovered`` (feasible and submitted)."""
    return t.recovered if t.policy in RECOVERING_EXPERTS else t.success


class _Recorder:
    """Wraps a policy: records every (observation, action) into messages, actions as ``<action>`` turns."""

    def __init__(self, policy):
        self.policy, self.messages = policy, []

    def reset(self, seed=None):
        self.messages = []
        if hasattr(self.policy, "reset"):
            self.policy.reset(seed=seed)

    def act(self, observation: str, info: dict) -> str:
        action = self.policy.act(observation, info)
        self.messages += [{"role": "user", "content": observation}, action_message(action)]
        return action


def expert_transcript(instance: Instance, expert: str, env_config: EnvConfig | None = None,
                      seed: int = 0) -> Transcript:
    """Run one expert on one instance and return the conversation (ending with its last action)."""
    rec = _Recorder(make_expert(expert, instance))
    outcome = run_episode(RepairEnv(instance, env_config or episode_env_config()), rec, seed=seed)
    return Transcript(instance.id, expert, rec.messages, outcome)


def expert_transcripts(instances: Sequence[Instance], experts: Sequence[str] = ("oracle_iis", "search"),
                       env_config: EnvConfig | None = None) -> tuple[list[Transcript], dict]:
    """``data.parallel_transcripts`` in this process: the demonstrations (``keep_demo``) of every expert on
    every instance, and counts per expert."""
    return kept_demos([expert_transcript(inst, e, env_config) for e in experts for inst in instances], experts)


def kept_demos(transcripts: Sequence[Transcript], experts: Sequence[str]) -> tuple[list[Transcript], dict]:
    """The demonstrations (``keep_demo``) among expert ``transcripts``, in their order, and counts per expert
    ``{"search": {"episodes": n, "successful": k, "kept": j}, ...}`` (successful: faithful with the exact
    root cause)."""
    kept, counts = [], {e: {"episodes": 0, "successful": 0, "kept": 0} for e in experts}
    for t in transcripts:
        c, keep = counts[t.policy], keep_demo(t)
        c["episodes"] += 1
        c["successful"] += t.success
        c["kept"] += keep
        if keep:
            kept.append(t)
    return kept, counts
