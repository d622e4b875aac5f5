"""Baseline policies and the resumable SQLite evaluation, on hand-built instances with known answers."""
import doctest
import importlib.util
import sqlite3

import pytest

from ordebug_lib.ordebug import baselines, results
from ordebug_lib.ordebug.baselines import (GreedyIISDropPolicy, OraclePolicy, PolicyError, RandomPolicy,
                                           SearchConfig, SearchRepairPolicy, SlackRelaxPolicy, blamed_tokens,
                                           read_slack_answer)
from ordebug_lib.ordebug.env import EnvConfig, RepairEnv, run_episode, run_lockstep
from ordebug_lib.ordebug.metrics import aggregate
from ordebug_lib.ordebug.results import evaluate, load_failures, load_results
from ordebug_handmade import all_instances, blend_type, production_flip, production_two, staffing_bound


def actions_of(outcome):
    return [s.action_text for s in outcome.trajectory]


def test_module_doctests_pass():
    for module in (baselines, results):
        assert doctest.testmod(module).failed == 0


def test_oracle_reaches_full_faithful_recovery(tmp_path):
    df = evaluate(OraclePolicy, all_instances(), tmp_path / "r.sqlite", "oracle", progress=False)
    agg = aggregate(df).loc["all"]
    assert agg["n"] == 4 and agg["faithful_recovery"] == 1.0 and agg["DA"] == 1.0 and agg["RR@5"] == 1.0
    assert set(df["failure_class"]) == {"success"}
    assert (df["reward_composite"] >= 98.0).all()


def test_greedy_drops_iis_rows_until_feasible():
    out = run_episode(RepairEnv(production_flip()), GreedyIISDropPolicy())
    assert actions_of(out) == ["GET_IIS", "DROP cap_assembly", "SUBMIT cap_assembly"]
    assert out.faithful  # cap_assembly was slack in the original: dropping it keeps z* = 195
    out = run_episode(RepairEnv(staffing_bound()), GreedyIISDropPolicy())
    assert actions_of(out) == ["GET_IIS", "DROP cover_total", "GET_IIS", "DROP cover_night",
                               "SUBMIT cover_total cover_night"]
    assert out.feasible_end and not out.faithful and out.final_objective == 0.0  # the trivial "repair"
    out = run_episode(RepairEnv(production_two()), GreedyIISDropPolicy())
    assert out.final_status == "UNBOUNDED" and out.submitted  # a drop that unbounds ends the episode


def test_greedy_relaxes_a_bound_when_the_iis_has_no_rows():
    from ordebug_lib.ordebug.model import LinearModel

    m = LinearModel("bounds_only")
    m.add_var("x", lb=5, ub=3)  # lb > ub: the IIS is the two bounds
    info = {"status": "INFEASIBLE", "iis": ["x.lb", "x.ub"], "model": m, "history": []}
    assert GreedyIISDropPolicy().act("", info) == "SET_BOUNDS x -inf 3.0"


def test_greedy_times_out_cleanly_on_a_small_budget():
    out = run_episode(RepairEnv(staffing_bound(), EnvConfig(max_turns=3)), GreedyIISDropPolicy())
    assert out.truncated and not out.submitted and out.steps == 3


def test_search_repairs_faithfully_where_the_structure_allows():
    for make, action, blame in [(production_flip, "FLIP_SENSE cap_assembly", ["cap_assembly"]),
                                (blend_type, "SET_VTYPE liters C", ["liters.type"]),
                                (staffing_bound, "SET_BOUNDS night_staff 0.0 12.0", ["night_staff.ub"])]:
        policy = SearchRepairPolicy()
        out = run_episode(RepairEnv(make()), policy)
        assert actions_of(out) == ["GET_IIS", "CHECK_SLACK", action, " ".join(["SUBMIT", *blame])]
        assert out.faithful and out.diagnosis == blame


def test_search_ranking_prefers_smaller_changes():
    policy = SearchRepairPolicy()
    run_episode(RepairEnv(production_flip()), policy)
    decision = policy.last_decision
    assert decision["mode"] == "restore" and decision["chosen"].tier == 0
    tried = {c.action: c.status for c in decision["candidates"]}
    assert tried["FLIP_SENSE cap_paint"] == "UNBOUNDED"          # rejected: not feasible-and-bounded
    assert tried["DROP cap_assembly"] == "OPTIMAL"                 # restores too, but a drop is the last resort
    # cap_paint alone must allow a + b + c <= 43.33 (CHECK_SLACK's answer too): feasible, z = 250
    assert tried["RELAX cap_paint 13.333333333333329"] == "OPTIMAL"
    assert decision["reference_objective"] == pytest.approx(250.0)


def test_search_on_two_errors_ends_feasible_but_not_faithful():
    # Documented limit: one relaxation of cap_paint by 40 restores feasibility (z = 330 != 195).
    out = run_episode(RepairEnv(production_two()), SearchRepairPolicy())
    assert out.feasible_end and out.faithful is False and out.diagnosis == ["cap_paint"]


def test_search_without_check_slack_and_policy_errors():
    out = run_episode(RepairEnv(production_flip()), SearchRepairPolicy(SearchConfig(use_check_slack=False)))
    assert actions_of(out) == ["GET_IIS", "FLIP_SENSE cap_assembly", "SUBMIT cap_assembly"]
    feasible = production_flip().original
    for policy in (GreedyIISDropPolicy(), SearchRepairPolicy()):
        env = RepairEnv(feasible)
        obs, info = env.reset()
        with pytest.raises(PolicyError, match="nothing to debug"):
            policy.act(obs, info)


def test_slack_policy_copies_check_slack_and_submits_what_it_moved():
    expected = {  # every argument is the text of the CHECK_SLACK answer (see test_ordebug_env)
        "hand-A-production": ["CHECK_SLACK", "RELAX cap_paint 13.3334", "SUBMIT cap_paint"],
        "hand-H-staffing": ["CHECK_SLACK", "RELAX night_staff.ub 4", "SUBMIT night_staff.ub"],
        "hand-B-blend": ["CHECK_SLACK", "SET_RHS pour 6", "SUBMIT pour"],
        "hand-E-production": ["CHECK_SLACK", "RELAX cap_paint 40", "SUBMIT cap_paint"],
    }
    faithful = {}
    for inst in all_instances():
        out = run_episode(RepairEnv(inst), SlackRelaxPolicy())
        assert actions_of(out) == expected[inst.id] and out.feasible_end
        faithful[inst.id] = out.faithful
    # reading alone cannot know the original optimum: only the bound of H is the minimal move
    assert faithful == {"hand-A-production": False, "hand-H-staffing": True, "hand-B-blend": False,
                        "hand-E-production": False}


def test_slack_policy_moves_members_one_by_one_then_asks_again():
    ask = {"action": "CHECK_SLACK", "ok": True, "changed": [], "status": "INFEASIBLE",
           "result": "minimum total violation 3; these must move: cap by 1, x.lb by 2"}
    relax_cap = {"action": "RELAX cap 1", "ok": True, "changed": ["cap"], "status": "INFEASIBLE", "result": "..."}
    refused = {"action": "RELAX x.lb 2", "ok": False, "changed": [], "status": "INFEASIBLE", "result": "ERROR"}
    info = {"status": "INFEASIBLE", "history": [ask], "slack": None, "slack_unavailable": None}
    policy = SlackRelaxPolicy()
    assert policy.act("", info) == "RELAX cap 1"
    assert policy.act("", {**info, "history": [ask, relax_cap]}) == "RELAX x.lb 2"
    assert policy.act("", {**info, "history": [ask, relax_cap, refused]}) == "CHECK_SLACK"  # not sent twice
    assert policy.act("", {**info, "history": []}) == "CHECK_SLACK"
    done = {**info, "status": "OPTIMAL", "history": [ask, relax_cap]}
    assert policy.act("", done) == "SUBMIT cap"
    with pytest.raises(PolicyError, match="cannot read CHECK_SLACK item"):
        read_slack_answer("minimum total violation 1; these must move: cap by")


def test_random_policy_is_seeded_and_always_ends():
    def run(seed):
        return [actions_of(run_episode(RepairEnv(inst, EnvConfig(max_turns=8)), RandomPolicy(), seed=seed))
                for inst in all_instances()]

    first = run(3)
    assert first == run(3) and first != run(4)
    for acts in first:
        assert 1 <= len(acts) <= 8 and (acts[-1].startswith("SUBMIT") or len(acts) == 8)
    assert any(a.split()[0] not in ("SUBMIT", "GET_IIS", "CHECK_SLACK", "RESET") for acts in first for a in acts)


def test_lockstep_matches_sequential_and_refuses_stateful_policies():
    insts = all_instances()
    seq = [run_episode(RepairEnv(i), GreedyIISDropPolicy()) for i in insts]
    lock = run_lockstep([RepairEnv(i) for i in insts], GreedyIISDropPolicy())
    assert [actions_of(o) for o in seq] == [actions_of(o) for o in lock]
    with pytest.raises(ValueError, match="batch_safe"):
        run_lockstep([RepairEnv(i) for i in insts], RandomPolicy())
    with pytest.raises(ValueError, match="2 observations but 1 infos"):
        GreedyIISDropPolicy().act_batch(["a", "b"], [{}])


def test_blamed_tokens_follow_changes_and_reset():
    hist = [{"action": "DROP a", "ok": True, "changed": ["a"]},
            {"action": "DROP zz", "ok": False, "changed": []},
            {"action": "SET_VTYPE y C", "ok": True, "changed": ["y.type"]}]
    assert blamed_tokens(hist) == ["a", "y.type"]


def test_evaluate_is_resumable_and_stores_trajectories(tmp_path):
    db = tmp_path / "runs" / "eval.sqlite"
    insts = all_instances()

    class Counting(GreedyIISDropPolicy):
        episodes = 0

        def reset(self, seed=None):
            Counting.episodes += 1

    df = evaluate(Counting(), insts[:2], db, "greedy", seed=0, max_turns=10, progress=False)
    assert len(df) == 2 and Counting.episodes == 2
    df = evaluate(Counting(), insts, db, "greedy", seed=0, max_turns=10, progress=False)
    assert len(df) == 4 and Counting.episodes == 4  # only the two new instances ran
    with pytest.raises(ValueError, match="another max_turns"):
        evaluate(Counting(), insts, db, "greedy", seed=0, max_turns=20, progress=False)
    evaluate(GreedyIISDropPolicy(), insts, db, "greedy", seed=1, max_turns=10, progress=False, batch_size=3)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM episodes").fetchone()[0] == 8
        with pytest.raises(sqlite3.IntegrityError):  # (policy, instance_id, seed) is the primary key
            conn.execute("INSERT INTO episodes (policy, instance_id, seed) VALUES ('greedy', ?, 0)", (insts[0].id,))
    all_rows = load_results(db)
    assert len(all_rows) == 8 and set(all_rows["seed"]) == {0, 1}
    row = all_rows[(all_rows["instance_id"] == "hand-H-staffing") & (all_rows["seed"] == 0)].iloc[0]
    assert row["family"] == "staffing" and row["error_type"] == "H" and row["split"] == "test"
    assert row["feasible_end"] is True and row["faithful"] is False and row["failure_class"] == "wrong_fix"
    assert row["root_cause"] == ["night_staff.ub"] and row["diagnosis"] == ["cover_total", "cover_night"]
    assert [s["action"] for s in row["trajectory"]][:2] == ["GET_IIS", "DROP cover_total"]
    assert row["trajectory"][0]["iis_size"] == 3
    # the two seeds of a deterministic policy agree
    by_seed = all_rows.pivot(index="instance_id", columns="seed", values="failure_class")
    assert (by_seed[0] == by_seed[1]).all()
    failures = load_failures(db, policy="greedy")
    assert set(failures["failure_class"]) <= {"timeout", "wrong_fix", "wrong_diagnosis", "partial_diagnosis"}
    assert len(failures) == 6  # production_flip succeeds on both seeds, the other three fail
    with pytest.raises(ValueError, match="unknown failure class"):
        load_failures(db, classes=["oops"])
    with pytest.raises(ValueError, match="factory"):
        evaluate(OraclePolicy, insts, db, "oracle", progress=False, batch_size=2)


def _saboteur_make_instance():
    """The benchmark builder's ``make_instance`` (another engineer's module), or None while it is absent."""
    if importlib.util.find_spec("ordebug_lib.ordebug.saboteur") is None:
        return None
    from ordebug_lib.ordebug import saboteur

    return getattr(saboteur, "make_instance", None)


@pytest.mark.skipif(_saboteur_make_instance() is None,
                    reason="ordebug_lib.ordebug.saboteur.make_instance (the benchmark builder, another engineer's "
                           "module) is not in this tree")
@pytest.mark.parametrize("family, error_type", [("production_planning", "A"), ("production_planning", "H"),
                                                ("transportation", "D"), ("diet", "B")])
def test_generated_instances_oracle_faithful_and_baselines_run(family, error_type):
    inst = _saboteur_make_instance()(family, error_type, "easy", seed=0)
    out = run_episode(RepairEnv(inst), OraclePolicy(inst))
    assert out.faithful and out.submitted and out.diagnosis == inst.root_cause
    for policy in (GreedyIISDropPolicy(), SearchRepairPolicy()):
        out = run_episode(RepairEnv(inst), policy)
        assert out.submitted or out.truncated


def test_a_results_database_of_another_version_is_refused(tmp_path):
    from ordebug_lib.ordebug.results import connect

    db = tmp_path / "old.sqlite"
    with sqlite3.connect(db) as conn:  # a v1 table: no exact_repair column
        conn.execute("CREATE TABLE episodes (policy TEXT, instance_id TEXT, seed INTEGER, faithful INTEGER)")
    with pytest.raises(ValueError, match=r"another version of ordebug .*exact_repair"):
        connect(db)


def test_the_episode_budget_is_stored_under_its_old_column_name(tmp_path):
    """Databases written before the rename (issue 18: ``max_steps`` became ``max_turns``) stay readable and
    resumable: the column keeps its stored name, rows and DataFrames call it max_turns."""
    db = tmp_path / "eval.sqlite"
    insts = all_instances()[:2]
    evaluate(GreedyIISDropPolicy(), insts, db, "greedy", seed=0, max_turns=7, progress=False)
    with sqlite3.connect(db) as conn:
        cols = [r[1] for r in conn.execute("PRAGMA table_info(episodes)")]
        assert "max_steps" in cols and "max_turns" not in cols
        assert {r[0] for r in conn.execute("SELECT max_steps FROM episodes")} == {7}
    df = load_results(db)
    assert "max_steps" not in df.columns and set(df["max_turns"]) == {7}
    with pytest.raises(ValueError, match="another max_turns"):  # resuming reads the stored budget
        evaluate(GreedyIISDropPolicy(), insts, db, "greedy", seed=0, max_turns=8, progress=False)
