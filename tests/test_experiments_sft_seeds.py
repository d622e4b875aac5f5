"""SFT across runs (experiments/sft_seeds.py): the gap to random is judged against the noise band, bad runs
are refused, and the committed table is what the committed provenance gives."""
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from ordebug_lib.experiments.sft_seeds import run_row, seeds_table, summary, write_seeds_report

ROOT = Path(__file__).resolve().parents[1]
PROV = ROOT / "reports" / "provenance"


def _run(tmp_path, name, sft_rr5, random_rr5, seed=0, n=100):
    agg = lambda rr5, da: {"n": n, "RR": rr5, "RR@5": rr5, "faithful_recovery": 0.1, "DA": da, "avg_steps": 9.0}
    metrics = {"task": "ordebug", "eval_after": agg(sft_rr5, 0.2), "ladder": {"random": agg(random_rr5, 0.04)},
               "failure_analysis": {"sft": {"never_submitted": 7, "action_share": {"RESET": 0.25}}}}
    prov = {"git": {"commit": "abcdef0123"}, "parameters": {"seed": seed}}
    (tmp_path / f"{name}.json").write_text(json.dumps(prov))
    (tmp_path / f"{name}.metrics.json").write_text(json.dumps(metrics))
    return tmp_path / f"{name}.json"


def test_a_gap_counts_only_beyond_two_standard_errors(tmp_path):
    t = seeds_table([(_run(tmp_path, "a", 0.30, 0.17), "r"), (_run(tmp_path, "b", 0.24, 0.17, seed=1), "r")])
    assert list(t["seed"]) == [0, 1] and list(t["commit"]) == ["abcdef0"]*2
    # band = 2 * sqrt((0.3*0.7 + 0.17*0.83) / 100) = 0.119: 0.13 is beyond it, 0.07 is not
    assert t["RR@5_band"].iloc[0] == pytest.approx(0.1190, abs=1e-3)
    assert list(t["beats_random_RR@5"]) == [True, False] and list(t["beats_random_DA"]) == [True, True]
    assert list(t["never_submitted"]) == [7, 7] and t["reset_share"].iloc[0] == 0.25
    s = summary(t).iloc[0]
    assert s["runs"] == 2 and s["RR@5 mean"] == pytest.approx(0.27) and s["RR@5 min"] == pytest.approx(0.24)
    assert s["RR@5 std"] == pytest.approx(pd.Series([0.30, 0.24]).std())


def test_a_run_without_evaluation_or_random_baseline_is_refused():
    with pytest.raises(ValueError, match="not an OR-Debug 03_sft run"):
        run_row({"parameters": {}}, {"task": "countdown"}, "r", "x")
    metrics = {"task": "ordebug", "eval_after": {"n": 1, "RR@5": 0.0}, "ladder": {"greedy": {}}}
    with pytest.raises(ValueError, match="no random baseline"):
        run_row({"parameters": {}}, metrics, "r", "x")


def _committed_runs():
    """The runs of scripts/sft_seeds_report.sh, as it lists them."""
    script = (ROOT / "scripts" / "sft_seeds_report.sh").read_text()
    return [(PROV / m.group(1), m.group(2)) for m in re.finditer(r"\$P/(\S+\.json)=(\S+)", script)]


def test_the_committed_seeds_report_is_what_the_committed_runs_give(tmp_path):
    runs = _committed_runs()
    assert len(runs) == 16 and all(p.exists() for p, _ in runs)
    write_seeds_report(runs, tmp_path / "s.md", figure_dir=tmp_path)
    assert pd.read_csv(tmp_path / "s.csv").equals(pd.read_csv(ROOT / "reports" / "sft_ordebug_seeds.csv"))
    assert (tmp_path / "figures" / "s.png").exists()
    t = seeds_table(runs)
    # measured on the H100 / H200: two runs of sixteen beat random on RR@5 beyond noise (v2 seed 0, and slack_lm:
    # language modelling on the transcripts before SFT); DA in seven. The other slack runs do not copy the
    # CHECK_SLACK answer they imitate, with 4x the demonstrations either.
    assert list(t["beats_random_RR@5"]) == [False, False, True] + [False] * 12 + [True]
    assert list(t["beats_random_DA"]) == [True] * 4 + [False] * 3 + [True, True] + [False] * 6 + [True]
    assert list(t["RR@5"].round(3)) == [0.238, 0.168, 0.287, 0.158, 0.139, 0.129, 0.089, 0.238, 0.218, 0.188,
                                        0.198, 0.149, 0.129, 0.208, 0.139, 0.475]
    s = summary(t).set_index("recipe")
    assert s.loc["v2_dagger", "RR@5 mean"] == pytest.approx(0.2145, abs=1e-3)
    assert s.loc["v2", "RR@5 mean"] == pytest.approx(0.1947, abs=1e-3)
    assert s.loc["slack", "RR@5 mean"] == pytest.approx(0.1584, abs=1e-3)
    assert t.set_index("recipe").loc["slack_lm", "DA"] == pytest.approx(0.114, abs=1e-3)
