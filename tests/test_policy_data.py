"""Demonstration data: Countdown splits are disjoint and do not depend on the worker count; expert
transcripts end in SUBMIT of the root cause and only successful ones are kept."""
from ordebug_lib.ordebug.saboteur import make_instance
from ordebug_lib.policy.data import countdown_splits, parallel_transcripts
from ordebug_lib.tasks.countdown import evaluate_expression


def test_countdown_splits_are_disjoint_and_worker_independent():
    train, test = countdown_splits(300, 40, seed=5, workers=1, num_numbers=3)
    assert len(train) == 300 and len(test) == 40
    assert not {i.key for i in train} & {i.key for i in test}
    assert all(evaluate_expression(i.solution) == i.target for i in train + test)
    again = countdown_splits(300, 40, seed=5, workers=2, num_numbers=3)
    assert (train, test) == again
    assert countdown_splits(300, 40, seed=6, workers=1, num_numbers=3)[0] != train


def test_expert_transcripts_keep_successful_episodes():
    insts = [make_instance("production_planning", "H", "easy", seed=s) for s in (0, 1)]
    kept, counts = parallel_transcripts(insts, ["oracle", "oracle_iis", "search"])
    assert counts["oracle"] == {"episodes": 2, "successful": 2, "kept": 2} == counts["oracle_iis"]
    assert counts["search"]["episodes"] == 2
    assert len(kept) == 4 + counts["search"]["successful"]
    for t in kept:
        inst = insts[[i.id for i in insts].index(t.instance_id)]
        assert t.success and t.messages[-1]["content"] == f"<action>SUBMIT {' '.join(inst.root_cause)}</action>"
        assert [m["role"] for m in t.messages] == ["user", "assistant"] * (len(t.messages) // 2)
    first_actions = {t.policy: t.messages[1]["content"] for t in kept if t.instance_id == insts[0].id}
    assert first_actions["oracle_iis"] == "<action>GET_IIS</action>"
    assert first_actions["oracle"] == f"<action>{insts[0].true_repair[0]}</action>"


def test_slack_expert_demos_are_kept_when_they_recover():
    # the slack expert reads CHECK_SLACK and cannot know the original optimum: its feasible, submitted
    # episodes are demonstrations, faithful or not; the oracle's are kept only when they succeed
    from ordebug_handmade import all_instances

    insts = all_instances()
    kept, counts = parallel_transcripts(insts, ["slack", "oracle"])
    assert counts["slack"] == {"episodes": 4, "successful": 1, "kept": 4}  # H: the minimal move is faithful
    assert counts["oracle"] == {"episodes": 4, "successful": 4, "kept": 4}
    slack = [t for t in kept if t.policy == "slack"]
    assert all(t.recovered and t.outcome.submitted for t in slack)
    assert [m["content"] for m in slack[0].messages if m["role"] == "assistant"] == [
        "<action>CHECK_SLACK</action>", "<action>RELAX cap_paint 13.3334</action>", "<action>SUBMIT cap_paint</action>"]
