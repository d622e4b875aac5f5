"""Batched generation stops at EOS, counts output tokens up to and including EOS, decodes without
special tokens, and left padding does not change what a row generates."""
import pytest
import torch

from ordebug_lib.policy.generation import SamplingConfig, cut_at_eos, generate_chats, left_pad
from ordebug_lib.policy.loader import load_policy
from ordebug_lib.policy.scripted import scripted

SHORT = [{"role": "user", "content": "hi"}]
LONG = [{"role": "user", "content": "Make 75 from [3, 7, 25, 50] with + - * /, using each number once."}]


@pytest.fixture(scope="module")
def policy():
    return load_policy("tiny", seed=0)


def test_generation_stops_at_eos_per_row(policy):
    model, tok = policy
    texts = {0: "<answer>1 + 2</answer>", 1: "Goal 14 from [2, 3, 4]\n<answer>2 + (3 * 4)</answer>"}
    lengths = {b: len(tok(t, add_special_tokens=False)["input_ids"]) + 1 for b, t in texts.items()}  # + EOS
    with scripted(model, tok, lambda turn, row: texts[row]):
        gens = generate_chats(model, tok, [SHORT, LONG], SamplingConfig(max_new_tokens=64))
    for b, g in enumerate(gens):
        assert g.stopped and g.text == texts[b]
        assert g.n_tokens == lengths[b] and g.token_ids[-1] == tok.eos_token_id
        assert tok.eos_token_id not in g.token_ids[:-1] and tok.pad_token_id not in g.token_ids
    assert gens[0].n_tokens < gens[1].n_tokens  # the short row is not padded to the long one's length


def test_budget_exhausted_rows_are_marked_not_stopped(policy):
    model, tok = policy
    with scripted(model, tok, lambda turn, row: "Goal 14 from [2, 3, 4] and on and on"):
        (g,) = generate_chats(model, tok, [SHORT], SamplingConfig(max_new_tokens=5))
    assert not g.stopped and g.n_tokens == 5 and g.text == "Goal 14 from"


def test_left_padding_does_not_change_greedy_output(policy):
    model, tok = policy
    cfg = SamplingConfig(max_new_tokens=12)
    together = generate_chats(model, tok, [SHORT, LONG], cfg)
    alone = [generate_chats(model, tok, [c], cfg)[0] for c in (SHORT, LONG)]
    assert [g.token_ids for g in together] == [g.token_ids for g in alone]
    assert together[0].prompt_tokens < together[1].prompt_tokens


def test_sampling_is_seeded(policy):
    model, tok = policy
    cfg = SamplingConfig(max_new_tokens=10, temperature=1.0, seed=3)
    a, b = generate_chats(model, tok, [SHORT] * 3, cfg), generate_chats(model, tok, [SHORT] * 3, cfg)
    assert [g.token_ids for g in a] == [g.token_ids for g in b]


def test_helpers():
    ids, mask = left_pad([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert cut_at_eos([4, 9, 2, 9], eos=[2, 9]) == ([4, 9], True)
    with pytest.raises(ValueError, match="at least one token"):
        left_pad([[1], []], pad_id=0)
    assert isinstance(ids, torch.Tensor)
