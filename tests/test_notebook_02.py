"""Notebook 02 (benchmark + baseline ladder) runs through the runner on the smoke profile."""
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_notebook_02_smoke_builds_the_benchmark_and_the_ladder():
    r = subprocess.run([sys.executable, "-m", "ordebug_lib.run", "02_ordebug_benchmark", "--profile", "smoke"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    run_dir = Path(r.stdout.strip().split("-> ")[-1])
    m = json.loads((run_dir / "metrics.json").read_text())
    # smoke: types C, D, H x easy, medium x 2 instances, half of them in the test split
    assert m["n_instances"] == 12 and m["n_evaluated"] == 6 and m["eval_split"] == "test"
    assert m["format_version"] == 2
    policies = {"greedy", "last_iis_row", "kind_prior", "search", "oracle"}
    assert set(m["ladder"]) == policies
    assert m["ladder"]["oracle"]["faithful_recovery"] == 1.0 and m["ladder"]["oracle"]["DA"] == 1.0
    assert m["ladder"]["oracle"]["exact_repair"] == 1.0
    for p in policies:
        assert 0.0 <= m["ladder"][p]["exact_repair"] <= m["ladder"][p]["faithful_recovery"] <= m["ladder"][p]["RR"] <= 1.0
    assert {d["detector"] for d in m["detectors"]} == {"last_iis_row", "kind_prior"}
    assert {(d["comparison"], d["metric"]) for d in m["paired"]} >= {("search - greedy", "faithful_recovery"),
                                                                     ("oracle - search", "DA")}
    assert all(d["mde"] >= 0 and d["n"] == 6 for d in m["paired"])
    assert m["mean_single_drop_faithful_frac"] <= m["mean_single_drop_feasible_frac"]
    # the IIS-size boxplot's data, per instance, for 90_paper to draw it again (a CSV without a report)
    instances = pd.read_csv(run_dir / "reports" / "ordebug_benchmark_instances.csv")
    assert list(instances.columns) == ["id", "family", "error_type", "difficulty", "split", "iis_size", "n_vars", "n_constrs"]
    assert len(instances) == m["n_instances"] and instances["id"].is_unique
    assert instances["iis_size"].mean() == pytest.approx(m["mean_iis_size"])
    assert (instances["split"] == "test").sum() == m["n_evaluated"]
    with sqlite3.connect(run_dir / "results.sqlite") as conn:
        n = conn.execute("SELECT COUNT(*) FROM episodes").fetchone()[0]
        splits = {r[0] for r in conn.execute("SELECT DISTINCT split FROM episodes")}
    assert n == 6 * 5 and splits == {"test"}
    ladder_md = (run_dir / "reports" / "ordebug_baseline_ladder.md").read_text()
    assert "| oracle" in ladder_md and "exact_repair" in ladder_md and "test-split instances" in ladder_md
