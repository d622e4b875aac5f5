"""DAgger relabelling (``policy/ordebug_dagger.py``): the expert's continuation in each kind of state, the
replay of a policy's own turns (verbatim, never trained on), rollouts cut after ``max_turns``, and a
warm start with one DAgger round on the tiny preset."""
import pytest

from ordebug_lib.ordebug.env import RepairEnv
from ordebug_lib.ordebug.saboteur import make_instance
from ordebug_lib.policy.generation import SamplingConfig
from ordebug_lib.policy.loader import load_policy
from ordebug_lib.policy.ordebug_dagger import (
    dagger_transcripts, episode_turns, expert_continuation, relabel_episode, repair_prefix_fingerprints,
)
from ordebug_lib.policy.ordebug_episodes import episode_env_config, run_lm_episodes
from ordebug_lib.policy.ordebug_sft import OrdebugSFTConfig, check_config, ordebug_warm_start
from ordebug_lib.policy.scripted import scripted
from ordebug_lib.policy.sft import SFTRunConfig, turn_records


@pytest.fixture(scope="module")
def flip():  # true repair FLIP_SENSE material_plastic
    return make_instance("production_planning", "A", "easy", seed=0)


@pytest.fixture(scope="module")
def bound():  # true repair SET_BOUNDS make_valve 0 88 (a binding market cap)
    return make_instance("production_planning", "H", "easy", seed=3)


@pytest.fixture(scope="module")
def two_step():  # true repair SET_BOUNDS hours_machining 0 inf, then SET_RHS cap_assembly 240
    return make_instance("production_planning", "G", "easy", seed=0)


def _info(inst, actions):
    env = RepairEnv(inst, episode_env_config())
    info = env.reset()[1]
    for a in actions:
        info = env.step(a)[4]
    return info


def test_expert_continuation_in_every_kind_of_state(flip, bound, two_step):
    sub = "SUBMIT material_plastic"
    assert flip.true_repair == ["FLIP_SENSE material_plastic"] and flip.root_cause == ["material_plastic"]
    assert expert_continuation(flip, _info(flip, []), iis_asked=False) == (
        ["GET_IIS", "FLIP_SENSE material_plastic", sub], "get_iis")
    assert expert_continuation(flip, _info(flip, ["GET_IIS"]), iis_asked=True) == (
        ["FLIP_SENSE material_plastic", sub], "repair")
    # a wrong change that leaves the model infeasible: start again
    assert expert_continuation(flip, _info(flip, ["GET_IIS", "DROP cap_assembly"]), True) == (
        ["RESET", "FLIP_SENSE material_plastic", sub], "reset")
    # back at the start after that RESET: the repair (the IIS was asked for already)
    assert expert_continuation(flip, _info(flip, ["GET_IIS", "DROP cap_assembly", "RESET"]), True)[1] == "repair"
    assert expert_continuation(flip, _info(flip, ["FLIP_SENSE material_plastic"]), False) == ([sub], "submit")
    # another change that restores the original optimum is faithful too: SUBMIT the root cause
    assert expert_continuation(flip, _info(flip, ["DROP material_plastic"]), False) == ([sub], "submit")
    # feasible with another optimum: indistinguishable from success for the policy, so no label
    assert bound.true_repair == ["SET_BOUNDS make_valve 0 88"]
    info = _info(bound, ["SET_BOUNDS make_valve 0 1000"])
    assert info["feasible"] and expert_continuation(bound, info, False) == (None, "looks_solved")
    # halfway through a two-action repair: the rest of it
    first, second = two_step.true_repair
    assert len(repair_prefix_fingerprints(two_step)) == 3
    cont, label = expert_continuation(two_step, _info(two_step, ["GET_IIS", first]), True)
    assert (cont, label) == ([second, "SUBMIT " + " ".join(two_step.root_cause)], "repair")


def test_relabel_episode_keeps_the_policy_turns_as_context_only(flip):
    turns = ["<action>GET_IIS</action>", "<action>DROP cap_assembly</action>", "<action>RESET</action>",
             "oops, not an action", "<action>DROP cap_assembly</action>"]
    kept, counts = relabel_episode(flip, turns, max_turns=5)
    assert dict(counts) == {"get_iis": 1, "repair": 3, "reset": 1}
    assert [t.trained_turns[0] for t in kept] == [0, 1, 2, 3, 4]
    for t in kept:
        k = t.trained_turns[0]
        assert t.success and t.policy.startswith("dagger:")
        assert [m["content"] for m in t.messages if m["role"] == "assistant"][:k] == turns[:k]  # verbatim
        records = turn_records(t.messages, t.trained_turns)  # the loss covers the expert's turns only
        assert len(records) == len(t.trained_turns) and len(records[0]["prompt"]) == 2 * k + 1
        assert records[0]["completion"] == [t.messages[2 * k + 1]]
    # after the refused text (turn 3) the model is still the sabotaged one: the repair, not a RESET
    after_refusal = kept[4 - 1]
    assert after_refusal.messages[2 * 3 + 1]["content"] == "<action>FLIP_SENSE material_plastic</action>"
    # the policy's own SUBMIT ends the states to label; max_turns bounds them
    assert len(relabel_episode(flip, ["<action>SUBMIT cap_assembly</action>", "x"], max_turns=5)[0]) == 1
    assert len(relabel_episode(flip, turns, max_turns=2)[0]) == 2


def test_relabel_episode_skips_states_the_env_does_not_reproduce(flip):
    turns = ["<action>GET_IIS</action>", "<action>DROP cap_assembly</action>"]
    env = RepairEnv(flip, episode_env_config())
    first = env.reset()[0]
    kept, counts = relabel_episode(flip, turns, observations=[first, "some other observation"])
    assert dict(counts) == {"get_iis": 1, "replay_mismatch": 1} and len(kept) == 1


def test_rollouts_stop_after_max_turns_and_relabel_in_workers(flip, bound):
    model, tok = load_policy("tiny", seed=0)
    loop = ["<action>GET_IIS</action>", "<action>DROP cap_machining</action>", "<action>RESET</action>"]
    calls = []
    with scripted(model, tok, lambda turn, row: loop[turn % 3]):
        eps = run_lm_episodes(model, tok, [flip, bound], sampling=SamplingConfig(max_new_tokens=16),
                              on_generate=calls.append, max_turns=4)
    assert calls == [2, 2, 2, 2]
    assert all(e.outcome.truncated and not e.outcome.submitted and e.outcome.steps == 4 for e in eps)
    turns, observations = episode_turns(eps[0].messages)
    assert turns == loop + loop[:1] and len(observations) == 4
    kept, counts = dagger_transcripts([flip, bound], eps, max_turns=4, workers=2)
    assert sum(counts.values()) == 8 and counts.get("replay_mismatch", 0) == 0
    assert {t.instance_id for t in kept} == {flip.id, bound.id} and all(t.success for t in kept)
    with pytest.raises(ValueError, match="same order"):
        dagger_transcripts([bound, flip], eps)


def test_dagger_settings_are_checked():
    with pytest.raises(ValueError, match="per_turn"):
        check_config(OrdebugSFTConfig(per_turn=False, recovery=(), dagger_rounds=1))
    with pytest.raises(ValueError, match="dagger_rounds"):
        check_config(OrdebugSFTConfig(dagger_rounds=-1))


@pytest.mark.slow
def test_warm_start_with_a_dagger_round_on_the_tiny_preset(tmp_path):
    cfg = OrdebugSFTConfig(
        model="tiny", bench_n_per_cell=2, bench_error_types="AFH", n_val=2, max_turns=8, workers=2,
        recovery=("wrong_repair",), dagger_rounds=1, dagger_steps=2, dagger_max_turns=3, dagger_batch_size=4,
        dagger_max_new_tokens=8,
        sft=SFTRunConfig(max_steps=2, learning_rate=5e-3, batch_size=2, max_length=2048, logging_steps=1,
                         eval_steps=1, eval_batch_size=4, keep_best=True))
    ws = ordebug_warm_start(cfg, tmp_path / "run", device="cpu")
    (r,) = ws.data["dagger"]
    assert r["rollouts"] == ws.data["n_train_instances"] and r["val"]["rollouts"] == ws.data["n_val_instances"]
    assert r["n_transcripts"] > 0 and sum(r["labels"].values()) > 0
    dagger_records = sum(n for s, n in r["n_records_by_source"].items() if s.startswith("dagger:"))
    assert dagger_records > 0 and r["n_records"] == ws.data["n_records"] + dagger_records
    assert len(ws.rounds) == 2 and r["starts_at_step"] == 2
    # the chained curve: round 2's steps come after round 1's, and the kept step is one of round 2
    assert [s for s, _ in ws.sft.eval_curve] == [0, 1, 2, 2, 3, 4] and ws.sft.best_step in (2, 3, 4)
    assert ws.sft.trainer is ws.rounds[-1].trainer and ws.data["train_s"] == ws.rounds[0].train_runtime


def test_slack_labels_the_policys_own_states_with_what_the_slack_expert_does_from_there():
    # the policy relaxed the wrong row first; the slack expert, reading that history, asks CHECK_SLACK
    # (it has no answer yet), relaxes what it names and SUBMITs everything moved since the last RESET
    from ordebug_handmade import production_flip

    inst = production_flip()
    turns = ["<action>RELAX demand_b 1</action>", "<action>CHECK_SLACK</action>", "nonsense"]
    kept, counts = relabel_episode(inst, turns, max_turns=3, expert="slack")
    assert dict(counts) == {"slack:CHECK_SLACK": 2, "slack:RELAX": 1}
    last = kept[2]
    assert [m["content"] for m in last.messages if m["role"] == "assistant"] == [
        *turns[:2], "<action>RELAX cap_paint 12.6667</action>", "<action>SUBMIT demand_b cap_paint</action>"]  # b >= 4 now
    assert last.trained_turns == [2, 3] and last.recovered and not last.success
    with pytest.raises(ValueError, match="expert must be one of"):
        relabel_episode(inst, turns, expert="search")
