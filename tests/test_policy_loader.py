"""load_policy: presets, a randomly initialised tiny Qwen3 saved to disk, LoRA (only adapters train; an
adapter update changes the output; adapters save and reload), and clear errors for what cannot load."""
import pytest
import torch

from ordebug_lib.policy.loader import load_policy, trainable_parameters
from ordebug_lib.policy.presets import build_model, count_parameters
from ordebug_lib.policy.tokenizer import project_tokenizer


@pytest.fixture(scope="module")
def saved_tiny(tmp_path_factory):
    """A randomly initialised tiny Qwen3 and its tokenizer, saved to disk."""
    path = tmp_path_factory.mktemp("tiny_qwen3")
    tok = project_tokenizer()
    build_model("tiny", tok, seed=7).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def logits(model, tok, text="Goal 14 from [2, 3, 4]"):
    ids = torch.tensor([tok(text)["input_ids"]])
    with torch.no_grad():
        return model(input_ids=ids).logits


def test_preset_name_builds_a_fresh_model_with_the_project_tokenizer():
    p = load_policy("tiny", seed=7)
    assert p.source == "preset" and type(p.model).__name__ == "Qwen3ForCausalLM"
    assert p.model.config.vocab_size == len(p.tokenizer) == len(project_tokenizer())
    assert sum(x.numel() for x in p.model.parameters()) == count_parameters(p.model.config)
    model, tok = p  # unpacks
    assert tok.pad_token_id == model.config.pad_token_id


def test_local_directory_loads_the_same_weights(saved_tiny):
    p = load_policy(saved_tiny)
    ref = load_policy("tiny", seed=7)
    assert p.source == "local"
    assert torch.equal(logits(p.model, p.tokenizer), logits(ref.model, ref.tokenizer))
    assert trainable_parameters(p.model)[0] == trainable_parameters(p.model)[1]  # full fine-tuning by default


def test_lora_trains_only_adapters_and_an_adapter_update_changes_the_output(saved_tiny, tmp_path):
    base = load_policy(saved_tiny)
    p = load_policy(saved_tiny, lora={"r": 4, "lora_alpha": 8})
    trainable, total = trainable_parameters(p.model)
    names = [n for n, x in p.model.named_parameters() if x.requires_grad]
    assert names and all("lora_" in n for n in names)
    # r=4 on q,k,v,o,gate,up,down of 3 layers (d=128): A is (4, in), B is (out, 4)
    d, kv, i = 128, 2 * 32, 512
    per_layer = sum(4 * (a + b) for a, b in [(d, d), (d, kv), (d, kv), (d, d), (d, i), (d, i), (i, d)])
    assert trainable == 3 * per_layer and total == trainable + count_parameters(base.model.config)
    # LoRA starts as the identity (B = 0) ...
    assert torch.allclose(logits(p.model, p.tokenizer), logits(base.model, base.tokenizer), atol=1e-6)
    # ... and an adapter weight update changes the output
    with torch.no_grad():
        for n, x in p.model.named_parameters():
            if "lora_B" in n:
                x.add_(0.05)
    changed = logits(p.model, p.tokenizer)
    assert (changed - logits(base.model, base.tokenizer)).abs().max() > 1e-3
    # the adapter saves beside its tokenizer and reloads through the same loader
    p.save(tmp_path / "adapter")
    again = load_policy(tmp_path / "adapter")
    assert again.source == "adapter"
    assert torch.allclose(logits(again.model, again.tokenizer), changed, atol=1e-6)


def test_lora_accepts_a_peft_config(tmp_path):
    from peft import LoraConfig

    p = load_policy("tiny", lora=LoraConfig(r=2, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    names = [n for n, x in p.model.named_parameters() if x.requires_grad]
    assert len(names) == 2 * 2 * 3  # (A, B) x (q, v) x 3 layers
    with pytest.raises(ValueError, match="cannot be reloaded"):  # its base is a random init
        p.save(tmp_path / "adapter")


def test_uncached_hub_id_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="not a hub id in the local Hugging Face cache"):
        load_policy("no-such-org/no-such-model-ordebug")


def test_directory_without_tokenizer_or_config_is_a_clear_error(saved_tiny, tmp_path):
    model_only = tmp_path / "model_only"
    load_policy(saved_tiny).model.save_pretrained(model_only)
    with pytest.raises(FileNotFoundError, match="no tokenizer"):
        load_policy(model_only)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_policy(tmp_path / "empty")
    with pytest.raises(ValueError, match="dtype must be one of"):
        load_policy("tiny", dtype="float8")
