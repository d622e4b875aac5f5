"""Qwen3-architecture model presets built from scratch, vocabulary sized to the tokenizer.

========  ======  ======  =====  ========  ==========  ========================  ===========================
preset    hidden  layers  heads  kv heads  MLP width   params (project tokenizer)  use
========  ======  ======  =====  ========  ==========  ========================  ===========================
tiny         128       3      4         2         512  ~0.9M                     CPU tests and smoke profiles
small        512       8      8         4        1408  ~24M                      the GPU warm start
base         768      12     12         4        2816  ~98M                      a larger GPU run
========  ======  ======  =====  ========  ==========  ========================  ===========================

The count depends on the vocabulary (tied embeddings: V·d); ``count_parameters`` gives it exactly.

All presets tie the input and output embeddings (as Qwen3-0.6B does), use head_dim 32 (tiny) or 64,
grouped-query attention, RMSNorm on q/k (Qwen3), SwiGLU MLP, RoPE, a 4096-token context.

>>> from transformers import Qwen3Config
>>> cfg = Qwen3Config(vocab_size=4096, **PRESETS["tiny"].qwen3_kwargs())
>>> count_parameters(cfg)
1262656
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    """One Qwen3 shape. ``params_range`` is what tests hold its parameter count to (vocabulary ~4k)."""

    hidden_size: int
    """Model width d."""
    num_hidden_layers: int
    """Transformer blocks."""
    num_attention_heads: int
    """Query heads."""
    num_key_value_heads: int
    """Key/value heads (grouped-query attention)."""
    head_dim: int
    """Width of one head (Qwen3 decouples it from hidden_size / heads)."""
    intermediate_size: int
    """SwiGLU MLP width."""
    max_position_embeddings: int = 4096
    """Context length in tokens."""
    params_range: tuple[float, float] = (0.0, float("inf"))
    """Accepted parameter count (inclusive) with the project tokenizer."""

    def qwen3_kwargs(self) -> dict:
        return dict(hidden_size=self.hidden_size, num_hidden_layers=self.num_hidden_layers,
                    num_attention_heads=self.num_attention_heads, num_key_value_heads=self.num_key_value_heads,
                    head_dim=self.head_dim, intermediate_size=self.intermediate_size,
                    max_position_embeddings=self.max_position_embeddings, tie_word_embeddings=True)


PRESETS: dict[str, Preset] = {
    "tiny": Preset(128, 3, 4, 2, 32, 512, params_range=(0.7e6, 1.5e6)),
    "small": Preset(512, 8, 8, 4, 64, 1408, params_range=(20e6, 32e6)),
    "base": Preset(768, 12, 12, 4, 64, 2816, params_range=(80e6, 120e6)),
}


def preset_config(name: str, tokenizer):
    """``Qwen3Config`` of preset ``name`` with vocabulary, pad and EOS taken from ``tokenizer``."""
    from transformers import Qwen3Config

    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    if tokenizer.pad_token_id is None or tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer needs a pad and an EOS token")
    return Qwen3Config(
        vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None, **PRESETS[name].qwen3_kwargs(),
    )


def build_model(name: str, tokenizer, seed: int = 0):
    """A freshly initialised (seeded) ``Qwen3ForCausalLM`` of preset ``name`` in fp32, on the CPU."""
    import torch
    from transformers import Qwen3ForCausalLM

    config = preset_config(name, tokenizer)
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = None
    return model


def count_parameters(config) -> int:
    """Parameters of ``Qwen3ForCausalLM(config)``, counted from the config (no weights are built).

    embeddings V·d (+ V·d for an untied head); per layer q, o: d·h·hd; k, v: d·kv·hd; q/k RMSNorm: 2·hd;
    SwiGLU 3·d·I; two RMSNorms 2·d; final RMSNorm d.
    """
    d, hd, v = config.hidden_size, config.head_dim, config.vocab_size
    h, kv, i = config.num_attention_heads, config.num_key_value_heads, config.intermediate_size
    per_layer = 2 * d * h * hd + 2 * d * kv * hd + 2 * hd + 3 * d * i + 2 * d
    if config.attention_bias:
        per_layer += h * hd + 2 * kv * hd + d
    head = 0 if config.tie_word_embeddings else v * d
    return v * d + head + config.num_hidden_layers * per_layer + d
