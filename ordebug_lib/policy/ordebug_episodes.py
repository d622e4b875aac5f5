"""OR-Debug as conversations: expert transcripts for SFT, and batched multi-turn evaluation of an LM.

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

**Recovery demonstrations** (``recovery_transcripts``, DAgger-style): a prefix in which a plausible
wrong step happened (a repair of an IIS member that is not the true repair, the search baseline's first
repair when it is wrong, a repeated GET_IIS, a wrong repair sent twice, a *near miss*: the true repair's
verb and value on another target, a *rejected* action: the true repair with a misspelt name), followed
by the expert's continuation from that state: RESET, the ground-truth repair and SUBMIT of the root
cause after a change to the model, the repair and SUBMIT directly after a wasted GET_IIS or an action
the env refused. Near misses and rejected actions are what a greedy SFT policy loops on (right verb,
wrong target; a name it cannot spell): after them the demos always act differently. Every demo is replayed in
``RepairEnv``; a "mistake" that leaves the model feasible with the original optimum is not one and is
skipped, and only continuations that end in a successful episode are kept. ``Transcript.trained_turns``
names the continuation's assistant turns: the SFT records (``sft.turn_records``) train on those only,
never on the injected mistakes.

**Evaluation** (``run_lm_episodes`` / ``evaluate_lm``): the episodes of a batch step together, with one
``generate`` call per turn over the episodes still running; the generated text is sent to the env
verbatim (``parse_action`` takes the last ``<action>`` block); rows go to the SQLite results store of
``ordebug/results.py``, one per (policy, instance, seed), resumable as ``results.evaluate``.
If a conversation outgrows ``max_prompt_tokens``, the oldest (action, observation) pairs after the
first observation are left out of the prompt (the model listing is kept); ``context_trims`` counts it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from ..ordebug.actions import MUTATING, parse_action
from ..ordebug.baselines import OraclePolicy, SearchRepairPolicy, SlackRelaxPolicy, submit_line
from ..ordebug.env import EnvConfig, EpisodeOutcome, RepairEnv, run_episode
from ..ordebug.instance import Instance
from ..ordebug.solver import objectives_match
from .generation import SamplingConfig, generate_chats, render_prompts

EXPERTS = ("oracle", "oracle_iis", "search", "slack")
RECOVERING_EXPERTS = frozenset({"slack"})  # demos kept when they recover; the others' when they succeed
RECOVERY_PREFIX = "recovery:"  # Transcript.policy of a recovery demonstration: recovery:<kind>
RECOVERY_KINDS = ("wrong_repair", "search_repair", "repeat_get_iis", "repeat_repair", "near_miss", "rejected_action")


def episode_env_config(max_steps: int = 20, **overrides) -> EnvConfig:
    """The env settings of every LM episode, SFT demos and evaluation alike (they must match)."""
    return EnvConfig(max_steps=max_steps, **{"history_len": 0, "show_model": False, **overrides})


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
    from .data import parallel_transcripts

    return parallel_transcripts(instances, experts, env_config, workers=1)


def _stable_seed(*parts) -> int:
    return int(hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:8], 16)


def _is_faithful_now(info: dict, instance: Instance) -> bool:
    return bool(info["feasible"]) and objectives_match(info["objective"], instance.original_objective)


def _replay(instance: Instance, env_config: EnvConfig, prefix: list[str], continuation: list[str],
            mutating_mistake: bool, observable_only: bool = True) -> tuple[Transcript | None, str]:
    """Play ``prefix`` then ``continuation`` in a fresh env; (transcript, "kept") or (None, why not).

    With ``observable_only`` a mistake that leaves the model feasible ("looks_solved") is skipped: the
    policy cannot tell it from a faithful repair (the original optimum is never shown), so a RESET there
    would teach RESET after success-looking states, which the expert demos answer with SUBMIT."""
    if len(prefix) + len(continuation) > env_config.max_steps:
        return None, "too_long"
    env = RepairEnv(instance, env_config)
    obs, info = env.reset()
    messages: list[dict] = []
    for k, action in enumerate(prefix + continuation):
        if k == len(prefix) and mutating_mistake:
            if _is_faithful_now(info, instance):
                return None, "not_a_mistake"  # the "wrong" change restored the original optimum
            if observable_only and info["feasible"]:
                return None, "looks_solved"
        messages += [{"role": "user", "content": obs}, action_message(action)]
        obs, _, _, _, info = env.step(action)
        if env.done and k < len(prefix) + len(continuation) - 1:
            return None, "ended_early"
    if not env.done:
        return None, "no_submit"
    t = Transcript(instance.id, "", messages, env.outcome(),
                   trained_turns=list(range(len(prefix), len(prefix) + len(continuation))))
    return (t, "kept") if t.success else (None, "failed")


def _wrong_repairs(instance: Instance, model, iis: list[str]) -> list[str]:
    """Candidate repairs of the IIS members (the search baseline's candidate set) other than the true
    repair's actions, in IIS order."""
    search, true = SearchRepairPolicy(), {str(parse_action(a)) for a in instance.true_repair}
    out: list[str] = []
    for tok in iis:
        for cand in search.candidates(model, tok, iis):
            if cand.action not in true and cand.action not in out:
                out.append(cand.action)
    return out


def _changes(model, action: str) -> bool:
    """Whether ``action`` parses and changes ``model`` (the env would neither refuse nor ignore it)."""
    from ..ordebug.actions import ActionError, apply_action

    try:
        apply_action(model, parse_action(action))
    except ActionError:
        return False
    return True


def _near_misses(instance: Instance, model, iis: list[str]) -> list[str]:
    """The true repair's verb and value on another target near the IIS, for every action of the true
    repair: FLIP_SENSE / DROP / RELAX / SET_RHS of another IIS constraint, SET_COEF of another variable of
    the constraint (or of the variable in another IIS constraint), SET_BOUNDS / SET_VTYPE of another
    variable of the IIS. Only actions that change the model; in IIS order, without duplicates.

    A greedy SFT policy usually gets the verb right and the target wrong; these demos show what to do
    after such a try (RESET, then the true repair), so its own likely guess appears in the history."""
    true = {str(parse_action(a)) for a in instance.true_repair}
    constrs = [t for t in iis if t in model.constrs]
    names: list[str] = []  # variables of the IIS: bound tokens, then the variables of its constraints
    for t in iis:
        for v in ([t.rpartition(".")[0]] if t not in model.constrs else model.constrs[t].coeffs):
            if v in model.vars and v not in names:
                names.append(v)
    out: list[str] = []
    for a in map(parse_action, instance.true_repair):
        verb, args = a.verb, a.args
        if verb in ("FLIP_SENSE", "DROP"):
            cands = [f"{verb} {c}" for c in constrs]
        elif verb in ("RELAX", "SET_RHS"):
            cands = [f"{verb} {c} {args[1]}" for c in constrs]
        elif verb == "SET_COEF":
            c, x, value = args
            own = list(model.constrs[c].coeffs) if c in model.constrs else []
            cands = ([f"SET_COEF {c} {y} {value}" for y in own]
                     + [f"SET_COEF {d} {x} {value}" for d in constrs if x in model.constrs[d].coeffs])
        elif verb in ("SET_BOUNDS", "SET_VTYPE"):
            cands = [" ".join((verb, y, *args[1:])) for y in names]
        else:
            cands = []
        out += [c for c in cands if str(parse_action(c)) not in true and c not in out and _changes(model, c)]
    return out


def _misspelt(instance: Instance, model) -> str | None:
    """The first true-repair action with its first name argument missing its last character, if that is
    no name of the model (so the env refuses it with "no constraint/variable named ...")."""
    for a in map(parse_action, instance.true_repair):
        if not a.args:
            continue
        bad = a.args[0][:-1]
        if bad and bad not in model.constrs and bad not in model.vars:
            return " ".join((a.verb, bad, *a.args[1:]))
    return None


def _search_first_repair(instance: Instance, env_config: EnvConfig, limit: int = 4) -> list[str] | None:
    """The search baseline's actions up to and including its first change of the model (None if it
    SUBMITs or errs first)."""
    env, policy = RepairEnv(instance, env_config), SearchRepairPolicy()
    obs, info = env.reset()
    actions: list[str] = []
    for _ in range(limit):
        action = policy.act(obs, info)
        actions.append(action)
        verb = parse_action(action).verb
        if verb == "SUBMIT":
            return None
        obs, _, _, _, info = env.step(action)
        if info["last_error"] is not None:
            return None
        if verb in MUTATING:
            return actions
    return None


def recovery_transcripts(instance: Instance, kinds: Sequence[str] = RECOVERY_KINDS, n_wrong: int = 2,
                         env_config: EnvConfig | None = None, seed: int = 0,
                         observable_only: bool = True) -> tuple[list[Transcript], dict]:
    """Successful recovery demonstrations of one instance (see the module docstring), and counts
    ``{kind: {"tried": n, "kept": k, <reason skipped>: m}}``.

    Kinds: ``wrong_repair`` (up to ``n_wrong`` candidate repairs of IIS members other than the true
    repair, drawn with a seed from ``seed`` and the instance id, after GET_IIS), ``search_repair`` (the
    search baseline's opening up to its first repair), ``repeat_get_iis`` (GET_IIS twice), and
    ``repeat_repair`` (the first drawn wrong repair sent twice), ``near_miss`` (up to ``n_wrong`` of
    ``_near_misses``, drawn the same way, after GET_IIS) and ``rejected_action`` (``_misspelt`` after
    GET_IIS). After a change to the model the continuation is RESET, the true repair, SUBMIT of the root
    cause; after a repeated GET_IIS or a refused action it is the true repair and SUBMIT.
    ``observable_only`` (default) skips mistakes after which the model is feasible (see ``_replay``):
    measured on 80 train instances of the 25-per-cell benchmark, half of the wrong_repair demos and
    nearly all search_repair demos were such states."""
    unknown = set(kinds) - set(RECOVERY_KINDS)
    if unknown:
        raise ValueError(f"unknown recovery kinds {sorted(unknown)}; kinds: {', '.join(RECOVERY_KINDS)}")
    env_config = env_config or episode_env_config()
    submit = submit_line(list(instance.root_cause))
    restart = ["RESET", *instance.true_repair, submit]
    env = RepairEnv(instance, env_config)
    env.reset()
    info = env.step("GET_IIS")[4]
    wrong, near = [], []
    if info["iis"] and {"wrong_repair", "repeat_repair"} & set(kinds):
        wrong = _wrong_repairs(instance, info["model"], info["iis"])
        random.Random(_stable_seed("recovery", seed, instance.id)).shuffle(wrong)
    if info["iis"] and "near_miss" in kinds:
        near = _near_misses(instance, info["model"], info["iis"])
        random.Random(_stable_seed("near_miss", seed, instance.id)).shuffle(near)
    plans: list[tuple[str, list[str], list[str], bool]] = []  # kind, prefix, continuation, mutating mistake
    for kind in kinds:
        if kind == "wrong_repair":
            plans += [(kind, ["GET_IIS", w], restart, True) for w in wrong[:n_wrong]]
        elif kind == "repeat_repair" and wrong:
            plans.append((kind, ["GET_IIS", wrong[0], wrong[0]], restart, True))
        elif kind == "repeat_get_iis":
            plans.append((kind, ["GET_IIS", "GET_IIS"], [*instance.true_repair, submit], False))
        elif kind == "near_miss":
            plans += [(kind, ["GET_IIS", m], restart, True) for m in near[:n_wrong]]
        elif kind == "rejected_action":
            bad = _misspelt(instance, info["model"])
            if bad is not None:
                plans.append((kind, ["GET_IIS", bad], [*instance.true_repair, submit], False))
        elif kind == "search_repair":
            opening = _search_first_repair(instance, env_config)
            true = {str(parse_action(a)) for a in instance.true_repair}
            if opening is not None and str(parse_action(opening[-1])) not in true:
                plans.append((kind, opening, restart, True))
    kept, counts = [], {k: {"tried": 0, "kept": 0} for k in kinds}
    for kind, prefix, continuation, mutating in plans:
        t, why = _replay(instance, env_config, prefix, continuation, mutating, observable_only)
        counts[kind]["tried"] += 1
        counts[kind][why] = counts[kind].get(why, 0) + 1
        if t is not None:
            t.policy = f"{RECOVERY_PREFIX}{kind}"
            kept.append(t)
    return kept, counts


def without_recoveries(transcripts: Sequence[Transcript]) -> list[Transcript]:
    """The expert transcripts among ``transcripts``: recovery demonstrations left out (their prefixes hold
    injected mistakes)."""
    return [t for t in transcripts if not t.policy.startswith(RECOVERY_PREFIX)]


def corpus_transcripts(n_per_cell: int, seed: int) -> list[Transcript]:
    """Transcripts (successful or not) of the oracle_iis and search experts on freshly made instances of
    every family x error type x difficulty (naming alternating), for tokenizer training. Cells the
    generator cannot fill for a seed (``GenerationError``) are skipped: the corpus needs text, not a
    complete grid."""
    from ..ordebug.families import FAMILIES
    from ..ordebug.instance import DIFFICULTIES, ERROR_TYPES
    from ..ordebug.saboteur import GenerationError, make_instance

    out, k = [], 0
    for family in FAMILIES:
        for error_type in ERROR_TYPES:
            for difficulty in DIFFICULTIES:
                for j in range(n_per_cell):
                    k += 1
                    try:
                        inst = make_instance(family, error_type, difficulty, seed + j,
                                             naming=("semantic", "random")[k % 2])
                    except GenerationError:
                        continue
                    out += [expert_transcript(inst, e) for e in ("oracle_iis", "search")]
    return out


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
    if len(render_prompts(tokenizer, [messages])[0]) <= max_prompt_tokens:
        return messages, False
    head, tail = messages[:1], messages[1:]  # tail: (assistant, user) pairs
    while len(tail) > 2:
        tail = tail[2:]  # drop the oldest pair
        if len(render_prompts(tokenizer, [head + tail])[0]) <= max_prompt_tokens:
            return head + tail, True
    raise ValueError(f"the first observation and the last turn alone exceed max_prompt_tokens={max_prompt_tokens}; "
                     "raise it (the presets have a 4096-token context)")


def run_lm_episodes(model, tokenizer, instances: Sequence[Instance], env_config: EnvConfig | None = None,
                    sampling: SamplingConfig | None = None, max_prompt_tokens: int = 3072,
                    on_generate: Callable[[int], None] | None = None,
                    max_turns: int | None = None) -> list[LMEpisode]:
    """Run every instance as one lockstep batch: each turn, one ``generate`` call over the live episodes
    (``on_generate(n_live)`` is called once per such call, for tests and progress). ``max_turns`` stops
    the batch early (on-policy data needs only the first turns): episodes still running then end as
    timeouts (``RepairEnv.truncate``), their observations those of the full step budget."""
    sampling = sampling or SamplingConfig()
    env_config = env_config or episode_env_config()
    envs = [RepairEnv(inst, env_config) for inst in instances]
    convs = [[{"role": "user", "content": env.reset()[0]}] for env in envs]
    tokens: list[list[int]] = [[] for _ in envs]
    trims = [0] * len(envs)
    live = list(range(len(envs)))
    turn = 0
    while live:
        prompts = []
        for i in live:
            msgs, trimmed = fit_context(tokenizer, convs[i], max_prompt_tokens)
            trims[i] += trimmed
            prompts.append(msgs)
        turn_sampling = dataclasses.replace(sampling, batch_size=len(live), seed=sampling.seed + turn)
        if on_generate is not None:
            on_generate(len(live))
        gens = generate_chats(model, tokenizer, prompts, turn_sampling)
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
                seed: int = 0, max_steps: int = 20, batch_size: int = 16, sampling: SamplingConfig | None = None,
                max_prompt_tokens: int = 3072, env_config: EnvConfig | None = None):
    """Evaluate an LM policy on ``instances`` in lockstep batches of ``batch_size`` episodes and store one
    row per episode in the results database (skipping instances already stored for this policy and
    seed, as ``results.evaluate`` does). Returns (rows of these instances as a DataFrame, LMEpisodes run now).
    """
    from ..ordebug import results

    instances = list(instances)
    ids = [i.id for i in instances]
    if len(set(ids)) != len(ids):
        raise ValueError("instances contain duplicate ids")
    config = dataclasses.replace(env_config or episode_env_config(), max_steps=max_steps)
    sampling = dataclasses.replace(sampling or SamplingConfig(), seed=seed)
    conn = results.connect(db_path)
    episodes: list[LMEpisode] = []
    try:
        stored = results.done_ids(conn, policy_name, seed)
        clash = sorted(i for i in ids if i in stored and stored[i] != max_steps)
        if clash:
            raise ValueError(f"{len(clash)} stored rows of {policy_name!r} seed {seed} used another max_steps "
                             f"(e.g. {clash[0]}: {stored[clash[0]]}); use another policy_name or database")
        todo = [inst for inst in instances if inst.id not in stored]
        for start in range(0, len(todo), batch_size):
            chunk = todo[start:start + batch_size]
            eps = run_lm_episodes(model, tokenizer, chunk, config, sampling, max_prompt_tokens)
            insert_rows(conn, [results.episode_row(inst, ep.outcome, policy_name, seed) for inst, ep in zip(chunk, eps)])
            episodes += eps
    finally:
        conn.close()
    df = results.load_results(db_path, policy=policy_name, seed=seed)
    return df[df["instance_id"].isin(ids)].reset_index(drop=True), episodes


def insert_rows(conn, rows: list[dict]) -> None:
    """Insert result rows (``results.episode_row``) into the results table, in one transaction."""
    from ..ordebug.results import COLUMNS, TABLE

    names = list(COLUMNS)
    with conn:
        conn.executemany(f"INSERT INTO {TABLE} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                         [[int(v) if isinstance(v, bool) else v for v in (row.get(n) for n in names)] for row in rows])


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
