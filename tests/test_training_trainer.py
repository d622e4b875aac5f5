"""OrdebugGRPOTrainer runs for real on a tiny random Qwen3 (CPU): 2 optimizer steps for every advantage
method and every loss type, parameters change, every logged metric is finite and the run directory holds
metrics.jsonl / metrics.csv / run_config.json / final/. And a DGRO and a GRPO run from the same checkpoint
and seed log different advantage statistics.

The reward is deterministic and content-dependent (distinct tokens in the completion / L_max), so a
random model's groups have reward variance without any noise (brief §3.2).
"""
import json
import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from tiny_lm import make_tiny_lm, tiny_countdown_trainer, tiny_grpo_config  # noqa: E402

from ordebug_lib.training.config import GRPORunConfig  # noqa: E402
from ordebug_lib.training.logging import REQUIRED_KEYS, read_metrics  # noqa: E402
from ordebug_lib.training.run import finish  # noqa: E402

pytestmark = pytest.mark.slow
L_MAX = 6


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    return make_tiny_lm(tmp_path_factory.mktemp("tiny_training"))


def run(tiny_path, run_dir, **kw):
    tr, before = tiny_countdown_trainer(tiny_path, run_dir, l_max=L_MAX, **kw)
    tr.train()
    finish(tr, run_dir)
    changed = any(not torch.equal(before[n], p.detach()) for n, p in tr.model.named_parameters())
    return tr, read_metrics(Path(run_dir) / "metrics.jsonl"), changed


def check_rows(rows, beta):
    assert [r["step"] for r in rows] == [1, 2]
    for r in rows:
        assert r["nonfinite_keys"] == []
        for k in REQUIRED_KEYS + (("kl",) if beta > 0 else ()):
            assert k in r, k
            assert isinstance(r[k], (int, float)) and math.isfinite(r[k]), (k, r[k])


@pytest.mark.parametrize("method, loss_type, beta", [
    ("grpo", "grpo", 0.04),
    ("dr_grpo", "dr_grpo", 0.0),
    ("dgro", "dapo", 0.04),
    ("krpo", "hybrid", 0.0),
    ("grpo", "hybrid", 0.04),
])
def test_two_steps_every_method_and_loss(tiny_path, tmp_path, method, loss_type, beta):
    tr, rows, changed = run(tiny_path, tmp_path / "run", advantage_method=method, loss_type=loss_type, beta=beta,
                            epsilon_high=0.28)
    assert changed, "no parameter changed in two optimizer steps"
    check_rows(rows, beta)
    assert rows[0]["ordebug/advantage/std"] > 0  # the reward gave the groups variance
    if loss_type == "hybrid":
        assert rows[0]["ordebug/loss/hybrid_alpha"] == pytest.approx(L_MAX / 512)
    assert (tmp_path / "run" / "metrics.csv").read_text().startswith("step,")
    assert json.loads((tmp_path / "run" / "run_config.json").read_text())["advantage_method"] == method
    assert (tmp_path / "run" / "final" / "config.json").exists()
    assert (tmp_path / "run" / "final" / "tokenizer_config.json").exists()


def test_dapo_knobs_reach_trl(tiny_path, tmp_path):
    cfg = tiny_grpo_config(L_MAX, loss_type="dapo", epsilon_high=0.28, beta=0.0, mask_truncated_completions=True,
                           soft_overlong_cache=2)
    args = cfg.to_grpo_config(str(tmp_path), use_cpu=True)
    assert (args.loss_type, args.epsilon, args.epsilon_high, args.beta) == ("dapo", 0.2, 0.28, 0.0)
    assert args.mask_truncated_completions and args.scale_rewards == "none"
    assert args.use_bias_correction_kl is False
    from ordebug_lib.training.run import countdown_reward_funcs

    funcs = countdown_reward_funcs(cfg)
    assert [f.__name__ for f in funcs] == ["countdown_reward_func", "soft_overlong_reward_func"]
    assert funcs[1](completion_ids=[[0] * 4, [0] * 5, [0] * 6]) == [0.0, -0.5, -1.0]


def test_config_rejects_inconsistent_settings():
    with pytest.raises(ValueError, match="advantage_method"):
        GRPORunConfig(advantage_method="ppo")
    with pytest.raises(ValueError, match="hybrid_alpha"):
        GRPORunConfig(loss_type="grpo", hybrid_alpha=0.5)
    with pytest.raises(ValueError, match="already controls"):
        GRPORunConfig(extra_grpo_args={"scale_rewards": "group"})
    with pytest.raises(ValueError, match="unknown GRPORunConfig"):
        GRPORunConfig.from_dict({"bogus": 1})


def test_dgro_and_grpo_same_seed_log_different_advantages(tiny_path, tmp_path):
    # same checkpoint, same seed: the first batch's generations and rewards are identical, so any difference
    # in the logged advantages comes from the estimator. DGRO's β_reward = 0.5 halves them; with β_reward = 1
    # and every group variance above the floor DGRO *equals* GRPO by definition (arXiv 2505.12951).
    _, grpo_rows, _ = run(tiny_path, tmp_path / "grpo", advantage_method="grpo")
    _, dgro_rows, _ = run(tiny_path, tmp_path / "dgro", advantage_method="dgro", dgro_beta_reward=0.5)
    g, d = grpo_rows[0], dgro_rows[0]
    assert g["ordebug/reward/mean"] == d["ordebug/reward/mean"]  # same rewards (same task metric, same batch)
    assert d["ordebug/advantage/std"] != pytest.approx(g["ordebug/advantage/std"], rel=1e-3)
    assert d["ordebug/advantage/max"] != pytest.approx(g["ordebug/advantage/max"], rel=1e-3)


def test_config_refuses_strings_where_numbers_belong():
    # the 2-GPU run once failed inside AdamW: YAML 1.1 reads "1e-4" as a string
    with pytest.raises(ValueError, match="learning_rate must be float"):
        GRPORunConfig(learning_rate="1e-4")
    with pytest.raises(ValueError, match="max_steps must be int"):
        GRPORunConfig(max_steps=2.5)
    assert GRPORunConfig(learning_rate=1).learning_rate == 1  # an int is a fine float
