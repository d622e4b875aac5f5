"""Step-level credit for multi-turn episodes: PRM returns in min form (PURE) and in summed form (the seeds),
GiGPO's anchor-state step advantages, the per-token broadcast of step advantages, and a reward-hacking detector.

Pure functions (torch / numpy), no TRL. An *episode* i has n_i ≥ 1 steps (for OR-Debug: env turns, one
action each); per-step inputs are ragged, a sequence of B episodes each a (n_i,) sequence. Episodes come in
groups as in ``advantages.py``: B = n_groups · G, grouped contiguously (episodes 0..G−1 are the G rollouts of
prompt 0, and so on). Every output is float64.

Notation: r_k^i the process reward of step k of episode i (e.g. a PRM score, see
:func:`prm_score_to_process_reward`), o^i its outcome (verifiable) reward, T a temperature, γ a discount,
c the outcome coefficient, ε the std's additive constant (1e-4, unbiased std, as ``advantages.py``).

Returns of one episode (steps t = 0..n−1):

=========================  =============================================  ==========================================
function                   G_t                                            source
=========================  =============================================  ==========================================
discounted_returns         Σ_{k≥t} γ^{k−t} r_k                            GiGPO arXiv 2505.10978 Eq. 5 (step return)
summed_returns             Σ_{k≥t} γ^{k−t} λ r_k + γ^{n−1−t} c·o          seeds/001 Strategy 2 (PRM term added to the
                                                                          reward); G_0 at γ = 1 is c·o + λΣ_k r_k,
                                                                          ``summed_episode_rewards``
min_form_returns           min_{k≥t} r_k                                  PURE arXiv 2504.15275 (abstract: the value
                                                                          as the minimum of future rewards)
soft_min_weights           w_k = exp(−r_k/T) / Σ_j exp(−r_j/T)            PURE's released code and README: the
                                                                          transform of the process rewards
pure_returns               Σ_{k≥t} w_k r_k                                PURE's implementation of min-form credit
=========================  =============================================  ==========================================

``pure_returns`` is not ``min_form_returns``: as T → 0 the weights put all mass on the worst step m (shared
equally among tied worst steps), so with one worst step G_t → min_k r_k for t ≤ m — the minimum of the future
rewards, since step m lies ahead — and G_t → 0 for t > m: the steps after the worst one get no credit of their
own. The two agree at t = 0 (the episode's minimum) and up to the worst step. The exact form is kept for
reference and tests; PURE's experiments use the weighted one (T = 0.1).

Advantages (each a list of (n_i,) tensors; the (B,) GRPO advantages live in ``advantages.py``):

========================  =========================================================  =====================
function                  A_t^i                                                      source
========================  =========================================================  =====================
pure_advantages           Σ_{k≥t} w_k^i r_k^i − B_t^i + c·(o^i − mean_{j≠i} o^j)     PURE (PPO, RLOO)
prm_sum_advantages        Σ_{k≥t} r_k^i − B_t^i + c·(o^i − mean_{j≠i} o^j)           PURE's sum-form
                                                                                     ablation (γ = 1);
                                                                                     the seeds' PRM term
gigpo_episode_advantages  A^E(τ_i) = (R(τ_i) − mean_g R) / F_norm                    GiGPO Eq. 3
gigpo_step_advantages     A^S_t^i = (R_t^i − mean_anchor R) / F_norm over the        GiGPO Eqs. 5–7
                          anchor group of (episode group, state key); 0 for a
                          singleton anchor group
gigpo_advantages          A^E(τ_i) + ω · A^S_t^i                                     GiGPO Eq. 8
========================  =========================================================  =====================

PURE's estimator sums the baselined, transformed process rewards over the future (the reverse cumulative sum),
and the verifiable outcome reward ("PURE-PRM+VR"), with its own leave-one-out baseline, enters at the last step,
so it reaches every step; ``outcome=None`` is PURE-PRM.

The RLOO baseline B_t^i of the PRM advantages (leave-one-out over the other G−1 episodes j of the group, whose
totals are P_0^j): ``baseline="step"`` B_t^i = (n_i − t) · mean_{j≠i}(P_0^j / n_j), the others' mean process
return per step times the steps left; ``baseline="token"`` B_t^i = (Σ_{j≠i} P_0^j / Σ_{j≠i} L_j) · Σ_{k≥t} ℓ_k^i,
the others' return per action token times the tokens left (ℓ_k the tokens of step k, L the episode's total).
PURE's README says the per-step baseline favours episodes with fewer steps and its code uses the per-token one.
When every episode has the same number of steps, "step" gives A_0^i = P_0^i − mean_{j≠i} P_0^j: RLOO on the
episode's (soft-)minimum. F_norm (GiGPO): ``"std"`` the group's (unbiased) std + ε, or ``"none"`` 1.

Step advantages reach tokens through :func:`step_token_advantages`: the action tokens of step k (the k-th run of
ones of the env mask, ``training/rollouts.py``) get A_k, environment tokens and padding 0.

The reward-hacking detector (:func:`reward_hacking_flags`, :class:`HackingMonitor`) reads two per-training-step
series — the batch mean PRM score and a task metric (faithful recovery) — and flags step s when, over the window
of the last W steps, the PRM trend is up and the task trend is down, each beyond noise, and has been so for the
last ``persist`` steps:

====================  ===============================================================================
quantity              exact definition (x = 0..W−1 the positions in the window ending at step s, y the
                      series there)
====================  ===============================================================================
slope b               OLS slope Σ(x − x̄)(y − ȳ) / Σ(x − x̄)²
se(b)                 sqrt( Σ(y − ŷ)² / (W − 2) / Σ(x − x̄)² ), ŷ the fitted line (residuals below 1e-12
                      of the series' scale count as 0: an exact line)
t                     b / se(b); ±inf when se = 0 and b ≠ 0, 0 when both are 0
condition(s)          t_prm > z and t_task < −z and −b_task·(W − 1) ≥ min_task_drop
flag(s)               condition held at each of the steps s − persist + 1, ..., s
====================  ===============================================================================

Noise alone: each one-sided condition holds in a window with probability about P(t_{W−2} > z) (≈ 0.04 for
W = 10, z = 2); when one series really trends and the other is flat noise, the condition alone fires in ≈ 3 % of
windows, and requiring it on ``persist`` = 3 consecutive steps brings that to ≈ 0.3 % (simulated: 60 steps,
noise sd 0.01, 200 seeds), while a hacking run with slopes ±0.004 per step is flagged on ≈ 74 % of its steps.
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Hashable, Sequence

import numpy as np
import torch

from .advantages import DEFAULT_EPS, dr_grpo_advantages, grpo_advantages

STEP_CREDIT_METHODS = ("none", "prm_sum", "pure_min", "gigpo")
"""'none': GRPO on the episode reward (``advantages.py``); the other three are this module's step credit."""
PRM_BASELINES = ("step", "token")
F_NORMS = ("std", "none")
PURE_TEMPERATURE = 0.1
"""T of PURE's released code (its ``turn_process_reward_logits_to_reward``)."""
GIGPO_GAMMA = 0.95
"""γ of GiGPO's released ALFWorld/WebShop runs (verl-agent ``algorithm.gamma``)."""
GIGPO_OMEGA = 1.0
"""ω of GiGPO's released runs (``step_advantage_w``)."""


# -- validation -----------------------------------------------------------------------------------------------
def _as_steps(x, name: str = "rewards") -> torch.Tensor:
    """One episode's per-step values as a finite, non-empty (n,) float64 tensor."""
    t = x.detach().to(torch.float64) if isinstance(x, torch.Tensor) else torch.as_tensor(x, dtype=torch.float64)
    if t.dim() != 1:
        raise ValueError(f"{name} of one episode must be a flat 1-D sequence (one value per step), got shape "
                         f"{tuple(t.shape)}")
    if t.numel() == 0:
        raise ValueError(f"{name}: an episode has at least one step, got an empty sequence")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} contain NaN or inf; every step needs a finite value")
    return t


def _as_episodes(xs, name: str) -> list[torch.Tensor]:
    if isinstance(xs, torch.Tensor) or not isinstance(xs, Sequence) or isinstance(xs, str):
        raise ValueError(f"{name} must be a sequence of episodes, each a sequence of per-step values "
                         f"(a ragged list), got {type(xs).__name__}")
    return [_as_steps(x, f"{name}[{i}]") for i, x in enumerate(xs)]


def _as_outcomes(o, n: int, name: str = "outcome") -> torch.Tensor:
    t = o.detach().to(torch.float64) if isinstance(o, torch.Tensor) else torch.as_tensor(o, dtype=torch.float64)
    if t.dim() != 1 or t.numel() != n:
        raise ValueError(f"{name} must hold one value per episode ({n}), got shape {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} contain NaN or inf; every episode needs a finite value")
    return t


def _check_groups(n_episodes: int, group_size: int) -> int:
    if not (isinstance(group_size, int) and not isinstance(group_size, bool) and group_size >= 2):
        raise ValueError(f"group_size must be an int ≥ 2, got {group_size!r}")
    if n_episodes == 0 or n_episodes % group_size:
        raise ValueError(f"group_size {group_size} does not divide the number of episodes {n_episodes}")
    return n_episodes // group_size


def _check_gamma(gamma: float) -> None:
    if not (isinstance(gamma, (int, float)) and 0.0 <= gamma <= 1.0):
        raise ValueError(f"gamma must lie in [0, 1], got {gamma!r}")


def _check_temperature(temperature: float) -> None:
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r} (the exact minimum is "
                         "min_form_returns)")


def _check_f_norm(f_norm: str, eps: float) -> None:
    if f_norm not in F_NORMS:
        raise ValueError(f"f_norm must be one of {F_NORMS}, got {f_norm!r}")
    if not eps >= 0:
        raise ValueError(f"eps must be ≥ 0, got {eps}")


def _reverse_cumsum(x: torch.Tensor) -> torch.Tensor:
    return x.flip(0).cumsum(0).flip(0)


# -- returns of one episode --------------------------------------------------------------------------------------
def discounted_returns(rewards, gamma: float = 1.0) -> torch.Tensor:
    """(n,) G_t = Σ_{k≥t} γ^{k−t} r_k (GiGPO arXiv 2505.10978 Eq. 5; γ = 1 is the plain sum of future rewards).

    >>> discounted_returns([0., 0., 1.], gamma=0.5).tolist()       # a sparse terminal reward, discounted back
    [0.25, 0.5, 1.0]
    >>> discounted_returns([1., 2., 3.]).tolist()
    [6.0, 5.0, 3.0]
    """
    _check_gamma(gamma)
    r = _as_steps(rewards)
    out = torch.empty_like(r)  # (n,)
    running = 0.0
    for t in range(r.numel() - 1, -1, -1):
        running = float(r[t]) + gamma * running
        out[t] = running
    return out


def summed_returns(process_rewards, outcome: float = 0.0, prm_coef: float = 1.0, outcome_coef: float = 1.0,
                   gamma: float = 1.0) -> torch.Tensor:
    """(n,) the seeds' summed PRM credit (seeds/001 Strategy 2, "integrated into the composite reward"): the step
    rewards are λ·r_k (λ = ``prm_coef``) with the outcome c·o (c = ``outcome_coef``) added to the last step's, and
    G_t = Σ_{k≥t} γ^{k−t} λ r_k + γ^{n−1−t} c·o. At γ = 1, G_0 = c·o + λ·Σ_k r_k is the seeds' episode reward
    with a PRM term; G_t sums the PRM scores still ahead, which is what a high-scoring step can farm (PURE
    arXiv 2504.15275, abstract: sum-form credit is the main cause of PRM reward hacking).

    >>> summed_returns([0.2, 0.5, 1.0], outcome=1.0).tolist()                 # 1 + 1.7, 1 + 1.5, 1 + 1.0
    [2.7, 2.5, 2.0]
    >>> summed_returns([0.2, 0.5, 1.0], outcome=1.0, prm_coef=0.5, gamma=0.5).tolist()   # steps [0.1, 0.25, 1.5]
    [0.6, 1.0, 1.5]
    """
    r = _as_steps(process_rewards, "process_rewards")
    if not math.isfinite(float(outcome)):
        raise ValueError(f"outcome must be finite, got {outcome!r}")
    step = prm_coef * r  # (n,)
    step[-1] += outcome_coef * float(outcome)
    return discounted_returns(step, gamma)


def summed_episode_rewards(process_rewards, outcome, prm_coef: float = 1.0, outcome_coef: float = 1.0
                           ) -> torch.Tensor:
    """(B,) the seeds' episode reward with a summed PRM term, c·o^i + λ·Σ_k r_k^i (G_0 of :func:`summed_returns`
    at γ = 1): what "GRPO + a summed PRM term" trains on, one scalar per episode, given to
    ``advantages.compute_advantages`` like any reward (no step credit: every token of the episode gets its
    advantage).

    >>> summed_episode_rewards([[0.2, 0.5], [1.0]], outcome=[1.0, 0.0], prm_coef=0.5).tolist()
    [1.35, 0.5]
    """
    rs = _as_episodes(process_rewards, "process_rewards")
    o = _as_outcomes(outcome, len(rs))
    return torch.stack([summed_returns(r, float(o[i]), prm_coef, outcome_coef)[0] for i, r in enumerate(rs)])


def min_form_returns(process_rewards) -> torch.Tensor:
    """(n,) min-form credit, exactly: G_t = min_{k≥t} r_k, the value as the minimum of the future process
    rewards (PURE arXiv 2504.15275, abstract). Bounded by the PRM's range whatever the episode's length,
    and raised only by removing the worst step ahead, not by adding good ones.

    >>> min_form_returns([0.9, 0.2, 0.7]).tolist()
    [0.2, 0.2, 0.7]
    """
    r = _as_steps(process_rewards, "process_rewards")
    return r.flip(0).cummin(0).values.flip(0)


def soft_min_weights(process_rewards, temperature: float = PURE_TEMPERATURE) -> torch.Tensor:
    """(n,) PURE's weights w_k = softmax(−r/T)_k over the steps of one episode (its README: Σ_t softmax(−r_t/T)·r_t
    approximates min_t r_t as T → 0). They sum to 1; the lowest reward gets the most weight.

    >>> [round(w, 4) for w in soft_min_weights([0.9, 0.2, 0.7], temperature=0.1).tolist()]
    [0.0009, 0.9924, 0.0067]
    """
    _check_temperature(temperature)
    r = _as_steps(process_rewards, "process_rewards")
    return torch.softmax(-r / temperature, dim=0)


def pure_returns(process_rewards, temperature: float = PURE_TEMPERATURE) -> torch.Tensor:
    """(n,) PURE's min-form returns as its code computes them: transformed rewards r*_k = w_k·r_k
    (:func:`soft_min_weights`), summed over the future: G_t = Σ_{k≥t} w_k r_k. G_0 = Σ_k w_k r_k is a soft minimum
    of all the episode's rewards (between min and the mean); see the module docstring for t > argmin.

    >>> [round(g, 4) for g in pure_returns([0.9, 0.2, 0.7], temperature=0.1).tolist()]
    [0.204, 0.2032, 0.0047]
    >>> [round(g, 4) for g in pure_returns([0.9, 0.2, 0.7], temperature=1e-3).tolist()]   # T → 0
    [0.2, 0.2, 0.0]
    """
    w = soft_min_weights(process_rewards, temperature)
    return _reverse_cumsum(w * _as_steps(process_rewards, "process_rewards"))


def prm_score_to_process_reward(p) -> torch.Tensor:
    """A PRM probability p = P(progress) (``policy/prm.py``) as a process reward in [−1, 1]: 2p − 1, which is
    p(positive) − p(negative) of a two-class head, the reward PURE's PRM gives (its code:
    softmax[1] − softmax[0]). Any shape.

    >>> prm_score_to_process_reward([0.5, 1.0, 0.1]).tolist()
    [0.0, 1.0, -0.8]
    """
    t = p.detach().to(torch.float64) if isinstance(p, torch.Tensor) else torch.as_tensor(p, dtype=torch.float64)
    if not bool(torch.isfinite(t).all()) or bool(((t < 0) | (t > 1)).any()):
        raise ValueError("PRM probabilities must be finite and lie in [0, 1]")
    return 2.0 * t - 1.0


# -- PRM advantages (PURE's RLOO estimator, min form or sum form) ----------------------------------------------
def _prm_advantages(process_rewards, group_size: int, form: str, temperature: float, outcome, outcome_coef: float,
                    baseline: str, step_tokens) -> list[torch.Tensor]:
    rs = _as_episodes(process_rewards, "process_rewards")
    n_groups = _check_groups(len(rs), group_size)
    if baseline not in PRM_BASELINES:
        raise ValueError(f"baseline must be one of {PRM_BASELINES}, got {baseline!r}")
    if not (isinstance(outcome_coef, (int, float)) and math.isfinite(outcome_coef)):
        raise ValueError(f"outcome_coef must be a finite number, got {outcome_coef!r}")
    if form == "min":
        P = [pure_returns(r, temperature) for r in rs]  # each (n_i,)
    else:
        P = [_reverse_cumsum(r) for r in rs]
    totals = torch.stack([p[0] for p in P])  # (B,) P_0^i
    steps = torch.tensor([r.numel() for r in rs], dtype=torch.float64)  # (B,) n_i
    if baseline == "token":
        if step_tokens is None:
            raise ValueError("baseline='token' needs step_tokens (the action tokens of every step)")
        ell = _as_episodes(step_tokens, "step_tokens")
        for i, (l, r) in enumerate(zip(ell, rs)):
            if l.numel() != r.numel():
                raise ValueError(f"step_tokens[{i}] has {l.numel()} steps but process_rewards[{i}] has {r.numel()}")
            if bool((l <= 0).any()):
                raise ValueError(f"step_tokens[{i}]: every step has at least one action token")
        lengths = torch.stack([l.sum() for l in ell])  # (B,) L_i
    elif step_tokens is not None:
        raise ValueError("step_tokens are used only with baseline='token'")
    if outcome is not None:
        o = _as_outcomes(outcome, len(rs))
    G = group_size
    out = []
    for g in range(n_groups):
        idx = range(g * G, (g + 1) * G)
        for i in idx:
            others = [j for j in idx if j != i]
            if baseline == "step":
                per_step = float((totals[others] / steps[others]).mean())
                B_t = per_step * torch.arange(rs[i].numel(), 0, -1, dtype=torch.float64)  # (n_i,) (n_i − t)·β
            else:
                per_token = float(totals[others].sum() / lengths[others].sum())
                B_t = per_token * _reverse_cumsum(ell[i])  # (n_i,)
            a = P[i] - B_t
            if outcome is not None:
                a = a + outcome_coef * float(o[i] - o[others].mean())
            out.append(a)
    return out


def pure_advantages(process_rewards, group_size: int, temperature: float = PURE_TEMPERATURE, outcome=None,
                    outcome_coef: float = 1.0, baseline: str = "step", step_tokens=None) -> list[torch.Tensor]:
    """PURE's step advantages (arXiv 2504.15275; PPO with an RLOO estimator): A_t^i = Σ_{k≥t} w_k^i r_k^i − B_t^i
    + c·(o^i − mean_{j≠i} o^j), returns (n_i,) per episode. The transformed rewards w_k r_k
    (:func:`pure_returns`) have an RLOO baseline B (module docstring) and are summed over the future; the
    verifiable outcome o ("PURE-PRM+VR"), with its own leave-one-out baseline and coefficient c, is added at the
    last step, so it reaches every step. ``outcome=None`` is PURE-PRM (process rewards only).

    Worked example, one group of two 2-step episodes, rewards [0.9, 0.2] and [0.8, 0.8], T = 0.1:
    w¹ = softmax([−9, −2]) = [0.000911, 0.999089], P¹ = [0.200638, 0.199818]; w² = [0.5, 0.5], P² = [0.8, 0.4];
    "step" baseline of episode 1: (0.8/2)·[2, 1] = [0.8, 0.4], of episode 2: (0.200638/2)·[2, 1]:

    >>> a = pure_advantages([[0.9, 0.2], [0.8, 0.8]], group_size=2)
    >>> [[round(x, 4) for x in e.tolist()] for e in a]
    [[-0.5994, -0.2002], [0.5994, 0.2997]]
    >>> a = pure_advantages([[0.9, 0.2], [0.8, 0.8]], 2, outcome=[1.0, 0.0], outcome_coef=0.5)
    >>> [[round(x, 4) for x in e.tolist()] for e in a]                      # + 0.5·(1 − 0), + 0.5·(0 − 1)
    [[-0.0994, 0.2998], [0.0994, -0.2003]]
    """
    _check_temperature(temperature)
    return _prm_advantages(process_rewards, group_size, "min", temperature, outcome, outcome_coef, baseline,
                           step_tokens)


def prm_sum_advantages(process_rewards, group_size: int, outcome=None, outcome_coef: float = 1.0,
                       baseline: str = "step", step_tokens=None) -> list[torch.Tensor]:
    """The summed (sum-form, γ = 1) counterpart of :func:`pure_advantages`, with the same RLOO estimator:
    A_t^i = Σ_{k≥t} r_k^i − B_t^i + c·(o^i − mean_{j≠i} o^j). Its return part is :func:`summed_returns`
    (Σ_{k≥t} r_k + c·o), the seeds' PRM term; the estimator is PURE's sum-form ablation, which the paper reports
    hacked within tens of steps. Same inputs as :func:`pure_advantages`, no temperature.

    Worked example, the same group as :func:`pure_advantages`: P¹ = [1.1, 0.2], P² = [1.6, 0.8], "step"
    baselines (1.6/2)·[2, 1] and (1.1/2)·[2, 1]:

    >>> a = prm_sum_advantages([[0.9, 0.2], [0.8, 0.8]], group_size=2)
    >>> [[round(x, 4) for x in e.tolist()] for e in a]
    [[-0.5, -0.6], [0.5, 0.25]]
    """
    return _prm_advantages(process_rewards, group_size, "sum", 1.0, outcome, outcome_coef, baseline, step_tokens)


# -- GiGPO ------------------------------------------------------------------------------------------------------
def gigpo_episode_advantages(episode_rewards, group_size: int, f_norm: str = "std",
                             eps: float = DEFAULT_EPS) -> torch.Tensor:
    """(B,) GiGPO's episode relative advantage (arXiv 2505.10978 Eq. 3): A^E(τ_i) = (R(τ_i) − mean_g R) / F_norm,
    F_norm = std_g + ε (``"std"``: exactly ``advantages.grpo_advantages``) or 1 (``"none"``: Dr. GRPO's r − mean).

    >>> gigpo_episode_advantages([1., 0.], 2, f_norm="none").tolist()
    [0.5, -0.5]
    """
    _check_f_norm(f_norm, eps)
    if f_norm == "std":
        return grpo_advantages(episode_rewards, group_size, eps=eps)
    return dr_grpo_advantages(episode_rewards, group_size)


def anchor_key(*parts: str) -> str:
    """A state key from text parts: the SHA-256 hex digest of the parts, each length-prefixed (so ("ab", "c") and
    ("a", "bc") differ). For OR-Debug the observation text shows the step index, the status and the last action
    and its result but not the model (``episode_env_config``: ``show_model=False``); add the model's
    ``LinearModel.fingerprint()`` as a part when the key must identify the environment state exactly.

    >>> anchor_key("OR-Debug. Step 0 of 8.") == anchor_key("OR-Debug. Step 0 of 8.")
    True
    >>> anchor_key("ab", "c") == anchor_key("a", "bc")
    False
    """
    h = hashlib.sha256()
    for p in parts:
        if not isinstance(p, str):
            raise ValueError(f"anchor_key parts must be strings, got {type(p).__name__}")
        b = p.encode("utf-8")
        h.update(len(b).to_bytes(8, "big"))
        h.update(b)
    return h.hexdigest()


def observation_anchor_keys(observations: Sequence[str], actions: Sequence[str] | None = None) -> list[str]:
    """One episode's anchor keys, one per step: the key of the observation the step acted on (GiGPO's
    anchor state: identical environment observations, arXiv 2505.10978 Eq. 6). With ``actions``, key t covers
    the whole context before step t — obs_0, a_0, ..., a_{t−1}, obs_t — the state of a policy that reads its
    history (``actions`` needs at least len(observations) − 1 entries; later ones are ignored).

    >>> k = observation_anchor_keys(["start", "after fix", "start"])
    >>> k[0] == k[2], k[0] == k[1]
    (True, False)
    >>> h = observation_anchor_keys(["start", "after fix", "start"], actions=["FIX", "UNDO"])
    >>> h[0] == h[2]                                       # same observation, different histories
    False
    """
    if isinstance(observations, str) or not all(isinstance(o, str) for o in observations):
        raise ValueError("observations must be a sequence of strings (one per step)")
    if not observations:
        raise ValueError("observations: an episode has at least one step")
    if actions is None:
        return [anchor_key(o) for o in observations]
    if isinstance(actions, str) or not all(isinstance(a, str) for a in actions):
        raise ValueError("actions must be a sequence of strings")
    if len(actions) < len(observations) - 1:
        raise ValueError(f"{len(observations)} observations need at least {len(observations) - 1} actions, "
                         f"got {len(actions)}")
    keys, parts = [], []
    for t, o in enumerate(observations):
        if t:
            parts.append(actions[t - 1])
        parts.append(o)
        keys.append(anchor_key(*parts))
    return keys


def anchor_groups(anchor_keys: Sequence[Sequence[Hashable]], group_size: int) -> dict[tuple, list[tuple[int, int]]]:
    """GiGPO's anchor-state grouping (arXiv 2505.10978 Eq. 6): {(episode group g, state key) → [(episode i,
    step t), ...]}, every step of every episode of group g whose state key is that key (in episode, then step
    order). Keys are compared only within an episode group (the rollouts of one prompt); a state met twice in
    one episode contributes both steps.

    >>> anchor_groups([["s0", "a"], ["s0", "b"]], group_size=2)
    {(0, 's0'): [(0, 0), (1, 0)], (0, 'a'): [(0, 1)], (0, 'b'): [(1, 1)]}
    """
    if isinstance(anchor_keys, (str, torch.Tensor)) or not isinstance(anchor_keys, Sequence):
        raise ValueError("anchor_keys must be a sequence of episodes, each a sequence of per-step state keys")
    _check_groups(len(anchor_keys), group_size)
    groups: dict[tuple, list[tuple[int, int]]] = {}
    for i, keys in enumerate(anchor_keys):
        if isinstance(keys, str) or not isinstance(keys, Sequence) or not len(keys):
            raise ValueError(f"anchor_keys[{i}] must be a non-empty sequence of per-step state keys")
        for t, k in enumerate(keys):
            try:
                hash(k)
            except TypeError:
                raise ValueError(f"anchor_keys[{i}][{t}] is not hashable ({type(k).__name__})") from None
            groups.setdefault((i // group_size, k), []).append((i, t))
    return groups


def terminal_step_rewards(episode_rewards, n_steps: Sequence[int]) -> list[torch.Tensor]:
    """Per-step rewards of episodes whose env pays only at the end (OR-Debug's ``RepairEnv``): 0 at every step
    but the last, which gets the episode's reward.

    >>> [r.tolist() for r in terminal_step_rewards([5., -1.], [3, 1])]
    [[0.0, 0.0, 5.0], [-1.0]]
    """
    R = _as_outcomes(episode_rewards, len(n_steps), "episode_rewards")
    out = []
    for i, n in enumerate(n_steps):
        if not (isinstance(n, int) and n >= 1):
            raise ValueError(f"n_steps[{i}] must be an int ≥ 1, got {n!r}")
        r = torch.zeros(n, dtype=torch.float64)
        r[-1] = R[i]
        out.append(r)
    return out


def gigpo_step_advantages(step_rewards, anchor_keys: Sequence[Sequence[Hashable]], group_size: int,
                          gamma: float = GIGPO_GAMMA, f_norm: str = "std", eps: float = DEFAULT_EPS
                          ) -> list[torch.Tensor]:
    """GiGPO's step relative advantages (arXiv 2505.10978 Eqs. 5–7), (n_i,) per episode: the discounted return
    R_t^i = Σ_{k≥t} γ^{k−t} r_k^i of every step (Eq. 5), grouped by anchor state (:func:`anchor_groups`, Eq. 6),
    normalised within its anchor group, A^S = (R_t^i − mean) / F_norm (Eq. 7; F_norm = unbiased std + ε, or 1).
    A step whose anchor group has one member gets 0: no other action was tried from that state.

    Worked example, two episodes of one group, both starting in state s0, rewards only at the end (γ = 0.5):
    episode 1 [0, 1] (returns [0.5, 1]), episode 2 [0, 0, 0] (returns [0, 0, 0]); the anchor group of s0 holds
    returns {0.5, 0}: mean 0.25, unbiased std 0.353553 → ±0.25/0.353653; every later state is a singleton:

    >>> a = gigpo_step_advantages([[0., 1.], [0., 0., 0.]], [["s0", "x"], ["s0", "y", "z"]], 2, gamma=0.5)
    >>> [[round(x, 4) for x in e.tolist()] for e in a]
    [[0.7069, 0.0], [-0.7069, 0.0, 0.0]]
    """
    _check_gamma(gamma)
    _check_f_norm(f_norm, eps)
    rs = _as_episodes(step_rewards, "step_rewards")
    groups = anchor_groups(anchor_keys, group_size)
    if len(rs) != len(anchor_keys):
        raise ValueError(f"{len(rs)} episodes of step_rewards but {len(anchor_keys)} of anchor_keys")
    for i, (r, k) in enumerate(zip(rs, anchor_keys)):
        if r.numel() != len(k):
            raise ValueError(f"episode {i}: {r.numel()} step rewards but {len(k)} anchor keys")
    returns = [discounted_returns(r, gamma) for r in rs]  # each (n_i,)
    out = [torch.zeros_like(r) for r in rs]
    for members in groups.values():
        if len(members) < 2:
            continue  # a singleton: A^S = 0
        R = torch.stack([returns[i][t] for i, t in members])  # (m,)
        centred = R - R.mean()
        a = centred / (R.std(correction=1) + eps) if f_norm == "std" else centred
        for (i, t), v in zip(members, a):
            out[i][t] = v
    return out


def gigpo_advantages(episode_rewards, anchor_keys: Sequence[Sequence[Hashable]], group_size: int, step_rewards=None,
                     omega: float = GIGPO_OMEGA, gamma: float = GIGPO_GAMMA, f_norm: str = "std",
                     eps: float = DEFAULT_EPS) -> list[torch.Tensor]:
    """GiGPO's group-in-group advantage (arXiv 2505.10978 Eq. 8), (n_i,) per episode: A_t^i = A^E(τ_i) + ω·A^S_t^i,
    the episode advantage (Eq. 3, on ``episode_rewards``) at every step plus ω times the step advantage (Eqs. 5–7).
    ``step_rewards`` None: the env pays only at the end (:func:`terminal_step_rewards`), as OR-Debug's does.

    Continuing :func:`gigpo_step_advantages`' example with ω = 1 and episode rewards [1, 0]: A^E = ±0.5/0.7072…

    >>> a = gigpo_advantages([1., 0.], [["s0", "x"], ["s0", "y", "z"]], 2, gamma=0.5)
    >>> [[round(x, 4) for x in e.tolist()] for e in a]
    [[1.4139, 0.707], [-1.4139, -0.707, -0.707]]
    """
    if not (isinstance(omega, (int, float)) and math.isfinite(omega) and omega >= 0):
        raise ValueError(f"omega must be a finite number ≥ 0, got {omega!r}")
    R = _as_outcomes(episode_rewards, len(anchor_keys), "episode_rewards")
    if step_rewards is None:
        lengths = []
        for i, k in enumerate(anchor_keys):
            if isinstance(k, str) or not isinstance(k, Sequence) or not len(k):
                raise ValueError(f"anchor_keys[{i}] must be a non-empty sequence of per-step state keys")
            lengths.append(len(k))
        step_rewards = terminal_step_rewards(R, lengths)
    episode = gigpo_episode_advantages(R, group_size, f_norm, eps)  # (B,)
    step = gigpo_step_advantages(step_rewards, anchor_keys, group_size, gamma, f_norm, eps)
    return [float(episode[i]) + omega * s for i, s in enumerate(step)]


# -- from steps to tokens ------------------------------------------------------------------------------------------
def action_spans(env_mask) -> list[tuple[int, int]]:
    """[(start, end), ...] of the maximal runs of 1 in one episode's env mask: the action tokens of each step, in
    order (``training/rollouts.py``: the policy's tokens are 1, the env's 0, and every action is followed by env
    tokens unless it is the last).

    >>> action_spans([1, 1, 0, 0, 1, 0, 1, 1])
    [(0, 2), (4, 5), (6, 8)]
    """
    m = env_mask.tolist() if isinstance(env_mask, torch.Tensor) else list(env_mask)
    if any(v not in (0, 1) for v in m):
        raise ValueError("env_mask must hold only 0 and 1")
    spans, start = [], None
    for j, v in enumerate(m + [0]):
        if v == 1 and start is None:
            start = j
        elif v == 0 and start is not None:
            spans.append((start, j))
            start = None
    return spans


def step_token_advantages(env_mask, step_advantages, width: int | None = None) -> torch.Tensor:
    """(width,) per-token advantages of one episode: each action token of step k gets A_k, every env token and the
    padding beyond len(env_mask) get 0 (they carry no loss weight anyway). ``width`` None: len(env_mask).

    >>> step_token_advantages([1, 1, 0, 0, 1], [0.5, -1.0], width=7).tolist()
    [0.5, 0.5, 0.0, 0.0, -1.0, 0.0, 0.0]
    """
    spans = action_spans(env_mask)
    a = _as_steps(step_advantages, "step_advantages")
    if len(spans) != a.numel():
        raise ValueError(f"the env mask has {len(spans)} action spans but {a.numel()} step advantages were given")
    n = len(env_mask)
    width = n if width is None else width
    if width < n:
        raise ValueError(f"width {width} is shorter than the episode's {n} tokens")
    out = torch.zeros(width, dtype=torch.float64)
    for (s, e), v in zip(spans, a):
        out[s:e] = v
    return out


def prm_step_sequences(prompt_ids, completion_ids, env_mask, stopped, eos_id: int,
                       max_length: int | None = None) -> tuple[list[list[int]], int]:
    """(the token sequence the PRM scores for each step of one episode, how many were cut): step k reads the
    policy's exact context before it (prompt + completion so far) and its action tokens, closed by EOS where the
    action did not stop itself (``stopped[k]`` False: it hit its token budget). A sequence longer than
    ``max_length`` (the PRM's context) loses the oldest completion tokens after the prompt: a full context
    (prompt + completion = 4,096) plus that EOS would pass a 4,096-token PRM by one.

    >>> prm_step_sequences([7, 7], [1, 2, 9, 3], [1, 1, 0, 1], [True, False], eos_id=0)
    ([[7, 7, 1, 2], [7, 7, 1, 2, 9, 3, 0]], 0)
    >>> prm_step_sequences([7, 7], [1, 2, 9, 3], [1, 1, 0, 1], [True, False], eos_id=0, max_length=5)
    ([[7, 7, 1, 2], [7, 7, 9, 3, 0]], 1)
    """
    seqs, cut = [], 0
    prompt, completion = list(prompt_ids), list(completion_ids)
    for (start, end), done in zip(action_spans(env_mask), stopped):
        body = completion[:end] + ([] if done else [eos_id])
        over = 0 if max_length is None else len(prompt) + len(body) - max_length
        if over > 0:
            if over > start:  # only the completion before this action may go
                raise ValueError(f"the prompt and one action alone exceed the PRM's context of {max_length}")
            body, cut = body[over:], cut + 1
        seqs.append(prompt + body)
    return seqs, cut


def step_token_counts(env_mask) -> list[int]:
    """Action tokens per step (the ℓ_k of ``baseline='token'``).

    >>> step_token_counts([1, 1, 0, 0, 1])
    [2, 1]
    """
    return [e - s for s, e in action_spans(env_mask)]


# -- reward-hacking detector -------------------------------------------------------------------------------------
def _slope_t(y: np.ndarray) -> tuple[float, float]:
    """(OLS slope of y on 0..W−1, its t statistic) — the module docstring's definitions."""
    w = y.size
    x = np.arange(w, dtype=np.float64)
    xc = x - x.mean()
    sxx = float(xc @ xc)
    b = float(xc @ (y - y.mean())) / sxx
    resid = y - (y.mean() + b * xc)
    sse = float(resid @ resid)
    # residuals of an exact line are ~1e-16, not 0: treat a relative level below 1e-12 as no noise
    scale = max(float(np.abs(y).max()), 1.0)
    se = math.sqrt(sse / (w - 2) / sxx) if sse > (1e-12 * scale) ** 2 * w else 0.0
    if se == 0.0:
        t = 0.0 if abs(b) <= 1e-12 * scale else math.copysign(math.inf, b)
    else:
        t = b / se
    return b, t


def _check_detector(window, z, min_task_drop, persist) -> None:
    if not (isinstance(window, int) and not isinstance(window, bool) and window >= 3):
        raise ValueError(f"window must be an int ≥ 3 (a slope's standard error needs 3 points), got {window!r}")
    if not (isinstance(z, (int, float)) and z > 0):
        raise ValueError(f"z must be > 0, got {z!r}")
    if not (isinstance(min_task_drop, (int, float)) and min_task_drop >= 0):
        raise ValueError(f"min_task_drop must be ≥ 0, got {min_task_drop!r}")
    if not (isinstance(persist, int) and not isinstance(persist, bool) and persist >= 1):
        raise ValueError(f"persist must be an int ≥ 1, got {persist!r}")


def reward_hacking_flags(prm_scores, task_metric, window: int = 10, z: float = 2.0, min_task_drop: float = 0.0,
                         persist: int = 3) -> dict[str, np.ndarray]:
    """Per training step s, whether the PRM score rises while the task metric (e.g. the batch's faithful-recovery
    rate) falls, each trend beyond noise (the module docstring's rule: over the last ``window`` steps an OLS slope
    whose t statistic exceeds ``z`` and a task drop of at least ``min_task_drop``, on ``persist`` consecutive
    steps).

    Returns a dict of (S,) arrays: ``prm_slope``, ``prm_t``, ``task_slope``, ``task_t`` (NaN for the first
    window − 1 steps), ``condition`` (the window's test) and ``flag`` (bool; False where undefined).

    >>> up = [0.50 + 0.02 * s for s in range(7)]
    >>> down = [0.40, 0.38, 0.37, 0.33, 0.31, 0.30, 0.27]
    >>> reward_hacking_flags(up, down, window=5, persist=2)["flag"].tolist()    # PRM up, faithful recovery down
    [False, False, False, False, False, True, True]
    >>> reward_hacking_flags(up, up, window=5, persist=2)["flag"].tolist()      # both up: healthy
    [False, False, False, False, False, False, False]
    """
    p = np.asarray(prm_scores, dtype=np.float64)
    f = np.asarray(task_metric, dtype=np.float64)
    if p.ndim != 1 or f.ndim != 1 or p.shape != f.shape:
        raise ValueError(f"prm_scores and task_metric must be 1-D series of the same length, got shapes "
                         f"{p.shape} and {f.shape}")
    if not (np.isfinite(p).all() and np.isfinite(f).all()):
        raise ValueError("prm_scores and task_metric must be finite (one value per training step)")
    _check_detector(window, z, min_task_drop, persist)
    S = p.size
    out = {k: np.full(S, np.nan) for k in ("prm_slope", "prm_t", "task_slope", "task_t")}
    cond = np.zeros(S, dtype=bool)
    flag = np.zeros(S, dtype=bool)
    run = 0
    for s in range(window - 1, S):
        bp, tp = _slope_t(p[s - window + 1:s + 1])
        bf, tf = _slope_t(f[s - window + 1:s + 1])
        out["prm_slope"][s], out["prm_t"][s], out["task_slope"][s], out["task_t"][s] = bp, tp, bf, tf
        cond[s] = tp > z and tf < -z and -bf * (window - 1) >= min_task_drop
        run = run + 1 if cond[s] else 0
        flag[s] = run >= persist
    out["condition"] = cond
    out["flag"] = flag
    return out


class HackingMonitor:
    """The detector step by step, for a trainer's log: ``update(prm_mean, task_metric)`` appends one training
    step and returns that step's ``prm_slope``, ``prm_t``, ``task_slope``, ``task_t``, ``condition`` and ``flag``
    (1.0 / 0.0; NaN while fewer than ``window`` steps are in), what :func:`reward_hacking_flags` gives there.

    >>> m = HackingMonitor(window=3, persist=2)
    >>> [m.update(0.5 + 0.1 * s, 0.4 - 0.05 * s)["flag"] for s in range(5)]
    [nan, nan, 0.0, 1.0, 1.0]
    """

    KEYS = ("prm_slope", "prm_t", "task_slope", "task_t", "condition", "flag")

    def __init__(self, window: int = 10, z: float = 2.0, min_task_drop: float = 0.0, persist: int = 3):
        _check_detector(window, z, min_task_drop, persist)
        self.window, self.z, self.min_task_drop, self.persist = window, z, min_task_drop, persist
        self.prm: list[float] = []
        self.task: list[float] = []

    def update(self, prm_mean: float, task_metric: float) -> dict[str, float]:
        if not (math.isfinite(prm_mean) and math.isfinite(task_metric)):
            raise ValueError(f"prm_mean and task_metric must be finite, got {prm_mean!r}, {task_metric!r}")
        self.prm.append(float(prm_mean))
        self.task.append(float(task_metric))
        if len(self.prm) < self.window:
            return {k: math.nan for k in self.KEYS}
        keep = self.window + self.persist - 1  # the steps the last flag depends on (fewer: it cannot be set)
        r = reward_hacking_flags(self.prm[-keep:], self.task[-keep:], self.window, self.z, self.min_task_drop,
                                 self.persist)
        return {k: float(r[k][-1]) for k in self.KEYS}
