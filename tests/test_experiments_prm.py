"""E8 (notebook 24, ``experiments/prm_experiment.py``): the smoke profile end to end, and what it refuses.
Every table of the report is recomputed from the per-step and per-episode CSVs it commits."""
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from notebook_smoke import run_smoke  # noqa: E402

from ordebug_lib.experiments.prm_experiment import PRMExperiment, roc_points  # noqa: E402
from ordebug_lib.policy.prm import auc_roc, paired_compare  # noqa: E402
from ordebug_lib.run import RunError, preflight  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NB = ROOT / "notebooks" / "24_ordebug_prm.ipynb"


def test_roc_points_end_at_both_corners_and_refuse_one_class():
    roc = roc_points([0.2, 0.2, 0.7], [0, 1, 1])
    assert roc.iloc[0][["fpr", "tpr"]].tolist() == [0.0, 0.0] and roc.iloc[-1][["fpr", "tpr"]].tolist() == [1.0, 1.0]
    assert roc["tpr"].tolist() == [0.0, 0.5, 1.0]  # a tie moves both rates at once
    with pytest.raises(ValueError, match="both classes"):
        roc_points([0.1, 0.2], [1, 1])


def test_a_run_without_trained_arms_has_empty_tables_and_says_so_in_its_figure():
    """The PRM-only profile (gpu_prm: arms [sft]) logs no training step: the trends and the hacking table are
    empty with their columns, and the hacking figure's panels say there was no trained arm."""
    from types import SimpleNamespace

    import matplotlib.pyplot as plt

    from ordebug_lib.experiments.ordebug_report import curve_trends
    from ordebug_lib.experiments.prm_experiment import hacking_figure
    from ordebug_lib.experiments.rl_experiment import ArmResults

    curves = pd.DataFrame(columns=["arm", "kind", "label", "seed", "step"])  # load_arm_results' curves then
    trends = curve_trends(curves)
    assert trends.empty and {"arm", "steps", "reward_first", "reward_last", "faithful_rate_last"} <= set(trends)
    exp = PRMExperiment(rl=SimpleNamespace(results=ArmResults([], None, None, curves, None, None, None, {})), params={})
    table = exp.hacking_table()
    assert table.empty and {"arm", "flagged_steps", "prm_score_first", "faithful_rate_last"} <= set(table)
    fig = hacking_figure(curves)
    assert [t.get_text() for ax in fig.axes for t in ax.texts] == ["no trained arm in this run"] * 2
    plt.close(fig)
    from ordebug_lib.experiments.rl_experiment import RLExperiment

    rl = RLExperiment(params={"arms": ["sft"]}, slug="x")
    rl.task_grpo = lambda: {}  # the RL line reads the shared settings only when an arm trains
    assert rl.setup_rl() == "none: no trained arm among the arms ['sft']"


def _namespace(**over):
    from test_experiments_one_task import notebook_parameters

    return {**notebook_parameters("24_ordebug_prm"), **over}


@pytest.mark.parametrize("over, match", [({"best_of_n": [1]}, "N >= 2"), ({"best_of_n": []}, "N >= 2"),
                                         ({"bon_temperature": 0.0}, "must be > 0"),
                                         ({"prm_source": "gpt2"}, "prm_source must be one of")])
def test_bad_parameters_are_refused(over, match):
    with pytest.raises(ValueError, match=match):
        PRMExperiment.from_params(_namespace(**over))


def test_the_runner_refuses_them_before_a_kernel_starts():
    with pytest.raises(RunError, match="prm_source must be one of"):
        preflight(NB, _namespace(prm_source="gpt2"))
    with pytest.raises(RunError, match="best_of_n must list"):
        preflight(NB, _namespace(best_of_n=[1]))


@pytest.mark.slow
def test_notebook_24_smoke_profile_trains_tests_and_uses_the_prm(tmp_path):
    run = run_smoke("24_ordebug_prm", tmp_path)
    rep = run / "reports"
    text = (rep / "ordebug_prm.md").read_text()
    for section in ("## Step labels (train and val)", "## The PRM on the test split",
                    "## Best-of-N at test time (paired per instance)", "## Reward-hacking detector",
                    "## Paired against the SFT warm start (test split)"):
        assert section in text
    # labels: train and val only, every level present, shares summing to 1 per (group, label)
    dist = pd.read_csv(rep / "ordebug_prm_label_distribution.csv")
    assert set(dist["group"]) == {"greedy", "oracle", "sft_sampled", "all"}
    assert np.allclose(dist.groupby(["group", "label"])["share"].sum(), 1.0)
    # the PRM: its step chosen on val (the best val loss), evaluated on test steps only
    curve = json.loads((run / "prm" / "training_curve.json").read_text())
    best = min(curve["val"], key=lambda ev: ev["loss"])
    assert curve["best_step"] == best["step"] and curve["n_train"] > 0 and curve["n_val"] > 0
    scores = pd.read_csv(rep / "ordebug_prm_prm_test_scores.csv")
    assert set(scores["split"]) == {"test"} and set(scores["target"]) == {0, 1}
    ev = pd.read_csv(rep / "ordebug_prm_prm_eval.csv").set_index("metric")["value"]
    assert ev["AUC-ROC"] == pytest.approx(auc_roc(scores["score"], scores["target"]))
    assert ev["AUC 95% CI low"] <= ev["AUC-ROC"] <= ev["AUC 95% CI high"] and ev["test steps"] == len(scores)
    # the harm head (smoke profile: harm_head): P(harm) per test step, its AUC and the first harmful step's F1
    harm = (scores["progress"] < 0).astype(int)
    assert 0 < harm.sum() < len(harm)
    assert scores["harm"].between(0, 1).all() and ev["harm AUC"] == pytest.approx(auc_roc(scores["harm"], harm))
    assert ev["episodes with harm"] == scores[scores.progress < 0]["episode_id"].nunique()
    assert "first-harm F1" in ev and "first-harm ProcessBench F1" in ev
    early = pd.read_csv(run / "prm" / "test_scores.csv")  # written when the scoring ended, before best-of-N
    assert np.allclose(early["score"], scores["score"]) and list(early["episode_id"]) == list(scores["episode_id"])
    # best-of-N: the paired table follows from the per-episode rows
    eps = pd.read_csv(rep / "ordebug_prm_best_of_n_episodes.csv")
    paired = pd.read_csv(rep / "ordebug_prm_best_of_n_paired.csv")
    assert set(eps["policy"]) == {"greedy decoding", "plain sampling", "best-of-2 prm", "best-of-2 solver"}
    for name, policy in (("best_of_n_greedy", "greedy decoding"), ("best_of_n_sampled", "plain sampling"),
                         ("best_of_2_prm", "best-of-2 prm"), ("best_of_2_solver", "best-of-2 solver")):
        each = pd.read_csv(run / "prm" / f"{name}_episodes.csv")  # written as each chooser ended
        mine = eps[eps.policy == policy]
        assert set(each["policy"]) == {policy} and list(each["instance_id"]) == list(mine["instance_id"])
        assert list(each["faithful"]) == list(mine["faithful"])
    for stem, policy, n in (("best_of_n_sampled", "plain sampling", 1), ("best_of_2_prm", "best-of-2 prm", 2),
                            ("best_of_2_solver", "best-of-2 solver", 2)):  # and the steps: candidates, scores, labels
        steps = pd.read_json(run / "prm" / f"{stem}_steps.jsonl", lines=True)
        chooser = policy.rsplit(" ", 1)[-1]
        mine = eps[eps.policy == policy].set_index("instance_id")["steps"]
        assert steps.groupby("instance_id")["step"].max().to_dict() == mine.to_dict()
        assert (steps["texts"].map(len) == n).all() and (steps["progress"].map(len) == n).all()
        assert (steps["chosen_progress"] == [p[c] for p, c in zip(steps["progress"], steps["chosen"])]).all()
        if chooser == "prm":
            assert (steps["chosen"] == [int(np.argmax(x)) for x in steps["scores"]]).all()
        if chooser == "solver":
            assert (steps["chosen_progress"] == steps["best_progress"]).all()
    assert {("best-of-2 prm", "plain sampling"), ("plain sampling", "greedy decoding"),
            ("best-of-2 prm", "best-of-2 solver (upper bound)")} <= set(zip(paired["policy"], paired["against"]))
    for (pol, against), got in paired.groupby(["policy", "against"]):
        again = paired_compare(eps[eps.policy == pol], eps[eps.policy == against.replace(" (upper bound)", "")])
        assert np.allclose(got["diff"].to_numpy(), again["diff"].to_numpy()), (pol, against)
    # RL: every step-credit arm's knob acted in its own logs; every trained arm logged the PRM's watch
    for arm, metric in (("prm_sum", "ordebug/step_credit/advantage_change"),
                        ("pure_min", "ordebug/step_credit/within_episode_std"),
                        ("gigpo", "ordebug/gigpo/steps_in_shared_anchor_frac")):
        knob = json.loads((run / "arms" / f"{arm}-s0" / "eval.json").read_text())
        assert knob["knob_metric"] == metric and knob["knob_acted"], arm
    for arm in ("grpo", "prm_sum", "pure_min", "gigpo"):
        cfg = json.loads((run / "arms" / f"{arm}-s0" / "run_config.json").read_text())
        assert cfg["prm_path"] == str(run / "prm" / "model"), arm
    hacking = pd.read_csv(rep / "ordebug_prm_hacking.csv")
    assert sorted(hacking["arm"]) == ["gigpo-s0", "grpo-s0", "prm_sum-s0", "pure_min-s0"]
    assert hacking["prm_score_first"].notna().all()
    m = json.loads((run / "metrics.json").read_text())
    assert m["prm"]["test"]["auc"] == pytest.approx(ev["AUC-ROC"]) and m["prm"]["train"]["best_step"] == curve["best_step"]
    shutil.rmtree(run)  # kept only when the test fails
