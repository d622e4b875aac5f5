"""DGRO as the paper defines it (arXiv 2505.12951), and the seeds' variance-scaled advantage as what it is.

The paper's loss on whole sequences, π_src the policy that sampled the batch::

    L = mean_i( −β₁ (r_i − V_i) log π_θ(y_i|x_i) + β₂ (log π_θ(y_i|x_i) − log π_src(y_i|x_i))² )
    ∇L = mean_i( (−β₁ (r_i − V_i) + 2β₂ log(π_θ/π_src)_i) ∇log π_θ(y_i|x_i) )

- (a) ``losses.dgro_loss`` equals that sum written out by hand (masked and tool-masked tokens out, signs);
- (b) its gradient w.r.t. the log-probabilities, and w.r.t. the parameters of a small softmax policy, is the
  paper's gradient;
- (c) on a generation's first update (ratio 1) the β₂ term has zero gradient, on a moved policy it has not;
- (d) a 2-step tiny-model run with ``num_iterations=2`` logs ``ordebug/dgro/...``, moves the parameters and its
  knob (the squared log-ratio to π_src) acts; ``validate`` refuses a schedule where β₂ could never act;
- (e) the seeds' variance-scaled advantage (β_kl = b, β_reward = k, a floor that never binds) under Adam ends
  at GRPO's parameters with β = b/k, trained from the same weights and seed;
- the reward-range study: a reward scale c is exactly β₁ → c·β₁ (V the group mean), and the arms it makes.
- multi-turn OR-Debug: env-observation tokens (tool mask 0) are not part of log π_θ(y|x): zero gradient.
"""
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from tiny_lm import make_tiny_lm, tiny_countdown_trainer  # noqa: E402

from ordebug_lib.advantages import dr_grpo_advantages  # noqa: E402
from ordebug_lib.experiments.ordebug_rl import (OrdebugArm, knob_activity, make_arms,  # noqa: E402
                                                reward_range_scales)
from ordebug_lib.losses import dgro_loss, dgro_loss_terms  # noqa: E402
from ordebug_lib.training.config import GRPORunConfig  # noqa: E402

L_MAX = 6


def batch():
    """Two groups of two completions, T = 4: padding in sequence 1, a tool-output token (mask 0) in sequence 2."""
    g = torch.Generator().manual_seed(0)
    logp = -torch.rand(4, 4, generator=g, dtype=torch.float64) * 3
    src = logp - 0.1 * torch.randn(4, 4, generator=g, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 1, 1], [1, 1, 1, 0]], dtype=torch.float64)
    rewards = torch.tensor([3.0, 1.0, -25.0, 100.0], dtype=torch.float64)
    return logp, src, mask, rewards


def test_a_loss_is_the_papers_sum_by_hand():
    logp, src, mask, rewards = batch()
    adv = dr_grpo_advantages(rewards, 2)  # r − V, V the group mean
    assert adv.tolist() == [1.0, -1.0, -62.5, 62.5]
    b1, b2 = 0.7, 0.3
    by_hand = 0.0
    for i in range(4):
        s = sum(float(logp[i, t]) for t in range(4) if mask[i, t])
        s_src = sum(float(src[i, t]) for t in range(4) if mask[i, t])
        by_hand += -b1 * float(adv[i]) * s + b2 * (s - s_src) ** 2
    by_hand /= 4
    assert float(dgro_loss(logp, src, adv, mask, b1, b2)) == pytest.approx(by_hand, rel=1e-12)
    # a masked token (padding, tool output) does not enter log π(y|x)
    moved = logp.clone()
    moved[1, 2] -= 5.0
    moved[2, 1] -= 5.0
    assert float(dgro_loss(moved, src, adv, mask, b1, b2)) == pytest.approx(by_hand, rel=1e-12)
    # signs: raising log π of a better-than-average sequence lowers the loss (β₂ = 0 isolates the policy term)
    up = logp.clone()
    up[3, 0] += 0.1  # sequence 4: r − V = +62.5
    assert float(dgro_loss(up, src, adv, mask, b1, 0.0)) < float(dgro_loss(logp, src, adv, mask, b1, 0.0))
    down = logp.clone()
    down[2, 0] += 0.1  # sequence 3: r − V = −62.5
    assert float(dgro_loss(down, src, adv, mask, b1, 0.0)) > float(dgro_loss(logp, src, adv, mask, b1, 0.0))
    # and the penalty is ≥ 0, 0 only at π_θ = π_src
    t = dgro_loss_terms(logp, src, adv, mask, b1, b2)
    assert bool((t["penalty"] > 0).all())
    assert float(dgro_loss_terms(logp, logp, adv, mask, b1, b2)["penalty"].abs().max()) == 0.0


def test_b_gradient_is_the_papers_gradient():
    logp, src, mask, rewards = batch()
    adv = dr_grpo_advantages(rewards, 2)
    b1, b2 = 0.7, 0.3
    x = logp.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(dgro_loss(x, src, adv, mask, b1, b2), x)
    log_ratio = ((logp - src) * mask).sum(dim=1)  # (B,)
    paper = ((-b1 * adv + 2 * b2 * log_ratio) / 4).unsqueeze(1) * mask  # ∂L/∂logp_it
    assert torch.allclose(grad, paper, rtol=0, atol=1e-12)

    # through a policy: logits θ (B, T, V) of a softmax, tokens y; ∇_θ L = mean_i (−β₁A_i + 2β₂Δ_i) ∇_θ log π(y_i)
    g = torch.Generator().manual_seed(1)
    theta = torch.randn(4, 4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 5, (4, 4), generator=g)

    def token_logp(th):
        return torch.log_softmax(th, dim=-1).gather(-1, y.unsqueeze(-1)).squeeze(-1)  # (B, T)

    src_p = token_logp(theta).detach() + 0.05 * torch.randn(4, 4, generator=g, dtype=torch.float64)
    (g_loss,) = torch.autograd.grad(dgro_loss(token_logp(theta), src_p, adv, mask, b1, b2), theta)
    lp = token_logp(theta)
    delta = ((lp - src_p) * mask).sum(dim=1).detach()
    expected = torch.zeros_like(theta)
    for i in range(4):
        (g_seq,) = torch.autograd.grad((lp[i] * mask[i]).sum(), theta, retain_graph=True)  # ∇ log π(y_i|x_i)
        expected += (-b1 * adv[i] + 2 * b2 * delta[i]) * g_seq / 4
    assert torch.allclose(g_loss, expected, rtol=1e-12, atol=1e-12)


def test_c_beta_2_has_no_gradient_at_ratio_one_and_acts_once_moved():
    logp, src, mask, rewards = batch()
    adv = dr_grpo_advantages(rewards, 2)

    def grads(src_logp):
        x = logp.clone().requires_grad_(True)
        t = dgro_loss_terms(x, src_logp, adv, mask, 0.7, 0.3)
        (pen,) = torch.autograd.grad(t["penalty"].mean(), x, retain_graph=True)
        (full,) = torch.autograd.grad((t["policy"] + t["penalty"]).mean(), x)
        (pol,) = torch.autograd.grad(dgro_loss_terms(x, src_logp, adv, mask, 0.7, 0.0)["policy"].mean(), x)
        return pen, full, pol

    pen, full, pol = grads(logp.clone())  # first update of a generation: π_θ = π_src
    assert float(pen.abs().max()) == 0.0 and torch.equal(full, pol)
    pen, full, pol = grads(src)  # the policy moved since sampling
    assert float(pen.abs().max()) > 1e-3 and not torch.allclose(full, pol)


def test_config_refuses_a_dgro_run_whose_penalty_cannot_act():
    paper = dict(loss_type="dgro", advantage_method="dr_grpo", beta=0.0)
    with pytest.raises(ValueError, match="π_src = π_θ"):
        GRPORunConfig(**paper)  # num_iterations 1, one generation per step
    with pytest.raises(ValueError, match="π_src = π_θ"):
        GRPORunConfig(**paper, per_device_train_batch_size=8, gradient_accumulation_steps=4, steps_per_generation=2,
                      num_iterations=2)  # 4 % (2·2) == 0: every update still the first on its samples
    GRPORunConfig(**paper, num_iterations=2)
    GRPORunConfig(**paper, steps_per_generation=2)  # the second update uses the second half, sampled before it
    with pytest.raises(ValueError, match="advantage_method='dr_grpo'"):
        GRPORunConfig(loss_type="dgro", beta=0.0, num_iterations=2)
    with pytest.raises(ValueError, match="set beta=0"):
        GRPORunConfig(loss_type="dgro", advantage_method="dr_grpo", num_iterations=2)
    with pytest.raises(ValueError, match="β₂"):
        GRPORunConfig(**paper, num_iterations=2, dgro_beta_2=0.0)
    with pytest.raises(ValueError, match="only with loss_type='dgro'"):
        GRPORunConfig(dgro_beta_1=2.0)
    with pytest.raises(ValueError, match="only with advantage_method='dgro'"):
        GRPORunConfig(dgro_beta_reward=2.0)


def test_reward_range_is_beta_1_times_the_scale():
    logp, src, mask, rewards = batch()
    for c, shift in ((0.016, 0.0), (4.0, -3.0)):
        scaled = dgro_loss(logp, src, dr_grpo_advantages(c * rewards + shift, 2), mask, 0.7, 0.3)
        as_beta = dgro_loss(logp, src, dr_grpo_advantages(rewards, 2), mask, 0.7 * c, 0.3)
        assert float(scaled) == pytest.approx(float(as_beta), rel=1e-12)
    assert reward_range_scales([(-1, 1), (-3, 3)]) == pytest.approx([2 / 125, 6 / 125])
    arms = make_arms(["sft", "grpo", "dgro", "dgro_seeds"],
                     dgro={"dgro": {"dgro_beta_1": 1.0, "dgro_beta_2": 0.2, "reward_scales": [1.0, 0.016]},
                           "dgro_seeds": {"dgro_beta_reward": 4.0}})
    assert [a.name for a in arms] == ["grpo-s0", "dgro-s0", "dgro-r0.016-s0", "dgro_seeds-s0", "sft-s0"]
    assert [a.label for a in arms[1:3]] == ["DGRO", "DGRO, reward ×0.016"]
    f = {a.name: a.run_fields() for a in arms if a.trains}
    assert (f["dgro-s0"]["dgro_beta_1"], f["dgro-r0.016-s0"]["dgro_beta_1"]) == (1.0, 0.016)
    assert f["dgro-r0.016-s0"]["dgro_beta_2"] == 0.2
    assert (f["dgro_seeds-s0"]["beta"], f["dgro_seeds-s0"]["dgro_beta_reward"]) == (0.001, 4.0)
    with pytest.raises(ValueError, match="now 'dgro_seeds'"):
        make_arms(["dgro"], dgro={"beta_kl": 0.001, "beta_reward": 2.0, "min_variance": 0.01})
    with pytest.raises(ValueError, match="not among the arms"):
        make_arms(["dgro"], dgro={"dgro_seeds": {"beta": 0.001}})
    with pytest.raises(ValueError, match="unknown setting"):
        OrdebugArm("dgro", settings={"dgro_beta_reward": 2.0})
    with pytest.raises(ValueError, match="reward-range"):
        OrdebugArm("grpo", reward_scale=2.0)


# -- training runs (tiny random Qwen3, CPU) -------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    return make_tiny_lm(tmp_path_factory.mktemp("tiny_dgro"))


def train(tiny_path, run_dir, **kw):
    from ordebug_lib.training.logging import read_metrics

    tr, before = tiny_countdown_trainer(tiny_path, run_dir, l_max=L_MAX, **{"save_final": False, **kw})
    tr.train()
    return tr, before, read_metrics(Path(run_dir) / "metrics.jsonl")


DGRO_KEYS = ("policy_term_abs", "penalty_term", "policy_coef_abs", "penalty_coef_abs", "abs_log_ratio", "sq_log_ratio")


@pytest.mark.slow
def test_d_two_steps_of_the_papers_dgro_log_its_terms_and_beta_2_acts(tiny_path, tmp_path):
    tr, before, rows = train(tiny_path, tmp_path / "dgro", advantage_method="dr_grpo", loss_type="dgro",
                             dgro_beta_1=1.0, dgro_beta_2=0.5, num_iterations=2)
    assert [r["step"] for r in rows] == [1, 2]
    for r in rows:
        for k in DGRO_KEYS:
            assert r[f"ordebug/dgro/{k}"] >= 0, k
        assert r["ordebug/dgro/policy_coef_abs"] > 0 and r["entropy"] > 0
    # step 1 is the generation's first update (ratio 1: no penalty), step 2 reuses it after one update
    assert rows[0]["ordebug/dgro/sq_log_ratio"] < 1e-9
    assert rows[1]["ordebug/dgro/sq_log_ratio"] > 1e-6 and rows[1]["ordebug/dgro/penalty_coef_abs"] > 0
    k = knob_activity("dgro", rows)
    assert k["acted"] and k["required"] and k["steps_active"] == 1, k
    assert any(not torch.equal(before[n], p.detach()) for n, p in tr.model.named_parameters())


@pytest.mark.slow
def test_e_seeds_variance_scaled_advantage_under_adam_is_grpo_with_beta_over_beta_reward(tiny_path, tmp_path):
    """seeds' DGRO (β_kl = b, β_reward = k = 2, a floor of 1e-12 that never binds) against GRPO with β = b/k:
    plain Adam (weight decay 0, no clipping: max_grad_norm = 0, constant lr), same weights and seed, 2 steps.

    Why and to what tolerance: with the floor not binding, the seeds' advantages are k × GRPO's and the
    clipped surrogate is linear in the advantage, so the seeds' loss is k × (GRPO's loss with β = b/k) and so
    are its gradients. Adam's m is then k × GRPO's and √v k × GRPO's, and its step lr·m̂/(√v̂ + ε) equals
    GRPO's step with ε/k: the identity is exact for Adam(ε) against Adam(ε/k), and for the same ε it holds
    up to ε (|Δθ| ≲ lr·ε(1 − 1/k)/|ĝ| per step, not small where |ĝ| is near ε as in this tiny model). k = 2
    is a power of two, so every scaling is exact in floating point and the first pair agrees to the bit
    (atol 0); the same-ε pair differs, by at most 2 steps × lr.
    """
    b, k, lr, eps = 0.04, 2.0, 5e-2, 1e-8
    common = dict(max_grad_norm=0.0, weight_decay=0.0, lr_scheduler_type="constant", learning_rate=lr)

    def params(tr):
        return torch.cat([p.detach().flatten() for p in tr.model.parameters()])

    seeds, before, seeds_rows = train(tiny_path, tmp_path / "seeds", advantage_method="dgro", beta=b,
                                      dgro_beta_reward=k, dgro_min_variance=1e-12, **common,
                                      extra_grpo_args={"adam_epsilon": eps})
    grpo, _, grpo_rows = train(tiny_path, tmp_path / "grpo", advantage_method="grpo", beta=b / k, **common,
                               extra_grpo_args={"adam_epsilon": eps / k})
    same_eps, _, _ = train(tiny_path, tmp_path / "grpo_same_eps", advantage_method="grpo", beta=b / k, **common,
                           extra_grpo_args={"adam_epsilon": eps})
    assert all(r["ordebug/dgro/floor_binding_frac"] == 0.0 for r in seeds_rows)  # the floor never bound
    for s, g in zip(seeds_rows, grpo_rows):  # the same batches: same rewards, advantages k × GRPO's
        assert s["ordebug/reward/mean"] == g["ordebug/reward/mean"]
        assert s["ordebug/advantage/std"] == pytest.approx(k * g["ordebug/advantage/std"], rel=1e-6)
    start = torch.cat([p.flatten() for p in before.values()])
    assert float((params(seeds) - start).abs().max()) > lr  # Adam moved entries by about lr per step
    assert torch.equal(params(seeds), params(grpo))  # Adam(ε) on k·g is Adam(ε/k) on g, to the bit
    gap = float((params(seeds) - params(same_eps)).abs().max())
    assert 0 < gap <= 2 * lr  # the same ε: equal only up to ε


@pytest.mark.slow
def test_multi_turn_env_tokens_are_not_part_of_log_pi(tmp_path):
    """OR-Debug episodes (tiny preset, 2 turns): log π_θ(y|x) sums the policy's tokens only (completion mask ×
    tool mask), so the gradient w.r.t. every env-observation token's log-prob is exactly 0 on both updates."""
    from ordebug_lib.ordebug.saboteur import make_instance
    from ordebug_lib.policy.loader import load_policy
    from ordebug_lib.training.logging import read_metrics
    from ordebug_lib.training.run import build_ordebug_trainer

    instances = [make_instance("diet", "A", "easy", seed=1), make_instance("knapsack", "A", "easy", seed=1)]
    model, tok = load_policy("tiny", seed=0)
    cfg = GRPORunConfig(advantage_method="dr_grpo", loss_type="dgro", beta=0.0, num_iterations=2, num_generations=2,
                        per_device_train_batch_size=4, max_turns=2, max_new_tokens_per_turn=6, max_completion_length=12,
                        max_steps=2, learning_rate=1e-3, reward="composite", temperature=1.0, save_final=False)
    tr = build_ordebug_trainer(cfg, model, tok, instances, tmp_path / "run", use_cpu=True)
    score, forward, compute = tr._generate_and_score_completions, tr._get_per_token_logps_and_entropies, tr._compute_loss

    def forced(inputs):  # a random tiny policy's episodes often all fail alike: r − V = ±1 makes the policy term act
        b = score(inputs)
        b["advantages"] = torch.tensor([1.0, -1.0] * (len(b["advantages"]) // 2), dtype=b["advantages"].dtype)
        return b

    grads, batches = [], []

    def hooked(*args, **kwargs):
        logps, ent, aux = forward(*args, **kwargs)
        if logps.requires_grad:
            logps.register_hook(lambda g: grads.append(g.detach().clone()))
        return logps, ent, aux

    def recording(model, inputs):
        batches.append({k: v for k, v in inputs.items() if isinstance(v, torch.Tensor)})
        return compute(model, inputs)

    tr._generate_and_score_completions, tr._get_per_token_logps_and_entropies, tr._compute_loss = forced, hooked, recording
    tr.train()
    assert len(batches) == len(grads) == 2  # one generation, two updates on it
    for batch, grad in zip(batches, grads):
        env, real = batch["tool_mask"].bool(), batch["completion_mask"].bool()
        assert bool((real & ~env).any()), "the episodes should contain env observation tokens"
        assert bool((grad[real & ~env] == 0).all())  # env tokens are not in log π_θ(y|x)
        assert bool((grad[real & env] != 0).any())
    rows = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert rows[0]["ordebug/dgro/sq_log_ratio"] < 1e-9 < rows[1]["ordebug/dgro/sq_log_ratio"]
