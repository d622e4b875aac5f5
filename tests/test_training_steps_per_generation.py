"""steps_per_generation: one generation of k·B completions feeds k optimizer steps (tiny model, CPU)."""
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from tiny_lm import make_tiny_lm  # noqa: E402

from ordebug_lib.training.config import GRPORunConfig  # noqa: E402
from ordebug_lib.training.logging import read_metrics  # noqa: E402
from ordebug_lib.training.run import build_trainer, countdown_dataset  # noqa: E402
from ordebug_lib.training.trainer import OrdebugGRPOTrainer  # noqa: E402


def distinct_tokens_reward(*, completion_ids, **kwargs):
    return [len(set(ids)) / 6 for ids in completion_ids]


def test_config_validates_and_passes_steps_per_generation():
    with pytest.raises(ValueError, match="steps_per_generation"):
        GRPORunConfig(steps_per_generation=0)
    assert GRPORunConfig(steps_per_generation=4, per_device_train_batch_size=8).to_grpo_config("x").steps_per_generation == 4
    # None: TRL's default, one generation per optimizer step
    assert GRPORunConfig(gradient_accumulation_steps=2).to_grpo_config("x").steps_per_generation == 2


@pytest.mark.slow
def test_one_generation_feeds_k_optimizer_steps(tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = make_tiny_lm(tmp_path / "tiny")
    model, tok = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    calls = []
    original = OrdebugGRPOTrainer._generate_and_score_completions

    def counting(self, inputs):
        calls.append(len(inputs))
        return original(self, inputs)

    monkeypatch.setattr(OrdebugGRPOTrainer, "_generate_and_score_completions", counting)
    cfg = GRPORunConfig(num_generations=4, per_device_train_batch_size=8, steps_per_generation=2, max_steps=4,
                        max_completion_length=6, learning_rate=5e-2, beta=0.0, seed=0)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    tr = build_trainer(cfg, model, tok, countdown_dataset(32, seed=0), tmp_path / "run", [distinct_tokens_reward],
                       use_cpu=True)
    tr.train()
    assert calls == [16, 16]  # 4 steps, 2 generations of 2 x 8 completions
    assert [r["step"] for r in read_metrics(tmp_path / "run" / "metrics.jsonl")] == [1, 2, 3, 4]
    assert any(not torch.equal(before[n], p.detach()) for n, p in tr.model.named_parameters())
