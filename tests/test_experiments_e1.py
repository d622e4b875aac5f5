"""E1 (GRPO vs DR-GRPO on Countdown): the arm definitions, the subprocess job runner, and notebook 10's
smoke profile end to end (warm start, arms as processes, table, findings, figures)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ordebug_lib.experiments.countdown_e1 import E1Arm, arm_jobs, e1_arms
from ordebug_lib.experiments.jobs import Job, JobFailed, run_jobs
from ordebug_lib.policy.countdown_sft import CountdownSFTConfig, load_warm_start, read_problems
from ordebug_lib.training.config import GRPORunConfig

sys.path.insert(0, str(Path(__file__).parent))
from notebook_smoke import run_smoke  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


def test_arms_cover_both_losses_at_every_budget_and_extras_at_the_longest_only():
    arms = e1_arms([256, 128, 512], seeds=[0, 1], hybrid_alpha=0.5)
    trained = [a for a in arms if a.trains]
    assert {(a.kind, a.max_completion_length) for a in trained} == {
        (k, L) for k in ("grpo", "dr_grpo") for L in (128, 256, 512)} | {("graduated", 512), ("hybrid", 512)}
    assert len(trained) == 2 * (6 + 2)  # two seeds each
    assert [a.max_completion_length for a in trained] == sorted((a.max_completion_length for a in trained), reverse=True)
    assert [a.name for a in arms if not a.trains] == ["warm_start@512-s0", "warm_start@256-s0", "warm_start@128-s0"]
    assert all(a.hybrid_alpha == 0.5 for a in arms if a.kind == "hybrid")
    with pytest.raises(ValueError, match="unknown extra"):
        e1_arms([128], extras=["length_penalty"])
    with pytest.raises(ValueError, match="positive"):
        e1_arms([0, 128])


def test_arm_fields_are_the_papers_definitions_and_valid_configs():
    f = {k: E1Arm(k, 512, hybrid_alpha=0.5 if k == "hybrid" else None).run_fields() for k in
         ("grpo", "dr_grpo", "graduated", "hybrid")}
    assert (f["grpo"]["advantage_method"], f["grpo"]["loss_type"]) == ("grpo", "grpo")
    # Dr. GRPO: no std scaling AND the constant normaliser
    assert (f["dr_grpo"]["advantage_method"], f["dr_grpo"]["loss_type"]) == ("dr_grpo", "dr_grpo")
    assert f["graduated"]["reward"] == "graduated" and f["graduated"]["loss_type"] == "dr_grpo"
    assert f["hybrid"]["loss_type"] == "hybrid" and f["hybrid"]["hybrid_alpha"] == 0.5
    for fields in f.values():
        assert fields["max_completion_length"] == 512
        GRPORunConfig.from_dict(fields)  # each is a valid run config
    with pytest.raises(ValueError, match="does not train"):
        E1Arm("warm_start", 128).run_fields()


def test_arm_jobs_refuse_shared_settings_that_define_an_arm(tmp_path):
    arms = e1_arms([16], extras=[])
    with pytest.raises(ValueError, match="set per arm"):
        arm_jobs(arms, tmp_path, tmp_path, tmp_path / "a", tmp_path / "b", {"loss_type": "dapo"})
    jobs = arm_jobs(arms, tmp_path, tmp_path, tmp_path / "a", tmp_path / "b", {"max_steps": 3})
    assert [j.name for j in jobs] == ["warm_start@16-s0", "grpo@16-s0", "dr_grpo@16-s0"]  # baselines first
    assert all(j.spec["grpo"] == {"max_steps": 3} and j.dir == tmp_path / j.name for j in jobs)


def fake_jobs(root, specs):
    return [Job(s["name"], "_fake_arm", root / s["name"], s) for s in specs]


def test_run_jobs_runs_in_parallel_skips_done_jobs_and_reruns_changed_ones(tmp_path):
    env = {"PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)])}
    jobs = fake_jobs(tmp_path, [{"name": f"a{i}", "value": i} for i in range(3)])
    walls = run_jobs(jobs, parallel=2, progress=False, env=env)
    assert set(walls) == {"a0", "a1", "a2"}
    for i, j in enumerate(jobs):
        done = json.loads((j.dir / "done.json").read_text())
        assert j.done and done["value"] == 2 * i
        assert done["alloc_conf"] == os.environ.get("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")
        # the cores shared out between the 2 arms at a time, unless the caller chose
        assert done["omp_threads"] == os.environ.get("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // 2)))
        assert f"fake arm a{i} starting" in (j.dir / "log.txt").read_text()
    assert run_jobs(jobs, parallel=2, progress=False, env=env) == {}  # resumed: nothing left to do
    changed = fake_jobs(tmp_path, [{"name": "a1", "value": 10}])
    assert not changed[0].done  # a different spec is not the same job
    assert set(run_jobs(changed, progress=False, env=env)) == {"a1"}
    assert json.loads((tmp_path / "a1" / "done.json").read_text())["value"] == 20


def test_run_jobs_raises_with_the_log_of_a_failed_job(tmp_path):
    env = {"PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)])}
    with pytest.raises(JobFailed, match="(?s)exit code 3.*something went wrong in the arm"):
        run_jobs(fake_jobs(tmp_path, [{"name": "bad", "value": 1, "exit": 3}]), progress=False, env=env)
    with pytest.raises(JobFailed, match="without done.json"):
        run_jobs(fake_jobs(tmp_path, [{"name": "silent", "value": 1, "skip_done": True}]), progress=False, env=env)
    with pytest.raises(ValueError, match="unique"):
        run_jobs(fake_jobs(tmp_path, [{"name": "x", "value": 1}, {"name": "x", "value": 2}]), progress=False)


def test_a_failed_job_lets_the_running_ones_finish_and_starts_no_more(tmp_path):
    """One arm's failure (e4v2b: out of memory) must not throw away the arms beside it: they finish and keep
    their results, nothing new starts, and the error names the failure and what was not started."""
    env = {"PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)])}
    jobs = fake_jobs(tmp_path, [{"name": "bad", "value": 1, "exit": 3}, {"name": "slow", "value": 2, "sleep": 3},
                                {"name": "later", "value": 3}])
    with pytest.raises(JobFailed, match="(?s)arm 'bad' failed \\(exit code 3\\).*1 not started after the failure: later"):
        run_jobs(jobs, parallel=2, progress=False, env=env, poll_s=0.1)
    bad, slow, later = jobs
    assert slow.done and json.loads((slow.dir / "done.json").read_text())["value"] == 4  # finished after the failure
    assert not bad.done and not later.dir.exists()  # never started
    assert not (slow.dir / "running.json").exists()
    assert set(run_jobs([slow, later], parallel=2, progress=False, env=env)) == {"later"}  # a rerun redoes the rest


def test_run_jobs_refuses_to_start_an_arm_an_earlier_attempt_is_still_running(tmp_path):
    """A command time limit kills the runner, not its arms: the next attempt must not start a second copy."""
    import socket

    env = {"PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)])}
    (job,) = fake_jobs(tmp_path, [{"name": "slow", "value": 1}])
    job.dir.mkdir()
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (job.dir / "running.json").write_text(json.dumps({"host": socket.gethostname(), "pid": orphan.pid}))
        with pytest.raises(JobFailed, match=f"still running from an earlier attempt.*'slow': {orphan.pid}"):
            run_jobs([job], progress=False, env=env)
    finally:
        orphan.kill()
        orphan.wait()
    assert set(run_jobs([job], progress=False, env=env)) == {"slow"}  # that process is gone: run it
    assert job.done and not (job.dir / "running.json").exists()


def test_warm_start_config_rejects_unknown_and_bad_fields():
    with pytest.raises(ValueError, match="unknown CountdownSFTConfig"):
        CountdownSFTConfig.from_dict({"modle": "tiny"})
    with pytest.raises(ValueError, match="learning_rate"):
        CountdownSFTConfig(learning_rate="1e-3")
    with pytest.raises(ValueError, match="stream_max_nodes"):
        CountdownSFTConfig(stream_max_nodes=[9, 3])


@pytest.mark.slow
def test_notebook_10_smoke_profile_runs_every_arm_and_reports(tmp_path):
    import pandas as pd

    from ordebug_lib.experiments.countdown_e1 import e1_findings, paired_tests

    run = run_smoke("10_countdown_grpo_vs_drgrpo", tmp_path)
    m = json.loads((run / "metrics.json").read_text())

    # the warm start was trained here, and every problem set is disjoint from the others
    ws = load_warm_start(run / "warm_start")
    assert ws.record["sft"]["final_held_out_loss"] < ws.record["sft"]["initial_held_out_loss"]
    rl, ev, val = (read_problems(run / f"{s}_problems.jsonl") for s in ("rl", "eval", "val"))
    assert (len(rl), len(ev), len(val)) == (16, 8, 8)
    keys = [set(p.key for p in ps) for ps in (ws.problems, rl, ev, val)]
    assert all(not (keys[i] & keys[j]) for i in range(4) for j in range(i + 1, 4))

    # the sweep: both losses at both rates, judged on val only; the chosen rate is each loss's best val accuracy
    sweep = pd.DataFrame(m["sweep"])
    assert sorted(zip(sweep["kind"], sweep["learning rate"])) == [(k, r) for k in ("dr_grpo", "grpo") for r in (0.0001, 0.001)]
    for kind, lr in m["learning_rates_chosen"].items():
        g = sweep[sweep["kind"] == kind]
        assert g.loc[g["val accuracy"].idxmax(), "learning rate"] == lr or g["val accuracy"].nunique() == 1
    chosen = m["learning_rates_chosen"]

    # every trained arm ran its step with its own definition and rate, through the engine
    for kind, adv, loss, reward, lr in (("grpo", "grpo", "grpo", "countdown", chosen["grpo"]),
                                        ("dr_grpo", "dr_grpo", "dr_grpo", "countdown", chosen["dr_grpo"]),
                                        ("graduated", "dr_grpo", "dr_grpo", "graduated", chosen["dr_grpo"]),
                                        ("hybrid", "grpo", "hybrid", "countdown", chosen["grpo"])):
        d = run / "arms" / f"{kind}@16-s0-lr{lr:g}"
        cfg = json.loads((d / "run_config.json").read_text())
        assert (cfg["advantage_method"], cfg["loss_type"], cfg["reward"], cfg["max_completion_length"]) == (adv, loss, reward, 16)
        assert (cfg["learning_rate"], cfg["engine"]) == (lr, "static")
        assert [json.loads(line)["step"] for line in (d / "metrics.jsonl").read_text().splitlines()] == [1]
    for arm in m["arms"]:
        for name, n_key in (("eval_rows.jsonl", "n"), ("eval_rows_val.jsonl", "val_n")):
            rows = [json.loads(line) for line in (run / "arms" / arm["arm"] / name).read_text().splitlines()]
            assert len(rows) == arm[n_key] == 8
        assert arm["n_correct"] + arm["n_partial"] + arm["n_failed"] == 8
        assert all(1 <= r["n_tokens"] <= 16 for r in rows)

    # the table pairs each arm with the warm start at the same budget; the paired tests and the findings
    # recompute from the committed per-episode rows
    ws_acc = next(a["accuracy"] for a in m["arms"] if a["kind"] == "warm_start")
    assert len(m["table"]) == 4
    for row in m["table"]:
        assert row["warm-start accuracy"] == ws_acc
        assert row["improvement"] == pytest.approx(row["trained accuracy"] - ws_acc)
    episodes = pd.read_csv(run / "reports" / "countdown_grpo_vs_drgrpo_episodes.csv")
    main = episodes[episodes["arm"].isin([a["arm"] for a in m["arms"]])]
    again = paired_tests(main)
    assert again[["comparison", "diff", "se", "mde"]].to_dict("records") == \
        pd.DataFrame(m["paired"])[["comparison", "diff", "se", "mde"]].to_dict("records")
    assert set(again["comparison"]) == {"DR-GRPO − GRPO", "GRPO − warm start (no RL)", "DR-GRPO − warm start (no RL)"}
    assert any("Does DR-GRPO degrade at the longest budget (16 tokens)?" in s for s in m["findings"])
    assert any(s.startswith("Learning-rate sweep at 16 tokens on val") for s in m["findings"])
    assert e1_findings(pd.DataFrame(m["table"]), again, pd.DataFrame(m["trends"]), seeds=[0],
                       sweep=sweep, chosen=chosen, plateaus=pd.DataFrame(m["plateaus"])) == m["findings"]
    timing = pd.DataFrame(m["stage_timings"])
    assert (timing["generation share"] > 0).all() and (timing["step s"] > 0).all()
    report = (run / "reports" / "countdown_grpo_vs_drgrpo.md").read_text()
    for heading in ("| DR-GRPO + graduated reward", "## Learning-rate sweep (val split)", "## Paired per-problem tests",
                    "## Stage timings"):
        assert heading in report
    assert "8 completions per optimizer step (8 x 1 accumulated), 8 generated per round" in report  # smoke: 8 x 1, spg 1
    for name in ("countdown_accuracy_by_budget", "countdown_reward_length_curves", "countdown_reward_variance",
                 "countdown_lr_sweep"):
        assert (run / "figures" / f"{name}.png").stat().st_size > 0 and (run / "figures" / f"{name}.pdf").exists()
    prov = json.loads((run / "provenance.json").read_text())
    assert prov["status"] == "ok" and prov["parameters"]["budgets"] == [16]
    shutil.rmtree(run)  # kept only when the test fails


def test_sweep_arms_carry_their_rate_and_the_chosen_arm_is_the_same_job(tmp_path):
    from ordebug_lib.experiments.countdown_e1 import sweep_arms

    sweep = sweep_arms(64, [5e-5, 5e-4])
    chosen = e1_arms([64, 32], extras=["graduated"], learning_rates={"grpo": 5e-4, "dr_grpo": 5e-5})
    assert {a.name for a in chosen} & {a.name for a in sweep} == {"grpo@64-s0-lr0.0005", "dr_grpo@64-s0-lr5e-05"}
    assert next(a for a in chosen if a.kind == "graduated").learning_rate == 5e-5  # DR-GRPO's rate
    assert E1Arm("grpo", 64, learning_rate=5e-4).run_fields()["learning_rate"] == 5e-4
    a = arm_jobs(sweep, tmp_path, tmp_path, tmp_path / "a", tmp_path / "b", {"max_steps": 3}, val_problems=tmp_path / "v")
    b = arm_jobs(chosen, tmp_path, tmp_path, tmp_path / "a", tmp_path / "b", {"max_steps": 3}, val_problems=tmp_path / "v")
    same = {j.name: j.spec for j in a}
    assert all(same[j.name] == j.spec for j in b if j.name in same)  # identical specs: done.json is reused
    with pytest.raises(ValueError, match="carry their own learning rate"):
        arm_jobs(sweep, tmp_path, tmp_path, tmp_path / "a", tmp_path / "b", {"learning_rate": 1e-4})
    with pytest.raises(ValueError, match="eval_engine"):
        arm_jobs(sweep, tmp_path, tmp_path, tmp_path / "a", tmp_path / "b", {}, eval_engine="vllm")
    for bad in ([1e-4], [1e-4, 1e-4], [0.0, 1e-4]):
        with pytest.raises(ValueError, match="two distinct positive"):
            sweep_arms(64, bad)
    with pytest.raises(ValueError, match="exactly the keys"):
        e1_arms([64], learning_rates={"grpo": 1e-4})


def test_rates_are_chosen_on_val_never_on_test():
    import pandas as pd

    from ordebug_lib.experiments.countdown_e1 import choose_learning_rates

    s = pd.DataFrame({"kind": ["grpo"] * 3 + ["dr_grpo"] * 3, "learning_rate": [1e-4, 2e-4, 5e-4] * 2,
                      "val_accuracy": [0.1, 0.3, 0.0, 0.2, 0.2, 0.1], "accuracy": [0.9, 0.0, 0.0, 0.0, 0.0, 0.9]})
    assert choose_learning_rates(s) == {"grpo": 2e-4, "dr_grpo": 1e-4}  # the test column plays no part; ties: smaller
    with pytest.raises(ValueError, match="validation split"):
        choose_learning_rates(s, metric="accuracy")
    with pytest.raises(ValueError, match=">= 2 swept rates"):
        choose_learning_rates(s[s["learning_rate"] == 1e-4])


def _episodes(correct: dict[tuple[str, int], list[int]], budget: int = 64):
    import pandas as pd

    rows = []
    for (kind, seed), values in correct.items():
        for i, c in enumerate(values):
            rows.append({"arm": f"{kind}@{budget}-s{seed}", "kind": kind, "budget": budget, "seed": seed,
                         "learning_rate": None, "split": "test", "problem": i,
                         "outcome": "correct" if c else "partial", "n_tokens": 10})
    return pd.DataFrame(rows)


def test_paired_tests_average_seeds_per_problem_before_testing():
    from ordebug_lib.experiments.countdown_e1 import paired_tests
    from ordebug_lib.experiments.stats import paired_test

    ws = [0, 0, 0, 0, 1, 0, 0, 0]
    g0, g1 = [1, 1, 0, 1, 1, 0, 1, 0], [1, 0, 0, 1, 1, 0, 1, 1]
    d0, d1 = [0, 0, 0, 1, 1, 0, 0, 0], [0, 0, 1, 1, 1, 0, 0, 0]
    t = paired_tests(_episodes({("warm_start", 0): ws, ("grpo", 0): g0, ("grpo", 1): g1, ("dr_grpo", 0): d0,
                                ("dr_grpo", 1): d1})).set_index("comparison")
    row = t.loc["GRPO − warm start (no RL)"]
    ref = paired_test([(a + b) / 2 for a, b in zip(g0, g1)], ws)  # 8 problems, not 16 episodes
    assert (row["problems"], row["seeds a"], row["seeds b"]) == (8, 2, 1)
    assert row["diff"] == pytest.approx(ref["diff"]) and row["se"] == pytest.approx(ref["se"])
    assert row["mde"] == pytest.approx(2.8 * ref["se"]) and row["seed sd a"] == pytest.approx(0.0)  # 5/8 both seeds
    assert row["ci low"] == pytest.approx(ref["diff"] - 1.96 * ref["se"])
    assert row["verdict"] == ("beyond the CI" if row["ci low"] > 0 else "not detected")
    assert row["seed se"] == pytest.approx(0.0)  # GRPO's two seeds agree (5/8); the warm start counts as fixed
    dg = t.loc["DR-GRPO − GRPO"]
    assert dg["diff"] == pytest.approx((sum(d0) + sum(d1) - sum(g0) - sum(g1)) / 16)
    with pytest.raises(ValueError, match="several arms per seed"):
        e = _episodes({("warm_start", 0): ws, ("grpo", 0): g0, ("dr_grpo", 0): d0})
        paired_tests(__import__("pandas").concat([e, e.assign(arm="grpo@64-s0-lr0.001")[e["kind"] == "grpo"]]))


def test_the_committed_partial_e1v2_sweep_recomputes_from_its_episode_rows():
    """reports/partial/...e1v2: the sweep tables and the lr choice follow from the committed per-episode rows."""
    import pandas as pd

    from ordebug_lib.experiments.countdown_e1 import sweep_finding, sweep_table

    d = ROOT / "reports" / "partial" / "10_countdown_grpo_vs_drgrpo.gpu.e1v2"
    episodes = pd.read_csv(d / "episodes.csv")
    episodes["learning_rate"] = episodes["learning_rate"].astype(object).where(episodes["learning_rate"].notna(), None)
    for split in ("val", "test"):
        again, stored = sweep_table(episodes, split), pd.read_csv(d / f"sweep_{split}.csv")
        pd.testing.assert_frame_equal(again.reset_index(drop=True), stored, check_dtype=False)
    val = sweep_table(episodes, "val")
    assert (episodes.groupby("arm")["problem"].count() >= 512).all()
    s = sweep_finding(val, 0)
    assert "the collapse follows the step size, not the loss" in s and "lr 0.0005: GRPO 0.0%, DR-GRPO 0.0%" in s
    assert sweep_finding(val, 0) in (d / "README.md").read_text()


def test_the_committed_1024_token_training_record_recomputes_from_its_curves():
    """reports/partial/...gpu_1024.e1v2bc: stage timings, trends and the first non-finite step follow from the committed
    per-step curves (scripts/e1_training_record.py); the NaN arm is the one its README names."""
    import importlib.util

    import pandas as pd

    d = ROOT / "reports" / "partial" / "10_countdown_grpo_vs_drgrpo.gpu_1024.e1v2bc"
    spec = importlib.util.spec_from_file_location("e1_training_record", ROOT / "scripts" / "e1_training_record.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    tables = mod.tables_from(pd.read_csv(d / "curves.csv"))
    for name, again in tables.items():
        pd.testing.assert_frame_equal(again.reset_index(drop=True), pd.read_csv(d / f"{name}.csv"), check_dtype=False)
    bad = tables["nonfinite"]
    assert bad.to_dict("records") == [{"run": "e1v2b", "arm": "grpo@1024-s1", "first non-finite step": 41}]
    trends = tables["trends"]
    assert (trends.loc[trends["run"] == "e1v2c", "skipped_updates"] == 0).all() and len(trends) == 6
    assert (trends["truncated_first"] < 0.004).all()


def test_a_difference_beyond_the_problem_ci_but_within_the_seed_spread_is_not_called_beyond_the_ci():
    """E1 v2 at 1024 tokens: DR-GRPO − GRPO +1.3% with a paired problem SE of 0.6% (CI excludes 0), but the
    three seeds of each loss scatter by a seed SE of 0.8%: the verdict says so, and so does the finding."""
    import numpy as np
    import pandas as pd

    from ordebug_lib.experiments.countdown_e1 import _ci, paired_tests
    from ordebug_lib.experiments.stats import SEED_SPREAD, seed_se

    rng = np.random.default_rng(0)
    n = 400
    base = rng.random(n) < 0.3
    rows = []
    # every seed's correctness = base with a few flips; GRPO seeds close together, DR-GRPO seeds far apart
    for kind, seeds in (("warm_start", {0: 0}), ("grpo", {0: 4, 1: 6, 2: 8}), ("dr_grpo", {0: 0, 1: 40, 2: 20})):
        for s, extra in seeds.items():
            c = base.copy()
            c[np.flatnonzero(~c)[:extra]] = True  # `extra` more problems right
            rows += [{"arm": f"{kind}@64-s{s}", "kind": kind, "budget": 64, "seed": s, "split": "test", "problem": i,
                      "outcome": "correct" if x else "partial"} for i, x in enumerate(c)]
    t = paired_tests(pd.DataFrame(rows)).set_index("comparison")
    dg = t.loc["DR-GRPO − GRPO"]
    assert dg["ci low"] > 0  # the problem CI alone would call it
    acc = {k: [(base.sum() + e) / n for e in v.values()] for k, v in (("grpo", {0: 4, 1: 6, 2: 8}),
                                                                      ("dr_grpo", {0: 0, 1: 40, 2: 20}))}
    assert dg["seed se"] == pytest.approx(seed_se(acc["dr_grpo"], acc["grpo"]))
    assert abs(dg["diff"]) < 1.96 * dg["seed se"] and dg["verdict"] == SEED_SPREAD
    assert "within the seed spread" in _ci(dg)
    g = t.loc["GRPO − warm start (no RL)"]  # 6/400 more right on average, seeds 4/6/8: beyond both
    assert g["verdict"] == "beyond the CI" and g["seed se"] == pytest.approx(seed_se(acc["grpo"]))


def test_the_published_e1_v2_at_1024_tokens_reads_within_the_seed_spread_from_its_committed_episodes():
    """The published E1 v2 (gpu_1024, run e1v2d) was reported at 0601e80 as "beyond the CI" for DR-GRPO − GRPO; its
    committed per-episode rows, tested again with the seed SE, put it within the seed spread (README, runs.md)."""
    import pandas as pd

    from ordebug_lib.experiments.countdown_e1 import paired_tests
    from ordebug_lib.experiments.stats import SEED_SPREAD

    episodes = pd.read_csv(ROOT / "reports" / "published" / "10_countdown_grpo_vs_drgrpo.gpu_1024.e1v2d" / "reports"
                           / "countdown_grpo_vs_drgrpo_episodes.csv")
    t = paired_tests(episodes).set_index("comparison")
    dg = t.loc["DR-GRPO − GRPO"]
    assert (dg["problems"], dg["seeds a"], dg["seeds b"]) == (1024, 3, 3)
    assert dg["diff"] == pytest.approx(0.01335, abs=5e-5) and dg["se"] == pytest.approx(0.00598, abs=5e-5)
    assert dg["ci low"] > 0 and dg["seed se"] == pytest.approx(0.00822, abs=5e-5) and dg["verdict"] == SEED_SPREAD
    for vs_warm in ("GRPO − warm start (no RL)", "DR-GRPO − warm start (no RL)"):
        assert t.loc[vs_warm, "verdict"] == "not detected"
