"""SFT across runs (experiments/sft_seeds.py): the gap to random is judged against the noise band, bad runs
are refused, a recipe's runs pool paired by instance (stats.paired_gap), and the committed table is what the
committed provenance gives."""
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from ordebug_lib.experiments.sft_seeds import (episodes_path, export_episodes, pooled_table, run_row, seeds_table,
                                               summary, write_seeds_report)
from ordebug_lib.experiments.stats import noise_band, paired_gap

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
    with pytest.raises(ValueError, match="not an OR-Debug SFT run"):
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
    assert len(runs) == 20 and all(p.exists() for p, _ in runs)
    write_seeds_report(runs, tmp_path / "s.md", figure_dir=tmp_path)
    assert pd.read_csv(tmp_path / "s.csv").equals(pd.read_csv(ROOT / "reports" / "sft_ordebug_seeds.csv"))
    assert (tmp_path / "figures" / "s.png").exists()
    t = seeds_table(runs)
    # measured on the H100 / H200: v2 seed 0 and all five slack_lm runs (language modelling on the transcripts
    # before SFT) beat random on RR@5 beyond noise; on DA seven earlier runs and two of the five slack_lm runs
    # do. The other slack runs do not copy the CHECK_SLACK answer they imitate, with 4x the demonstrations either.
    assert list(t["beats_random_RR@5"]) == [False, False, True] + [False] * 12 + [True] * 5
    assert list(t["beats_random_DA"]) == ([True] * 4 + [False] * 3 + [True, True] + [False] * 6
                                          + [True, False, False, False, True])
    assert list(t["RR@5"].round(3)) == [0.238, 0.168, 0.287, 0.158, 0.139, 0.129, 0.089, 0.238, 0.218, 0.188,
                                        0.198, 0.149, 0.129, 0.208, 0.139, 0.475, 0.436, 0.426, 0.485, 0.446]
    s = summary(t).set_index("recipe")
    assert s.loc["v2_dagger", "RR@5 mean"] == pytest.approx(0.2145, abs=1e-3)
    assert s.loc["v2", "RR@5 mean"] == pytest.approx(0.1947, abs=1e-3)
    assert s.loc["slack", "RR@5 mean"] == pytest.approx(0.1584, abs=1e-3)
    assert t.set_index("run").loc["03_sft.gpu_ordebug_slack_lm", "DA"] == pytest.approx(0.114, abs=1e-3)
    assert s.loc["slack_lm", "runs"] == 5 and s.loc["slack_lm", "RR@5 min"] == pytest.approx(0.426, abs=1e-3)
    # pooled over its five seeds, paired by instance, slack_lm beats random on both (the per-run DA bands are wider)
    pooled = pooled_table(runs).set_index("recipe")
    assert list(pooled.index) == ["slack_lm"] and pooled.loc["slack_lm", "runs"] == 5
    row = pooled.loc["slack_lm"]
    assert row["RR@5_minus_random"] == pytest.approx(0.2792, abs=1e-4) and row["RR@5_band"] == pytest.approx(0.0814, abs=1e-4)
    assert row["DA_minus_random"] == pytest.approx(0.0710, abs=1e-4) and row["DA_band"] == pytest.approx(0.0579, abs=1e-4)
    assert row["beats_random_RR@5"] and row["beats_random_DA"]
    # the pooled means are the runs' own metrics averaged: the episodes are those the metrics came from
    assert row["DA"] == pytest.approx(t.set_index("recipe").loc["slack_lm", "DA"].mean())
    assert row["random_RR@5"] == pytest.approx(t.set_index("recipe").loc["slack_lm", "random_RR@5"].mean())
    assert "## Per recipe, pooled over its runs" in (tmp_path / "s.md").read_text()


def _frame(policy, baseline, runs=1):
    n = len(policy)
    return pd.DataFrame({"run": [r for r in range(runs) for _ in range(n)], "instance_id": [f"i{k}" for k in range(n)] * runs,
                         "policy": list(policy) * runs, "baseline": list(baseline) * runs})


def test_paired_gap_pairs_by_instance_and_does_not_count_runs_as_more_instances():
    # the policy solves instances 0-29, random a different 10: gap 0.2 on 100 instances
    pol, base = [1.0] * 30 + [0.0] * 70, [0.0] * 30 + [1.0] * 10 + [0.0] * 60
    one = paired_gap(_frame(pol, base))
    assert one["gap"] == pytest.approx(0.2) and one["instances"] == 100 and one["runs"] == 1
    # per-instance gaps: 30 of +1, 10 of -1, 60 of 0: sd = sqrt((40 - 100 * 0.04) / 99)
    assert one["band"] == pytest.approx(2 * ((40 - 4) / 99) ** 0.5 / 10)
    # five identical runs are the same evidence, not five times the episodes
    assert paired_gap(_frame(pol, base, runs=5))["band"] == pytest.approx(one["band"])
    # a gap that is the same on every instance has no spread: the band is its floor, one instance
    assert paired_gap(_frame([0.5] * 10, [0.25] * 10))["band"] == pytest.approx(0.1)
    assert noise_band(0.3, 0.1, 100) > 0  # (the unpaired band of one run, for comparison, stays wide)


def test_paired_gap_refuses_frames_it_cannot_pair():
    f = _frame([1.0, 0.0], [0.0, 0.0], runs=2)
    with pytest.raises(ValueError, match="same instances"):
        paired_gap(f.iloc[:3])
    with pytest.raises(ValueError, match="twice"):
        paired_gap(pd.concat([f, f.iloc[:1]]))
    with pytest.raises(ValueError, match="missing"):
        paired_gap(f.assign(policy=[1.0, None, 0.0, 0.0]))
    with pytest.raises(ValueError, match="needs columns"):
        paired_gap(f.drop(columns="run"))


def _episodes(path, sft, rnd, policy="sft:small"):
    rows = [{"policy": p, "instance_id": f"i{k}", "seed": 0, "rr_at_5": bool(v[0]), "diagnosis_recall": v[1],
             "faithful": False, "submitted": True} for p, vals in ((policy, sft), ("random", rnd)) for k, v in enumerate(vals)]
    pd.DataFrame(rows).to_csv(episodes_path(path), index=False)


def test_pooled_table_pools_only_recipes_whose_runs_all_kept_their_episodes(tmp_path):
    a, b = _run(tmp_path, "a", 0.5, 0.0), _run(tmp_path, "b", 0.5, 0.0, seed=1)
    c, d = _run(tmp_path, "c", 0.5, 0.0), _run(tmp_path, "d", 0.5, 0.0, seed=1)
    _episodes(a, [(1, 1.0), (1, 0.0)], [(0, 0.0), (0, 0.0)])
    _episodes(b, [(1, 0.5), (0, 0.0)], [(0, 0.0), (1, 0.0)])
    _episodes(c, [(1, 1.0), (1, 1.0)], [(0, 0.0), (0, 0.0)])  # d has none: recipe "q" is not pooled
    t = pooled_table([(a, "p"), (b, "p"), (c, "q"), (d, "q")]).set_index("recipe")
    assert list(t.index) == ["p"] and t.loc["p", "runs"] == 2 and t.loc["p", "instances"] == 2
    # RR@5 gaps per instance: i0 (1 + 1) / 2 = 1, i1 (1 - 1) / 2 = 0; DA: i0 0.75, i1 0
    assert t.loc["p", "RR@5_minus_random"] == pytest.approx(0.5) and t.loc["p", "DA_minus_random"] == pytest.approx(0.375)
    assert t.loc["p", "random_RR@5"] == pytest.approx(0.25) and t.loc["p", "DA"] == pytest.approx(0.375)
    _episodes(d, [(1, 1.0), (1, 1.0)], [(0, 0.0), (0, 0.0)], policy="greedy")
    with pytest.raises(ValueError, match="needs one 'sft:\\*' policy"):
        pooled_table([(c, "q"), (d, "q")])


def test_export_episodes_keeps_every_policy_of_a_results_database(tmp_path):
    from ordebug_lib.ordebug.baselines import RandomPolicy, SlackRelaxPolicy
    from ordebug_lib.ordebug.results import evaluate, load_results
    from ordebug_lib.ordebug.saboteur import make_instance

    insts = [make_instance(f, t, "easy", seed=s) for f, t, s in [("diet", "A", 0), ("staffing", "H", 1)]]
    db = tmp_path / "r.sqlite"
    evaluate(SlackRelaxPolicy(), insts, db, policy_name="sft:small")
    evaluate(RandomPolicy(seed=0), insts, db, policy_name="random")
    out = export_episodes(db, tmp_path / "x.episodes.csv")
    e, full = pd.read_csv(out), load_results(db)
    assert len(e) == 4 and set(e["policy"]) == {"sft:small", "random"}
    assert e["diagnosis_recall"].tolist() == full["diagnosis_recall"].tolist()
    assert e["rr_at_5"].tolist() == full["rr_at_5"].tolist()
    with pytest.raises(FileNotFoundError):
        export_episodes(tmp_path / "none.sqlite", tmp_path / "y.csv")
