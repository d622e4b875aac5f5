"""One task (issue 21, item 1): RL trains the episodes it is evaluated on.

1. ``one_task`` fills RL's episode fields from the evaluation's settings and refuses a mismatch; ``arm_jobs``
   applies it, and every profile of notebooks 20-23 (and their defaults) passes it.
2. The RL token context of every turn is the evaluation's rendered prompt, token for token, for the same actions;
   with the same context limit both end an episode at the same turn as a timeout, with the same reward.
"""
import json
from pathlib import Path

import pytest

from ordebug_lib.experiments.ordebug_rl import OrdebugArm, arm_jobs, one_task
from ordebug_lib.ordebug.saboteur import make_instance
from ordebug_lib.policy import ordebug_episodes, ordebug_lm_eval
from ordebug_lib.policy.generation import Generation
from ordebug_lib.policy.tokenizer import project_tokenizer
from ordebug_lib.run import load_params
from ordebug_lib.training.config import GRPORunConfig
from ordebug_lib.training.rollouts import env_config_for, run_token_episodes

ROOT = Path(__file__).resolve().parents[1]
RL_NOTEBOOKS = ("20_ordebug_sft_vs_grpo", "21_ordebug_dgro", "22_ordebug_dapo_ablation", "23_ordebug_curriculum",
                "24_ordebug_prm", "25_ordebug_self_play")


def test_one_task_fills_and_refuses():
    g = one_task({"reward": "composite"}, max_turns=6, max_new_tokens=24, max_prompt_tokens=2048)
    assert (g["max_turns"], g["max_new_tokens_per_turn"], g["max_context_tokens"], g["max_completion_length"]) == \
        (6, 24, 2072, 144)
    assert one_task(g, 6, 24, 2048) == g  # idempotent
    for bad in ({"max_turns": 2}, {"max_new_tokens_per_turn": 16}, {"max_context_tokens": 4096}):
        with pytest.raises(ValueError, match="another task than the one evaluated"):
            one_task(bad, 6, 24, 2048)
    with pytest.raises(ValueError, match="max_turns=2 but the evaluation's max_turns=6"):
        arm_jobs([OrdebugArm("grpo")], "/tmp/unused", "/tmp/ws", "/tmp/bench", {"max_turns": 2}, max_turns=6)


def notebook_parameters(stem: str) -> dict:
    nb = json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text())
    (cell,) = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    scope: dict = {}
    exec("".join(cell["source"]), {}, scope)  # the parameters cell is plain assignments
    return scope


@pytest.mark.parametrize("stem", RL_NOTEBOOKS)
def test_every_profile_trains_the_evaluated_task(stem):
    base = notebook_parameters(stem)
    profiles = {"(notebook defaults)": {}}
    profiles |= {p.stem: load_params(stem, p.stem, ROOT) for p in sorted((ROOT / "params" / stem).glob("*.yaml"))}
    assert len(profiles) >= 4
    for name, delta in profiles.items():
        p = {**base, **delta}
        g = one_task(p["grpo"], p["max_turns"], p["max_new_tokens"], p["max_prompt_tokens"])
        cfg = GRPORunConfig.from_dict(g)
        assert cfg.max_turns == p["max_turns"], (stem, name)
        if not p.get("require_warm_start"):  # the warm start trained here has the same budget (gpu: checked at run)
            assert p["warm_start_config"]["max_turns"] == p["max_turns"], (stem, name)
        assert cfg.max_context_tokens <= 4096, (stem, name)  # the presets' context


@pytest.fixture(scope="module")
def tokenizer():
    return project_tokenizer()


ACTIONS = ["<action>GET_IIS</action>", "<action>INSPECT c1</action>", "<action>GET_IIS</action>",
           "<action>DROP c0</action>", "<action>CHECK_SLACK</action>", "<action>SUBMIT c0</action>"]


def rl_and_eval(tokenizer, inst, max_turns: int, max_prompt_tokens: int, max_new_tokens: int, monkeypatch):
    """(RL contexts per turn, RL episode, evaluation prompts per turn, evaluation episode) for ACTIONS."""
    eos = tokenizer.eos_token_id
    rl_contexts = []

    def scripted(contexts, n):
        rl_contexts.append(list(contexts[0]))
        ids = tokenizer(ACTIONS[len(rl_contexts) - 1], add_special_tokens=False)["input_ids"] + [eos]
        return [(ids, True)]

    cfg = env_config_for(max_turns, "composite")
    (rl,) = run_token_episodes(scripted, tokenizer, [inst], cfg, max_new_tokens, max_prompt_tokens + max_new_tokens)
    eval_prompts = []

    def fake_generate_chats(model, tok, prompts, sampling, engine):
        assert engine == "generate"  # run_lm_episodes' default
        (msgs,) = prompts
        ids = ordebug_lm_eval.render_prompts(tok, [msgs])[0]
        eval_prompts.append(ids)
        text = ACTIONS[len(eval_prompts) - 1]
        return [Generation(text, tok(text, add_special_tokens=False)["input_ids"] + [eos], True, len(ids))]

    monkeypatch.setattr(ordebug_lm_eval, "generate_chats", fake_generate_chats)  # where run_lm_episodes reads it
    (ev,) = ordebug_episodes.run_lm_episodes(None, tokenizer, [inst], ordebug_episodes.episode_env_config(max_turns),
                                             max_prompt_tokens=max_prompt_tokens, context_policy="end")
    return rl_contexts, rl, eval_prompts, ev


def test_the_rl_prompt_is_the_evaluation_prompt(tokenizer, monkeypatch):
    inst = make_instance("diet", "A", "easy", seed=1)
    rl_contexts, rl, eval_prompts, ev = rl_and_eval(tokenizer, inst, 6, 4072, 24, monkeypatch)
    assert len(rl_contexts) == len(eval_prompts) == 6
    assert rl_contexts == eval_prompts  # token for token, every turn
    assert "Step" in tokenizer.decode(rl_contexts[1]) or "step" in tokenizer.decode(rl_contexts[1])
    assert (rl.steps, rl.submitted, rl.reward) == (ev.outcome.steps, ev.outcome.submitted,
                                                   ev.outcome.rewards["composite"])


def test_a_full_context_ends_both_at_the_same_turn(tokenizer, monkeypatch):
    inst = make_instance("diet", "A", "easy", seed=1)
    _, _, long_prompts, _ = rl_and_eval(tokenizer, inst, 6, 4072, 24, monkeypatch)
    limit = len(long_prompts[3]) - 1  # the 4th prompt no longer fits
    rl_contexts, rl, eval_prompts, ev = rl_and_eval(tokenizer, inst, 6, limit, 24, monkeypatch)
    assert len(rl_contexts) == len(eval_prompts) == 3
    assert rl.context_truncated and ev.outcome.truncated and not ev.outcome.submitted
    assert (rl.steps, rl.reward) == (ev.outcome.steps, ev.outcome.rewards["composite"])
    assert ev.context_trims == 0  # 'end' never trims


def test_context_policy_is_checked():
    with pytest.raises(ValueError, match="context_policy must be one of"):
        ordebug_episodes.run_lm_episodes(None, None, [], context_policy="drop")


def test_knob_activity_and_an_arm_that_never_acted_fails(tmp_path, monkeypatch):
    """``knob_activity`` reads the arm's own metrics; ``run_arm`` fails an arm whose required knob never acted,
    after writing its evaluation, and keeps it with require_knobs=False."""
    from ordebug_lib.experiments import ordebug_rl
    from ordebug_lib.experiments.ordebug_rl import KNOBS, knob_activity

    rows = [{"step": 1, "completions/clipped_ratio": 0.0}, {"step": 2, "completions/clipped_ratio": 0.25}]
    k = knob_activity("token_loss", rows)
    assert (k["acted"], k["steps_active"], k["max"], k["steps_logged"]) == (True, 1, 0.25, 2)
    assert knob_activity("dynamic", [{"ordebug/dynamic_sampling/rounds": 1.0}])["acted"] is False  # one round: no refill
    assert knob_activity("dynamic", [{"ordebug/dynamic_sampling/rounds": 2.0}])["acted"] is True
    assert not KNOBS["dgro_seeds"].required and KNOBS["asym_clip"].required and KNOBS["dgro"].required
    assert knob_activity("asym_clip", [{"step": 1}])["steps_logged"] == 0  # not logged: never acted
    never = knob_activity("asym_clip", [{"step": 1, "clip_ratio/high_mean": 0.0}])
    with pytest.raises(RuntimeError, match="asym_clip-s0: its knob never acted"):
        ordebug_rl.check_knob("asym_clip-s0", never)
    ordebug_rl.check_knob("asym_clip-s0", never, require=False)  # kept when the experiment allows it
    ordebug_rl.check_knob("asym_clip-s0", knob_activity("asym_clip", [{"clip_ratio/high_mean": 0.01}]))
    ordebug_rl.check_knob("dgro_seeds-s0", knob_activity("dgro_seeds", [{"ordebug/dgro/floor_binding_frac": 0.0}]))  # reported only
    with pytest.raises(RuntimeError, match="dgro-s0: its knob never acted"):  # β₂'s penalty never acted
        ordebug_rl.check_knob("dgro-s0", knob_activity("dgro", [{"ordebug/dgro/sq_log_ratio": 0.0}]))
    ordebug_rl.check_knob("dgro-s0", knob_activity("dgro", [{"ordebug/dgro/sq_log_ratio": 0.0},
                                                              {"ordebug/dgro/sq_log_ratio": 0.02}]))
    ordebug_rl.check_knob("grpo-s0", None)

