"""GRPO-family training from a real SFT checkpoint (tiny preset, CPU): a DGRO and a GRPO run from the same
SFT checkpoint and seed log different advantage statistics, and LoRA with β > 0 trains only the adapters
while the KL to the adapter-disabled reference grows from 0 (issue 6, DAPO knobs)."""
import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from tiny_lm import tiny_grpo_config  # noqa: E402

from ordebug_lib.policy.loader import load_policy  # noqa: E402
from ordebug_lib.policy.sft import SFTRunConfig, countdown_records, run_sft  # noqa: E402
from ordebug_lib.tasks.countdown import make_splits  # noqa: E402
from ordebug_lib.training.logging import read_metrics  # noqa: E402
from ordebug_lib.training.run import build_trainer, countdown_dataset, finish  # noqa: E402

pytestmark = pytest.mark.slow
L_MAX = 6  # the completion budget of these runs (test_training_trainer's)


def mean_token_id_reward(*, completion_ids, **kwargs):
    """Deterministic and noise-free, with spread across samples: the mean token id of the completion over
    10,000. (The distinct-token reward saturates here: after SFT with the 1555-token tokenizer nearly every
    6-token completion has 6 distinct tokens, so every group had zero reward std and no update.)"""
    return [sum(ids) / max(1, len(ids)) / 10_000 for ids in completion_ids]


@pytest.fixture(scope="module")
def sft_checkpoint(tmp_path_factory):
    """The tiny preset after 6 SFT steps on Countdown search streams, saved like any checkpoint."""
    train, _ = make_splits(24, 4, seed=0, num_numbers=3)
    records, _ = countdown_records(train, seed=0, max_nodes=4)
    policy = load_policy("tiny", seed=0)
    res = run_sft(policy.model, policy.tokenizer, records,
                  SFTRunConfig(max_steps=6, learning_rate=5e-3, batch_size=4, max_length=512, logging_steps=1))
    assert res.train_curve[-1][1] < res.train_curve[0][1]  # it is a trained checkpoint, not the random preset
    return policy.save(tmp_path_factory.mktemp("sft") / "checkpoint")


def grpo_run(path, run_dir, lora=None, **kw):
    model, tok = load_policy(str(path), lora=lora, seed=0)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    tr = build_trainer(tiny_grpo_config(L_MAX, **kw), model, tok, countdown_dataset(16, seed=0), run_dir,
                       [mean_token_id_reward], use_cpu=True)
    tr.train()
    finish(tr, run_dir)
    after = {n: p.detach() for n, p in tr.model.named_parameters()}
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    added = {n: after[n] for n in set(after) - set(before)}
    return read_metrics(Path(run_dir) / "metrics.jsonl"), changed, added


def test_dgro_and_grpo_from_the_same_sft_checkpoint_log_different_advantages(sft_checkpoint, tmp_path):
    grpo_rows, _, _ = grpo_run(sft_checkpoint, tmp_path / "grpo", advantage_method="grpo")
    dgro_rows, _, _ = grpo_run(sft_checkpoint, tmp_path / "dgro", advantage_method="dgro", dgro_beta_reward=0.5)
    g, d = grpo_rows[0], dgro_rows[0]
    assert g["ordebug/reward/mean"] == d["ordebug/reward/mean"]  # same checkpoint, seed and batch
    assert g["ordebug/reward/std"] > 0
    # β_reward = 0.5 halves an advantage; the variance floor (min_variance) shrinks low-variance groups further
    assert 0 < d["ordebug/advantage/max"] <= 0.5 * g["ordebug/advantage/max"] + 1e-6
    assert 0 < d["ordebug/advantage/std"] <= 0.5 * g["ordebug/advantage/std"] + 1e-6
    assert d["ordebug/advantage/max"] != pytest.approx(g["ordebug/advantage/max"], rel=1e-3)


def test_lora_with_kl_trains_adapters_only_against_the_adapter_disabled_reference(sft_checkpoint, tmp_path):
    rows, changed, added = grpo_run(sft_checkpoint, tmp_path / "lora", lora={"r": 4, "lora_alpha": 8}, beta=0.04)
    assert changed and all("lora_" in n for n in changed)  # the SFT weights are frozen
    # TRL keeps the reference as a frozen copy of the initial adapter ("ref"); fresh LoRA is the identity,
    # so that reference is the adapter-disabled SFT model
    assert added and all(".ref." in n for n in added)
    ref_b = [w for n, w in added.items() if "lora_B" in n]
    assert ref_b and all(torch.count_nonzero(w) == 0 for w in ref_b)  # still the identity after training
    kl = [r["kl"] for r in rows]
    assert all(math.isfinite(k) for k in kl)
    assert kl[0] == pytest.approx(0.0, abs=1e-6)  # LoRA starts as the identity: policy == reference
    assert kl[1] > 0  # after one update the policy has moved away from the adapter-disabled model
