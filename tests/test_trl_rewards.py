"""Countdown rewards through a real TRL GRPOTrainer step (brief §3.1: the earlier DGRO trained on noise
because its reward wrapper swapped TRL's keyword arguments).

One ``trainer.train()`` step on a tiny random Qwen3 model with ``log_completions=True``; TRL writes the
completions and the rewards it computed to ``completions/completions_00001.parquet``. We recompute every
reward from the logged completion and the problem its prompt asked, and require equality. A scripted
``generate`` (the model's own generation replaced by canned completions built from the prompt it is
given) makes the completions cover every reward level; a second test uses the model's real sampling.
"""
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from tiny_lm import make_tiny_lm  # noqa: E402

from ordebug_lib.tasks.countdown import (  # noqa: E402
    countdown_reward,
    generate_instances,
    graduated_reward,
    length_penalized_reward,
    soft_overlong_punishment,
    solve,
    to_records,
)
from ordebug_lib.tasks.countdown_trl import (  # noqa: E402
    completion_text,
    countdown_reward_func,
    graduated_reward_func,
    make_length_penalized_reward_func,
    make_soft_overlong_reward_func,
)

MAX_COMPLETION = 64
REF_LEN = 20  # length-penalty reference, small so the scripted completions are penalised
CACHE = 40  # soft overlong: free up to 24 tokens, linear penalty up to 64
PROMPT_RE = re.compile(r"numbers \[([\d, ]+)\], create an equation that equals (\d+)")


def scripted_completion(kind: int, numbers: list[int], target: int) -> str:
    sol = solve(numbers, target)
    return [
        f"<think>ok</think><answer>{sol}</answer>",  # 1.0
        "no tag here",  # 0.0
        "<answer>1 + 1</answer>",  # 0.1 (wrong numbers)
        f"<answer>{sol}",  # 0.0 (unclosed)
        f"<answer>{sol}</answer> <answer>0</answer>",  # 0.1 (last answer wrong)
        "<answer>" + " + ".join(map(str, numbers)) + "</answer>",  # valid numbers: graduated 0.3–1.0
        "<answer>" + " * ".join(map(str, numbers)) + "</answer>",
        f"<answer>{sol} = {target}</answer>",  # 0.1 (equation)
    ][kind % 8]


def install_scripted_generate(model, tok):
    """Replace ``model.generate`` by a function that answers each prompt with a canned completion."""
    import torch

    state = {"calls": 0}

    def generate(input_ids, attention_mask=None, generation_config=None, **kwargs):
        rows = []
        for ids in input_ids:
            text = tok.decode(ids, skip_special_tokens=True)
            m = PROMPT_RE.search(text)
            assert m, text
            numbers = [int(x) for x in m.group(1).split(",")]
            completion = scripted_completion(state["calls"], numbers, int(m.group(2)))
            state["calls"] += 1
            comp_ids = tok(completion, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
            assert len(comp_ids) <= MAX_COMPLETION
            rows.append(comp_ids)
        width = max(len(r) for r in rows)
        padded = [r + [tok.pad_token_id] * (width - len(r)) for r in rows]
        return torch.cat([input_ids, torch.tensor(padded, dtype=input_ids.dtype)], dim=1)

    model.generate = generate


def run_one_step(tmp_path, records, reward_funcs, scripted: bool, max_completion: int = MAX_COMPLETION):
    import pandas as pd
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    path = make_tiny_lm(tmp_path)
    model = AutoModelForCausalLM.from_pretrained(path)
    tok = AutoTokenizer.from_pretrained(path)
    if scripted:
        install_scripted_generate(model, tok)
    cfg = GRPOConfig(
        output_dir=str(tmp_path / "out"), per_device_train_batch_size=8, num_generations=4,
        max_completion_length=max_completion, max_steps=1, report_to="none", use_cpu=True, bf16=False,
        logging_steps=1, log_completions=True, save_strategy="no", seed=0,
    )
    trainer = GRPOTrainer(model=model, processing_class=tok, reward_funcs=reward_funcs, args=cfg,
                          train_dataset=Dataset.from_list(records))
    trainer.train()
    (table_path,) = (tmp_path / "out" / "completions").glob("*.parquet")
    return trainer, tok, pd.read_parquet(table_path)


def problem_of(prompt, records):
    """The (numbers, target) row whose prompt was logged (prompts are unique per instance)."""
    text = prompt if isinstance(prompt, str) else prompt[-1]["content"]
    (row,) = [r for r in records if (r["prompt"] if isinstance(r["prompt"], str) else r["prompt"][-1]["content"]) == text]
    return row["numbers"], row["target"]


@pytest.mark.slow
@pytest.mark.parametrize("conversational", [False, True])
def test_logged_rewards_equal_recomputed_scripted(tmp_path, conversational):
    records = to_records(generate_instances(8, seed=5, num_numbers=(3, 4)), conversational=conversational)
    length_func = make_length_penalized_reward_func(reference_length=REF_LEN)
    overlong_func = make_soft_overlong_reward_func(MAX_COMPLETION, CACHE)
    funcs = [countdown_reward_func, graduated_reward_func, length_func, overlong_func]
    trainer, tok, table = run_one_step(tmp_path, records, funcs, scripted=True)
    assert len(table) == 8
    seen_seed, seen_grad = set(), set()
    for _, row in table.iterrows():
        numbers, target = problem_of(row["prompt"], records)
        text = completion_text(list(row["completion"]) if not isinstance(row["completion"], str) else row["completion"])
        n_tokens = len(tok(text, add_special_tokens=False)["input_ids"]) + 1  # + EOS, as generated
        expected = {
            "countdown_reward_func": countdown_reward(text, numbers, target),
            "graduated_reward_func": graduated_reward(text, numbers, target),
            length_func.__name__: length_penalized_reward(text, numbers, target, n_tokens, REF_LEN),
            "soft_overlong_reward_func": soft_overlong_punishment(n_tokens, MAX_COMPLETION, CACHE),
        }
        for name, value in expected.items():
            assert row[name] == pytest.approx(value, abs=1e-6), (name, text, numbers, target)
        seen_seed.add(round(expected["countdown_reward_func"], 3))
        seen_grad.add(round(expected["graduated_reward_func"], 3))
    # the scripted completions exercise every level of the seed reward and several graduated levels
    assert seen_seed == {0.0, 0.1, 1.0}
    assert {0.0, 0.1, 1.0} < seen_grad
    # the per-function means TRL logged agree with the table
    log = trainer.state.log_history[0]
    assert log["rewards/countdown_reward_func/mean"] == pytest.approx(table["countdown_reward_func"].mean(), abs=1e-6)


@pytest.mark.slow
def test_logged_rewards_equal_recomputed_real_sampling(tmp_path):
    records = to_records(generate_instances(8, seed=6, num_numbers=(3, 4)))
    funcs = [countdown_reward_func, graduated_reward_func]
    _, _, table = run_one_step(tmp_path, records, funcs, scripted=False, max_completion=16)
    assert len(table) == 8
    for _, row in table.iterrows():
        numbers, target = problem_of(row["prompt"], records)
        assert row["countdown_reward_func"] == pytest.approx(countdown_reward(row["completion"], numbers, target), abs=1e-6)
        assert row["graduated_reward_func"] == pytest.approx(graduated_reward(row["completion"], numbers, target), abs=1e-6)


def test_reward_funcs_are_keyword_only_and_checked():
    comps = ["<answer>2 * (3 + 4)</answer>", [{"role": "assistant", "content": "<answer>2 + 3 + 4</answer>"}]]
    # 2·(3+4) = 14 → 1.0 / 1.0; 2+3+4 = 9 → 0.1 / graduated: error 5 ≥ 1.4, < 7 → 0.5
    out = countdown_reward_func(prompts=["p", "p"], completions=comps, numbers=[[2, 3, 4]] * 2, target=[14, 14])
    assert out == [1.0, 0.1]
    assert graduated_reward_func(prompts=["p", "p"], completions=comps, numbers=[[2, 3, 4]] * 2, target=[14, 14]) == [1.0, 0.5]
    # positional use (how the earlier study swapped arguments) is impossible
    with pytest.raises(TypeError):
        countdown_reward_func(["p"], ["<answer>1</answer>"], [[1]], [1])
    with pytest.raises(ValueError, match="has 1 entries"):
        countdown_reward_func(prompts=["p", "p"], completions=comps, numbers=[[2, 3, 4]], target=[14, 14])
    with pytest.raises(ValueError, match="did not pass"):
        countdown_reward_func(prompts=["p"], completions=["x"], numbers=None, target=[1])
    with pytest.raises(ValueError, match="completion must be"):
        countdown_reward_func(prompts=["p"], completions=[42], numbers=[[1]], target=[1])
    # length-penalised: 1.0 at 40 tokens with reference 20 → 0.8 + 0.2·0.5 = 0.9
    lp = make_length_penalized_reward_func(reference_length=20)
    assert lp(completions=comps[:1], completion_ids=[[0] * 40], numbers=[[2, 3, 4]], target=[14]) == [pytest.approx(0.9)]
    so = make_soft_overlong_reward_func(64, 40)
    assert so(completion_ids=[[0] * 24, [0] * 44, [0] * 70]) == [0.0, pytest.approx(-0.5), -1.0]  # (24 − 44)/40
    with pytest.raises(ValueError):
        make_soft_overlong_reward_func(10, 20)
