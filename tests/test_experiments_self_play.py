"""E9 (issue 23; experiments/self_play.py, notebook 25): the failure curriculum's and the control's training sets,
the generated instances' validation and disjointness from val/test, each E9 arm's knob, the per-round paired tests,
and the notebook's smoke profile end to end.

One small benchmark (five easy error types of one family) is evaluated into a temporary results store by the
random baseline on its train and val splits, under the name the arms read (``DEFAULTS['warm_start_policy']``)."""
import json
import shutil
import sqlite3
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from ordebug_lib.experiments import self_play as sp
from ordebug_lib.experiments import weakness as W
from ordebug_lib.experiments.ordebug_rl import ARMS, KNOBS, LABEL, OrdebugArm, arm_jobs, knob_activity, make_arms
from ordebug_lib.experiments.stats import paired_test
from ordebug_lib.ordebug.baselines import RandomPolicy
from ordebug_lib.ordebug.dataset import build_benchmark, load_benchmark
from ordebug_lib.ordebug.results import evaluate
from ordebug_lib.ordebug.validation import validate

sys.path.insert(0, str(Path(__file__).parent))
from notebook_smoke import run_smoke  # noqa: E402

POLICY = sp.DEFAULTS["warm_start_policy"]


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    return build_benchmark(tmp_path_factory.mktemp("bench"), 6, error_types="ACDEH", difficulties=("easy",),
                           families=["diet"], split_fractions=(0.5, 0.25, 0.25), seed=1, progress=False)


@pytest.fixture(scope="module")
def train(bench):
    return load_benchmark(bench, "train")


@pytest.fixture(scope="module")
def db(tmp_path_factory, bench, train):
    path = tmp_path_factory.mktemp("results") / "warm_start.sqlite"
    evaluate(RandomPolicy(), train + load_benchmark(bench, "val"), path, POLICY, max_turns=4, progress=False)
    return path


def conf(db, **over):
    return sp.check_self_play({"n_failed": 3, "n_fresh": 3, "warm_start_db": str(db), **over})


def test_settings_are_checked():
    assert sp.check_self_play(None) == sp.DEFAULTS
    for bad, match in (({"rounds": 0}, "rounds >= 1"), ({"n_fresh": 0}, "n_fresh >= 1"),
                       ({"n_failed": -1}, "integer >= 0"), ({"n_failed": 1.5}, "integer >= 0"),
                       ({"prior": -1}, "prior"), ({"steps": 3}, "unknown self_play setting")):
        with pytest.raises(ValueError, match=match):
            sp.check_self_play(bad)


def test_failed_instances_are_exactly_failures_drawn_without_replacement(db, train):
    rows = W.collect_episodes(db, POLICY, "train")
    failed = [i.id for i in train if any(r["instance_id"] == i.id and r["failure_class"] for r in rows)]
    assert len(failed) > 3  # the fixture's premise: the random policy fails more than 3 train instances
    got = sp.failed_instances(rows, train, 3, seed=0)
    ids = [i.id for i in got]
    assert len(ids) == len(set(ids)) == 3 and set(ids) <= set(failed)
    assert ids == [i for i in failed if i in ids]  # in the instances' order
    assert [i.id for i in sp.failed_instances(rows, train, 3, seed=0)] == ids  # deterministic for a seed
    assert {tuple(i.id for i in sp.failed_instances(rows, train, 3, seed=s)) for s in range(6)} != {tuple(ids)}
    assert [i.id for i in sp.failed_instances(rows, train, 10 ** 6, seed=1)] == failed  # all, when fewer
    with pytest.raises(ValueError, match="no evaluated episode"):
        sp.failed_instances(rows[1:], train, 3, seed=0)


def test_uniform_draw_and_profile():
    insts = [SimpleNamespace(id=f"t{k}", error_type="AB"[k % 2], difficulty="easy", family="diet") for k in range(10)]
    draws = [tuple(i.id for i in sp.uniform_draw(insts, 4, seed=s)) for s in range(200)]
    assert all(len(set(d)) == 4 for d in draws)
    counts = pd.Series([x for d in draws for x in d]).value_counts()
    assert len(counts) == 10 and counts.min() > 0.4 * 80  # each ~ 200 * 4/10 = 80 times
    prof = sp.uniform_profile(insts)
    assert list(prof.index) == [("A", "easy", "diet"), ("B", "easy", "diet")] and (prof["learnability"] == 1).all()


def test_generated_instances_are_valid_and_disjoint_from_val_test_and_train(bench, db):
    profile = W.weakness_profile(W.collect_episodes(db, POLICY, "val"), prior=1.0)
    exclude = W.split_fingerprints(bench, ["train"])
    insts, rec = sp.checked_generation(profile, 4, 7, exclude, bench, tag="t")
    guard = W.split_fingerprints(bench, ["val", "test"])
    assert len(insts) == rec["accepted"] == rec["validated"] == 4
    assert rec["drawn"] == 4 + rec["rejected_collision"] + rec["rejected_invalid"] + rec["rejected_duplicate"]
    assert sum(c["accepted"] for c in rec["accepted_by_cell"]) == 4
    for i in insts:
        assert validate(i) == [] and i.meta["split"] == "train" and i.id.startswith("t-")
        assert not set(W.instance_fingerprints(i)) & (guard | exclude)


def test_a_collision_that_generation_let_through_is_caught(bench, db, monkeypatch):
    val = load_benchmark(bench, "val")
    profile = W.weakness_profile(W.collect_episodes(db, POLICY, "val"), prior=1.0)
    leak = W.GeneratedInstances([val[0]], pd.DataFrame({k: [0] for k in W.REPORT_COLUMNS}))
    monkeypatch.setattr(sp, "generate_for_cells", lambda *a, **k: leak)
    with pytest.raises(RuntimeError, match="val/test"):
        sp.checked_generation(profile, 1, 0, set(), bench, tag="x")


def test_failure_curriculum_and_control_sets(bench, db, train):
    rows = W.collect_episodes(db, POLICY, "train")
    failed = {r["instance_id"] for r in rows if r["failure_class"]}
    fc, rec_fc = sp.targeted_set("failure_curriculum", train, bench, conf(db), seed=0)
    uc, rec_uc = sp.targeted_set("uniform_control", train, bench, conf(db), seed=0)
    for insts, rec in ((fc, rec_fc), (uc, rec_uc)):
        assert rec["n_instances"] == len(insts) == rec["n_train_split"] + rec["n_fresh"]
        assert rec["n_fresh"] == 3 and rec["generation"]["accepted"] == 3
        base = insts[:rec["n_train_split"]]
        assert [i.id for i in base] == rec["train_split_ids"]
        assert rec["failed_share"] == sum(i.id in failed for i in base) / len(insts)
    n_fc = min(3, len(failed))
    assert rec_fc["n_train_split"] == n_fc and all(i.id in failed for i in fc[:n_fc])  # only failures
    assert rec_fc["failed_share"] == n_fc / (n_fc + 3) > 0
    assert rec_uc["n_train_split"] == 3 and rec_uc["warm_start_train_failure_rate"] == len(failed) / len(train)
    # the curriculum's fresh instances come from its val profile's cells, the control's from the train split's
    assert {tuple(c[k] for k in W.CELL) for c in rec_fc["generation"]["accepted_by_cell"]} <= \
        {tuple(c[k] for k in W.CELL) for c in rec_fc["profile"]}
    with pytest.raises(ValueError, match="warm_start_db"):
        sp.targeted_set("failure_curriculum", train, bench, sp.check_self_play({}), seed=0)


def test_both_sets_draw_their_train_part_from_the_evaluated_pool_only(tmp_path, bench, train):
    path = tmp_path / "pool.sqlite"
    pool = train[:5]
    evaluate(RandomPolicy(), pool + load_benchmark(bench, "val"), path, POLICY, max_turns=4, progress=False)
    for kind in ("failure_curriculum", "uniform_control"):
        _, rec = sp.targeted_set(kind, train, bench, conf(path, n_failed=len(train)), seed=0)
        assert set(rec["train_split_ids"]) <= {i.id for i in pool}
    assert rec["n_train_split"] == 5  # the control took the whole pool, nothing outside it


def test_the_e9_arms_are_grpo_with_a_knob_read_from_their_own_rows(tmp_path):
    for kind in sp.SELF_PLAY_KINDS:
        assert OrdebugArm(kind).run_fields() == OrdebugArm("grpo").run_fields()  # only the data differ
        assert KNOBS[kind].metric == sp.KNOB_METRICS[kind] and KNOBS[kind].required and kind in LABEL
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps({"step": s, "loss": 0.1}) + "\n" for s in (1, 2)))
    rows = sp._annotate(path, {"ordebug/targeted/failed_share": 0.5, "ordebug/targeted/fresh_accepted": 0})
    assert [json.loads(x) for x in path.read_text().splitlines()] == rows and len(rows) == 2
    k = knob_activity("failure_curriculum", rows)
    assert k["acted"] and k["steps_active"] == 2 and k["max"] == 0.5
    assert not knob_activity("uniform_control", rows)["acted"]  # no fresh instances: its knob did not act


def test_jobs_carry_the_settings_only_for_e9_arms(tmp_path):
    arms = make_arms(["sft", "grpo", "self_play", "failure_curriculum"])
    grpo = {"max_steps": 4, "reward": "composite"}
    with pytest.raises(ValueError, match="warm_start_db"):
        arm_jobs(arms, tmp_path, tmp_path, tmp_path, grpo)
    jobs = {j.name: j for j in arm_jobs(arms, tmp_path, tmp_path, tmp_path, grpo,
                                        self_play={"rounds": 2, "warm_start_db": "ws.sqlite"})}
    for name in ("self_play-s0", "failure_curriculum-s0"):
        s = jobs[name].spec["self_play"]
        assert s["rounds"] == 2 and s["n_fresh"] == sp.DEFAULTS["n_fresh"] and Path(s["warm_start_db"]).is_absolute()
    assert "self_play" not in jobs["grpo-s0"].spec and "self_play" not in jobs["sft-s0"].spec
    assert jobs["self_play-s0"].spec["grpo"] == jobs["grpo-s0"].spec["grpo"]  # the same steps and episodes
    with pytest.raises(ValueError, match="cannot cover"):
        arm_jobs(arms, tmp_path, tmp_path, tmp_path, grpo, self_play={"rounds": 5, "warm_start_db": "x"})


def test_paired_rounds_match_the_paired_test_on_seed_means():
    rng = np.random.default_rng(0)
    ids = [f"i{k}" for k in range(12)]
    rows = pd.DataFrame([{"round": k, "rl_seed": s, "instance_id": i, "faithful": float(rng.random() < 0.3 + 0.1 * k)}
                         for k in (1, 2) for s in (0, 1, 2) for i in ids])
    ref = pd.DataFrame([{"rl_seed": 0, "instance_id": i, "faithful": float(rng.random() < 0.3)} for i in ids])
    out = sp.paired_rounds(rows, ref, "sft", metrics={"faithful_recovery": "faithful"})
    assert out["round"].tolist() == [1, 2] and (out["seeds"] == 3).all() and (out["instances"] == 12).all()
    for _, r in out.iterrows():
        a = rows[rows["round"] == r["round"]].groupby("instance_id")["faithful"].mean().loc[ids]
        t = paired_test(a.to_numpy(), ref.set_index("instance_id").loc[ids, "faithful"].to_numpy())
        assert r["diff"] == pytest.approx(t["diff"]) and r["mde"] == pytest.approx(t["mde"])
        assert r["ci low"] == pytest.approx(t["diff"] - 1.96 * t["se"])
        assert r["verdict"] in ("beyond the CI", "within the seed spread", "not detected")
    with pytest.raises(ValueError, match="other instances"):
        sp.paired_rounds(rows, ref.iloc[1:], "sft", metrics={"faithful_recovery": "faithful"})


@pytest.mark.slow
def test_notebook_25_smoke_profile_runs_self_play_end_to_end(tmp_path):
    run = run_smoke("25_ordebug_self_play", tmp_path)
    prov = json.loads((run / "provenance.json").read_text())
    assert prov["status"] == "ok"
    params, m = prov["parameters"], json.loads((run / "metrics.json").read_text())
    bench = run / "benchmark"
    test = load_benchmark(bench, "test")
    rounds = params["self_play"]["rounds"]
    # the warm start's evaluation that chose the data holds train and val episodes only
    with sqlite3.connect(run / "weakness" / "warm_start.sqlite") as conn:
        splits = {r[0] for r in conn.execute("SELECT DISTINCT split FROM episodes")}
    assert splits == {"train", "val"}
    for name in ("failure_curriculum-s0", "uniform_control-s0", "self_play-s0"):
        d = run / "arms" / name
        rec = json.loads((d / "self_play.json").read_text())
        ev = json.loads((d / "eval.json").read_text())
        assert ev["knob_acted"] is True and ev["n"] == len(test)
        gens = [rec["generation"]] if "generation" in rec else [r["generation"] for r in rec["rounds"]]
        assert all(g["accepted"] == g["validated"] == params["self_play"]["n_fresh"] for g in gens)
    sp_rec = json.loads((run / "arms" / "self_play-s0" / "self_play.json").read_text())
    assert [r["round"] for r in sp_rec["rounds"]] == list(range(1, rounds + 1))
    assert sum(r["steps"] for r in sp_rec["rounds"]) == params["grpo"]["max_steps"]
    for a, b in zip(sp_rec["rounds"], sp_rec["rounds"][1:]):  # each round from the previous round's weights
        assert b["param_checksum_start"] == a["param_checksum_end"]
    steps = [json.loads(x)["step"] for x in (run / "arms" / "self_play-s0" / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, params["grpo"]["max_steps"] + 1))
    r_table = m["self_play"]["rounds"]
    assert [r["round"] for r in r_table] == list(range(1, rounds + 1))
    assert all(r["test_episodes"] == len(test) for r in r_table)  # every round evaluated on every test instance
    paired = pd.DataFrame(m["self_play"]["paired_rounds"])
    assert set(paired["reference"]) == {"sft", "uniform_control"}
    assert sorted(paired["round"].unique()) == list(range(1, rounds + 1)) and (paired["instances"] == len(test)).all()
    last = paired[(paired["round"] == rounds) & (paired["reference"] == "sft")].set_index("metric")
    sft = pd.DataFrame(m["paired"]).query("policy == @LABEL['self_play']").set_index("metric")
    for metric in last.index:  # the last round is the arm itself: the same test as the report's paired table
        assert last.loc[metric, "diff"] == pytest.approx(sft.loc[metric, "diff"])
    assert len(m["self_play"]["paired_failure_curriculum"]) == 3
    report = (run / "reports" / "ordebug_self_play.md").read_text()
    for section in ("## Self-play rounds", "## Self-play rounds paired on the test split",
                    "## Failure curriculum against the uniform control", "## Training sets"):
        assert section in report
    assert any(s.startswith("Self-play round 1 against the warm start") for s in m["findings"])
    for f in ("weakness_rounds", "rounds", "test_metrics", "breakdown", "training_curves"):
        assert (run / "figures" / f"ordebug_self_play_{f}.png").stat().st_size > 0
    shutil.rmtree(run)  # kept only when the test fails
