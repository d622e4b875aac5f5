"""OR-Debug episode rewards (BRIEF §4, seeds/003 Task 3): outcome, diagnosis, efficiency, composite.

Pure, deterministic functions of the episode's end state. **No noise, ever**: reward variance problems
are solved at the advantage level (DGRO, dynamic sampling), not by perturbing rewards (BRIEF §3.2).

=============  ====================================================================================
component      definition
=============  ====================================================================================
outcome        +100 faithful recovery (feasible-and-bounded at the end AND the original optimal
               objective preserved within ``solver.objectives_match``'s tolerance);
               +30 feasible-and-bounded but the original optimum is not preserved (or, for a user
               model without ground truth, cannot be checked); −50 otherwise (still infeasible,
               unbounded, time limit, ...)
diagnosis      100 · F1 of the SUBMIT diagnosis against the root-cause tokens (exact token match,
               duplicates ignored); 0 when nothing was submitted. F1 rather than recall so that
               blaming every constraint is not rewarded (recall alone would be 100 for it).
efficiency     100 · (1 − (steps − 1) / max_turns) when the episode ends feasible-and-bounded, else 0:
               100 for a one-step episode, minus 100/max_turns per extra step. Zero on failure so
               that giving up early is never rewarded.
composite      w_o·outcome + w_d·diagnosis + w_e·efficiency, default weights 0.5 / 0.3 / 0.2
=============  ====================================================================================

Range of the default composite: from 0.5·(−50) = −25 (failure, wrong diagnosis) to 100.

Worked example (max_turns 20): a faithful repair in 3 steps whose SUBMIT names the single root cause
plus one innocent constraint (precision 1/2, recall 1, F1 2/3)::

    >>> o = outcome_reward(feasible=True, faithful=True)
    >>> d = diagnosis_reward(["cap_assembly", "demand_b"], ["cap_assembly"])
    >>> e = efficiency_reward(steps=3, max_turns=20, feasible=True)
    >>> o, round(d, 4), e
    (100.0, 66.6667, 90.0)
    >>> round(composite_reward(o, d, e), 4)   # 50 + 20 + 18
    88.0
"""
from __future__ import annotations

from dataclasses import dataclass

OUTCOME_FAITHFUL = 100.0
OUTCOME_FEASIBLE_UNFAITHFUL = 30.0
OUTCOME_FAILURE = -50.0
REWARD_COMPONENTS = ("outcome", "diagnosis", "efficiency", "composite")


@dataclass(frozen=True)
class RewardWeights:
    """Weights of the composite reward (seeds/003 Task 3)."""

    outcome: float = 0.5
    """Weight of the outcome component (repair succeeded / faithful)."""
    diagnosis: float = 0.3
    """Weight of the diagnosis component (SUBMIT vs root cause)."""
    efficiency: float = 0.2
    """Weight of the efficiency component (fewer steps)."""


@dataclass(frozen=True)
class DiagnosisScore:
    """Precision, recall and F1 of a diagnosis against the root cause (all in [0, 1])."""

    precision: float
    recall: float
    f1: float


def outcome_reward(feasible: bool, faithful: bool) -> float:
    """+100 faithful, +30 feasible but not faithful, −50 not feasible-and-bounded.

    >>> outcome_reward(True, True), outcome_reward(True, False), outcome_reward(False, False)
    (100.0, 30.0, -50.0)
    """
    if faithful and not feasible:
        raise ValueError("an episode cannot be faithful without ending feasible")
    if faithful:
        return OUTCOME_FAITHFUL
    return OUTCOME_FEASIBLE_UNFAITHFUL if feasible else OUTCOME_FAILURE


def diagnosis_score(diagnosis: list[str] | None, root_cause: list[str]) -> DiagnosisScore:
    """Set precision / recall / F1 of the blamed tokens. Nothing submitted scores 0 on all three
    (precision of an empty set is taken as 0, sklearn's ``zero_division=0``).

    >>> diagnosis_score(["c1", "c2", "c2"], ["c1", "x.ub"])
    DiagnosisScore(precision=0.5, recall=0.5, f1=0.5)
    >>> diagnosis_score(None, ["c1"])
    DiagnosisScore(precision=0.0, recall=0.0, f1=0.0)
    """
    truth = set(root_cause)
    if not truth:
        raise ValueError("root cause is empty: every instance must record at least one token")
    blamed = set(diagnosis or [])
    hits = len(blamed & truth)
    if hits == 0:
        return DiagnosisScore(0.0, 0.0, 0.0)
    precision, recall = hits / len(blamed), hits / len(truth)
    return DiagnosisScore(precision, recall, 2 * precision * recall / (precision + recall))


def diagnosis_reward(diagnosis: list[str] | None, root_cause: list[str]) -> float:
    """100 · F1 (see ``diagnosis_score``).

    >>> diagnosis_reward(["c1"], ["c1"]), diagnosis_reward(["c9"], ["c1"])
    (100.0, 0.0)
    """
    return 100.0 * diagnosis_score(diagnosis, root_cause).f1


def efficiency_reward(steps: int, max_turns: int, feasible: bool) -> float:
    """100 · (1 − (steps − 1)/max_turns) if the episode ends feasible, else 0.

    >>> efficiency_reward(1, 20, True), efficiency_reward(20, 20, True), efficiency_reward(2, 20, False)
    (100.0, 5.0, 0.0)
    """
    if max_turns < 1 or not 0 <= steps <= max_turns:
        raise ValueError(f"steps must be in [0, max_turns={max_turns}], got {steps}")
    if not feasible:
        return 0.0
    return 100.0 * (max_turns - max(steps - 1, 0)) / max_turns  # this order keeps round numbers exact


def composite_reward(outcome: float, diagnosis: float, efficiency: float,
                     weights: RewardWeights = RewardWeights()) -> float:
    """w_o·outcome + w_d·diagnosis + w_e·efficiency.

    >>> composite_reward(-50.0, 0.0, 0.0)          # plain failure
    -25.0
    >>> composite_reward(30.0, 100.0, 90.0)        # feasible, unfaithful, right blame, 3 of 20 steps
    63.0
    """
    return weights.outcome * outcome + weights.diagnosis * diagnosis + weights.efficiency * efficiency


def reward_components(feasible: bool, faithful: bool | None, diagnosis: list[str] | None,
                      root_cause: list[str] | None, steps: int, max_turns: int,
                      weights: RewardWeights = RewardWeights()) -> dict[str, float | None]:
    """All components of one episode. Without ground truth (a user's model: ``faithful`` and
    ``root_cause`` are None) the outcome treats a feasible end as not verified faithful (+30), and
    ``diagnosis`` and ``composite`` are None: they cannot be computed.

    >>> reward_components(True, True, ["c1"], ["c1"], steps=2, max_turns=20)
    {'outcome': 100.0, 'diagnosis': 100.0, 'efficiency': 95.0, 'composite': 99.0}
    >>> reward_components(True, None, ["c1"], None, steps=2, max_turns=20)["composite"] is None
    True
    """
    outcome = outcome_reward(feasible, bool(faithful))
    efficiency = efficiency_reward(steps, max_turns, feasible)
    if root_cause is None:
        return {"outcome": outcome, "diagnosis": None, "efficiency": efficiency, "composite": None}
    diag = diagnosis_reward(diagnosis, root_cause)
    return {"outcome": outcome, "diagnosis": diag, "efficiency": efficiency,
            "composite": composite_reward(outcome, diag, efficiency, weights)}
