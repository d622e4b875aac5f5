"""OR-Debug warm start: per-turn records train on one action each (never on injected mistakes), every
recovery demonstration replays to a successful episode, baselines in workers match the sequential
evaluation, and ``ordebug_warm_start`` runs end to end on the tiny preset."""
from dataclasses import replace

import pytest

from ordebug_lib.ordebug.env import RepairEnv
from ordebug_lib.ordebug.results import evaluate, load_results
from ordebug_lib.ordebug.saboteur import make_instance
from ordebug_lib.policy.data import parallel_baselines, parallel_recoveries
from ordebug_lib.policy.loader import load_policy
from ordebug_lib.policy.ordebug_episodes import (
    RECOVERY_KINDS, episode_env_config, expert_transcript, recovery_transcripts,
)
from ordebug_lib.policy.ordebug_sft import OrdebugSFTConfig, check_config, ordebug_warm_start, records_of
from ordebug_lib.policy.sft import SFTRunConfig, make_trainer, trained_token_texts, turn_records
from ordebug_lib.policy.tokenizer import EOS_TOKEN

CELLS = [("production_planning", t, 0) for t in "ABCEFGHI"] + [("transportation", "D", 0)]


@pytest.fixture(scope="module")
def instances():
    return [make_instance(f, t, "easy", seed=s) for f, t, s in CELLS]


@pytest.fixture(scope="module")
def recoveries(instances):
    return parallel_recoveries(instances, RECOVERY_KINDS, n_wrong=2, env_config=episode_env_config(20), workers=2)


@pytest.fixture(scope="module")
def recoveries_all(instances):
    """Also the demos whose mistake leaves the model feasible (``observable_only=False``)."""
    return parallel_recoveries(instances, RECOVERY_KINDS, n_wrong=2, env_config=episode_env_config(20), workers=2,
                               observable_only=False)


def _state_after_mistake(t):
    return t.messages[2 * t.trained_turns[0]]["content"]


@pytest.mark.parametrize("which", ["observable", "all"])
def test_every_recovery_demo_replays_to_a_successful_episode(instances, recoveries, recoveries_all, which):
    kept, counts = recoveries if which == "observable" else recoveries_all
    by_id = {i.id: i for i in instances}
    kinds = {t.policy for t in kept}
    if which == "all":
        assert kinds == {f"recovery:{k}" for k in RECOVERY_KINDS}
    else:  # the search baseline's first repair always restores feasibility on these instances
        assert kinds == {f"recovery:{k}" for k in RECOVERY_KINDS if k != "search_repair"}
    assert sum(c["kept"] for c in counts.values()) == len(kept) >= 30  # measured: 43 / 69 of 9 instances
    for t in kept:
        inst = by_id[t.instance_id]
        env = RepairEnv(inst, episode_env_config(20))
        obs, info = env.reset()
        actions = [m["content"] for m in t.messages if m["role"] == "assistant"]
        users = [m["content"] for m in t.messages if m["role"] == "user"]
        for k, a in enumerate(actions):
            assert users[k] == obs  # the demo's observations are the env's
            obs, _, term, trunc, info = env.step(a)
        o = env.outcome()
        assert o.submitted and o.faithful and set(o.diagnosis) == set(inst.root_cause), t.policy
        # the trained turns are the continuation: it starts after the mistake and runs to the SUBMIT
        assert t.trained_turns == list(range(t.trained_turns[0], len(actions))) and t.trained_turns[0] >= 2
        mistake = actions[t.trained_turns[0] - 1]
        bare = mistake.removeprefix("<action>").removesuffix("</action>")
        if t.policy in ("recovery:wrong_repair", "recovery:repeat_repair", "recovery:search_repair",
                        "recovery:near_miss"):
            assert actions[t.trained_turns[0]] == "<action>RESET</action>"
            assert bare not in inst.true_repair
        if t.policy == "recovery:near_miss":  # the verb of the true repair, another target
            assert bare.split()[0] in {a.split()[0] for a in inst.true_repair}
        if t.policy == "recovery:rejected_action":  # refused, and the continuation is the true repair
            assert "ERROR: no " in _state_after_mistake(t) and "Solver status: INFEASIBLE" in _state_after_mistake(t)
            assert actions[t.trained_turns[0]:-1] == [f"<action>{a}</action>" for a in inst.true_repair]
        if t.policy == "recovery:repeat_get_iis":
            assert actions[:2] == ["<action>GET_IIS</action>"] * 2


def test_observable_only_drops_mistakes_that_look_solved(recoveries, recoveries_all):
    """A RESET after a feasible (OPTIMAL) state is never trained by default; without the filter such
    demos exist (and these are the states where the expert demos SUBMIT)."""
    looks_solved = lambda t: "Solver status: OPTIMAL" in _state_after_mistake(t)
    assert not any(looks_solved(t) for t in recoveries[0])
    solved_all = [t for t in recoveries_all[0] if looks_solved(t)]
    assert solved_all and len(recoveries_all[0]) - len(solved_all) == len(recoveries[0])
    assert sum(c.get("looks_solved", 0) for c in recoveries[1].values()) == len(solved_all)


def test_per_turn_records_train_on_one_action_never_on_the_mistake(instances, recoveries):
    kept, _ = recoveries
    t = next(t for t in kept if t.policy == "recovery:wrong_repair")
    records = turn_records(t.messages, t.trained_turns)
    assert len(records) == len(t.trained_turns)
    model, tok = load_policy("tiny", seed=0)
    trainer = make_trainer(model, tok, records, SFTRunConfig(max_steps=1, max_length=4096))
    actions = [m["content"] for m in t.messages if m["role"] == "assistant"]
    mistake = actions[t.trained_turns[0] - 1]
    for i, k in enumerate(t.trained_turns):
        covered, context = trained_token_texts(trainer, i)
        assert covered == actions[k] + EOS_TOKEN  # exactly this action and its EOS
        assert mistake in context and context.endswith("<|im_start|>assistant\n")
        for m in t.messages[: 2 * k + 1]:  # the whole conversation so far is the prompt
            assert m["content"] in context


def test_records_of_drops_duplicates_and_refuses_partial_multi_turn(instances, recoveries):
    a = expert_transcript(instances[0], "oracle_iis")
    recs, src = records_of([a, a], per_turn=True)
    assert len(recs) == len(a.messages) // 2 and set(src) == {"oracle_iis"}
    with pytest.raises(ValueError, match="use per_turn"):
        records_of(recoveries[0][:1], per_turn=False)
    with pytest.raises(ValueError, match="need per_turn=True"):
        check_config(OrdebugSFTConfig(per_turn=False))
    with pytest.raises(ValueError, match="unknown recovery kinds"):
        recovery_transcripts(instances[0], ["typo"])


def test_parallel_baselines_write_the_rows_of_a_sequential_evaluation(instances, tmp_path):
    from ordebug_lib.ordebug.baselines import GreedyIISDropPolicy, RandomPolicy

    insts = instances[:4]
    evaluate(RandomPolicy(seed=3), insts, tmp_path / "seq.sqlite", "random", seed=3, max_turns=6, progress=False)
    evaluate(GreedyIISDropPolicy(), insts, tmp_path / "seq.sqlite", "greedy", seed=3, max_turns=6, progress=False)
    parallel_baselines(["random", "greedy"], insts, tmp_path / "par.sqlite", seed=3, max_turns=6, workers=2)
    cols = ["policy", "instance_id", "steps", "submitted", "diagnosis", "final_status", "faithful"]
    seq, par = (load_results(tmp_path / f"{n}.sqlite").sort_values(["policy", "instance_id"])[cols]
                .reset_index(drop=True) for n in ("seq", "par"))
    assert len(seq) == 8 and seq.equals(par)


@pytest.mark.slow
def test_ordebug_warm_start_runs_end_to_end_on_the_tiny_preset(tmp_path):
    cfg = OrdebugSFTConfig(
        model="tiny", bench_n_per_cell=2, bench_error_types="AFH", n_val=2, max_turns=8, workers=2,
        sft=SFTRunConfig(max_steps=4, learning_rate=5e-3, batch_size=2, max_length=2048, logging_steps=1,
                         eval_steps=2, eval_batch_size=4, keep_best=True))
    ws = ordebug_warm_start(cfg, tmp_path / "run", device="cpu", save_dir=tmp_path / "model")
    d = ws.data
    print(d)
    assert d["n_records"] == sum(d["n_records_by_source"].values()) > 0
    assert any(s.startswith("recovery:") for s in d["n_records_by_source"])
    assert ws.sft.best_step in (0, 2, 4) and [s for s, _ in ws.sft.eval_curve] == [0, 2, 4]
    assert (tmp_path / "run" / "benchmark" / "manifest.json").exists()
    again = load_policy(ws.model_dir)
    assert again.source == "local" and len(again.tokenizer) == len(ws.policy.tokenizer)


def test_action_profile_counts_kinds_repeats_and_missing_submits(instances):
    from ordebug_lib.ordebug.env import run_episode
    from ordebug_lib.policy.ordebug_episodes import LMEpisode, action_profile, profile_summary

    class Script:
        def __init__(self, actions):
            self.actions = list(actions)

        def act(self, obs, info):
            return self.actions[info["step"]]

    inst = instances[0]
    looping = ["GET_IIS", "GET_IIS", "nonsense here", "DROP no_such_row", "GET_IIS", "GET_IIS"]
    good = ["GET_IIS", *inst.true_repair, "SUBMIT " + " ".join(inst.root_cause)]
    eps = [LMEpisode(inst.id, [], run_episode(RepairEnv(inst, episode_env_config(6)), Script(a)))
           for a in (looping, good)]
    prof = action_profile(eps)
    loop, ok = prof.iloc[0], prof.iloc[1]
    assert (loop["GET_IIS"], loop["malformed"], loop["DROP"], loop["rejected"], loop["SUBMIT"]) == (4, 1, 1, 1, 0)
    assert loop["timed_out"] and not loop["submitted"] and not loop["success"]
    assert loop["repeat_frac"] == 3 / 6 and loop["consecutive_repeat_frac"] == 2 / 6
    assert ok["success"] and ok["SUBMIT"] == 1 and ok["repeat_frac"] == 0
    s = profile_summary(prof)
    assert s["never_submitted"] == 1 and s["successes"] == 1 and s["action_share"]["GET_IIS"] == 5 / (6 + len(good))


def test_demonstrations_come_from_a_larger_build_when_given_and_a_leaking_one_is_refused(tmp_path):
    # also the language-modelling phase before SFT (pretrain_steps) on the slack transcripts
    from ordebug_lib.ordebug.dataset import build_benchmark, read_index

    small = build_benchmark(tmp_path / "small", 2, error_types="AFH", difficulties=("easy",), progress=False)
    large = build_benchmark(tmp_path / "large", 6, error_types="AFH", difficulties=("easy",), progress=False)
    cfg = OrdebugSFTConfig(
        model="tiny", benchmark_dir=str(small), train_benchmark_dir=str(large), experts=("slack",), recovery=(),
        n_val=2, max_turns=8, workers=2, pretrain_steps=4, pretrain_learning_rate=5e-3,
        sft=SFTRunConfig(max_steps=1, learning_rate=1e-4, batch_size=2, max_length=2048, logging_steps=1,
                         eval_steps=2, eval_batch_size=4, keep_best=True))
    ws = ordebug_warm_start(cfg, tmp_path / "run", device="cpu")
    d = ws.data
    pre = d["pretrain"]
    assert pre["n_records"] + pre["n_dropped_too_long"] == d["expert_episodes"]["slack"]["kept"] > 0
    assert [s for s, _ in pre["train_curve"]] == [1, 2, 3, 4] and [s for s, _ in pre["eval_curve"]] == [0, 2, 4]
    assert pre["eval_curve"][-1][1] < pre["eval_curve"][0][1] - 0.5  # from scratch: ~ln(vocab) down fast
    # SFT starts from the pretrained weights: its step-0 loss on the actions is already far below a fresh model's
    assert ws.sft.eval_curve[0][1] < pre["eval_curve"][0][1] - 0.5
    assert ws.benchmark == small and d["train_benchmark"] == str(large)
    assert d["n_train_instances"] == len(read_index(large, "train")) > len(read_index(small, "train"))
    assert d["splits_apart"]["shared"] == 0 and d["splits_apart"]["test_rows"] == len(read_index(small, "test")) > 0
    leak = build_benchmark(tmp_path / "leak", 2, error_types="AFH", difficulties=("easy",), seed=1, progress=False)
    with pytest.raises(ValueError, match="different"):
        ordebug_warm_start(replace(cfg, train_benchmark_dir=str(leak)), tmp_path / "run2", device="cpu")
    assert pre["learning_rate"] == 5e-3
