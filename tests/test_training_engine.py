"""The static engine inside RL training (``GRPORunConfig.engine='static'``), and the stage timings.

1. Countdown: the trainer's ``_generate_single_turn`` with the engine returns, greedy, exactly the ids of the
   reference ``generate_ids`` (TRL's path: cut after the first EOS), and a 2-step run with sampling trains.
2. OR-Debug: a training step's episodes with the engine (KV cache kept across turns) are the env's own
   transcripts of their actions, and the cache was extended rather than re-prefilled.
3. Every optimizer step logs the stage timings of ``training/timing.py``; their seconds add up to the step.
4. ``GRPORunConfig`` refuses engine settings it would ignore.
"""
import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from tiny_lm import make_tiny_lm, tiny_countdown_trainer  # noqa: E402

from ordebug_lib.ordebug.saboteur import make_instance  # noqa: E402
from ordebug_lib.policy.generation import SamplingConfig, eos_ids, generate_ids  # noqa: E402
from ordebug_lib.training.config import GRPORunConfig  # noqa: E402
from ordebug_lib.training.logging import read_metrics  # noqa: E402
from ordebug_lib.training.run import build_ordebug_trainer, countdown_dataset  # noqa: E402
from ordebug_lib.training.timing import STAGES  # noqa: E402

pytestmark = pytest.mark.slow
L_MAX = 8


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    return make_tiny_lm(tmp_path_factory.mktemp("tiny_engine"))


def countdown_trainer(tiny_path, run_dir, **kw):
    tr, _ = tiny_countdown_trainer(tiny_path, run_dir, l_max=L_MAX, **{"engine": "static", **kw})
    return tr


def test_countdown_engine_greedy_equals_the_reference_ids(tiny_path, tmp_path):
    tr = countdown_trainer(tiny_path, tmp_path / "run", temperature=0.0)
    tok = tr.processing_class
    prompts = [tok.apply_chat_template(r["prompt"], add_generation_prompt=True, tokenize=True, return_dict=False)
               if isinstance(r["prompt"], list) else tok(r["prompt"])["input_ids"] for r in countdown_dataset(6, 1)]
    prompts = [list(p["input_ids"]) if isinstance(p, dict) else list(p) for p in prompts]
    ids, logprobs = tr._generate_single_turn(prompts, None, {}, 4)
    model = tr.model
    ref = generate_ids(model, prompts, eos_ids(model, tok), tok.pad_token_id,
                       SamplingConfig(max_new_tokens=L_MAX, temperature=0.0, batch_size=len(prompts)))
    assert logprobs is None
    assert ids == [r for r, _ in ref]
    assert any(len(r) < L_MAX for r in ids) or all(len(r) == L_MAX for r in ids)
    assert tr._engine is not None and tr._engine.name == "static"


def check_timing(rows):
    for r in rows:
        parts = sum(r[f"timing/{s}_s"] for s in STAGES)
        assert parts == pytest.approx(r["timing/step_s"], rel=1e-6, abs=1e-6)
        assert sum(r[f"timing/{s}_share"] for s in STAGES) == pytest.approx(1.0, abs=1e-6)
        assert r["timing/generation_s"] > 0 and r["timing/update_s"] > 0
        assert r["timing/gen_tokens_per_s"] > 0 and math.isfinite(r["timing/gen_tokens_per_s"])


def test_countdown_engine_trains_and_logs_stage_timings(tiny_path, tmp_path):
    tr = countdown_trainer(tiny_path, tmp_path / "run", temperature=1.0)
    before = {n: p.detach().clone() for n, p in tr.model.named_parameters()}
    tr.train()
    assert any(not torch.equal(before[n], p.detach()) for n, p in tr.model.named_parameters())
    rows = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2]
    check_timing(rows)
    assert all(r["timing/env_s"] == 0 for r in rows)  # single turn: no environment
    assert len(tr.stage_rows) == 2
    # the engine's completions are what the loss saw: TRL logged their lengths
    assert 1 <= rows[0]["completions/mean_length"] <= L_MAX
    # its KV caches were freed after each generation, not held through the update
    assert tr._engine.config.idle_slabs == 0 and not tr._engine._idle


@pytest.fixture(scope="module")
def instances():
    return [make_instance("diet", "A", "easy", seed=1), make_instance("knapsack", "A", "easy", seed=1)]


def ordebug_step(tmp_path, instances, engine):
    from ordebug_lib.policy.loader import load_policy

    model, tok = load_policy("tiny", seed=0)
    cfg = GRPORunConfig(advantage_method="krpo", loss_type="grpo", beta=0.0, num_generations=2,
                        per_device_train_batch_size=4, max_turns=3, max_new_tokens_per_turn=6,
                        max_completion_length=18, max_steps=1, learning_rate=1e-3, reward="composite",
                        temperature=1.0, engine=engine)  # TRL's log-probs divide by the temperature: no greedy
    tr = build_ordebug_trainer(cfg, model, tok, instances, tmp_path / engine, use_cpu=True)
    tr.train()
    return tr, tok, cfg, read_metrics(tmp_path / engine / "metrics.jsonl")


def action_segments(ep):
    """The policy-written runs of an episode's completion (env_mask 1), turn by turn."""
    segs, cur = [], []
    for t, m in zip(ep.completion_ids, ep.env_mask):
        if m:
            cur.append(t)
        elif cur:
            segs.append(cur)
            cur = []
    return segs + ([cur] if cur else [])


def test_ordebug_engine_episodes_are_the_envs_transcripts(tmp_path, instances):
    """Sampled with the kept KV cache, each episode is exactly what the env answers to its actions (replayed
    through ``run_token_episodes`` as a script), and the cache was extended, not re-prefilled. (Greedy token
    equality of the engine with ``model.generate`` per turn: tests/test_policy_engine.py.)"""
    from ordebug_lib.training.rollouts import env_config_for, run_token_episodes

    tr, tok, cfg, rows = ordebug_step(tmp_path, instances, "static")
    episodes = tr.ordebug_rollout.last_episodes
    by_id = {i.id: i for i in instances}
    eos = tok.eos_token_id
    assert any(e.steps > 1 for e in episodes)  # multi-turn: the kept cache was extended at least once
    for ep in episodes:
        script = iter(action_segments(ep))
        # a turn cut at the budget got EOS appended as an env token: the policy's segment lacks it
        fn = lambda ctx, n: [(lambda s: (s, s[-1] == eos))(next(script)) for _ in ctx]  # noqa: E731
        (again,) = run_token_episodes(fn, tok, [by_id[ep.instance_id]], env_config_for(cfg.max_turns, cfg.reward),
                                      cfg.max_new_tokens_per_turn, cfg.max_context_tokens)
        assert (again.completion_ids, again.env_mask, again.reward) == (ep.completion_ids, ep.env_mask, ep.reward)
    stats = tr._engine.stats
    contexts = sum(len(e.prompt_ids) + len(e.completion_ids) for e in episodes)
    assert 0 < stats["prefill_tokens"] < contexts  # re-prefilling each turn would prefill more than once
    check_timing(rows)
    assert rows[0]["timing/env_s"] > 0  # the env stage is measured apart from generation


def test_config_refuses_engine_settings_it_would_ignore():
    with pytest.raises(ValueError, match="engine must be one of"):
        GRPORunConfig(engine="vllm")
    with pytest.raises(ValueError, match="options of the 'static' engine"):
        GRPORunConfig(engine_options={"max_batch_size": 4})
    with pytest.raises(ValueError, match="unknown engine_options"):
        GRPORunConfig(engine="static", engine_options={"batch": 4})
    with pytest.raises(ValueError, match="decode must be one of"):
        GRPORunConfig(engine="static", engine_options={"decode": "fast"})
    with pytest.raises(ValueError, match="would be ignored"):
        GRPORunConfig(engine="static", extra_grpo_args={"top_k": 5})
    GRPORunConfig(engine="static", engine_options={"max_batch_size": 4, "decode": "eager"})


def test_rl_steps_benchmark_runs_on_cpu(tmp_path):
    """``benchmarks/rl_steps.py`` end to end on the tiny preset: every run timed, ratios written."""
    import json
    import subprocess

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "rl_steps.json"
    subprocess.run([sys.executable, str(root / "benchmarks" / "rl_steps.py"), "--model", "tiny", "--device", "cpu",
                    "--dtype", "fp32", "--tasks", "countdown", "--batches", "4", "--group", "2", "--new-tokens", "6",
                    "--steps", "2", "--micro-batch", "2", "--work-dir", str(tmp_path / "work"), "--out", str(out)],
                   check=True, capture_output=True, text=True, timeout=600)
    res = json.loads(out.read_text())
    assert [(r["engine"], r["batch"]) for r in res["results"]] == [("generate", 4), ("static", 4)]
    for r in res["results"]:
        assert r["episodes_per_s"] == pytest.approx(4 / r["step_s_median"])
        assert len(r["stage_rows"]) == 2 and r["stage_medians"]["timing/generation_s"] > 0
    (ratio,) = res["ratios"]
    assert ratio["engine_over_baseline_same_batch"] == pytest.approx(
        res["results"][1]["episodes_per_s"] / res["results"][0]["episodes_per_s"])


def test_repack_benchmark_runs_on_cpu(tmp_path):
    """``benchmarks/countdown_repack.py`` end to end on a tiny CPU warm start: both settings timed, the same
    completions (fp32 on CPU), the ratio from the two wall times."""
    import json
    import subprocess

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "repack.json"
    subprocess.run([sys.executable, str(root / "benchmarks" / "countdown_repack.py"), "--tiny", "--device", "cpu",
                    "--problems", "6", "--budget", "12", "--batch-size", "4", "--repeats", "1",
                    "--work", str(tmp_path / "ws"), "--out", str(out)], check=True, capture_output=True, text=True,
                   timeout=600)
    res = json.loads(out.read_text())
    on, off = res["settings"]["repack (shrink_below 0.5)"], res["settings"]["no repack (shrink_below 0)"]
    assert res["problems"] == 6 and res["same_completions"] is True and on["tokens"] == off["tokens"] > 0
    assert len(on["runs_s"]) == len(off["runs_s"]) == 1
    assert res["ratio_no_repack_over_repack"] == pytest.approx(off["wall_s"] / on["wall_s"])


def test_env_workers_give_the_same_episodes(tmp_path, instances):
    """``run_token_episodes`` with the envs in 2 worker processes equals in-process stepping (a scripted,
    context-dependent policy: GET_IIS, then a guess that depends on the observation, then SUBMIT)."""
    from ordebug_lib.policy.tokenizer import project_tokenizer
    from ordebug_lib.training.rollouts import env_config_for, run_token_episodes

    tok = project_tokenizer()
    enc = lambda s: tok(s, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]  # noqa: E731
    acts = ["<action>GET_IIS</action>", "<action>DROP c0</action>", "<action>SUBMIT c0</action>", "oops"]

    def scripted(contexts, n):
        return [(enc(acts[(len(c) + k) % len(acts)]), True) for k, c in enumerate(contexts)]

    insts = instances * 3
    cfg = env_config_for(4, "composite")
    serial = run_token_episodes(scripted, tok, insts, cfg, 16, 4096, env_workers=1)
    pooled = run_token_episodes(scripted, tok, insts, cfg, 16, 4096, env_workers=2)
    assert serial == pooled
    assert {e.steps for e in serial} != {1}
