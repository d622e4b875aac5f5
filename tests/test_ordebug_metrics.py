"""Metrics and rewards on hand-built episodes whose numbers are worked out by hand below."""
import doctest
import math

import pandas as pd
import pytest

from ordebug_lib.ordebug import metrics as metrics_module
from ordebug_lib.ordebug import rewards
from ordebug_lib.ordebug.env import EpisodeOutcome
from ordebug_lib.ordebug.metrics import aggregate, breakdowns, classify_failure, episode_metrics
from ordebug_lib.ordebug.rewards import (RewardWeights, composite_reward, diagnosis_reward, diagnosis_score,
                                         efficiency_reward, outcome_reward, reward_components)


def episode(first, steps, submitted, feasible, faithful, diagnosis, root_cause, max_turns=20, objective=None):
    """An EpisodeOutcome built by hand (the trajectory is irrelevant to the metrics)."""
    return EpisodeOutcome(
        steps=steps, max_turns=max_turns, submitted=submitted, truncated=not submitted,
        diagnosis=diagnosis, final_status="OPTIMAL" if feasible else "INFEASIBLE",
        final_objective=objective if feasible else None, feasible_end=feasible, first_feasible_step=first,
        faithful=faithful, exact_repair=None if root_cause is None else bool(faithful),
        original_objective=None if root_cause is None else 100.0, root_cause=root_cause,
        initial_status="INFEASIBLE", initial_iis_size=3,
        rewards=reward_components(feasible, faithful, diagnosis, root_cause, steps, max_turns),
        wall_time=0.1, trajectory=[])


# (metadata, episode): the five cases of the aggregate test.
CASES = [
    (dict(error_type="A", difficulty="easy", family="production"),    # success
     episode(2, 3, True, True, True, ["cap"], ["cap"])),
    (dict(error_type="A", difficulty="hard", family="production"),    # feasible, optimum lost: wrong_fix
     episode(6, 7, True, True, False, ["cap", "paint"], ["cap"])),
    (dict(error_type="H", difficulty="easy", family="staffing"),      # never feasible, no SUBMIT: timeout
     episode(None, 20, False, False, False, None, ["x.ub"])),
    (dict(error_type="H", difficulty="hard", family="staffing"),      # half the root cause: partial
     episode(12, 16, True, True, True, ["a", "b"], ["a", "c"])),
    (dict(error_type="B", difficulty="easy", family="blend"),         # faithful but blames the wrong thing
     episode(4, 5, True, True, True, ["z"], ["y.type"])),
]


def records() -> pd.DataFrame:
    return pd.DataFrame([{**meta, **episode_metrics(ep)} for meta, ep in CASES])


def test_module_doctests_pass():
    for module in (metrics_module, rewards):
        assert doctest.testmod(module).failed == 0


def test_episode_metrics_of_one_episode():
    row = episode_metrics(CASES[1][1])
    assert row["feasible_end"] and row["faithful"] is False
    assert [row[f"rr_at_{k}"] for k in (5, 10, 15, 20)] == [False, True, True, True]
    assert (row["diagnosis_recall"], row["diagnosis_precision"]) == (1.0, 0.5)
    assert row["diagnosis_f1"] == pytest.approx(2 / 3)
    assert row["failure_class"] == "wrong_fix"
    # outcome 30 (feasible, unfaithful), diagnosis 100*2/3, efficiency 100*(20-6)/20 = 70
    assert row["reward_outcome"] == 30.0 and row["reward_efficiency"] == 70.0
    assert row["reward_composite"] == pytest.approx(15 + 20 + 14)


def test_failure_classes_of_the_cases():
    assert records()["failure_class"].tolist() == [
        "success", "wrong_fix", "timeout", "partial_diagnosis", "wrong_diagnosis"]
    assert classify_failure(True, False, False, 1.0) == "wrong_fix"        # perfect blame, no repair
    assert classify_failure(False, False, False, 0.0) == "timeout"         # timeout wins over everything


def test_aggregate_over_all_cases_worked_by_hand():
    agg = aggregate(records()).loc["all"]
    assert agg["n"] == 5
    assert agg["RR"] == pytest.approx(4 / 5)            # all but the timeout end feasible
    assert agg["RR@5"] == pytest.approx(2 / 5)          # first feasible at 2 and 4
    assert agg["RR@10"] == pytest.approx(3 / 5)         # + 6
    assert agg["RR@15"] == pytest.approx(4 / 5)         # + 12
    assert agg["RR@20"] == pytest.approx(4 / 5)
    assert agg["faithful_recovery"] == pytest.approx(3 / 5)
    assert agg["DA"] == pytest.approx((1 + 1 + 0 + 0.5 + 0) / 5)
    assert agg["diagnosis_precision"] == pytest.approx((1 + 0.5 + 0 + 0.5 + 0) / 5)
    assert agg["avg_steps"] == pytest.approx((3 + 7 + 20 + 16 + 5) / 5)
    assert agg["optimality_preservation"] == pytest.approx(3 / 4)  # faithful among the 4 feasible
    assert [agg[f"n_{c}"] for c in ("success", "wrong_fix", "timeout", "partial_diagnosis", "wrong_diagnosis")] \
        == [1, 1, 1, 1, 1]


def test_breakdown_by_error_type_and_two_keys():
    by_type = aggregate(records(), by="error_type")
    assert list(by_type.index) == ["A", "B", "H"]
    a, h = by_type.loc["A"], by_type.loc["H"]
    assert (a["n"], a["RR"], a["RR@5"], a["faithful_recovery"], a["DA"], a["avg_steps"]) == (2, 1.0, 0.5, 0.5, 1.0, 5.0)
    assert a["diagnosis_precision"] == 0.75 and a["optimality_preservation"] == 0.5
    assert (h["RR"], h["RR@10"], h["RR@15"], h["DA"], h["avg_steps"], h["optimality_preservation"]) == \
        (0.5, 0.0, 0.5, 0.25, 18.0, 1.0)
    two = aggregate(records(), by=["error_type", "difficulty"])
    assert two.loc[("H", "easy"), "RR"] == 0.0 and math.isnan(two.loc[("H", "easy"), "optimality_preservation"])
    tables = breakdowns(records())
    assert set(tables) == {"all", "error_type", "difficulty", "family"}
    assert tables["family"].loc["staffing", "n"] == 2
    with pytest.raises(KeyError, match="no column"):
        aggregate(records(), by="split")
    with pytest.raises(ValueError, match="no episode records"):
        aggregate([])


def test_user_model_episode_has_no_faithful_or_da():
    row = episode_metrics(episode(3, 4, True, True, None, ["c"], None))
    assert row["faithful"] is None and row["diagnosis_recall"] is None and row["failure_class"] == "unverified"
    assert row["reward_composite"] is None and row["reward_outcome"] == 30.0
    mixed = pd.DataFrame([row, episode_metrics(CASES[0][1])])
    agg = aggregate(mixed).loc["all"]
    assert agg["RR"] == 1.0 and agg["faithful_recovery"] == 1.0 and agg["DA"] == 1.0  # means over known values
    assert agg["n_unverified"] == 1


def test_rewards_are_pure_and_documented_numbers():
    assert (outcome_reward(True, True), outcome_reward(True, False), outcome_reward(False, False)) == (100, 30, -50)
    with pytest.raises(ValueError):
        outcome_reward(False, True)
    assert diagnosis_score(["a", "b", "b"], ["a"]).precision == 0.5
    assert diagnosis_reward(["a", "b", "c", "d"], ["a"]) == pytest.approx(100 * 2 * 0.25 / 1.25)  # blame-all is not rewarded
    assert efficiency_reward(11, 20, True) == 50.0 and efficiency_reward(1, 20, False) == 0.0
    with pytest.raises(ValueError):
        efficiency_reward(21, 20, True)
    assert composite_reward(100, 100, 100) == 100.0
    assert composite_reward(100, 0, 0, RewardWeights(1.0, 0.0, 0.0)) == 100.0
    # repeated calls give identical values: no noise anywhere
    assert len({reward_components(True, False, ["a"], ["a", "b"], 5, 20)["composite"] for _ in range(20)}) == 1
