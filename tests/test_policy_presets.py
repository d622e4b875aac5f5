"""Model presets: parameter counts within their stated ranges (counted from the config and checked
against real / meta-device models) and exact save/load round trips."""
import pytest
import torch
from transformers import Qwen3Config, Qwen3ForCausalLM

from ordebug_lib.policy.presets import PRESETS, build_model, count_parameters, preset_config
from ordebug_lib.policy.tokenizer import project_tokenizer


@pytest.fixture(scope="module")
def tok():
    return project_tokenizer()


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", list(PRESETS))
def test_parameter_count_in_stated_range(tok, name):
    config = preset_config(name, tok)
    assert config.vocab_size == len(tok) and config.eos_token_id == tok.eos_token_id
    with torch.device("meta"):  # no memory, no init: just the parameter shapes
        model = Qwen3ForCausalLM(config)
    assert n_params(model) == count_parameters(config)
    lo, hi = PRESETS[name].params_range
    assert lo <= count_parameters(config) <= hi, f"{name}: {count_parameters(config):,}"


def test_presets_grow_and_tiny_count_is_exact(tok):
    counts = [count_parameters(preset_config(n, tok)) for n in ("tiny", "small", "base")]
    assert counts == sorted(counts)
    model = build_model("tiny", tok, seed=0)
    assert n_params(model) == counts[0]
    # a hand count for one config: V=10, d=8, 1 layer, 2 heads x 4, 1 kv head x 4, I=16, tied
    cfg = Qwen3Config(vocab_size=10, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                      num_key_value_heads=1, head_dim=4, intermediate_size=16, tie_word_embeddings=True)
    hand = 10 * 8 + (8 * 8 + 8 * 4 + 8 * 4 + 8 * 8 + 4 + 4 + 3 * 8 * 16 + 2 * 8) + 8
    assert count_parameters(cfg) == hand == n_params(Qwen3ForCausalLM(cfg))


@pytest.mark.parametrize("name", ["tiny", "small"])
def test_save_and_load_round_trip(tok, tmp_path, name):
    model = build_model(name, tok, seed=1).eval()
    model.save_pretrained(tmp_path)
    again = Qwen3ForCausalLM.from_pretrained(tmp_path).eval()
    a, b = model.state_dict(), again.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ids = torch.tensor([tok("Goal 14 from [2, 3, 4]")["input_ids"]])
    with torch.no_grad():
        assert torch.equal(model(ids).logits, again(ids).logits)
    assert again.generation_config.eos_token_id == tok.eos_token_id


def test_base_config_round_trips(tok, tmp_path):
    config = preset_config("base", tok)
    config.save_pretrained(tmp_path)
    again = Qwen3Config.from_pretrained(tmp_path)
    assert count_parameters(again) == count_parameters(config)
    assert again.hidden_size == 768 and again.num_hidden_layers == 12


def test_seeded_builds_are_identical_and_unknown_presets_fail(tok):
    a, b = build_model("tiny", tok, seed=3), build_model("tiny", tok, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    with pytest.raises(KeyError, match="presets: tiny, small, base"):
        preset_config("huge", tok)
