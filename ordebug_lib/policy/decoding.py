"""Generation from token-id prompts: how to sample, which ids are EOS, and one ``model.generate`` call.

The layer under both ``generation.generate_chats`` (chat prompts) and the engines of ``engine.py`` (whose
``generate`` engine is ``generate_ids``); it imports neither, so both import it at the top of the file.

- ``SamplingConfig``: budget, temperature, top-p, batch size, seed;
- ``eos_ids(model, tokenizer)``: the tokenizer's EOS plus any EOS of the model's generation config (Qwen3
  checkpoints list ``<|im_end|>`` and ``<|endoftext|>``);
- ``generate_ids(model, prompt_ids, eos, pad_id, config)``: the prompts left-padded (``left_pad``) into one
  ``model.generate`` call, every row cut at its first EOS (``cut_at_eos``), EOS included.

``temperature = 0`` is greedy decoding; otherwise pure sampling with ``temperature`` and ``top_p`` (no top-k).
The model's own generation config (e.g. a checkpoint's default sampling settings) is never used implicitly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


@dataclass
class SamplingConfig:
    """How completions are generated."""

    max_new_tokens: int = 256
    """Budget of generated tokens per completion (EOS included)."""
    temperature: float = 0.0
    """0: greedy; > 0: sample from softmax(logits / temperature)."""
    top_p: float = 1.0
    """Nucleus sampling mass when sampling (1.0: off)."""
    batch_size: int = 32
    """Rows per ``model.generate`` call."""
    seed: int = 0
    """Seed of the sampling generator (each call of generate_chats reseeds)."""


def eos_ids(model, tokenizer) -> list[int]:
    """The tokenizer's EOS id plus the model generation config's EOS ids, de-duplicated."""
    ids = [tokenizer.eos_token_id]
    gen = getattr(model, "generation_config", None)
    extra = getattr(gen, "eos_token_id", None) if gen is not None else None
    ids += extra if isinstance(extra, list) else [extra] if extra is not None else []
    ids = [i for i in dict.fromkeys(ids) if i is not None]
    if not ids:
        raise ValueError("no EOS token: the tokenizer and the model's generation config define none")
    return ids


def left_pad(rows: Sequence[Sequence[int]], pad_id: int):
    """(input_ids, attention_mask), both (B, T) long tensors, rows right-aligned (padding on the left)."""
    import torch

    if not rows or any(len(r) == 0 for r in rows):
        raise ValueError("every prompt needs at least one token")
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)  # (B, T)
    mask = torch.zeros((len(rows), width), dtype=torch.long)  # (B, T)
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = torch.tensor(r, dtype=torch.long)
        mask[i, width - len(r):] = 1
    return ids, mask


def cut_at_eos(row: Sequence[int], eos: Sequence[int]) -> tuple[list[int], bool]:
    """The ids up to and including the first EOS, and whether there was one.

    >>> cut_at_eos([5, 6, 2, 0, 0], eos=[2])
    ([5, 6, 2], True)
    >>> cut_at_eos([5, 6, 7], eos=[2])
    ([5, 6, 7], False)
    """
    eos = set(eos)
    for k, t in enumerate(row):
        if t in eos:
            return list(row[: k + 1]), True
    return list(row), False


def generate_ids(model, prompt_ids: Sequence[Sequence[int]], eos: Sequence[int], pad_id: int,
                 config: SamplingConfig) -> list[tuple[list[int], bool]]:
    """One ``model.generate`` call over all ``prompt_ids``; per row (ids cut at EOS, stopped)."""
    import torch
    from transformers import GenerationConfig

    if config.max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {config.max_new_tokens}")
    device = next(model.parameters()).device
    input_ids, attention_mask = left_pad(prompt_ids, pad_id)
    sample = config.temperature > 0
    gen_config = GenerationConfig(
        max_new_tokens=config.max_new_tokens, do_sample=sample, eos_token_id=list(eos), pad_token_id=pad_id,
        bos_token_id=None, **(dict(temperature=config.temperature, top_p=config.top_p, top_k=0) if sample else {}),
    )
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            out = model.generate(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device),
                                 generation_config=gen_config)  # (B, T + L)
    finally:
        model.train(was_training)
    new = out[:, input_ids.shape[1]:].tolist()  # (B, L)
    return [cut_at_eos(r, eos) for r in new]
