"""Evaluation loops on 2-instance batches: Countdown scoring and counts, and lockstep multi-turn OR-Debug
episodes (one generate call per turn over the live episodes) written to the SQLite results store."""
import pytest

from ordebug_lib.ordebug.results import load_results
from ordebug_lib.ordebug.saboteur import make_instance
from ordebug_lib.policy.countdown_eval import evaluate_countdown
from ordebug_lib.policy.generation import SamplingConfig, render_prompts
from ordebug_lib.policy.loader import load_policy
from ordebug_lib.policy.ordebug_episodes import evaluate_lm, fit_context, run_lm_episodes
from ordebug_lib.policy.ordebug_lm_eval import fit_context_ids
from ordebug_lib.policy.scripted import scripted
from ordebug_lib.tasks.countdown import CountdownInstance

PAIR = [CountdownInstance((2, 3, 4), 14, "2 + (3 * 4)"), CountdownInstance((3, 7, 25, 50), 75, "(7 * 25 + 50) / 3")]


@pytest.fixture(scope="module")
def policy():
    return load_policy("tiny", seed=0)


@pytest.fixture(scope="module")
def instances():
    return [make_instance("production_planning", "H", "easy", seed=s) for s in (0, 1)]


def n_tok(tok, text):
    return len(tok(text, add_special_tokens=False)["input_ids"]) + 1  # + EOS


def test_countdown_eval_counts_and_tokens(policy):
    model, tok = policy
    outs = {0: "Goal 14 from [2, 3, 4]\n<answer>2 + (3 * 4)</answer>", 1: "<answer>50 + 25</answer>"}
    with scripted(model, tok, lambda turn, row: outs[row]):
        ev = evaluate_countdown(model, tok, PAIR, SamplingConfig(max_new_tokens=40))
    s = ev.summary
    assert [r["outcome"] for r in ev.rows] == ["correct", "partial"] and [r["reward"] for r in ev.rows] == [1.0, 0.1]
    assert (s["n"], s["n_correct"], s["n_partial"], s["n_failed"], s["accuracy"]) == (2, 1, 1, 0, 0.5)
    mean = (n_tok(tok, outs[0]) + n_tok(tok, outs[1])) / 2
    assert s["mean_output_tokens"] == mean and s["budget_utilisation"] == mean / 40
    assert s["frac_stopped_at_eos"] == 1.0 and s["mean_reward"] == pytest.approx(0.55)


def test_countdown_eval_failed_and_truncated(policy):
    model, tok = policy
    outs = {0: "no answer here", 1: "Goal 75 from [3, 7, 25, 50] and a long search that never ends"}
    with scripted(model, tok, lambda turn, row: outs[row]):
        ev = evaluate_countdown(model, tok, PAIR, SamplingConfig(max_new_tokens=8))
    s = ev.summary
    assert (s["n_correct"], s["n_partial"], s["n_failed"]) == (0, 0, 2)
    assert [r["stopped"] for r in ev.rows] == [True, False] and ev.rows[1]["n_tokens"] == 8
    assert s["mean_output_tokens"] == (n_tok(tok, outs[0]) + 8) / 2


def test_countdown_eval_with_an_untrained_model(policy):
    model, tok = policy
    ev = evaluate_countdown(model, tok, PAIR, SamplingConfig(max_new_tokens=16))
    s = ev.summary
    assert s["n_correct"] + s["n_partial"] + s["n_failed"] == 2
    assert all(1 <= r["n_tokens"] <= 16 for r in ev.rows) and 0 < s["budget_utilisation"] <= 1


def test_ordebug_lockstep_oracle_script_is_stored_as_success(policy, instances, tmp_path):
    model, tok = policy

    def oracle(turn, row):
        inst = instances[row]
        steps = ["GET_IIS", *inst.true_repair, "SUBMIT " + " ".join(inst.root_cause)]
        return f"<action>{steps[turn]}</action>"

    assert [len(i.true_repair) for i in instances] == [1, 1]  # both episodes last 3 turns
    db = tmp_path / "results.sqlite"
    with scripted(model, tok, oracle) as state:
        df, episodes = evaluate_lm(model, tok, instances, db, "scripted-oracle", max_turns=6, batch_size=2,
                                   sampling=SamplingConfig(max_new_tokens=64))
    assert state["turn"] == 2  # three generate calls (turns 0, 1, 2) for both episodes together
    assert len(df) == 2 and set(df["instance_id"]) == {i.id for i in instances}
    assert df["feasible_end"].tolist() == [True, True] and df["rr_at_5"].tolist() == [True, True]
    assert df["faithful"].tolist() == [True, True] and df["diagnosis_recall"].tolist() == [1.0, 1.0]
    assert df["steps"].tolist() == [3, 3] and set(df["failure_class"]) == {"success"}
    ep = episodes[0]
    assert [m["role"] for m in ep.messages] == ["user", "assistant"] * 3
    assert ep.messages[1]["content"] == "<action>GET_IIS</action>" and ep.context_trims == 0
    stored = load_results(db, policy="scripted-oracle")
    assert stored["trajectory"].map(len).tolist() == [3, 3]
    # resuming runs nothing and returns the stored rows
    df2, again = evaluate_lm(model, tok, instances, db, "scripted-oracle", max_turns=6, batch_size=2)
    assert again == [] and len(df2) == 2


def test_ordebug_episodes_step_together_and_finish_separately(policy, instances):
    model, tok = policy
    live_per_call = []
    script = {0: ["<action>SUBMIT nothing</action>"], 1: ["<action>GET_IIS</action>", "bad action",
                                                           "<action>SUBMIT x</action>"]}

    def text(turn, row):  # after turn 0 only episode 1 is live, as row 0
        return script[0][0] if (turn == 0 and row == 0) else script[1][turn]

    with scripted(model, tok, text):
        eps = run_lm_episodes(model, tok, instances, sampling=SamplingConfig(max_new_tokens=32),
                              on_generate=live_per_call.append)
    assert live_per_call == [2, 1, 1]
    assert [e.outcome.steps for e in eps] == [1, 3] and all(e.outcome.submitted for e in eps)
    assert eps[1].outcome.trajectory[1].error is not None  # malformed action: an error observation, not a crash
    assert eps[1].messages[3]["content"] == "bad action" and "ERROR" in eps[1].messages[4]["content"]


def test_untrained_model_runs_out_of_steps(policy, instances, tmp_path):
    model, tok = policy
    df, eps = evaluate_lm(model, tok, instances, tmp_path / "r.sqlite", "tiny-random", max_turns=2, batch_size=2,
                          sampling=SamplingConfig(max_new_tokens=6))
    assert df["steps"].tolist() == [2, 2] and set(df["failure_class"]) == {"timeout"}
    assert all(len(e.output_tokens) == 2 and max(e.output_tokens) <= 6 for e in eps)


def test_fit_context_keeps_the_first_observation(policy):
    _, tok = policy
    msgs = [{"role": "user", "content": "model listing " * 20}]
    for k in range(6):
        msgs += [{"role": "assistant", "content": f"<action>INSPECT c{k}</action>"},
                 {"role": "user", "content": f"observation {k} " * 5}]
    n_tokens = lambda m: len(render_prompts(tok, [m])[0])  # noqa: E731
    kept, trimmed = fit_context(tok, msgs, n_tokens(msgs))
    assert kept == msgs and not trimmed
    budget = n_tokens(msgs[:1] + msgs[-4:])  # room for the first observation and the last two turns
    kept, trimmed = fit_context(tok, msgs, budget)
    assert trimmed and kept == msgs[:1] + msgs[-4:]
    with pytest.raises(ValueError, match="exceed max_prompt_tokens"):
        fit_context(tok, msgs, n_tokens(msgs[:1] + msgs[-2:]) - 1)
    for limit in (n_tokens(msgs), budget):  # the ids it measured are the fitted prompt's, whole or trimmed
        kept, ids, trimmed = fit_context_ids(tok, msgs, limit)
        assert (kept, trimmed) == fit_context(tok, msgs, limit) and ids == render_prompts(tok, [kept])[0]


def test_countdown_eval_through_the_static_engine_gives_the_generate_rows(policy):
    """Evaluation through the engine (#19 item 1): same greedy ids, rewards and counts as model.generate,
    in the instances' order, whatever the engine's batch size."""
    model, tok = policy
    more = PAIR + [CountdownInstance((1, 5, 9), 45, "(9 * 5) * 1"), CountdownInstance((6, 2), 3, "6 / 2")]
    ref = evaluate_countdown(model, tok, more, SamplingConfig(max_new_tokens=24, batch_size=4))
    for batch in (4, 3):
        ev = evaluate_countdown(model, tok, more, SamplingConfig(max_new_tokens=24, batch_size=batch), engine="static")
        assert [r["completion"] for r in ev.rows] == [r["completion"] for r in ref.rows]
        assert [(r["reward"], r["n_tokens"], r["stopped"], r["prompt_tokens"]) for r in ev.rows] == \
            [(r["reward"], r["n_tokens"], r["stopped"], r["prompt_tokens"]) for r in ref.rows]
        assert ev.summary == ref.summary
    with pytest.raises(ValueError, match="engine must be"):
        evaluate_countdown(model, tok, PAIR, SamplingConfig(max_new_tokens=4), engine="vllm")
    with pytest.raises(ValueError, match="options of the 'static' engine"):
        evaluate_countdown(model, tok, PAIR, SamplingConfig(max_new_tokens=4), engine_options={"kv_bucket": 64})
