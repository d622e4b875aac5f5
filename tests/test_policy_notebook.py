"""Notebook 03_sft runs headless through the runner (smoke profile) and writes what it declares."""
import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from notebook_smoke import run_smoke  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_03_sft_smoke_profile_trains_and_evaluates(tmp_path):
    run = run_smoke("03_sft", tmp_path, timeout=600)
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
    assert prov["status"] == "ok" and prov["parameters"]["task"] == "countdown"
    shutil.rmtree(run)  # kept only when the test fails
