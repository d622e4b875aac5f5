"""The advantages reaching the loss are ours, the hybrid loss is α·DR-GRPO + (1−α)·GRPO of TRL's own
aggregations, and DAPO dynamic sampling drops zero-std groups and refills — all through a real
``OrdebugGRPOTrainer`` on a tiny random Qwen3 (CPU).

Fixed batch: a scripted reward function returns preset rewards (no noise), three groups of G = 4:
[1, 0, 0, 0] (one success), [0.1, 0, 0, 0] (variance 0.0025, under DGRO's floor 0.01) and
[0.5, 0.5, 0.5, 0.5] (all equal: zero advantage under GRPO / Dr. GRPO / DGRO-mean, not under KRPO).
"""
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from tiny_lm import make_tiny_lm  # noqa: E402

from ordebug_lib.advantages import compute_advantages  # noqa: E402
from ordebug_lib.training.config import GRPORunConfig  # noqa: E402
from ordebug_lib.training.logging import read_metrics  # noqa: E402
from ordebug_lib.training.run import build_trainer, countdown_dataset  # noqa: E402
from ordebug_lib.training.sampling import concat_batches, select_rows  # noqa: E402

pytestmark = pytest.mark.slow
G = 4
FIXED = [1.0, 0.0, 0.0, 0.0, 0.1, 0.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5]


class ScriptedRewards:
    """TRL reward function returning preset rewards, one list per call; records the prompts it saw."""

    __name__ = "scripted_reward"

    def __init__(self, queue):
        self.queue, self.prompts = list(queue), []

    def __call__(self, *, prompts, completions, **kwargs):
        self.prompts.append([p[-1]["content"] for p in prompts])
        if not self.queue:
            raise AssertionError("the trainer asked for more reward batches than the test scripted")
        return self.queue.pop(0)


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    return make_tiny_lm(tmp_path_factory.mktemp("tiny_adv"))


def make_trainer(tiny_path, run_dir, rewards_queue, batch=12, **kw):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_path)
    tok = AutoTokenizer.from_pretrained(tiny_path)
    cfg = GRPORunConfig(**{**dict(num_generations=G, per_device_train_batch_size=batch, max_completion_length=6,
                                  max_steps=1, learning_rate=1e-2, beta=0.0), **kw})
    scripted = ScriptedRewards(rewards_queue)
    tr = build_trainer(cfg, model, tok, countdown_dataset(24, seed=1), run_dir, [scripted], use_cpu=True)
    seen = []
    original = tr._compute_loss

    def recording_compute_loss(model, inputs):
        seen.append(inputs["advantages"].detach().clone())
        return original(model, inputs)

    tr._compute_loss = recording_compute_loss
    return tr, scripted, seen


METHOD_OPTIONS = {
    "grpo": {},
    "dr_grpo": {},
    "dgro": {"dgro_beta_reward": 2.0},
    "krpo": {},
}


@pytest.mark.parametrize("method", list(METHOD_OPTIONS))
def test_advantages_reaching_the_loss_are_ours(tiny_path, tmp_path, method):
    tr, _, seen = make_trainer(tiny_path, tmp_path / method, [FIXED], advantage_method=method, **METHOD_OPTIONS[method])
    assert tr.scale_rewards == "none"
    tr.train()
    assert len(seen) == 1
    reached = seen[0].to(torch.float64)
    ours = compute_advantages(torch.tensor(FIXED, dtype=torch.float32), G, method,
                              **tr.run_config.advantage_options()).to(torch.float64)
    # TRL shuffles rows after scoring (shuffle_sequence_dict): compare as multisets, and check the
    # trainer's own record of the unshuffled batch row by row
    assert torch.allclose(reached.sort().values, ours.sort().values, atol=1e-6, rtol=0), (reached, ours)
    assert torch.allclose(tr.last_batch_info["advantages"].to(torch.float64), ours, atol=1e-6, rtol=0)
    # what TRL's own scale_rewards="group" would have produced (GRPO) differs for every other method
    trl_group = compute_advantages(torch.tensor(FIXED), G, "grpo").to(torch.float64)
    if method != "grpo":
        assert not torch.allclose(reached.sort().values, trl_group.sort().values, atol=1e-3)
    if method == "dgro":  # β_reward = 2 and the variance floor survive: group 2 is not blown up to GRPO's scale
        assert ours[4].item() == pytest.approx(2 * 0.075 / (0.1 + 1e-4), rel=1e-5)
    if method == "krpo":  # order-dependent Kalman baseline: an all-equal group gets non-zero advantages
        assert bool((ours[8:] != 0).any())
    row = read_metrics(tmp_path / method / "metrics.jsonl")[0]
    assert row["ordebug/advantage/max"] == pytest.approx(ours.max().item(), rel=1e-5)
    assert row["ordebug/groups/zero_std_frac"] == pytest.approx(1 / 3)


def test_hybrid_loss_is_alpha_mix_of_trl_dr_grpo_and_grpo(tiny_path, tmp_path):
    from trl import GRPOTrainer

    tr, _, _ = make_trainer(tiny_path, tmp_path / "hyb", [], loss_type="hybrid", hybrid_alpha=0.3, beta=0.04,
                            epsilon_high=0.28, max_completion_length=8)
    B, T = 6, 5
    g = torch.Generator().manual_seed(0)
    logp = -torch.rand(B, T, generator=g, dtype=torch.float64) * 3
    old = logp + 0.4 * (torch.rand(B, T, generator=g, dtype=torch.float64) - 0.5)
    ref = logp + 0.6 * (torch.rand(B, T, generator=g, dtype=torch.float64) - 0.5)
    adv = torch.randn(B, generator=g, dtype=torch.float64)
    lengths = torch.tensor([1, 5, 3, 2, 5, 4])
    mask = (torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)).long()
    env = torch.ones(B, T, dtype=torch.long)
    env[1, 1:3] = 0  # a multi-turn env span: zero weight
    inputs = {"prompt_ids": torch.zeros(B, 1, dtype=torch.long), "prompt_mask": torch.ones(B, 1, dtype=torch.long),
              "completion_ids": torch.zeros(B, T, dtype=torch.long), "completion_mask": mask, "tool_mask": env,
              "advantages": adv, "old_per_token_logps": old, "ref_per_token_logps": ref,
              "num_items_in_batch": (mask * env).sum()}
    tr.model.train()
    tr.current_gradient_accumulation_steps = 1

    def loss_and_grad(fn, loss_type):
        x = logp.clone().requires_grad_(True)
        tr._get_per_token_logps_and_entropies = lambda *a, **k: (x, torch.zeros_like(x), None)
        tr.loss_type = loss_type
        loss = fn(tr, tr.model, inputs)
        return loss.detach(), torch.autograd.grad(loss, x)[0]

    hyb, hyb_grad = loss_and_grad(type(tr)._compute_loss, "grpo")  # our override (run_config says hybrid)
    dr, dr_grad = loss_and_grad(GRPOTrainer._compute_loss, "dr_grpo")
    gr, gr_grad = loss_and_grad(GRPOTrainer._compute_loss, "grpo")
    assert hyb.item() == pytest.approx(0.3 * dr.item() + 0.7 * gr.item(), abs=1e-9)
    assert torch.allclose(hyb_grad, 0.3 * dr_grad + 0.7 * gr_grad, atol=1e-12)
    assert bool((hyb_grad[1, 1:3] == 0).all()) and bool((hyb_grad[mask.bool() & env.bool()] != 0).all())


def test_dynamic_sampling_drops_constant_groups_and_refills(tiny_path, tmp_path):
    round1 = [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]  # group 0 constant: dropped
    round2 = [0.0, 1.0, 0.0, 0.0, 0.2, 0.2, 0.2, 0.2]  # refill: group 0 kept, group 1 constant
    tr, scripted, seen = make_trainer(tiny_path, tmp_path / "ds", [round1, round2], batch=8, dynamic_sampling=True,
                                      advantage_method="grpo")
    tr.train()
    info = tr.last_batch_info
    assert info["rounds"] == 2 and info["kept_groups"] == 2 and info["filled_zero_std_groups"] == 0
    assert info["rewards"].tolist() == [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    assert len(scripted.prompts) == 2 and scripted.prompts[1] != scripted.prompts[0]  # fresh prompts refilled
    assert len(seen) == 1 and seen[0].shape == (8,) and bool((seen[0] != 0).all())
    row = read_metrics(tmp_path / "ds" / "metrics.jsonl")[0]
    assert row["ordebug/groups/zero_std_frac"] == pytest.approx(0.5)  # 2 of the 4 sampled groups
    assert row["ordebug/dynamic_sampling/rounds"] == 2


def test_dynamic_sampling_out_of_rounds(tiny_path, tmp_path):
    const = [0.0] * 8
    tr, _, _ = make_trainer(tiny_path, tmp_path / "strict", [const, const], batch=8, dynamic_sampling=True,
                            dynamic_sampling_max_rounds=2)
    with pytest.raises(RuntimeError, match="non-zero reward std"):
        tr.train()
    tr, _, seen = make_trainer(tiny_path, tmp_path / "partial", [const, const], batch=8, dynamic_sampling=True,
                               dynamic_sampling_max_rounds=2, dynamic_sampling_allow_partial=True,
                               advantage_method="krpo")
    tr.train()
    assert tr.last_batch_info["filled_zero_std_groups"] == 2
    assert bool((seen[0] == 0).all())  # filled groups get advantage 0 even under KRPO


def test_select_and_concat_repad():
    a = {"prompt_ids": torch.tensor([[5, 6], [7, 8]]), "prompt_mask": torch.ones(2, 2, dtype=torch.long),
         "completion_ids": torch.tensor([[1, 0], [2, 3]]), "completion_mask": torch.tensor([[1, 0], [1, 1]]),
         "advantages": torch.tensor([0.5, -0.5]), "num_items_in_batch": torch.tensor(3)}
    b = {"prompt_ids": torch.tensor([[9]]), "prompt_mask": torch.ones(1, 1, dtype=torch.long),
         "completion_ids": torch.tensor([[4, 4, 4]]), "completion_mask": torch.ones(1, 3, dtype=torch.long),
         "advantages": torch.tensor([1.0]), "num_items_in_batch": torch.tensor(3)}
    m = concat_batches([select_rows(a, [1]), select_rows(b, [0])], pad_token_id=0)
    assert m["prompt_ids"].tolist() == [[7, 8], [0, 9]] and m["prompt_mask"].tolist() == [[1, 1], [0, 1]]
    assert m["completion_ids"].tolist() == [[2, 3, 0], [4, 4, 4]]
    assert m["completion_mask"].tolist() == [[1, 1, 0], [1, 1, 1]]
    assert m["advantages"].tolist() == [-0.5, 1.0] and "num_items_in_batch" not in m
    with pytest.raises(ValueError, match="pixel_values"):
        select_rows({**a, "pixel_values": torch.zeros(2, 1)}, [0])
