"""E6/E7 curriculum on OR-Debug (experiments/ordebug_rl.py, notebook 23): the stages select exactly their
difficulties, the stage configs share the arm's total RL steps, and the notebook's smoke profile trains the
stages one after another from each other's weights and evaluates every arm on every test instance."""
import json
import shutil
import sqlite3
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from ordebug_lib.experiments.ordebug_report import curriculum_findings, stage_table
from ordebug_lib.experiments.ordebug_rl import (CURRICULUM, LABEL, OrdebugArm, arm_jobs, curriculum_configs,
                                                curriculum_stages, make_arms, stage_steps)
from ordebug_lib.training.config import GRPORunConfig

sys.path.insert(0, str(Path(__file__).parent))
from notebook_smoke import run_smoke  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _instances():
    diffs = ["easy", "hard", "medium", "easy", "medium", "hard", "hard", "easy"]
    return [SimpleNamespace(id=f"i{k}", difficulty=d) for k, d in enumerate(diffs)]


def test_stages_select_exactly_their_difficulties():
    insts = _instances()
    stages = curriculum_stages(insts)
    assert CURRICULUM == (("easy",), ("easy", "medium"), ("medium", "hard"), ("hard",))
    for want, got in zip(CURRICULUM, stages):
        assert [i.id for i in got] == [i.id for i in insts if i.difficulty in want]  # all of them, in order
        assert {i.difficulty for i in got} == set(want)
    assert [len(s) for s in stages] == [3, 5, 5, 3]
    with pytest.raises(ValueError, match="no instances"):
        curriculum_stages([i for i in insts if i.difficulty != "medium"], [["medium"]])
    with pytest.raises(ValueError, match="distinct difficulties"):
        curriculum_stages(insts, [["easy", "extreme"]])
    with pytest.raises(ValueError, match="distinct difficulties"):
        curriculum_stages(insts, [[]])


def test_stage_configs_share_the_arms_total_steps():
    assert stage_steps(12, 4) == [3, 3, 3, 3] and stage_steps(10, 4) == [3, 3, 2, 2] and stage_steps(4, 4) == [1] * 4
    assert all(sum(stage_steps(n, k)) == n for n in range(4, 40) for k in (1, 2, 3, 4) if n >= k)
    with pytest.raises(ValueError, match="cannot cover"):
        stage_steps(3, 4)
    cur = OrdebugArm("curriculum")
    assert cur.run_fields() == OrdebugArm("grpo").run_fields()  # the same GRPO; only the data differ
    cfg = GRPORunConfig.from_dict({**cur.run_fields(), "max_steps": 12, "max_turns": 2, "max_new_tokens_per_turn": 8,
                                   "max_completion_length": 16, "reward": "composite"})
    stages = curriculum_configs(cfg)
    assert [c.max_steps for c in stages] == [3, 3, 3, 3] and sum(c.max_steps for c in stages) == cfg.max_steps
    for c in stages:  # nothing but the steps changes between stages
        assert {k: v for k, v in c.to_dict().items() if k != "max_steps"} == \
               {k: v for k, v in cfg.to_dict().items() if k != "max_steps"}
    with pytest.raises(ValueError, match="constant"):
        curriculum_configs(GRPORunConfig.from_dict({**cfg.to_dict(), "warmup_steps": 2}))


def test_curriculum_jobs_carry_the_stages_and_other_arms_do_not(tmp_path):
    arms = make_arms(["sft", "grpo", "curriculum"])
    assert [a.name for a in arms] == ["grpo-s0", "curriculum-s0", "sft-s0"]
    grpo = {"max_steps": 8, "reward": "composite"}  # the episode fields come from the evaluation's (one_task)
    jobs = {j.name: j for j in arm_jobs(arms, tmp_path, tmp_path, tmp_path, grpo)}
    assert jobs["curriculum-s0"].spec["curriculum"] == [list(s) for s in CURRICULUM]
    assert "curriculum" not in jobs["grpo-s0"].spec and "curriculum" not in jobs["sft-s0"].spec
    assert jobs["curriculum-s0"].spec["grpo"] == jobs["grpo-s0"].spec["grpo"]  # the same total steps
    two = arm_jobs(arms, tmp_path, tmp_path, tmp_path, grpo, curriculum=[["easy"], ["hard"]])
    assert two[1].spec["curriculum"] == [["easy"], ["hard"]]
    with pytest.raises(ValueError, match="cannot cover"):
        arm_jobs(arms, tmp_path, tmp_path, tmp_path, {**grpo, "max_steps": 3})


def test_curriculum_findings_use_the_noise_band_per_difficulty():
    g, c = LABEL["grpo"], LABEL["curriculum"]
    row = lambda p, v: {"policy": p, "RR@5": v, "faithful_recovery": v, "DA": v, "avg_steps": 5.0}
    table = pd.DataFrame([row(g, 0.20), row(c, 0.50)])
    by_diff = pd.DataFrame([{**row(g, 0.2), "difficulty": "hard", "episodes": 10},
                            {**row(c, 0.3), "difficulty": "hard", "episodes": 10}])
    curves = pd.DataFrame([{"arm": "curriculum-s0", "step": s, "stage": st, "stage_difficulties": d,
                            "ordebug/reward/std": 1.0, "ordebug/groups/zero_std_frac": 0.5}
                           for s, st, d in ((1, 1, "easy"), (2, 1, "easy"), (3, 2, "hard"))])
    stages = stage_table(curves)
    assert stages[["stage", "first_step", "last_step"]].values.tolist() == [[1, 1, 2], [2, 3, 3]]
    found = curriculum_findings(table, by_diff, stages, n_eval=101)
    assert found[0].startswith("Does the curriculum beat plain GRPO with the same number of RL steps? Yes:")
    assert "hard test instances (10 episodes)" in found[1] and "(within noise)" in found[1]  # 10 episodes: wide band
    assert sum("stage" in s and "zero-std groups 50%" in s for s in found) == 2


@pytest.mark.slow
def test_notebook_23_smoke_profile_runs_the_curriculum_end_to_end(tmp_path):
    from ordebug_lib.ordebug.dataset import load_benchmark

    run = run_smoke("23_ordebug_curriculum", tmp_path)
    m = json.loads((run / "metrics.json").read_text())
    params = json.loads((run / "provenance.json").read_text())["parameters"]
    assert json.loads((run / "provenance.json").read_text())["status"] == "ok"
    test, train = load_benchmark(run / "benchmark", "test"), load_benchmark(run / "benchmark", "train")
    assert m["n_eval"] == len(test) > 0 and not {i.id for i in test} & {i.id for i in train}
    total = params["grpo"]["max_steps"]
    for name in ("sft-s0", "grpo-s0", "curriculum-s0"):  # every arm evaluated every test instance once
        with sqlite3.connect(run / "arms" / name / "results.sqlite") as conn:
            ids = [row[0] for row in conn.execute("SELECT instance_id FROM episodes")]
        assert sorted(ids) == sorted(i.id for i in test)
    steps = lambda p: [json.loads(line)["step"] for line in p.read_text().splitlines()]
    assert steps(run / "arms" / "grpo-s0" / "metrics.jsonl") == list(range(1, total + 1))
    d = run / "arms" / "curriculum-s0"
    cur = json.loads((d / "curriculum.json").read_text())
    per_stage = stage_steps(total, len(params["curriculum"]))
    assert [s["steps"] for s in cur["stages"]] == per_stage and sum(per_stage) == total == cur["total_steps"]
    by_id = {i.id: i.difficulty for i in train}
    for k, (diffs, st) in enumerate(zip(params["curriculum"], cur["stages"]), start=1):
        assert st["stage"] == k and st["difficulties"] == diffs
        assert st["n_instances"] == sum(v in diffs for v in by_id.values())
        assert steps(d / f"stage_{k}" / "metrics.jsonl") == list(range(1, st["steps"] + 1))
        cfg = json.loads((d / f"stage_{k}" / "run_config.json").read_text())
        assert cfg["max_steps"] == st["steps"] and cfg["reward"] == "composite" and cfg["advantage_method"] == "grpo"
        if k > 1:  # each stage starts from the previous stage's weights, against the same KL reference
            assert st["param_checksum_start"] == cur["stages"][k - 2]["param_checksum_end"]
            assert st["reference"] == cur["stages"][0]["reference"]
    rows = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, total + 1))
    assert [r["stage"] for r in rows] == [k for k, n in enumerate(per_stage, start=1) for _ in range(n)]
    policies = ["SFT (no RL)", "GRPO", LABEL["curriculum"]] + [f"baseline: {b}" for b in params["baselines"]]
    assert [r["policy"] for r in m["table"]] == policies and all(r["episodes"] == len(test) for r in m["table"])
    assert len(m["by_difficulty"]) == len(policies) * 3
    assert sum(r["episodes"] for r in m["by_error_type"]) == len(policies) * len(test)
    assert [r["stage"] for r in m["curriculum"]["stage_table"]] == list(range(1, len(per_stage) + 1))
    assert any(s.startswith("Does the curriculum beat plain GRPO") for s in m["findings"])
    report = (run / "reports" / "ordebug_curriculum.md").read_text()
    assert "## By difficulty" in report and "## Curriculum stages (training)" in report
    for f in ("test_metrics", "breakdown", "reward_variance", "training_curves"):
        assert (run / "figures" / f"ordebug_curriculum_{f}.png").stat().st_size > 0
        assert (run / "figures" / f"ordebug_curriculum_{f}.pdf").exists()
    shutil.rmtree(run)  # kept only when the test fails
