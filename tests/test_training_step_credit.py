"""Step credit in the trainer (``GRPORunConfig.step_credit``): the config refuses what is not implemented, the
rollout keeps each step's observation, and a real ``OrdebugGRPOTrainer`` step on the ``tiny`` preset (CPU) hands
the loss exactly the per-token advantages of ``ordebug_lib.step_credit`` (GiGPO, PURE) or the summed-PRM episode
advantages, with the PRM scores and the reward-hacking detector logged."""
import math

import pytest
import torch

from ordebug_lib import step_credit as sc
from ordebug_lib.advantages import compute_advantages
from ordebug_lib.training.config import GRPORunConfig

OR = dict(reward="composite")


# -- config --------------------------------------------------------------------------------------------------------
def test_config_defaults_leave_step_credit_off():
    cfg = GRPORunConfig()
    assert cfg.step_credit == "none" and cfg.prm_path is None
    assert (cfg.gigpo_gamma, cfg.gigpo_omega, cfg.pure_temperature) == (0.95, 1.0, 0.1)


@pytest.mark.parametrize("kwargs, match", [
    (dict(step_credit="min"), "step_credit must be one of"),
    (dict(step_credit="gigpo"), "not an OR-Debug reward"),
    (dict(prm_path="tiny"), "not an OR-Debug reward"),
    (dict(gigpo_gamma=0.5, **OR), "gigpo_gamma is a setting of step_credit"),
    (dict(step_credit="gigpo", pure_temperature=0.5, **OR), "pure_temperature"),
    (dict(step_credit="pure_min", prm_coef=2.0, prm_path="tiny", **OR), "prm_coef"),
    (dict(prm_outcome_coef=0.1, **OR), "prm_outcome_coef"),
    (dict(hacking_window=5, **OR), "needs a PRM"),
    (dict(step_credit="pure_min", **OR), "set prm_path"),
    (dict(step_credit="prm_sum", **OR), "set prm_path"),
    (dict(step_credit="gigpo", loss_type="hybrid", **OR), "losses TRL aggregates"),
    (dict(step_credit="gigpo", dynamic_sampling=True, **OR), "dynamic_sampling"),
    (dict(prm_path="tiny", dynamic_sampling=True, **OR), "dynamic_sampling"),
    (dict(step_credit="gigpo", advantage_method="krpo", **OR), "F_norm"),
    (dict(step_credit="gigpo", gigpo_gamma=1.5, **OR), "gigpo_gamma"),
    (dict(step_credit="gigpo", gigpo_omega=-1.0, **OR), "gigpo_omega"),
    (dict(step_credit="gigpo", gigpo_anchor="model", **OR), "gigpo_anchor"),
    (dict(step_credit="pure_min", prm_path="tiny", advantage_method="dr_grpo", **OR), "own RLOO"),
    (dict(step_credit="pure_min", prm_path="tiny", pure_temperature=0.0, **OR), "pure_temperature"),
    (dict(step_credit="pure_min", prm_path="tiny", pure_baseline="episode", **OR), "pure_baseline"),
    (dict(prm_path="tiny", hacking_window=2, **OR), "hacking_window"),
    (dict(prm_path="tiny", hacking_persist=0, **OR), "hacking_persist"),
    (dict(prm_path="", **OR), "prm_path"),
])
def test_config_refuses(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GRPORunConfig(**kwargs)


def test_config_refuses_several_processes(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="one process"):
        GRPORunConfig(step_credit="gigpo", per_device_train_batch_size=8, **OR)


def test_config_accepts_and_maps_f_norm():
    assert GRPORunConfig(step_credit="gigpo", **OR).gigpo_f_norm() == "std"
    assert GRPORunConfig(step_credit="gigpo", advantage_method="dr_grpo", **OR).gigpo_f_norm() == "none"
    GRPORunConfig(step_credit="pure_min", prm_path="tiny", prm_outcome_coef=0.01, pure_baseline="step", **OR)
    GRPORunConfig(step_credit="prm_sum", prm_path="tiny", prm_coef=5.0, loss_type="dapo", **OR)
    GRPORunConfig(prm_path="tiny", loss_type="hybrid", hacking_window=4, **OR)  # a PRM that only monitors


# -- rollouts keep each step's observation ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tokenizer():
    from ordebug_lib.policy.tokenizer import project_tokenizer

    return project_tokenizer()


@pytest.fixture(scope="module")
def instances():
    from ordebug_lib.ordebug.saboteur import make_instance

    return [make_instance("diet", "A", "easy", seed=1), make_instance("knapsack", "A", "easy", seed=1)]


@pytest.mark.slow
def test_token_episode_keeps_observations_and_stops(tokenizer, instances):
    from ordebug_lib.ordebug.env import RepairEnv
    from ordebug_lib.training.rollouts import env_config_for, run_token_episodes

    enc = lambda s: tokenizer(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    eos = tokenizer.eos_token_id
    script = [(enc("<action>GET_IIS</action>") + [eos], True), (enc("<action>INSPECT"), False),
              (enc("<action>SUBMIT nothing</action>") + [eos], True)]
    calls = []

    def scripted(contexts, max_new_tokens):
        calls.append(1)
        return [script[len(calls) - 1]]

    cfg = env_config_for(max_turns=5, reward="composite")
    (ep,) = run_token_episodes(scripted, tokenizer, instances[:1], cfg, max_new_tokens=16, max_context_tokens=4096)
    env = RepairEnv(instances[0], cfg)
    obs = [env.reset()[0]]
    obs.append(env.step(tokenizer.decode(script[0][0], skip_special_tokens=True))[0])
    obs.append(env.step(tokenizer.decode(script[1][0], skip_special_tokens=True))[0])
    assert ep.observations == obs and ep.stopped == [True, False, True]
    assert len(sc.action_spans(ep.env_mask)) == ep.steps == 3
    assert sc.step_token_counts(ep.env_mask) == [len(s[0]) for s in script]


# -- a real trainer step ----------------------------------------------------------------------------------------
def _run(tmp_path, instances, **kw):
    from ordebug_lib.policy.loader import load_policy
    from ordebug_lib.training.run import build_ordebug_trainer

    model, tok = load_policy("tiny", seed=0)
    base = dict(loss_type="grpo", beta=0.0, num_generations=2, per_device_train_batch_size=4, max_turns=2,
                max_new_tokens_per_turn=6, max_completion_length=12, max_steps=1, learning_rate=1e-3,
                reward="composite", temperature=1.0)
    cfg = GRPORunConfig(**{**base, **kw})
    tr = build_ordebug_trainer(cfg, model, tok, instances, tmp_path / "run", use_cpu=True)
    seen = []
    compute = tr._compute_loss

    def recording(model, inputs):
        seen.append({k: v.detach().clone() for k, v in inputs.items() if isinstance(v, torch.Tensor)})
        return compute(model, inputs)

    tr._compute_loss = recording
    tr.train()
    return tr, seen


def _rows(tmp_path):
    from ordebug_lib.training.logging import read_metrics

    return read_metrics(tmp_path / "run" / "metrics.jsonl")


def _match_rows(batch, episodes, want):
    """TRL shuffles the generation batch before the loss: row r of ``batch`` is the episode with its completion
    ids; its advantages must be that episode's row of ``want`` ((B, T) or (B,))."""
    ids, lengths = batch["completion_ids"], batch["completion_mask"].sum(dim=1).tolist()
    for r in range(ids.shape[0]):
        L = int(lengths[r])
        owners = [i for i, e in enumerate(episodes) if ids[r, :L].tolist() == list(e.completion_ids)]
        assert owners, f"row {r} of the loss batch is none of the rollout's episodes"
        got = batch["advantages"][r].double()
        assert any(torch.allclose(got, want[i].double(), atol=1e-6) for i in owners), f"row {r}"


def _expected_scores(tr, episodes):
    eos = tr.processing_class.eos_token_id
    out = []
    for ep in episodes:
        seqs = [ep.prompt_ids + ep.completion_ids[:e] + ([] if st else [eos])
                for (s, e), st in zip(sc.action_spans(ep.env_mask), ep.stopped)]
        out.append([float(p) for p in tr.prm(seqs)])
    return out


@pytest.mark.slow
def test_gigpo_step_reaches_the_loss_per_token(tmp_path, instances):
    tr, seen = _run(tmp_path, instances, step_credit="gigpo", gigpo_gamma=0.5)
    (batch,) = seen
    episodes = tr.ordebug_rollout.last_episodes
    R = torch.tensor([e.reward for e in episodes], dtype=torch.float64)
    keys = [sc.observation_anchor_keys(e.observations, e.actions) for e in episodes]
    steps = sc.gigpo_advantages(R, keys, 2, gamma=0.5)
    T = batch["completion_ids"].shape[1]
    want = torch.stack([sc.step_token_advantages(e.env_mask, a, T) for e, a in zip(episodes, steps)])
    assert batch["advantages"].shape == (4, T)
    assert torch.allclose(tr.last_batch_info["advantages"].double(), want, atol=1e-6)  # in rollout order
    _match_rows(batch, episodes, want)  # and what the loss read (TRL shuffles the rows)
    env_tokens = batch["tool_mask"] == 0
    assert bool((batch["advantages"][env_tokens] == 0).all())
    # every group's first step is one anchor state (same instance, same first observation)
    groups = sc.anchor_groups(keys, 2)
    assert all(len(groups[(g, keys[2 * g][0])]) >= 2 for g in range(2))
    row = _rows(tmp_path)[0]
    assert row["ordebug/gigpo/steps_in_shared_anchor_frac"] > 0
    assert row["nonfinite_keys"] == []
    spread = [float(a.std()) for a in steps if len(a) > 1]  # the knob of the 'gigpo' arm (experiments.ordebug_rl)
    assert row["ordebug/step_credit/within_episode_std"] == pytest.approx(sum(spread) / len(spread) if spread else 0.0,
                                                                          abs=1e-6)


@pytest.mark.slow
def test_pure_min_step_uses_prm_scores_of_the_exact_contexts(tmp_path, instances):
    tr, seen = _run(tmp_path, instances, step_credit="pure_min", prm_path="tiny", prm_outcome_coef=0.01)
    (batch,) = seen
    episodes = tr.ordebug_rollout.last_episodes
    scores = tr.last_batch_info["step_scores"]
    want_scores = _expected_scores(tr, episodes)
    assert [len(p) for p in scores] == [e.steps for e in episodes] == [len(p) for p in want_scores]
    assert [p for ps in scores for p in ps] == pytest.approx([p for ps in want_scores for p in ps], abs=1e-6)
    R = torch.tensor([e.reward for e in episodes], dtype=torch.float64)
    steps = sc.pure_advantages([sc.prm_score_to_process_reward(p) for p in scores], 2, 0.1, outcome=R,
                               outcome_coef=0.01, baseline="token",
                               step_tokens=[sc.step_token_counts(e.env_mask) for e in episodes])
    T = batch["completion_ids"].shape[1]
    want = torch.stack([sc.step_token_advantages(e.env_mask, a, T) for e, a in zip(episodes, steps)])
    assert torch.allclose(tr.last_batch_info["advantages"].double(), want, atol=1e-6)
    _match_rows(batch, episodes, want)
    row = _rows(tmp_path)[0]
    flat = [p for ps in scores for p in ps]
    assert row["ordebug/prm/score_mean"] == pytest.approx(sum(flat) / len(flat), rel=1e-5)
    assert not any(k.startswith("ordebug/hacking/") for k in row)  # one round: the window is not full yet
    spread = [float(a.std()) for a in steps if len(a) > 1]
    assert spread and row["ordebug/step_credit/within_episode_std"] == pytest.approx(sum(spread) / len(spread), abs=1e-6)


@pytest.mark.slow
def test_prm_sum_is_grpo_on_the_summed_reward(tmp_path, instances):
    tr, seen = _run(tmp_path, instances, step_credit="prm_sum", prm_path="tiny", prm_coef=3.0, prm_outcome_coef=0.1)
    (batch,) = seen
    episodes = tr.ordebug_rollout.last_episodes
    scores = tr.last_batch_info["step_scores"]
    R = torch.tensor([e.reward for e in episodes], dtype=torch.float64)
    summed = torch.tensor([0.1 * r + 3.0 * sum(p) for r, p in zip(R.tolist(), scores)], dtype=torch.float64)
    assert tr.last_batch_info["step_credit_rewards"].tolist() == pytest.approx(summed.tolist())
    assert batch["advantages"].dim() == 1
    want = compute_advantages(summed, 2, "grpo")
    assert tr.last_batch_info["advantages"].tolist() == pytest.approx(want.tolist(), abs=1e-6)
    _match_rows(batch, episodes, want)
    assert tr.last_batch_info["rewards"].tolist() == R.tolist()  # the env's rewards are still reported as such
    change = (want - compute_advantages(R, 2, "grpo")).abs().mean().item()  # the 'prm_sum' arm's knob
    assert _rows(tmp_path)[0]["ordebug/step_credit/advantage_change"] == pytest.approx(change, abs=1e-6)


@pytest.mark.slow
def test_monitoring_prm_logs_the_hacking_detector_once_the_window_is_full(tmp_path, instances):
    tr, seen = _run(tmp_path, instances, prm_path="tiny", hacking_window=3, hacking_persist=1, max_steps=3)
    rows = _rows(tmp_path)
    assert len(rows) == 3 and all("ordebug/prm/score_mean" in r for r in rows)
    assert "ordebug/hacking/flag" not in rows[1] and rows[2]["ordebug/hacking/flag"] in (0.0, 1.0)
    assert all(r["nonfinite_keys"] == [] for r in rows)
    # the advantages are GRPO's of the env rewards: the PRM only monitors
    episodes = tr.ordebug_rollout.last_episodes
    R = torch.tensor([e.reward for e in episodes], dtype=torch.float64)
    _match_rows(seen[-1], episodes, compute_advantages(R, 2, "grpo"))
    m = tr.hacking_monitor
    assert len(m.prm) == 3 and m.task == pytest.approx([r["ordebug/prm/faithful_rate"] for r in rows])
    assert not math.isnan(rows[2]["ordebug/hacking/prm_slope"])
