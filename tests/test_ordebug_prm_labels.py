"""PRM step labels (issue 22, item 1): the seed label from solver feedback, the ground-truth progress label,
labelling of stored episodes by replay, and the label distribution. Hand-built episodes on the handmade
instances, where each label is known by construction, then baselines evaluated into a results database."""
import json
import sqlite3

import pytest

from ordebug_lib.ordebug.baselines import GreedyIISDropPolicy, OraclePolicy, RandomPolicy
from ordebug_lib.ordebug.dataset import build_benchmark, load_benchmark
from ordebug_lib.ordebug.env import EnvConfig, progress_labels
from ordebug_lib.ordebug.instance import Instance
from ordebug_lib.ordebug.prm_labels import (SEED_LEVELS, ReplayMismatch, changed_elements, label_distribution,
                                            label_episodes, progress_label, replay_episode, seed_label,
                                            seed_labels, start_reference)
from ordebug_lib.ordebug.results import evaluate, load_results
from ordebug_handmade import blend_type, production_flip, production_two, staffing_bound


def labels_of(inst: Instance, actions: list[str], max_turns: int = 20):
    """Play ``actions`` on ``inst``; return (seed labels, progress dicts, outcome)."""
    outcome, models = replay_episode(inst, [{"action_text": a} for a in actions],
                                     EnvConfig(max_turns=max_turns), truncated=True)
    seeds = seed_labels(outcome.trajectory, outcome.initial_status, outcome.initial_iis_size,
                        start_reference(inst))
    progress = [progress_label(inst, b, a, s.action) for s, b, a in zip(outcome.trajectory, models, models[1:])]
    return seeds, progress, outcome


def with_added_row() -> Instance:
    """production_flip's original plus an injected row min_c: make_c >= 40, which cap_paint (<= 30) contradicts."""
    inst = production_flip("hand-D-production")
    inst.sabotaged = inst.original.copy()
    inst.sabotaged.add_constr("min_c", {"make_c": 1}, ">=", 40)
    inst.error_type, inst.root_cause, inst.true_repair = "D", ["min_c"], ["DROP min_c"]
    return inst


# -- hand-built episodes -----------------------------------------------------------------------------
def test_restoring_the_injected_rhs_removes_the_error_though_the_iis_does_not_shrink():
    # production_two: demand_b's rhs was raised 5 -> 45. Restoring it is exact progress, but the IIS of what
    # remains has 4 members too, so the solver-feedback label sees nothing (test_ordebug_env shows the sizes).
    seeds, prog, _ = labels_of(production_two(), ["SET_RHS demand_b 5", "FLIP_SENSE cap_assembly"])
    assert prog[0] == {"removed_error": True, "toward_repair": True, "broke_correct": False,
                       "away_from_repair": False, "progress": 1, "changed": ["rhs(demand_b)"]}
    assert seeds == [0.0, 1.0]  # the second fix solves it: 1.0, and it also removes an error
    assert prog[1]["removed_error"] and prog[1]["progress"] == 1 and prog[1]["changed"] == ["sense(cap_assembly)"]


def test_editing_a_correct_row_breaks_it():
    seeds, prog, _ = labels_of(production_two(), ["SET_RHS cap_paint 60", "RELAX cap_assembly 40"])
    assert prog[0]["broke_correct"] and not prog[0]["removed_error"] and prog[0]["progress"] == -1
    assert prog[0]["changed"] == ["rhs(cap_paint)"]
    # RELAX of the flipped row moves its rhs, which was right: the unfaithful fix of ordebug_handmade is harm
    assert prog[1]["broke_correct"] and prog[1]["changed"] == ["rhs(cap_assembly)"] and prog[1]["progress"] == -1
    assert seeds[1] == 1.0  # ... though the solver calls it solved


def test_diagnostic_and_malformed_steps_change_nothing():
    seeds, prog, _ = labels_of(production_flip(), ["GET_IIS", "INSPECT cap_paint", "CHECK_SLACK", "DROP nope",
                                                   "FLY_SENSE cap_assembly"])
    assert seeds == [0.2, 0.2, 0.2, 0.0, 0.0]
    assert all(p["progress"] == 0 and p["changed"] == [] for p in prog)
    assert not any(p[k] for p in prog for k in ("removed_error", "toward_repair", "broke_correct", "away_from_repair"))


def test_submit_is_half_when_it_names_a_member_of_the_start_iis():
    # production_flip's start IIS: cap_assembly, cap_paint, make_a.lb, make_b.lb
    assert labels_of(production_flip(), ["FLIP_SENSE cap_assembly", "SUBMIT cap_assembly"])[0] == [1.0, 0.5]
    assert labels_of(production_flip(), ["SUBMIT demand_b make_c.ub"])[0] == [0.0]
    assert labels_of(production_flip(), ["SUBMIT demand_b cap_paint"])[0] == [0.5]  # in the IIS, not the root
    # a type error: the IIS ['pour'] lists no integrality, its integer variable's .type counts
    assert start_reference(blend_type()) == {"pour", "liters.type"}
    seeds, prog, _ = labels_of(blend_type(), ["SET_VTYPE liters C", "SUBMIT liters.type"])
    assert seeds == [1.0, 0.5] and prog[0]["removed_error"] and prog[0]["changed"] == ["vtype(liters)"]


def test_bound_moves_toward_away_and_back():
    # staffing_bound: night_staff.ub sabotaged 30 -> 8
    seeds, prog, _ = labels_of(staffing_bound(), ["SET_BOUNDS night_staff 0 20", "SET_BOUNDS night_staff 0 5",
                                                  "SET_BOUNDS night_staff 0 30", "SET_BOUNDS day_staff 0 60"])
    assert [(p["removed_error"], p["toward_repair"], p["away_from_repair"], p["broke_correct"], p["progress"])
            for p in prog] == [(False, True, False, False, 1), (False, False, True, False, -1),
                               (True, True, False, False, 1), (False, False, False, True, -1)]
    # 20 already solves (40 + 20 >= 50), 5 breaks it again, 30 solves again, day_staff: already solved
    assert seeds == [1.0, 0.0, 1.0, 0.0]


def test_iis_shrank_compares_the_iis_sizes_before_and_after_a_change():
    # staffing_bound's start IIS has 3 members (cover_total, day_staff.ub, night_staff.ub); dropping cover_total
    # leaves cover_night vs night_staff.ub: 2 members.
    seeds, prog, out = labels_of(staffing_bound(), ["DROP cover_total", "DROP cover_night"])
    assert out.initial_iis_size == 3 and out.trajectory[0].iis_size == 2
    assert seeds == [1.0, 1.0] and [p["progress"] for p in prog] == [-1, -1]  # both rows were right


def test_solved_is_a_transition_unlike_env_step_progress_label():
    _, _, out = labels_of(production_flip(), ["FLIP_SENSE cap_assembly", "SET_RHS demand_b 6"])
    ours = seed_labels(out.trajectory, out.initial_status, out.initial_iis_size, start_reference(production_flip()))
    assert ours == [1.0, 0.0]
    assert progress_labels(out) == [1.0, 1.0]  # env's label pays an edit of a model that is already OPTIMAL


def test_dropping_an_added_row_removes_it_and_editing_inside_it_is_neutral():
    inst = with_added_row()
    seeds, prog, _ = labels_of(inst, ["RELAX min_c 5", "DROP min_c"])
    assert prog[0]["changed"] == ["rhs(min_c)"] and prog[0]["progress"] == 0  # no original value to move toward
    assert prog[1]["removed_error"] and prog[1]["progress"] == 1 and "row(min_c)" in prog[1]["changed"]
    assert seeds[1] == 1.0
    # dropping the sabotaged (flipped) row is harm: the original keeps that row
    _, prog, _ = labels_of(production_flip(), ["DROP cap_assembly"])
    assert prog[0]["broke_correct"] and prog[0]["progress"] == -1


def test_reset_undoes_a_fix_or_a_break():
    _, prog, _ = labels_of(production_two(), ["SET_RHS demand_b 5", "RESET"])
    assert prog[1]["broke_correct"] and prog[1]["progress"] == -1 and prog[1]["changed"] == ["rhs(demand_b)"]
    _, prog, _ = labels_of(production_two(), ["SET_RHS cap_paint 60", "RESET"])
    assert prog[1]["removed_error"] and prog[1]["progress"] == 1


def test_harm_takes_precedence_in_a_mixed_step():
    # SET_BOUNDS restores night_staff.ub (30) and moves its lb 0 -> 2 (right before): -1
    p = labels_of(staffing_bound(), ["SET_BOUNDS night_staff 2 30"])[1][0]
    assert p["removed_error"] and p["broke_correct"] and p["progress"] == -1


def test_progress_label_checks_the_action_against_the_models():
    inst = production_flip()
    assert changed_elements(inst.sabotaged, inst.original) == ["sense(cap_assembly)"]
    with pytest.raises(ValueError, match="cannot change the model"):
        progress_label(inst, inst.sabotaged, inst.original, "GET_IIS")
    assert progress_label(inst, inst.sabotaged, inst.original)["progress"] == 1  # no action: the models decide


def test_seed_label_levels_are_the_four_of_the_seeds():
    step = dict(verb="RELAX", error=None, status="INFEASIBLE", feasible=False, iis_size=None, diagnosis=None)
    assert seed_label(step, "INFEASIBLE", 3, []) == 0.0  # the IIS after is unknown: no shrink
    assert seed_label(dict(step, verb="RESET", status="OPTIMAL", feasible=True), "INFEASIBLE", 3, []) == 1.0
    assert seed_label(dict(step, verb=None, error="unknown action"), "INFEASIBLE", 3, []) == 0.0
    assert set(SEED_LEVELS) == {1.0, 0.5, 0.2, 0.0}


# -- stored episodes, end to end ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    d = build_benchmark(tmp_path_factory.mktemp("bench"), 1, error_types="ABCDEH", difficulties=("easy",),
                        split_fractions=(0.5, 0.25, 0.25), progress=False)
    insts = load_benchmark(d)
    assert {i.meta["split"] for i in insts} == {"train", "val", "test"}
    db = tmp_path_factory.mktemp("db") / "results.sqlite"
    for policy, name in ((GreedyIISDropPolicy(), "greedy"), (RandomPolicy(seed=3), "random"),
                         (OraclePolicy, "oracle")):
        evaluate(policy, insts, db, name, max_turns=8, progress=False)
    return {i.id: i for i in insts}, db


def test_every_stored_train_and_val_step_gets_a_row(bench):
    by_id, db = bench
    stored = load_results(db)
    for split in ("train", "val"):
        df = label_episodes(db, by_id, split)
        rows = stored[stored["split"] == split]
        want = {(f"{r.policy}/{r.instance_id}/seed{r.seed}", k)
                for r in rows.itertuples() for k in range(1, r.steps + 1)}
        assert set(zip(df["episode_id"], df["step"])) == want and len(df) == len(want)
        assert set(df["split"]) == {split} and set(df["policy"]) == {"greedy", "random", "oracle"}
        texts = {(f"{r.policy}/{r.instance_id}/seed{r.seed}", s["index"]): s["action_text"]
                 for r in rows.itertuples() for s in r.trajectory}
        assert all(texts[(e, k)] == t for e, k, t in zip(df["episode_id"], df["step"], df["action_text"]))
        assert set(df["seed_label"]) <= set(SEED_LEVELS) and set(df["progress"]) <= {-1, 0, 1}
        # known by construction: each oracle edit undoes one injected error; every GET_IIS is 0.2 with no change
        oracle = df[(df["policy"] == "oracle") & (df["verb"] != "SUBMIT")]
        assert len(oracle) and oracle["removed_error"].all() and (oracle["progress"] == 1).all()
        iis = df[df["verb"] == "GET_IIS"]
        assert (iis["seed_label"] == 0.2).all() and (iis["progress"] == 0).all()


def test_test_split_is_refused_and_never_labelled(bench):
    by_id, db = bench
    with pytest.raises(ValueError, match="refuses the test split"):
        label_episodes(db, by_id, "test")
    with pytest.raises(ValueError, match="split must be one of"):
        label_episodes(db, by_id, "holdout")
    test_ids = {i for i, inst in by_id.items() if inst.meta["split"] == "test"}
    labelled = {i for split in ("train", "val") for i in label_episodes(db, by_id, split)["instance_id"]}
    assert test_ids and not test_ids & labelled


def test_replay_mismatch_and_missing_instances_raise(bench, tmp_path):
    by_id, db = bench
    stored = load_results(db, policy="greedy")
    row = stored[stored["split"] == "train"].iloc[0]
    traj = row["trajectory"]
    traj[0]["result"] = traj[0]["result"] + " (edited)"
    bad = tmp_path / "bad.sqlite"
    with sqlite3.connect(db) as src, sqlite3.connect(bad) as dst:
        src.backup(dst)
    with sqlite3.connect(bad) as conn:
        conn.execute("UPDATE episodes SET trajectory_json = ? WHERE policy = 'greedy' AND instance_id = ?",
                     (json.dumps(traj), row["instance_id"]))
    with pytest.raises(ReplayMismatch, match="step 1.*result replays as"):
        label_episodes(bad, by_id, "train", policy="greedy")
    with pytest.raises(KeyError, match="not in instances_by_id"):
        label_episodes(db, {k: v for k, v in by_id.items() if k != row["instance_id"]}, "train")


def test_replay_under_another_env_config_is_a_mismatch(bench, tmp_path):
    by_id, _ = bench
    train = [i for i in by_id.values() if i.meta["split"] == "train"]
    db = tmp_path / "untracked.sqlite"
    evaluate(GreedyIISDropPolicy(), train, db, "greedy", max_turns=8, progress=False,
             env_config=EnvConfig(track_iis=False))
    with pytest.raises(ReplayMismatch, match="iis_size replays as"):
        label_episodes(db, by_id, "train")
    assert len(label_episodes(db, by_id, "train", env_config=EnvConfig(track_iis=False)))


def test_distribution_shares_sum_to_one_per_group(bench):
    by_id, db = bench
    df = label_episodes(db, by_id, "train")
    table = label_distribution(df)
    assert set(table["group"]) == {"greedy", "random", "oracle", "all"}
    sums = table.groupby(["group", "label"])["share"].sum()
    assert len(sums) == 8 and all(abs(s - 1) < 1e-12 for s in sums)
    seed = table[(table["group"] == "all") & (table["label"] == "seed_label")].set_index("value")
    assert list(seed.index) == list(SEED_LEVELS)
    assert list(seed["n"]) == [int((df["seed_label"] == v).sum()) for v in SEED_LEVELS]
    assert (seed[["expected_low", "expected_high"]].to_numpy() == [[.2, .3], [.3, .4], [.1, .2], [.2, .3]]).all()
    with pytest.raises(ValueError, match="no labelled steps"):
        label_distribution(df.iloc[:0])
