"""steps_per_generation: one generation of k·B completions feeds k optimizer steps (tiny model, CPU)."""
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from tiny_lm import make_tiny_lm, tiny_countdown_trainer  # noqa: E402

from ordebug_lib.training.config import GRPORunConfig  # noqa: E402
from ordebug_lib.training.logging import read_metrics  # noqa: E402
from ordebug_lib.training.trainer import OrdebugGRPOTrainer  # noqa: E402


def test_config_validates_and_passes_steps_per_generation():
    with pytest.raises(ValueError, match="steps_per_generation"):
        GRPORunConfig(steps_per_generation=0)
    assert GRPORunConfig(steps_per_generation=4, per_device_train_batch_size=8).to_grpo_config("x").steps_per_generation == 4
    # None: TRL's default, one generation per optimizer step
    assert GRPORunConfig(gradient_accumulation_steps=2).to_grpo_config("x").steps_per_generation == 2


@pytest.mark.slow
def test_one_generation_feeds_k_optimizer_steps(tmp_path, monkeypatch):
    path = make_tiny_lm(tmp_path / "tiny")
    calls = []
    original = OrdebugGRPOTrainer._generate_and_score_completions

    def counting(self, inputs):
        calls.append(len(inputs))
        return original(self, inputs)

    monkeypatch.setattr(OrdebugGRPOTrainer, "_generate_and_score_completions", counting)
    tr, before = tiny_countdown_trainer(path, tmp_path / "run", l_max=6, problems=32, steps_per_generation=2,
                                        max_steps=4)
    tr.train()
    assert calls == [16, 16]  # 4 steps, 2 generations of 2 x 8 completions
    assert [r["step"] for r in read_metrics(tmp_path / "run" / "metrics.jsonl")] == [1, 2, 3, 4]
    assert any(not torch.equal(before[n], p.detach()) for n, p in tr.model.named_parameters())
