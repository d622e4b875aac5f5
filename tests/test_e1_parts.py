"""E1 v2 joined from its published parts (experiments/e1_parts.py): the checks that make two runs one
experiment, the interaction test, and the committed joined report's numbers."""
import copy
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from ordebug_lib.experiments import e1_parts
from ordebug_lib.experiments.paper import check_tables

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = ROOT / "reports" / "published"
PARTS = [PUBLISHED / "10_countdown_grpo_vs_drgrpo.gpu_short.e1v2s", PUBLISHED / "10_countdown_grpo_vs_drgrpo.gpu_1024.e1v2d"]


@pytest.fixture(scope="module")
def parts():
    return [e1_parts.load_part(p) for p in PARTS]


def test_the_published_parts_are_one_experiment_and_pair_on_the_same_problems(parts):
    episodes, arms = e1_parts.join_parts(parts)
    assert sorted(episodes["budget"].unique()) == [256, 512, 1024]
    assert set(arms["part"]) == {p.name for p in PARTS}
    # 3 budgets x (warm start + 2 losses x 3 seeds) x (1024 test + 512 val)
    assert len(episodes) == 3 * 7 * (1024 + 512)


def test_parts_that_differ_in_a_setting_or_ran_dirty_are_refused(parts):
    other = copy.deepcopy(parts[1])
    other["parameters"]["grpo"]["learning_rate"] = 2e-4
    with pytest.raises(ValueError, match=r"grpo.learning_rate \(0.0002 vs 5e-05\)"):
        e1_parts.join_parts([parts[0], other])
    dirty = copy.deepcopy(parts[1])
    dirty["provenance"]["git"]["dirty"] = True
    with pytest.raises(ValueError, match="dirty"):
        e1_parts.join_parts([parts[0], dirty])
    shifted = copy.deepcopy(parts[1])
    shifted["episodes"].loc[shifted["episodes"]["split"] == "val", "target"] += 1
    with pytest.raises(ValueError, match="val problems are not"):
        e1_parts.join_parts([parts[0], shifted])
    with pytest.raises(ValueError, match="at least 2 parts"):
        e1_parts.join_parts(parts[:1])


def test_the_interaction_is_the_per_problem_difference_of_differences(parts):
    episodes, _ = e1_parts.join_parts(parts)
    inter = e1_parts.budget_interaction(episodes).set_index("budgets")
    # the same numbers by hand: each problem's seed-mean correctness per arm group
    test = episodes[episodes["split"] == "test"]
    acc = (test["outcome"] == "correct").groupby([test["kind"], test["budget"], test["problem"]]).mean()
    d = {L: acc[("dr_grpo", L)] - acc[("grpo", L)] for L in (256, 1024)}
    row = inter.loc["256 → 1024"]
    assert row["interaction"] == pytest.approx((d[1024] - d[256]).mean(), abs=1e-12)
    assert row["se"] == pytest.approx((d[1024] - d[256]).std(ddof=1) / len(d[256]) ** 0.5, abs=1e-12)
    # as published: DR-GRPO − GRPO goes -0.4% -> +1.3%, +1.7% with a problem CI just above 0, within the seeds
    assert (round(row["diff at L1"], 4), round(row["diff at L2"], 4), round(row["interaction"], 4)) == (-0.0039, 0.0133, 0.0173)
    assert row["ci low"] > 0 and row["verdict"] == "within the seed spread"
    assert list(inter["verdict"]) == ["not detected", "within the seed spread", "not detected"]


def test_the_committed_joined_report_is_what_the_parts_give(parts, tmp_path):
    paths = e1_parts.write_joined(PARTS, tmp_path)
    assert [p.name for p in paths] == [f"{e1_parts.SLUG}.md", f"{e1_parts.SLUG}.png", f"{e1_parts.SLUG}.pdf",
                                       f"{e1_parts.SLUG}.json"]
    for suffix in ("_results", "_tests", "_interaction"):
        fresh = pd.read_csv(tmp_path / "reports" / f"{e1_parts.SLUG}{suffix}.csv")
        committed = pd.read_csv(ROOT / "reports" / f"{e1_parts.SLUG}{suffix}.csv")
        pd.testing.assert_frame_equal(fresh, committed)
    tables = check_tables(tmp_path / "reports")
    assert len(tables) == 3 and tables["reproduced"].all()
    prov = json.loads((tmp_path / "reports" / "provenance" / f"{e1_parts.SLUG}.json").read_text())
    assert prov["parts"] == [p.name for p in PARTS] and prov["part_commits"] == {
        "10_countdown_grpo_vs_drgrpo.gpu_short.e1v2s": "1494c08", "10_countdown_grpo_vs_drgrpo.gpu_1024.e1v2d": "0601e80"}
    committed = json.loads((ROOT / "reports" / "provenance" / f"{e1_parts.SLUG}.json").read_text())
    assert committed["parts"] == prov["parts"] and committed["git"]["dirty"] is False


def test_a_join_of_other_parts_is_never_overwritten(tmp_path):
    e1_parts.write_joined(PARTS, tmp_path)
    with pytest.raises(FileExistsError, match="joins other parts"):
        e1_parts.write_joined(PARTS[::-1], tmp_path)
    e1_parts.write_joined(PARTS, tmp_path)  # the same join again writes the same files


def test_an_archive_that_is_not_an_e1_run_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a published E1 run"):
        e1_parts.load_part(tmp_path)
    bad = tmp_path / "other"
    shutil.copytree(PARTS[1], bad)
    prov = json.loads((bad / "provenance.json").read_text())
    (bad / "provenance.json").write_text(json.dumps({**prov, "status": "failed"}))
    with pytest.raises(ValueError, match="status 'failed'"):
        e1_parts.load_part(bad)


STRONG = PUBLISHED / "10_countdown_grpo_vs_drgrpo.gpu_strong_ws.e1v2w"


def test_the_stronger_warm_start_is_compared_on_the_same_problems_and_only_it_differs(tmp_path):
    paths = e1_parts.write_warm_starts(STRONG, PARTS[0], 256, tmp_path)
    fresh = pd.read_csv(tmp_path / "reports" / f"{e1_parts.WARM_SLUG}_tests.csv")
    pd.testing.assert_frame_equal(fresh, pd.read_csv(ROOT / "reports" / f"{e1_parts.WARM_SLUG}_tests.csv"))
    assert check_tables(tmp_path / "reports")["reproduced"].all()
    t = fresh.set_index("quantity")
    # as published: 1200 SFT steps instead of 600 lift the warm start 11.3% -> 21.2% and GRPO after RL 16.1% -> 28.5%
    assert (round(t.loc["warm start", "weak"], 4), round(t.loc["warm start", "strong"], 4)) == (0.1133, 0.2119)
    assert (round(t.loc["GRPO", "weak"], 4), round(t.loc["GRPO", "strong"], 4)) == (0.1608, 0.2852)
    assert (t["verdict"] == "beyond the CI").all() and t.loc["GRPO − warm start", "ci low"] > 0
    assert json.loads(paths[1].read_text())["parts"] == [STRONG.name, PARTS[0].name]
    # part 1 (1024 tokens) has no 256-token arms; two parts of one warm start differ in nothing it compares
    with pytest.raises(ValueError, match="no arms at 256 tokens"):
        e1_parts.write_warm_starts(STRONG, PARTS[1], 256, tmp_path)
    with pytest.raises(ValueError, match="differ in warm_start_config only; they differ in nothing"):
        e1_parts.write_warm_starts(PARTS[0], PARTS[0], 256, tmp_path)
