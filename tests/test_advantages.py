"""Hand-computed checks of ordebug_lib.advantages (GRPO, Dr. GRPO, DGRO, KRPO, dynamic sampling)."""
import math

import pytest
import torch

from ordebug_lib.advantages import (
    compute_advantages,
    dgro_advantages,
    dynamic_sampling_mask,
    group_rewards,
    informative_groups,
    kalman_filter_1d,
    krpo_advantages,
)

D = torch.float64


def t(x):
    return torch.tensor(x, dtype=D)


def close(a, b, tol=1e-9):
    return torch.allclose(a, t(b), atol=tol, rtol=0)


def test_grpo_one_success_group():
    # [1,0,0,0]: mean 0.25; Σ(r−mean)² = 0.5625 + 3·0.0625 = 0.75; unbiased std = sqrt(0.75/3) = 0.5
    # A = [0.75, −0.25, −0.25, −0.25] / (0.5 + 1e-4)
    a = compute_advantages(t([1, 0, 0, 0]), 4, "grpo")
    assert close(a, [0.75 / 0.5001, -0.25 / 0.5001, -0.25 / 0.5001, -0.25 / 0.5001])
    assert a[0].item() == pytest.approx(1.4997000600)
    # biased std = sqrt(0.75/4) = 0.4330127019
    b = compute_advantages(t([1, 0, 0, 0]), 4, "grpo", std="biased")
    assert b[0].item() == pytest.approx(0.75 / (math.sqrt(0.1875) + 1e-4))
    # eps = 0: exactly ±(r − mean)/0.5
    assert close(compute_advantages(t([1, 0, 0, 0]), 4, "grpo", eps=0.0), [1.5, -0.5, -0.5, -0.5])


def test_grpo_and_dr_grpo_two_groups_with_all_equal_group():
    r = t([1, 0, 1, 1])
    # group [1, 0]: mean 0.5, unbiased std = sqrt((0.25 + 0.25)/1) = 0.70710678 → ±0.5/0.70720678
    # group [1, 1]: all equal → 0 (no learning signal)
    a = compute_advantages(r, 2, "grpo")
    s = 0.5 / (math.sqrt(0.5) + 1e-4)
    assert close(a, [s, -s, 0.0, 0.0])
    assert a[0].item() == pytest.approx(0.7070068)  # 0.5/0.70720678
    assert close(compute_advantages(r, 2, "dr_grpo"), [0.5, -0.5, 0.0, 0.0])


def test_dr_grpo_keeps_reward_scale():
    # Countdown-like group [1, 0.1, 0.1, 0]: mean 0.3 → [0.7, −0.2, −0.2, −0.3]
    assert close(compute_advantages(t([1, 0.1, 0.1, 0]), 4, "dr_grpo"), [0.7, -0.2, -0.2, -0.3], 1e-12)


def test_dgro_variance_floor_and_beta_reward():
    # [1,0,0,0], β_reward=2: var 0.25 > floor 0.01 → 2·[0.75, −0.25,…]/0.5001
    a = dgro_advantages(t([1, 0, 0, 0]), 4, beta_reward=2.0, min_variance=0.01)
    assert close(a, [1.5 / 0.5001, -0.5 / 0.5001, -0.5 / 0.5001, -0.5 / 0.5001])
    # [0.1,0,0,0]: mean 0.025, centred [0.075, −0.025 ×3], unbiased var = (0.005625 + 3·0.000625)/3 = 0.0025
    # < floor 0.01 → scale sqrt(0.01) + 1e-4 = 0.1001 → 2·0.075/0.1001 = 1.4985015, 2·(−0.025)/0.1001 = −0.4995005
    b = dgro_advantages(t([0.1, 0, 0, 0]), 4, beta_reward=2.0, min_variance=0.01)
    assert close(b, [0.15 / 0.1001, -0.05 / 0.1001, -0.05 / 0.1001, -0.05 / 0.1001])
    # GRPO instead rescales the tiny spread to unit size: 0.075/(0.05 + 1e-4) = 1.497006
    g = compute_advantages(t([0.1, 0, 0, 0]), 4, "grpo")
    assert g[0].item() == pytest.approx(0.075 / 0.0501)
    # all-equal group: 0 / (0.1 + 1e-4) = 0
    assert close(dgro_advantages(t([0.5, 0.5]), 2), [0.0, 0.0])


def test_dgro_is_cancelled_if_renormalised_by_grpo():
    # Why DGRO advantages must be used as advantages: re-standardising them per group (what TRL does with
    # rewards under scale_rewards="group") removes β_reward. GRPO of 2·x equals GRPO of x up to ε effects.
    r = t([1, 0, 0.1, 0])
    dg = dgro_advantages(r, 4, beta_reward=5.0, min_variance=0.0)
    assert torch.allclose(compute_advantages(dg, 4, "grpo"), compute_advantages(r, 4, "grpo"), atol=1e-3)
    assert not torch.allclose(dg, compute_advantages(r, 4, "grpo"), atol=1e-1)


def test_kalman_filter_first_steps():
    kf = kalman_filter_1d(t([1.0, 0.0]), x0=0.0, p0=1.0, q=1e-5, r=1e-2)
    # k=1: P⁻ = 1 + 1e-5 = 1.00001; K = 1.00001/1.01001; x = K·1; P = (1−K)·1.00001 = 0.01·1.00001/1.01001
    k1 = 1.00001 / 1.01001
    p1 = 0.01 * 1.00001 / 1.01001
    assert kf["gain"][0].item() == pytest.approx(k1)
    assert kf["x_post"][0].item() == pytest.approx(k1)
    assert kf["p_post"][0].item() == pytest.approx(p1)
    # k=2: P⁻ = p1 + 1e-5; K2 = P⁻/(P⁻ + 0.01); x2 = k1 + K2·(0 − k1); P2 = (1 − K2)·P⁻
    pm2 = p1 + 1e-5
    k2 = pm2 / (pm2 + 0.01)
    assert kf["x_prior"][1].item() == pytest.approx(k1)
    assert kf["p_prior"][1].item() == pytest.approx(pm2)
    assert kf["x_post"][1].item() == pytest.approx(k1 - k2 * k1)
    assert kf["p_post"][1].item() == pytest.approx((1 - k2) * pm2)


def test_krpo_hand_values_and_order_dependence():
    k1 = 1.00001 / 1.01001  # ≈ 0.990099
    p1 = 0.01 * 1.00001 / 1.01001  # ≈ 0.00990109
    pm2 = p1 + 1e-5
    k2 = pm2 / (pm2 + 0.01)
    x2 = k1 * (1 - k2)
    p2 = (1 - k2) * pm2
    a = krpo_advantages(t([1.0, 0.0]), 2)
    # A1 = (1 − x1)/sqrt(P1) = (1 − 0.990099)/0.0995043 = 0.0995032…; A2 = (0 − x2)/sqrt(P2)
    assert a[0].item() == pytest.approx((1 - k1) / math.sqrt(p1))
    assert a[0].item() == pytest.approx(0.0995032, abs=1e-6)
    assert a[1].item() == pytest.approx(-x2 / math.sqrt(p2))
    # reversed order is not a permutation of the same advantages
    b = krpo_advantages(t([0.0, 1.0]), 2)
    assert not torch.allclose(b, a.flip(0))
    # prior variant: A1 = (1 − 0)/sqrt(1.00001)
    c = krpo_advantages(t([1.0, 0.0]), 2, state="prior")
    assert c[0].item() == pytest.approx(1 / math.sqrt(1.00001))
    # each group restarts the filter: two identical groups get identical advantages
    d = krpo_advantages(t([1.0, 0.0, 1.0, 0.0]), 2)
    assert torch.allclose(d[:2], d[2:])


def test_krpo_all_equal_group_not_zero():
    # x0 = 0 prior: an all-0.5 group still gets a positive first advantage (baseline starts below 0.5)
    a = krpo_advantages(t([0.5, 0.5, 0.5, 0.5]), 4)
    assert a[0].item() > 0
    # whereas GRPO / Dr. GRPO give exactly 0
    assert torch.all(compute_advantages(t([0.5] * 4), 4, "grpo") == 0)
    assert torch.all(compute_advantages(t([0.5] * 4), 4, "dr_grpo") == 0)


def test_dgro_kalman_baseline():
    r = t([1.0, 0.0])
    kf = kalman_filter_1d(r)
    # b = posterior x; unbiased var of [1, 0] = 0.5 > 0.01 → scale sqrt(0.5) + 1e-4
    a = dgro_advantages(r, 2, baseline="kalman")
    assert torch.allclose(a, (r - kf["x_post"]) / (math.sqrt(0.5) + 1e-4))


def test_dynamic_sampling():
    r = t([1, 1, 0, 1, 0, 0])
    # groups [1,1] (all equal), [0,1] (informative), [0,0] (all equal)
    assert informative_groups(r, 2).tolist() == [False, True, False]
    assert dynamic_sampling_mask(r, 2).tolist() == [False, False, True, True, False, False]
    # a 0.1 vs 0.1 group is uninformative; any exact difference is informative
    assert dynamic_sampling_mask(t([0.1, 0.1, 0.1, 0.1000001]), 2).tolist() == [False, False, True, True]
    assert dynamic_sampling_mask(t([0.1, 0.1000001]), 2, atol=1e-3).tolist() == [False, False]


def test_errors():
    with pytest.raises(ValueError, match="does not divide"):
        compute_advantages(t([1, 0, 0, 0]), 3, "grpo")
    with pytest.raises(ValueError, match="≥ 2"):
        compute_advantages(t([1, 0]), 1, "grpo")
    with pytest.raises(ValueError, match="unknown advantage method"):
        compute_advantages(t([1, 0]), 2, "ppo")
    with pytest.raises(ValueError, match="unknown option"):
        compute_advantages(t([1, 0]), 2, "dr_grpo", eps=1e-4)
    with pytest.raises(ValueError, match="NaN"):
        compute_advantages(t([1, float("nan")]), 2, "grpo")
    with pytest.raises(ValueError, match="1-D"):
        compute_advantages(t([[1, 0]]), 2, "grpo")
    with pytest.raises(ValueError, match="std convention"):
        compute_advantages(t([1, 0]), 2, "grpo", std="population")
    with pytest.raises(ValueError, match="state"):
        compute_advantages(t([1, 0]), 2, "krpo", state="smoothed")
    with pytest.raises(ValueError, match="baseline"):
        compute_advantages(t([1, 0]), 2, "dgro", baseline="median")


def test_accepts_lists_and_keeps_dtype():
    assert group_rewards([1.0, 0.0, 0.5, 0.5], 2).shape == (2, 2)
    f32 = compute_advantages(torch.tensor([1.0, 0.0], dtype=torch.float32), 2, "grpo")
    assert f32.dtype == torch.float32


def test_advantages_by_method():
    from ordebug_lib.advantages import advantages_by_method

    out = advantages_by_method(t([1, 0]), 2, ("grpo", "dr_grpo"), {"grpo": {"eps": 0.0}})
    # [1, 0]: mean 0.5, unbiased std sqrt(0.5) → grpo ±0.5/0.7071068 = ±0.7071068; dr_grpo ±0.5
    assert close(out["grpo"], [0.5 / math.sqrt(0.5), -0.5 / math.sqrt(0.5)])
    assert close(out["dr_grpo"], [0.5, -0.5])
    with pytest.raises(ValueError):
        advantages_by_method(t([1, 0]), 2, ("grpo",), {"krpo": {}})
