"""The SFT notebooks run headless through the runner (smoke profiles) and write what they declare: 03_countdown_sft
and 04_ordebug_sft, the two halves of 03_sft."""
import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from notebook_smoke import run_smoke  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_03_countdown_sft_smoke_profile_trains_and_evaluates(tmp_path):
    run = run_smoke("03_countdown_sft", tmp_path, timeout=600)
    m = json.loads((run / "metrics.json").read_text())
    assert m["task"] == "countdown" and m["model"] == "tiny" and 0.7e6 <= m["parameters"] <= 1.5e6
    sft = m["sft"]
    assert sft["steps"] == 16 and sft["final_held_out_loss"] < 0.6 * sft["initial_held_out_loss"]
    data = m["data"]
    assert data["n_demos"] + data["n_demos_dropped_too_long"] == 48 and data["n_eval_instances"] == 12
    assert 0.2 <= data["streams_reaching_goal"] <= 0.9  # Stream of Search: about half the streams solve
    for stage in ("eval_before", "eval_after"):
        s = m[stage]
        assert s["n_correct"] + s["n_partial"] + s["n_failed"] == s["n"] == 12
        assert 0 < s["mean_output_tokens"] <= 64 and s["budget_utilisation"] == s["mean_output_tokens"] / 64
    for name in ("figures/sft_countdown_learning_curve.png", "figures/sft_countdown_learning_curve.pdf",
                 "reports/sft_countdown_eval.md", "reports/sft_countdown_curve.csv"):
        assert (run / name).stat().st_size > 0
    prov = json.loads((run / "provenance.json").read_text())
    assert prov["status"] == "ok" and prov["parameters"]["warm_start_config"]["steps"] == 16
    shutil.rmtree(run)  # kept only when the test fails


@pytest.mark.slow
def test_04_ordebug_sft_smoke_profile_trains_evaluates_and_saves_the_warm_start(tmp_path):
    run = run_smoke("04_ordebug_sft", tmp_path, timeout=900)
    m = json.loads((run / "metrics.json").read_text())
    assert m["task"] == "ordebug" and m["model"] == "tiny" and m["eval_before"] is None
    assert m["sft"]["steps"] == 6 and m["sft"]["total_steps"] == 9 and m["sft"]["keep_best"]  # 6 SFT + 3 DAgger
    assert len(m["data"]["dagger"]) == 1 and m["data"]["n_eval_instances"] == m["eval_after"]["n"] == 4
    assert set(m["ladder"]) == {"random", "greedy", "last_iis_row", "kind_prior", "search", "oracle", "sft:tiny"}
    assert m["ladder"]["oracle"]["RR@5"] == 1.0 and set(m["failure_analysis"]) == {"sft"}
    assert (run / "model" / "config.json").exists() and m["model_dir"] == str(run / "model")
    for name in ("figures/sft_ordebug_learning_curve.png", "reports/sft_ordebug_eval.md", "reports/sft_ordebug_curve.csv",
                 "reports/sft_ordebug_actions.csv", "reports/sft_ordebug_copying.csv"):
        assert (run / name).stat().st_size > 0
    prov = json.loads((run / "provenance.json").read_text())
    assert prov["status"] == "ok" and "seed" not in prov["parameters"]  # the profile's and -p's only: seed is the default
    assert prov["parameters"]["warm_start_config"]["max_turns"] == 8  # what RL notebooks check a warm start against
    shutil.rmtree(run)  # kept only when the test fails
