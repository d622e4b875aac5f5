"""Step credit (``ordebug_lib.step_credit``): hand-worked numbers for PURE's min-form and the summed PRM credit,
GiGPO's anchor-state step advantages, the token broadcast, and the reward-hacking detector."""
import math

import numpy as np
import pytest
import torch

from ordebug_lib import step_credit as sc
from ordebug_lib.advantages import grpo_advantages


def _lists(xs, nd=6):
    return [[round(v, nd) for v in x.tolist()] for x in xs]


# -- returns ------------------------------------------------------------------------------------------------------
def test_discounted_returns_by_hand():
    assert sc.discounted_returns([1.0, 0.0, 2.0], gamma=0.5).tolist() == [1.5, 1.0, 2.0]  # 1 + 0.25·2, 0.5·2, 2
    assert sc.discounted_returns([3.0, -1.0], gamma=0.0).tolist() == [3.0, -1.0]
    assert sc.discounted_returns([4.0]).tolist() == [4.0]


def test_min_form_is_the_minimum_of_future_rewards():
    rng = np.random.default_rng(0)
    for n in (1, 2, 5, 9):
        r = rng.uniform(-1, 1, n)
        g = sc.min_form_returns(r).numpy()
        assert g.tolist() == [min(r[t:]) for t in range(n)]
    assert sc.min_form_returns([0.3, 0.3, 0.9]).tolist() == [0.3, 0.3, 0.9]


def test_pure_returns_tend_to_the_minimum_at_small_temperature():
    r = [0.9, 0.4, 0.1, 0.8, 0.6]  # worst step m = 2
    g = sc.pure_returns(r, temperature=1e-4)
    assert g[:3].tolist() == pytest.approx([0.1, 0.1, 0.1], abs=1e-9)  # t ≤ m: min of the future = 0.1
    assert g[3:].tolist() == pytest.approx([0.0, 0.0], abs=1e-9)        # t > m: no credit of their own
    assert sc.min_form_returns(r)[3:].tolist() == [0.6, 0.6]           # where the exact form differs
    # large T: uniform weights, G_0 the mean
    assert float(sc.pure_returns(r, temperature=1e6)[0]) == pytest.approx(np.mean(r), abs=1e-6)


def test_soft_min_weights_sum_to_one_and_ties_share():
    w = sc.soft_min_weights([0.2, 0.2, 0.9], temperature=0.1)
    assert float(w.sum()) == pytest.approx(1.0)
    assert float(w[0]) == pytest.approx(float(w[1]))
    # e^{-2}/(2e^{-2} + e^{-9}) by hand
    assert float(w[0]) == pytest.approx(math.exp(-2) / (2 * math.exp(-2) + math.exp(-9)))
    assert sc.soft_min_weights([5.0], temperature=0.1).tolist() == [1.0]


def test_summed_returns_are_the_seeds_reward_at_step_zero():
    g = sc.summed_returns([0.2, 0.5, 1.0], outcome=3.0, prm_coef=2.0, outcome_coef=0.5)
    assert g.tolist() == pytest.approx([1.5 + 2 * 1.7, 1.5 + 2 * 1.5, 1.5 + 2 * 1.0])
    # γ discounts the outcome from the last step: γ^{n−1−t} c·o
    g = sc.summed_returns([0.0, 0.0], outcome=1.0, gamma=0.5)
    assert g.tolist() == [0.5, 1.0]


def test_summed_episode_rewards_are_outcome_plus_prm_sum():
    r, o = [[0.2, 0.5, 1.0], [0.1], [0.4, 0.4]], [3.0, 0.0, -1.0]
    got = sc.summed_episode_rewards(r, o, prm_coef=2.0, outcome_coef=0.5)
    assert got.tolist() == pytest.approx([1.5 + 2 * 1.7, 0.2, -0.5 + 1.6])
    assert got.tolist() == pytest.approx([float(sc.summed_returns(x, y, 2.0, 0.5)[0]) for x, y in zip(r, o)])
    with pytest.raises(ValueError, match="one value per episode"):
        sc.summed_episode_rewards(r, [1.0])


def test_sum_form_farms_idle_steps_min_form_does_not():
    """An idle episode of four 0.5-scored diagnostics (never repairs) against a repair [0.6, 0.9]: summing
    ranks the idle one first, the min form the repair (PURE arXiv 2504.15275, abstract)."""
    idle, repair = [0.5, 0.5, 0.5, 0.5], [0.6, 0.9]
    assert sc.summed_returns(idle)[0] > sc.summed_returns(repair)[0]        # 2.0 > 1.5
    assert sc.min_form_returns(idle)[0] < sc.min_form_returns(repair)[0]    # 0.5 < 0.6
    assert sc.pure_returns(idle)[0] < sc.pure_returns(repair)[0]


def test_prm_score_to_process_reward():
    assert sc.prm_score_to_process_reward(torch.tensor([0.25, 0.75])).tolist() == [-0.5, 0.5]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        sc.prm_score_to_process_reward([1.2])


# -- PRM advantages ---------------------------------------------------------------------------------------------
def test_pure_advantages_by_hand():
    e7 = math.exp(-7)
    w = [e7 / (1 + e7), 1 / (1 + e7)]  # softmax([−9, −2])
    p1 = [0.9 * w[0] + 0.2 * w[1], 0.2 * w[1]]
    p2 = [0.8, 0.4]
    a = sc.pure_advantages([[0.9, 0.2], [0.8, 0.8]], group_size=2, temperature=0.1)
    # "step" baselines: (0.8/2)·[2, 1] for episode 1, (p1[0]/2)·[2, 1] for episode 2
    assert a[0].tolist() == pytest.approx([p1[0] - 0.8, p1[1] - 0.4])
    assert a[1].tolist() == pytest.approx([p2[0] - p1[0], p2[1] - p1[0] / 2])


def test_pure_advantages_equal_lengths_are_rloo_on_the_soft_minimum():
    rng = np.random.default_rng(1)
    r = [rng.uniform(0, 1, 3) for _ in range(8)]
    a = sc.pure_advantages(r, group_size=4)
    p0 = torch.stack([sc.pure_returns(x)[0] for x in r])
    for g in range(2):
        idx = list(range(4 * g, 4 * g + 4))
        for i in idx:
            others = [j for j in idx if j != i]
            assert float(a[i][0]) == pytest.approx(float(p0[i] - p0[others].mean()))
        assert sum(float(a[i][0]) for i in idx) == pytest.approx(0.0, abs=1e-12)


def test_pure_outcome_reaches_every_step_with_its_own_rloo_baseline():
    r = [[0.5, 0.5], [0.2, 0.9, 0.4], [0.7], [0.1, 0.1]]
    o = [1.0, 0.0, 0.0, 1.0]
    base = sc.pure_advantages(r, 2)
    with_o = sc.pure_advantages(r, 2, outcome=o, outcome_coef=0.1)
    shift = [0.1 * (1 - 0), 0.1 * (0 - 1), 0.1 * (0 - 1), 0.1 * (1 - 0)]
    for a, b, s in zip(with_o, base, shift):
        assert (a - b).tolist() == pytest.approx([s] * a.numel())


def test_pure_token_baseline_by_hand():
    # episode 1: rewards [0.5, 0.5] (P = [0.5, 0.25]), tokens [2, 6]; episode 2: [1.0] (P = [1.0]), tokens [4]
    a = sc.pure_advantages([[0.5, 0.5], [1.0]], 2, baseline="token", step_tokens=[[2, 6], [4]])
    # per-token baseline of episode 1: 1.0 / 4 = 0.25 per token, tokens left [8, 6]
    assert a[0].tolist() == pytest.approx([0.5 - 0.25 * 8, 0.25 - 0.25 * 6])
    # of episode 2: 0.5 / 8 per token, tokens left [4]
    assert a[1].tolist() == pytest.approx([1.0 - 0.5 / 8 * 4])


def test_prm_sum_advantages_by_hand_and_their_return_is_summed_returns():
    a = sc.prm_sum_advantages([[0.9, 0.2], [0.8, 0.8]], 2)
    assert _lists(a) == [[-0.5, -0.6], [0.5, 0.25]]
    # A_t + B_t + c·mean_{j≠i} o^j = summed_returns (the return part) for every step
    r, o, c = [[0.9, 0.2], [0.8, 0.8]], [1.0, 0.0], 0.5
    a = sc.prm_sum_advantages(r, 2, outcome=o, outcome_coef=c)
    b1 = (1.6 / 2) * torch.tensor([2.0, 1.0])
    b2 = (1.1 / 2) * torch.tensor([2.0, 1.0])
    assert (a[0] + b1 + c * 0.0).tolist() == pytest.approx(sc.summed_returns(r[0], o[0], outcome_coef=c).tolist())
    assert (a[1] + b2 + c * 1.0).tolist() == pytest.approx(sc.summed_returns(r[1], o[1], outcome_coef=c).tolist())


@pytest.mark.parametrize("kwargs, match", [
    (dict(process_rewards=[[0.1], [0.2], [0.3]], group_size=2), "does not divide"),
    (dict(process_rewards=[[0.1], [0.2]], group_size=1), "group_size"),
    (dict(process_rewards=[[0.1], []], group_size=2), "at least one step"),
    (dict(process_rewards=[[0.1], [float("nan")]], group_size=2), "NaN"),
    (dict(process_rewards=[[0.1], [[0.2]]], group_size=2), "1-D"),
    (dict(process_rewards=torch.zeros(2, 2), group_size=2), "ragged"),
    (dict(process_rewards=[[0.1], [0.2]], group_size=2, baseline="token"), "step_tokens"),
    (dict(process_rewards=[[0.1], [0.2]], group_size=2, step_tokens=[[1], [1]]), "only with baseline='token'"),
    (dict(process_rewards=[[0.1], [0.2]], group_size=2, baseline="token", step_tokens=[[1, 1], [1]]), "steps"),
    (dict(process_rewards=[[0.1], [0.2]], group_size=2, baseline="token", step_tokens=[[0], [1]]), "at least one"),
    (dict(process_rewards=[[0.1], [0.2]], group_size=2, baseline="episode"), "baseline must be"),
    (dict(process_rewards=[[0.1], [0.2]], group_size=2, outcome=[1.0]), "one value per episode"),
    (dict(process_rewards=[[0.1], [0.2]], group_size=2, temperature=0.0), "temperature"),
])
def test_pure_advantages_refuse_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sc.pure_advantages(**kwargs)


def test_return_functions_refuse_bad_input():
    with pytest.raises(ValueError, match="gamma"):
        sc.discounted_returns([1.0], gamma=1.5)
    with pytest.raises(ValueError, match="temperature"):
        sc.pure_returns([1.0], temperature=-1.0)
    with pytest.raises(ValueError, match="finite"):
        sc.summed_returns([1.0], outcome=float("inf"))
    with pytest.raises(ValueError, match="at least one step"):
        sc.min_form_returns([])


# -- GiGPO -------------------------------------------------------------------------------------------------------
def test_gigpo_shared_anchor_gets_opposite_signs_singletons_zero():
    # both episodes start in s0 and try different actions; only the first one succeeds (reward 1 at its end)
    keys = [["s0", "a1"], ["s0", "b1", "b2"]]
    a = sc.gigpo_step_advantages([[0.0, 1.0], [0.0, 0.0, 0.0]], keys, 2, gamma=0.5)
    std = math.sqrt(2 * 0.25 ** 2)  # returns {0.5, 0} at s0: unbiased std
    assert float(a[0][0]) == pytest.approx(0.25 / (std + 1e-4))
    assert float(a[1][0]) == pytest.approx(-0.25 / (std + 1e-4))
    assert a[0][1:].tolist() == [0.0] and a[1][1:].tolist() == [0.0, 0.0]


def test_gigpo_f_norm_none_is_the_centred_return():
    keys = [["s", "t"], ["s", "t"], ["s", "u"], ["v"]]
    r = [[0.0, 2.0], [0.0, 0.0], [1.0, 1.0], [3.0]]
    a = sc.gigpo_step_advantages(r, keys, 4, gamma=1.0, f_norm="none")
    # returns: ep0 [2, 2], ep1 [0, 0], ep2 [2, 1], ep3 [3]; anchor s: {2, 0, 2} mean 4/3; t: {2, 0} mean 1
    assert _lists(a) == _lists([torch.tensor([2 - 4 / 3, 1.0]), torch.tensor([-4 / 3, -1.0]),
                                torch.tensor([2 - 4 / 3, 0.0]), torch.tensor([0.0])])


def test_gigpo_anchors_do_not_cross_episode_groups_and_repeats_count():
    keys = [["s"], ["x"], ["s"], ["y"]]  # "s" in group 0 and in group 1: two singletons, not a pair
    a = sc.gigpo_step_advantages([[1.0], [0.0], [0.0], [1.0]], keys, 2, f_norm="none")
    assert [float(x[0]) for x in a] == [0.0, 0.0, 0.0, 0.0]
    g = sc.anchor_groups([["s", "s"], ["s", "t"]], 2)
    assert g[(0, "s")] == [(0, 0), (0, 1), (1, 0)]
    a = sc.gigpo_step_advantages([[0.0, 3.0], [0.0, 0.0]], [["s", "s"], ["s", "t"]], 2, gamma=1.0, f_norm="none")
    assert a[0].tolist() == [1.0, 1.0] and a[1].tolist() == [-2.0, 0.0]  # s: returns {3, 3, 0}, mean 2


def test_gigpo_equal_returns_in_an_anchor_group_give_zero():
    a = sc.gigpo_step_advantages([[1.0], [1.0]], [["s"], ["s"]], 2)
    assert [float(x[0]) for x in a] == [0.0, 0.0]


def test_gigpo_advantages_combine_episode_and_step_terms():
    R = [1.0, 0.0, 0.5, 0.5]
    keys = [["s0", "a"], ["s0", "b", "c"], ["t0"], ["t0", "d"]]
    episode = grpo_advantages(torch.tensor(R, dtype=torch.float64), 2)
    step = sc.gigpo_step_advantages(sc.terminal_step_rewards(R, [2, 3, 1, 2]), keys, 2)
    for omega in (0.0, 1.0, 0.3):
        a = sc.gigpo_advantages(R, keys, 2, omega=omega)
        for i in range(4):
            assert a[i].tolist() == pytest.approx((episode[i] + omega * step[i]).tolist())
    # ω = 0 is GRPO's episode advantage at every step
    a = sc.gigpo_advantages(R, keys, 2, omega=0.0)
    assert all(x.tolist() == pytest.approx([float(episode[i])] * x.numel()) for i, x in enumerate(a))
    # explicit step rewards equal to the terminal ones change nothing
    b = sc.gigpo_advantages(R, keys, 2, step_rewards=[[0, 1.0], [0, 0, 0.0], [0.5], [0, 0.5]])
    assert _lists(b) == _lists(sc.gigpo_advantages(R, keys, 2))


def test_gigpo_episode_advantages_are_grpo_and_dr_grpo():
    r = [1.0, 0.0, 0.0, 0.0]
    assert sc.gigpo_episode_advantages(r, 4).tolist() == grpo_advantages(torch.tensor(r, dtype=torch.float64), 4).tolist()
    assert sc.gigpo_episode_advantages(r, 4, f_norm="none").tolist() == [0.75, -0.25, -0.25, -0.25]


def test_observation_keys_group_the_first_step_of_one_instance():
    obs_a = ["OR-Debug. Step 0 of 8 ...", "Last action: GET_IIS", "Last action: RELAX c1 5"]
    obs_b = ["OR-Debug. Step 0 of 8 ...", "Last action: GET_IIS", "Last action: DROP c2"]
    keys = [sc.observation_anchor_keys(obs_a), sc.observation_anchor_keys(obs_b)]
    groups = sc.anchor_groups(keys, 2)
    assert sorted(len(m) for m in groups.values()) == [1, 1, 2, 2]
    hist = [sc.observation_anchor_keys(obs_a, actions=["GET_IIS", "RELAX c1 5"]),
            sc.observation_anchor_keys(obs_b, actions=["CHECK_SLACK", "DROP c2"])]
    assert hist[0][0] == hist[1][0] and hist[0][1] != hist[1][1]  # step 1 came after different actions


@pytest.mark.parametrize("call, match", [
    (lambda: sc.gigpo_step_advantages([[1.0], [1.0]], [["s"], ["s", "t"]], 2), "anchor keys"),
    (lambda: sc.gigpo_step_advantages([[1.0], [1.0]], [["s"], [["unhashable"]]], 2), "not hashable"),
    (lambda: sc.gigpo_step_advantages([[1.0], [1.0]], [["s"], []], 2), "non-empty"),
    (lambda: sc.gigpo_step_advantages([[1.0], [1.0]], [["s"], ["s"]], 2, f_norm="mad"), "f_norm"),
    (lambda: sc.gigpo_step_advantages([[1.0], [1.0], [1.0]], [["s"], ["s"], ["s"]], 2), "does not divide"),
    (lambda: sc.gigpo_advantages([1.0, 0.0], [["s"], ["s"]], 2, omega=-1.0), "omega"),
    (lambda: sc.gigpo_advantages([1.0], [["s"], ["s"]], 2), "one value per episode"),
    (lambda: sc.anchor_key("a", 3), "strings"),
    (lambda: sc.observation_anchor_keys("one string"), "sequence of strings"),
    (lambda: sc.observation_anchor_keys(["a", "b", "c"], actions=["x"]), "at least 2 actions"),
    (lambda: sc.terminal_step_rewards([1.0], [0]), "n_steps"),
])
def test_gigpo_refuses_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# -- tokens -------------------------------------------------------------------------------------------------------
def test_step_token_advantages_follow_the_rollout_layout():
    # action 1 (3 tokens, stopped at EOS) | obs (2 env tokens) | action 2 (2 tokens, cut: EOS appended as env
    # token) | EOS + obs (3 env tokens) | action 3 (1 token), padded to 12
    mask = [1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 1]
    assert sc.action_spans(mask) == [(0, 3), (5, 7), (10, 11)]
    assert sc.step_token_counts(mask) == [3, 2, 1]
    t = sc.step_token_advantages(mask, [0.5, -1.0, 2.0], width=12)
    assert t.tolist() == [0.5, 0.5, 0.5, 0, 0, -1.0, -1.0, 0, 0, 0, 2.0, 0]
    with pytest.raises(ValueError, match="3 action spans but 2"):
        sc.step_token_advantages(mask, [0.5, -1.0])
    with pytest.raises(ValueError, match="shorter"):
        sc.step_token_advantages(mask, [0.5, -1.0, 2.0], width=5)
    with pytest.raises(ValueError, match="0 and 1"):
        sc.action_spans([1, 2])


# -- reward-hacking detector ---------------------------------------------------------------------------------------
def _series(n, prm_slope, task_slope, noise, seed):
    rng = np.random.default_rng(seed)
    s = np.arange(n)
    prm = 0.5 + prm_slope * s + rng.normal(0, noise, n)
    task = 0.4 + task_slope * s + rng.normal(0, noise, n)
    return prm, task


def test_detector_flags_a_constructed_hacking_series():
    prm, task = _series(40, prm_slope=0.01, task_slope=-0.008, noise=0.01, seed=0)
    out = sc.reward_hacking_flags(prm, task, window=10)
    assert out["flag"][:11].tolist() == [False] * 11 and np.isnan(out["prm_t"][:9]).all()  # persist = 3
    assert out["condition"][9:].mean() > 0.9 and out["flag"][11:].mean() > 0.9
    assert (out["prm_slope"][9:] > 0).all() and (out["task_slope"][9:] < 0).all()


@pytest.mark.parametrize("prm_slope, task_slope", [(0.01, 0.008), (0.0, 0.0), (0.0, -0.008), (0.01, 0.0),
                                                    (-0.01, -0.008)])
def test_detector_does_not_flag_healthy_or_flat_series(prm_slope, task_slope):
    flags = [sc.reward_hacking_flags(*_series(60, prm_slope, task_slope, 0.01, seed), window=10)["flag"]
             for seed in range(5)]
    assert np.concatenate(flags).mean() < 0.01


def test_detector_slope_and_t_by_hand():
    out = sc.reward_hacking_flags([0.5, 0.6, 0.7, 0.8, 0.9], [0.40, 0.38, 0.37, 0.33, 0.31], window=5, persist=1)
    assert out["prm_slope"][4] == pytest.approx(0.1) and out["prm_t"][4] == math.inf  # an exact line: no noise
    # task: slope −0.023, residuals [−0.004, −0.001, 0.012, −0.005, −0.002], SE sqrt(190e−6/3/10)
    assert out["task_slope"][4] == pytest.approx(-0.023)
    assert out["task_t"][4] == pytest.approx(-0.023 / math.sqrt(190e-6 / 3 / 10))
    assert bool(out["flag"][4])
    # the same series with a drop threshold above its drop over the window (0.023·4 = 0.092) is not flagged
    assert not sc.reward_hacking_flags([0.5, 0.6, 0.7, 0.8, 0.9], [0.40, 0.38, 0.37, 0.33, 0.31], window=5,
                                       min_task_drop=0.1, persist=1)["flag"][4]
    # persist: one window's condition is not yet a flag
    assert not sc.reward_hacking_flags([0.5, 0.6, 0.7, 0.8, 0.9], [0.40, 0.38, 0.37, 0.33, 0.31], window=5,
                                       persist=2)["flag"][4]
    flat = sc.reward_hacking_flags([0.5] * 5, [0.4] * 5, window=5)
    assert flat["prm_t"][4] == 0.0 and flat["task_t"][4] == 0.0 and not flat["flag"][4]


def test_monitor_matches_the_batch_rule():
    prm, task = _series(25, 0.01, -0.008, 0.01, seed=3)
    for persist in (1, 3):
        batch = sc.reward_hacking_flags(prm, task, window=8, persist=persist)
        m = sc.HackingMonitor(window=8, persist=persist)
        rows = [m.update(p, f) for p, f in zip(prm, task)]
        assert all(math.isnan(r["flag"]) for r in rows[:7])
        assert [r["flag"] for r in rows[7:]] == [float(x) for x in batch["flag"][7:]]
        assert [r["condition"] for r in rows[7:]] == [float(x) for x in batch["condition"][7:]]
    assert batch["flag"].any()
    assert [r["task_t"] for r in rows[7:]] == pytest.approx(batch["task_t"][7:].tolist())


@pytest.mark.parametrize("call, match", [
    (lambda: sc.reward_hacking_flags([0.1, 0.2, 0.3], [0.1, 0.2], window=3), "same length"),
    (lambda: sc.reward_hacking_flags([0.1] * 4, [0.1] * 4, window=2), "window"),
    (lambda: sc.reward_hacking_flags([0.1, float("nan"), 0.3], [0.1] * 3, window=3), "finite"),
    (lambda: sc.reward_hacking_flags([0.1] * 3, [0.1] * 3, window=3, z=0), "z must"),
    (lambda: sc.reward_hacking_flags([0.1] * 3, [0.1] * 3, window=3, min_task_drop=-1), "min_task_drop"),
    (lambda: sc.HackingMonitor(window=1), "window"),
    (lambda: sc.HackingMonitor(persist=0), "persist"),
    (lambda: sc.HackingMonitor().update(float("nan"), 0.1), "finite"),
])
def test_detector_refuses_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_prm_step_sequences_fit_the_prms_context_by_leaving_out_the_oldest_completion_tokens():
    """Step k's sequence is prompt + completion up to action k's end (+ EOS if it hit its budget); at a full
    context that EOS passes the PRM's context by one, so the oldest completion tokens go (never the prompt or
    the action itself)."""
    prompt, completion = [5, 5, 5], [1, 1, 9, 9, 2, 2, 2]  # actions (0, 2) and (4, 7), env tokens 9 9
    mask, stopped = [1, 1, 0, 0, 1, 1, 1], [True, False]
    full, cut = sc.prm_step_sequences(prompt, completion, mask, stopped, eos_id=0)
    assert full == [[5, 5, 5, 1, 1], [5, 5, 5, 1, 1, 9, 9, 2, 2, 2, 0]] and cut == 0
    fitted, cut = sc.prm_step_sequences(prompt, completion, mask, stopped, eos_id=0, max_length=10)
    assert fitted == [[5, 5, 5, 1, 1], [5, 5, 5, 1, 9, 9, 2, 2, 2, 0]] and cut == 1
    assert max(map(len, fitted)) <= 10
    with pytest.raises(ValueError, match="the prompt and one action alone exceed the PRM's context of 6"):
        sc.prm_step_sequences(prompt, completion, mask, stopped, eos_id=0, max_length=6)
