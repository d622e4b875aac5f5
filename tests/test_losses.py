"""Hand-computed checks of ordebug_lib.losses (aggregations, clipped surrogate, k3 KL)."""
import math

import pytest
import torch

from ordebug_lib.losses import (
    aggregate_loss,
    clipped_surrogate,
    hybrid_alpha,
    k3_kl,
    masked_mean,
    masked_normalize,
    masked_sum,
    per_token_loss,
    policy_loss,
    token_weights,
)

D = torch.float64


def t(x):
    return torch.tensor(x, dtype=D)


# Two sequences, lengths 2 and 4; the padding positions hold 100 to prove they are ignored.
ELL = t([[1.0, 1.0, 100.0, 100.0], [3.0, 3.0, 3.0, 3.0]])
MASK = t([[1, 1, 0, 0], [1, 1, 1, 1]])


def test_masked_mean_sum_normalize():
    x = t([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    m = t([[1, 1, 0], [1, 0, 0]])
    assert torch.allclose(masked_mean(x, m, dim=1), t([1.5, 4.0]))  # (1+2)/2, 4/1
    assert masked_mean(x, m).item() == pytest.approx(7 / 3)  # (1+2+4)/3
    assert masked_sum(x, m).item() == 7.0
    assert torch.allclose(masked_sum(x, m, dim=0), t([5.0, 2.0, 0.0]))
    assert masked_normalize(x, m, 4.0).item() == pytest.approx(1.75)  # 7/4
    assert torch.allclose(masked_normalize(x, m, 2.0, dim=1), t([1.5, 2.0]))  # 3/2, 4/2
    # bool masks work the same
    assert masked_mean(x, m.bool()).item() == pytest.approx(7 / 3)


def test_masked_mean_rejects_bad_input():
    x = t([[1.0, 2.0]])
    with pytest.raises(ValueError, match="shape"):
        masked_mean(x, t([1, 1]))
    with pytest.raises(ValueError, match="0 and 1"):
        masked_mean(x, t([[1, 2]]))
    with pytest.raises(ValueError, match="all zero"):
        masked_mean(x, t([[0, 0]]))
    with pytest.raises(ValueError, match="positive"):
        masked_normalize(x, t([[1, 1]]), 0.0)


def test_aggregate_loss_hand_values():
    # grpo: per-sequence means (1+1)/2 = 1 and 12/4 = 3, then mean over B=2 → 2.0
    assert aggregate_loss(ELL, MASK, "grpo", 4).item() == pytest.approx(2.0)
    # dr_grpo: Σℓm = 2 + 12 = 14, divided by B·L_max = 2·4 = 8 → 1.75; with L_max = 8: 14/16 = 0.875
    assert aggregate_loss(ELL, MASK, "dr_grpo", 4).item() == pytest.approx(1.75)
    assert aggregate_loss(ELL, MASK, "dr_grpo", 8).item() == pytest.approx(0.875)
    # dapo: 14 / Σm = 14/6
    assert aggregate_loss(ELL, MASK, "dapo", 4).item() == pytest.approx(14 / 6)
    # hybrid, L_max = 4: α = 4/512 = 1/128 → 1.75/128 + 2.0·127/128 = 1.998046875
    assert aggregate_loss(ELL, MASK, "hybrid", 4).item() == pytest.approx(1.998046875)
    # hybrid with α = 0.25 given: 0.25·1.75 + 0.75·2.0 = 1.9375
    assert aggregate_loss(ELL, MASK, "hybrid", 4, alpha=0.25).item() == pytest.approx(1.9375)
    # hybrid, L_max = 1024: α = min(1, 2) = 1 → pure dr_grpo = 14/(2·1024)
    assert aggregate_loss(ELL, MASK, "hybrid", 1024).item() == pytest.approx(14 / 2048)


def test_grpo_counts_empty_sequence_in_batch_mean():
    # second sequence fully masked (e.g. truncated): contributes 0 but B stays 2 → (2/2 + 0)/2 = 0.5
    mask = t([[1, 1, 0, 0], [0, 0, 0, 0]])
    assert aggregate_loss(ELL, mask, "grpo", 4).item() == pytest.approx(0.5)
    # dapo: 2 / 2 = 1
    assert aggregate_loss(ELL, mask, "dapo", 4).item() == pytest.approx(1.0)


def test_hybrid_alpha_values():
    assert hybrid_alpha(256) == 0.5
    assert hybrid_alpha(512) == 1.0
    assert hybrid_alpha(1024) == 1.0
    assert hybrid_alpha(128, reference_length=256) == 0.5


def test_token_weights_closed_forms():
    w = token_weights(MASK, "grpo", 4)
    # grpo: 1/(B·L_i): seq 0 → 1/(2·2) = 0.25, seq 1 → 1/(2·4) = 0.125; padding 0
    assert torch.allclose(w, t([[0.25, 0.25, 0, 0], [0.125] * 4]))
    # dr_grpo: 1/(B·L_max) = 1/8 on every real token
    assert torch.allclose(token_weights(MASK, "dr_grpo", 4), MASK / 8)
    # dr_grpo with L_max = 16: 1/32
    assert torch.allclose(token_weights(MASK, "dr_grpo", 16), MASK / 32)
    # dapo: 1/Σm = 1/6
    assert torch.allclose(token_weights(MASK, "dapo", 4), MASK / 6)
    # hybrid α=0.5 (L_max=256): 0.5/(2·256) + 0.5/(2·L_i): seq 0: 1/1024 + 1/8, seq 1: 1/1024 + 1/16
    wh = token_weights(MASK, "hybrid", 256)
    assert wh[0, 0].item() == pytest.approx(1 / 1024 + 1 / 8)
    assert wh[1, 3].item() == pytest.approx(1 / 1024 + 1 / 16)
    # every aggregation spreads total weight 1 over the batch when all lengths equal L_max
    full = torch.ones(3, 5, dtype=D)
    for lt in ("grpo", "dr_grpo", "dapo", "hybrid"):
        assert token_weights(full, lt, 5).sum().item() == pytest.approx(1.0)


def test_aggregate_loss_errors():
    with pytest.raises(ValueError, match="unknown loss_type"):
        aggregate_loss(ELL, MASK, "bnpo", 4)
    with pytest.raises(ValueError, match="more than max_completion_length"):
        aggregate_loss(ELL, MASK, "dr_grpo", 3)
    with pytest.raises(ValueError, match="alpha"):
        aggregate_loss(ELL, MASK, "hybrid", 4, alpha=1.5)
    with pytest.raises(ValueError, match="2-D"):
        aggregate_loss(ELL[0], MASK[0], "grpo", 4)
    with pytest.raises(ValueError, match="positive int"):
        aggregate_loss(ELL, MASK, "grpo", 0)


def test_clipped_surrogate_hand_values():
    # ratios ρ = 1.5, 0.5, 1.0 (logp − old = log ρ)
    old = t([[0.0, 0.0, 0.0]])
    logp = t([[math.log(1.5), math.log(0.5), 0.0]])
    eps_low, eps_high = 0.2, 0.28
    pos = clipped_surrogate(logp, old, t([1.0]), eps_low, eps_high)
    # A=+1: ρ=1.5 → −min(1.5, 1.28) = −1.28; ρ=0.5 → −min(0.5, 0.8) = −0.5; ρ=1 → −1
    assert torch.allclose(pos, t([[-1.28, -0.5, -1.0]]))
    neg = clipped_surrogate(logp, old, t([-1.0]), eps_low, eps_high)
    # A=−1: ρ=1.5 → −min(−1.5, −1.28) = 1.5; ρ=0.5 → −min(−0.5, −0.8) = 0.8; ρ=1 → 1
    assert torch.allclose(neg, t([[1.5, 0.8, 1.0]]))
    # (B, T) advantages give the same as (B,) broadcast
    assert torch.allclose(clipped_surrogate(logp, old, t([[1.0, 1.0, 1.0]]), eps_low, eps_high), pos)


def test_clipped_surrogate_gradient_zero_when_clipped():
    old = t([[0.0, 0.0]])
    logp = t([[math.log(1.5), 0.0]]).requires_grad_(True)
    loss = clipped_surrogate(logp, old, t([2.0]), 0.2, 0.28).sum()
    loss.backward()
    # clipped token (ρ=1.5 > 1.28, A>0): gradient 0; unclipped ρ=1: d(−ρA)/dlogp = −ρA = −2
    assert torch.allclose(logp.grad, t([[0.0, -2.0]]))


def test_k3_kl_and_per_token_loss():
    logp = t([[math.log(0.5), math.log(0.3)]])
    ref = t([[math.log(0.25), math.log(0.3)]])
    # ref/π = 0.5: 0.5 − ln 0.5 − 1 = 0.5 + 0.6931472 − 1 = 0.1931472; equal probs → 0
    assert torch.allclose(k3_kl(logp, ref), t([[0.5 + math.log(2) - 1, 0.0]]))
    old = logp.clone()
    ell = per_token_loss(logp, old, t([1.0]), 0.2, 0.2, ref_logp=ref, beta=0.1)
    # ρ = 1 → surrogate −1; plus 0.1·KL
    assert torch.allclose(ell, t([[-1 + 0.1 * (0.5 + math.log(2) - 1), -1.0]]))
    with pytest.raises(ValueError, match="ref_logp"):
        per_token_loss(logp, old, t([1.0]), 0.2, 0.2, beta=0.1)
    with pytest.raises(ValueError, match="advantages"):
        clipped_surrogate(logp, old, t([1.0, 2.0]), 0.2, 0.2)


def test_policy_loss_composes():
    logp = t([[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    # ρ = 1 everywhere → ℓ = −A: seq 0 (A=2) tokens −2, seq 1 (A=−1) tokens +1
    adv = t([2.0, -1.0])
    # grpo: (−2 + 1)/2 = −0.5; dapo: (2·(−2) + 4·1)/6 = 0; dr_grpo, L_max=4: (−4 + 4)/8 = 0
    assert policy_loss(logp, logp, adv, MASK, "grpo", 4).item() == pytest.approx(-0.5)
    assert policy_loss(logp, logp, adv, MASK, "dapo", 4).item() == pytest.approx(0.0)
    assert policy_loss(logp, logp, adv, MASK, "dr_grpo", 4).item() == pytest.approx(0.0)


def test_kl_ratio_correction_changes_gradient_not_value_on_policy():
    # on-policy (old = logp, ρ = 1), A = 0 so only the KL term matters; ref/π = 0.5
    logp = t([[math.log(0.5)]]).requires_grad_(True)
    ref = t([[math.log(0.25)]])
    k3 = 0.5 + math.log(2) - 1  # 0.1931472
    plain = per_token_loss(logp, logp.detach(), t([0.0]), 0.2, 0.2, ref_logp=ref, beta=0.1)
    corrected = per_token_loss(logp, logp.detach(), t([0.0]), 0.2, 0.2, ref_logp=ref, beta=0.1,
                               kl_ratio_correction=True)
    assert plain.item() == pytest.approx(0.1 * k3) and corrected.item() == pytest.approx(0.1 * k3)
    # d k3/d logp = 1 − ref/π = 0.5; with the ratio: d(k3·ρ)/d logp = 0.5·1 + k3·1
    (g_plain,) = torch.autograd.grad(plain.sum(), logp)
    (g_corr,) = torch.autograd.grad(corrected.sum(), logp)
    assert g_plain.item() == pytest.approx(0.1 * 0.5)
    assert g_corr.item() == pytest.approx(0.1 * (0.5 + k3))


def test_lengths_to_mask_and_weights_by_length():
    from ordebug_lib.losses import lengths_to_mask, weights_by_length

    assert torch.equal(lengths_to_mask([2, 4]), MASK)
    assert lengths_to_mask([1], width=3).tolist() == [[1, 0, 0]]
    # lengths [2, 4], L_max 4: grpo 1/(2·2), 1/(2·4); dr_grpo 1/(2·4); dapo 1/6
    assert torch.allclose(weights_by_length([2, 4], 4, "grpo"), t([0.25, 0.125]))
    assert torch.allclose(weights_by_length([2, 4], 4, "dr_grpo"), t([0.125, 0.125]))
    assert torch.allclose(weights_by_length([2, 4], 4, "dapo"), t([1 / 6, 1 / 6]))
    with pytest.raises(ValueError):
        weights_by_length([0, 4], 4, "grpo")
    with pytest.raises(ValueError):
        lengths_to_mask([3], width=2)
