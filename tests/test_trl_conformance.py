"""Our losses and advantages agree with TRL 1.16's own code on random inputs (within 1e-6).

We drive a real ``trl.GRPOTrainer`` built on a tiny random Qwen3 model, not a copy of its code:

- loss: ``GRPOTrainer._compute_loss`` is called with chosen per-token log-probs (the model forward
  ``_get_per_token_logps_and_entropies`` is replaced by one returning them), old / reference log-probs,
  advantages and a completion mask; TRL's own clipping, k3 KL and loss_type aggregation then run;
- advantages: ``GRPOTrainer._generate_and_score_completions`` is run end to end (the tiny model really
  generates) with a reward function returning chosen rewards; we compare the advantages it returns.
"""
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from tiny_lm import make_tiny_lm  # noqa: E402

from ordebug_lib.advantages import compute_advantages  # noqa: E402
from ordebug_lib.losses import policy_loss  # noqa: E402

pytestmark = pytest.mark.slow

G = 4  # num_generations
B = 8  # completions per generation batch = 2 prompts × G
T = 6  # padded completion width in the loss tests
L_MAX = 8  # trainer max_completion_length (deliberately > T: DR-GRPO divides by L_max, not T)


class ScriptedRewards:
    """A TRL reward function that returns preset rewards, one batch per call (records what it was given)."""

    __name__ = "scripted_reward"

    def __init__(self):
        self.queue = []
        self.calls = []

    def __call__(self, prompts, completions, **kwargs):
        self.calls.append({"prompts": list(prompts), "completions": list(completions)})
        return self.queue.pop(0)


@pytest.fixture(scope="module")
def trainer(tmp_path_factory):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    tmp = tmp_path_factory.mktemp("trl_conformance")
    path = make_tiny_lm(tmp)
    model = AutoModelForCausalLM.from_pretrained(path)
    tok = AutoTokenizer.from_pretrained(path)
    ds = Dataset.from_list([{"prompt": f"Make {n} from [1, 2]."} for n in range(8)])
    cfg = GRPOConfig(
        output_dir=str(tmp / "out"), per_device_train_batch_size=B, num_generations=G, max_completion_length=L_MAX,
        gradient_accumulation_steps=1, max_steps=1, report_to="none", use_cpu=True, bf16=False,
        save_strategy="no", seed=0, beta=0.0, loss_type="grpo",
    )
    rewards = ScriptedRewards()
    tr = GRPOTrainer(model=model, processing_class=tok, reward_funcs=[rewards], args=cfg, train_dataset=ds)
    tr.scripted_rewards = rewards
    return tr


def random_loss_inputs(seed):
    g = torch.Generator().manual_seed(seed)
    logp = -torch.rand(B, T, generator=g, dtype=torch.float64) * 3  # (B, T) log-probs in (−3, 0]
    old = logp + 0.4 * (torch.rand(B, T, generator=g, dtype=torch.float64) - 0.5)  # ratios e^±0.2: some clipped
    ref = logp + 0.6 * (torch.rand(B, T, generator=g, dtype=torch.float64) - 0.5)
    adv = torch.randn(B, generator=g, dtype=torch.float64)  # (B,)
    lengths = torch.randint(1, T + 1, (B,), generator=g)  # every completion has ≥ 1 token
    mask = (torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)).long()  # (B, T) right padding
    return logp, old, ref, adv, mask


def trl_loss(tr, logp, old, ref, adv, mask, loss_type, beta, eps_low, eps_high, kl_correction):
    """Loss and d loss/d logp computed by TRL's GRPOTrainer._compute_loss for these tensors."""
    logp = logp.clone().requires_grad_(True)
    entropies = torch.zeros_like(logp)
    tr._get_per_token_logps_and_entropies = lambda *args, **kwargs: (logp, entropies, None)
    tr.loss_type, tr.beta, tr.epsilon_low, tr.epsilon_high = loss_type, beta, eps_low, eps_high
    tr.args.use_bias_correction_kl = kl_correction
    tr.model.train()
    tr.current_gradient_accumulation_steps = 1
    inputs = {
        "prompt_ids": torch.zeros(B, 1, dtype=torch.long), "prompt_mask": torch.ones(B, 1, dtype=torch.long),
        "completion_ids": torch.zeros(B, T, dtype=torch.long), "completion_mask": mask,
        "advantages": adv, "old_per_token_logps": old, "ref_per_token_logps": ref,
        "num_items_in_batch": mask.sum(),
    }
    loss = tr._compute_loss(tr.model, inputs)
    (grad,) = torch.autograd.grad(loss, logp)
    return loss.detach(), grad


@pytest.mark.parametrize("loss_type", ["grpo", "dr_grpo", "dapo"])
@pytest.mark.parametrize(
    "beta, eps_low, eps_high, kl_correction",
    [(0.0, 0.2, 0.2, True), (0.04, 0.2, 0.28, False), (0.04, 0.2, 0.28, True)],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_loss_matches_trl(trainer, loss_type, beta, eps_low, eps_high, kl_correction, seed):
    logp, old, ref, adv, mask = random_loss_inputs(seed)
    assert trainer.max_completion_length == L_MAX
    expected, expected_grad = trl_loss(
        trainer, logp, old, ref, adv, mask, loss_type, beta, eps_low, eps_high, kl_correction
    )
    logp_ours = logp.clone().requires_grad_(True)
    ours = policy_loss(logp_ours, old, adv, mask, loss_type, L_MAX, eps_low, eps_high, ref_logp=ref, beta=beta,
                       kl_ratio_correction=kl_correction)
    (grad,) = torch.autograd.grad(ours, logp_ours)
    assert abs(ours.item() - expected.item()) < 1e-6, (loss_type, ours.item(), expected.item())
    assert torch.allclose(grad, expected_grad, atol=1e-6, rtol=0)
    # the three aggregations really differ on these inputs (otherwise the test would prove little)
    others = {lt: policy_loss(logp, old, adv, mask, lt, L_MAX, eps_low, eps_high, ref, beta,
                              kl_ratio_correction=kl_correction).item()
              for lt in ("grpo", "dr_grpo", "dapo") if lt != loss_type}
    assert all(abs(v - ours.item()) > 1e-4 for v in others.values())


REWARD_LEVELS = torch.tensor([0.0, 0.1, 0.3, 0.5, 0.7, 1.0])


@pytest.mark.parametrize("scale_rewards, method", [("group", "grpo"), ("none", "dr_grpo")])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_advantages_match_trl(trainer, scale_rewards, method, seed):
    g = torch.Generator().manual_seed(seed)
    rewards = REWARD_LEVELS[torch.randint(0, len(REWARD_LEVELS), (B,), generator=g)]
    if seed == 0:
        rewards[:G] = 0.1  # an all-equal group: advantage 0
    if seed == 1:
        rewards[G:] = torch.tensor([1.0, 0.0, 0.0, 0.0])  # a one-success group
    trainer.scripted_rewards.queue = [rewards.tolist()]
    trainer.scale_rewards = scale_rewards
    trainer.beta = 0.0  # no reference model in this trainer; β does not enter the advantages
    trainer.model.train()
    prompts = [f"Make {seed * 10 + i} from [1, 2]." for i in range(B // G)]
    inputs = [{"prompt": p} for p in prompts for _ in range(G)]  # contiguous groups, as RepeatSampler gives
    out = trainer._generate_and_score_completions(inputs)
    # the reward function saw our prompts in group order
    assert trainer.scripted_rewards.calls[-1]["prompts"] == [x["prompt"] for x in inputs]
    trl_adv = out["advantages"].to(torch.float64)
    ours = compute_advantages(rewards.to(torch.float32), G, method).to(torch.float64)
    assert torch.allclose(ours, trl_adv, atol=1e-6, rtol=0), (ours, trl_adv)
    if seed == 0:
        assert torch.all(ours[:G] == 0)
