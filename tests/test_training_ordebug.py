"""Multi-turn OR-Debug rollouts: one rollout is a real RepairEnv episode; env observation tokens get zero
loss weight; the reward is the env's terminal reward.

1. ``run_token_episodes`` with a scripted generator: exact token layout, env_mask, reward from the env.
2. A real ``OrdebugGRPOTrainer`` step with the ``tiny`` preset (project tokenizer): the gradient of the loss
   w.r.t. every env-token log-prob is exactly 0, non-zero on policy tokens; rewards are the env's.
"""
import json

import pytest
import torch

from ordebug_lib.ordebug.env import RepairEnv
from ordebug_lib.ordebug.saboteur import make_instance
from ordebug_lib.training.config import GRPORunConfig
from ordebug_lib.training.rollouts import env_config_for, observation_ids, ordebug_dataset, run_token_episodes

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tokenizer():
    from ordebug_lib.policy.tokenizer import project_tokenizer

    return project_tokenizer()


@pytest.fixture(scope="module")
def instances():
    return [make_instance("diet", "A", "easy", seed=1), make_instance("knapsack", "A", "easy", seed=1)]


def test_token_layout_masks_env_and_rewards_from_env(tokenizer, instances):
    inst = instances[0]
    enc = lambda s: tokenizer(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    eos = tokenizer.eos_token_id
    script = [(enc("<action>GET_IIS</action>") + [eos], True),   # turn 1: ends with EOS
              (enc("<action>INSPECT"), False),                    # turn 2: cut at the budget (no EOS)
              (enc("<action>SUBMIT nothing</action>") + [eos], True)]  # turn 3: SUBMIT ends the episode
    calls = []

    def scripted(contexts, max_new_tokens):
        calls.append([list(c) for c in contexts])
        return [script[len(calls) - 1]]

    cfg = env_config_for(max_turns=5, reward="composite")
    (ep,) = run_token_episodes(scripted, tokenizer, [inst], cfg, max_new_tokens=16, max_context_tokens=4096)
    # the env answered, step by step; the same actions replayed in a fresh env give the same observations
    env = RepairEnv(inst, cfg)
    obs0, _ = env.reset()
    obs1 = env.step(tokenizer.decode(script[0][0], skip_special_tokens=True))[0]
    obs2 = env.step(tokenizer.decode(script[1][0], skip_special_tokens=True))[0]
    _, reward, terminated, _, info = env.step(tokenizer.decode(script[2][0], skip_special_tokens=True))
    assert terminated and ep.submitted and ep.steps == 3
    assert ep.reward == reward == info["reward_components"]["composite"]  # the episode reward is the env's
    assert ep.prompt_ids == observation_ids(tokenizer, obs0)
    seg1 = observation_ids(tokenizer, obs1)
    seg2 = [eos] + observation_ids(tokenizer, obs2)  # EOS closes the cut-off turn, as an env token
    a1, a2, a3 = (s[0] for s in script)
    assert ep.completion_ids == a1 + seg1 + a2 + seg2 + a3
    assert ep.env_mask == [1] * len(a1) + [0] * len(seg1) + [1] * len(a2) + [0] * len(seg2) + [1] * len(a3)
    # each turn was generated from the exact token context so far
    assert calls[1][0] == ep.prompt_ids + a1 + seg1
    assert calls[2][0] == ep.prompt_ids + a1 + seg1 + a2 + seg2
    assert "IIS" in tokenizer.decode(seg1)


def test_context_limit_raises(tokenizer, instances):
    cfg = env_config_for(max_turns=2, reward="outcome")
    with pytest.raises(ValueError, match="max_context_tokens"):
        run_token_episodes(lambda c, n: [([1], True)] * len(c), tokenizer, instances[:1], cfg, 16, 100)


def test_a_full_context_ends_the_episode_as_a_timeout(tokenizer, instances):
    from ordebug_lib.training.rollouts import fits_context

    inst = instances[0]
    cfg = env_config_for(max_turns=5, reward="composite")
    action = tokenizer("<action>GET_IIS</action>", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    env = RepairEnv(inst, cfg)
    prompt = observation_ids(tokenizer, env.reset()[0])
    obs1 = env.step(tokenizer.decode(action, skip_special_tokens=True))[0]
    limit = len(prompt) + len(action) + len(observation_ids(tokenizer, obs1)) + 16 - 1  # turn 2 misses by one
    (ep,) = run_token_episodes(lambda c, n: [(action, True)] * len(c), tokenizer, [inst], cfg, 16, limit)
    assert ep.context_truncated and ep.steps == 1 and not ep.submitted
    assert ep.reward == env.truncate("test")  # rewarded as a timeout after the same step
    assert ep.completion_ids == action + observation_ids(tokenizer, obs1) and len(ep.env_mask) == len(ep.completion_ids)
    # with room for the whole episode nothing is cut
    (ep,) = run_token_episodes(lambda c, n: [(action, True)] * len(c), tokenizer, [inst], cfg, 16, 4096)
    assert not ep.context_truncated and ep.steps == 5
    # instances whose first observation leaves no room for one action are left out, by id
    keep, out = fits_context(tokenizer, instances, cfg, 16, len(prompt) + 16)
    assert inst in keep and [i.id for i in keep] + out == [i.id for i in instances]
    assert fits_context(tokenizer, instances, cfg, 16, 10) == ([], [i.id for i in instances])


def test_trainer_step_env_tokens_have_zero_loss_weight(tmp_path, instances):
    from ordebug_lib.policy.loader import load_policy
    from ordebug_lib.training.run import build_ordebug_trainer

    model, tok = load_policy("tiny", seed=0)
    cfg = GRPORunConfig(advantage_method="krpo",  # KRPO: non-zero advantages even when a group's rewards agree
                        loss_type="grpo", beta=0.0, num_generations=2, per_device_train_batch_size=4,
                        max_turns=2, max_new_tokens_per_turn=6, max_completion_length=12, max_steps=1,
                        learning_rate=1e-3, reward="composite", temperature=1.0)
    tr = build_ordebug_trainer(cfg, model, tok, instances, tmp_path / "run", use_cpu=True)
    grads, batches = [], []
    forward = tr._get_per_token_logps_and_entropies

    def hooked(*args, **kwargs):
        logps, ent, aux = forward(*args, **kwargs)
        if logps.requires_grad:
            logps.register_hook(lambda g: grads.append(g.detach().clone()))
        return logps, ent, aux

    tr._get_per_token_logps_and_entropies = hooked
    compute = tr._compute_loss

    def recording(model, inputs):
        batches.append({k: v for k, v in inputs.items() if isinstance(v, torch.Tensor)})
        return compute(model, inputs)

    tr._compute_loss = recording
    tr.train()
    (batch,), (grad,) = batches, grads
    env = batch["tool_mask"].bool()
    real = batch["completion_mask"].bool()
    assert bool((real & ~env).any()), "the episodes should contain env observation tokens"
    assert bool((grad[real & ~env] == 0).all())  # zero loss weight on env tokens
    assert bool((grad[real & env] != 0).any())  # the policy's own tokens are trained
    # the rewards the advantages were computed from are the env's terminal rewards of these episodes
    episodes = tr.ordebug_rollout.last_episodes
    assert tr.last_batch_info["rewards"].tolist() == [e.reward for e in episodes]
    assert all(1 <= e.steps <= 2 for e in episodes)
    # the dataset prompt is the env's first observation; the completion mixes both kinds of tokens
    ds = ordebug_dataset(instances, env_config_for(2, "composite"))
    assert ds[0]["prompt"][0]["content"].startswith("OR-Debug")
    from ordebug_lib.training.logging import read_metrics

    row = read_metrics(tmp_path / "run" / "metrics.jsonl")[0]
    assert "ordebug/env/feasible_rate" in row and "ordebug/env/steps_mean" in row


def test_script_entry_runs_ordebug(tmp_path):
    """scripts/train_grpo.py (the accelerate-launch entry) runs a 1-step multi-turn OR-Debug smoke run."""
    import importlib.util
    from pathlib import Path

    from ordebug_lib.training.logging import read_metrics

    path = Path(__file__).resolve().parents[1] / "scripts" / "train_grpo.py"
    spec = importlib.util.spec_from_file_location("train_grpo_script", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    run_dir = tmp_path / "script_run"
    rc = mod.main(["--task", "ordebug", "--model", "tiny", "--run-dir", str(run_dir), "--n-instances", "2", "--cpu",
                   "--set", "num_generations=2", "per_device_train_batch_size=4", "max_turns=2",
                   "max_new_tokens_per_turn=4", "max_completion_length=8", "max_steps=1", "beta=0.0",
                   "advantage_method=dgro"])
    assert rc == 0
    # no reward given: OR-Debug takes the env's composite reward (the 2-GPU run once died on 'countdown')
    assert json.loads((run_dir / "run_config.json").read_text())["reward"] == "composite"
    (row,) = read_metrics(run_dir / "metrics.jsonl")
    assert row["step"] == 1 and row["nonfinite_keys"] == []
    assert (run_dir / "final" / "config.json").exists()
