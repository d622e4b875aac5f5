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
    assert [j.name for j in jobs] == ["grpo@16-s0", "dr_grpo@16-s0", "warm_start@16-s0"]
    assert all(j.spec["grpo"] == {"max_steps": 3} and j.dir == tmp_path / j.name for j in jobs)


def fake_jobs(root, specs):
    return [Job(s["name"], "_fake_arm", root / s["name"], s) for s in specs]


def test_run_jobs_runs_in_parallel_skips_done_jobs_and_reruns_changed_ones(tmp_path):
    env = {"PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)])}
    jobs = fake_jobs(tmp_path, [{"name": f"a{i}", "value": i} for i in range(3)])
    walls = run_jobs(jobs, parallel=2, progress=False, env=env)
    assert set(walls) == {"a0", "a1", "a2"}
    for i, j in enumerate(jobs):
        assert j.done and json.loads((j.dir / "done.json").read_text())["value"] == 2 * i
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
    run = run_smoke("10_countdown_grpo_vs_drgrpo", tmp_path)
    m = json.loads((run / "metrics.json").read_text())

    # the warm start was trained here, and every problem set is disjoint from the others
    ws = load_warm_start(run / "warm_start")
    assert ws.record["sft"]["final_held_out_loss"] < ws.record["sft"]["initial_held_out_loss"]
    rl, ev = read_problems(run / "rl_problems.jsonl"), read_problems(run / "eval_problems.jsonl")
    assert (len(rl), len(ev)) == (16, 8)
    keys = [p.key for p in ws.problems], [p.key for p in rl], [p.key for p in ev]
    assert not (set(keys[0]) & set(keys[1])) and not (set(keys[0]) & set(keys[2])) and not (set(keys[1]) & set(keys[2]))

    # every trained arm ran its step with its own definition; every arm evaluated all problems at its budget
    for kind, adv, loss, reward in (("grpo", "grpo", "grpo", "countdown"), ("dr_grpo", "dr_grpo", "dr_grpo", "countdown"),
                                    ("graduated", "dr_grpo", "dr_grpo", "graduated"), ("hybrid", "grpo", "hybrid", "countdown")):
        d = run / "arms" / f"{kind}@16-s0"
        cfg = json.loads((d / "run_config.json").read_text())
        assert (cfg["advantage_method"], cfg["loss_type"], cfg["reward"], cfg["max_completion_length"]) == (adv, loss, reward, 16)
        assert [json.loads(line)["step"] for line in (d / "metrics.jsonl").read_text().splitlines()] == [1]
    for arm in m["arms"]:
        rows = [json.loads(line) for line in (run / "arms" / arm["arm"] / "eval_rows.jsonl").read_text().splitlines()]
        assert len(rows) == arm["n"] == 8 and arm["n_correct"] + arm["n_partial"] + arm["n_failed"] == 8
        assert arm["accuracy"] == sum(r["outcome"] == "correct" for r in rows) / 8
        assert all(1 <= r["n_tokens"] <= 16 for r in rows)

    # the table pairs each arm with the warm start at the same budget
    ws_acc = next(a["accuracy"] for a in m["arms"] if a["kind"] == "warm_start")
    assert len(m["table"]) == 4
    for row in m["table"]:
        assert row["warm-start accuracy"] == ws_acc
        assert row["improvement"] == pytest.approx(row["trained accuracy"] - ws_acc)
    assert any("Does DR-GRPO degrade at the longest budget (16 tokens)?" in s for s in m["findings"])
    report = (run / "reports" / "countdown_grpo_vs_drgrpo.md").read_text()
    assert "| DR-GRPO + graduated reward" in report and "single seed" in report
    for name in ("countdown_accuracy_by_budget", "countdown_reward_length_curves", "countdown_reward_variance"):
        assert (run / "figures" / f"{name}.png").stat().st_size > 0 and (run / "figures" / f"{name}.pdf").exists()
    prov = json.loads((run / "provenance.json").read_text())
    assert prov["status"] == "ok" and prov["parameters"]["budgets"] == [16]
    shutil.rmtree(run)  # kept only when the test fails


def test_findings_of_the_published_e1_run_use_the_noise_band():
    """Recompute the findings from the committed E1 data (reports/): no claim beyond the binomial noise."""
    import pandas as pd

    from ordebug_lib.experiments.countdown_e1 import curve_trends, e1_findings

    table = pd.read_csv(ROOT / "reports" / "countdown_grpo_vs_drgrpo.csv")
    curves = pd.read_csv(ROOT / "reports" / "countdown_grpo_vs_drgrpo_curves.csv")
    found = e1_findings(table, curve_trends(curves), n_eval=1024, seeds=[0])
    assert any(s.startswith("Does DR-GRPO degrade at the longest budget (512 tokens)? No: 9.0% → 14.0%") for s in found)
    at512 = next(s for s in found if s.startswith("At 512 tokens"))
    assert "GRPO 13.0% (improved" in at512 and "DR-GRPO − GRPO +1.0% (within noise)" in at512
