"""Batched generation from chat prompts that stops at EOS and counts output tokens.

``generate_chats(model, tokenizer, conversations, SamplingConfig(...))`` renders every conversation
with the tokenizer's chat template (``add_generation_prompt=True``), left-pads them into batches of
``batch_size``, calls ``model.generate`` once per batch, and cuts every row at its first EOS:

- ``token_ids``: the generated ids up to and including the first EOS (as TRL's ``completion_ids``);
- ``n_tokens = len(token_ids)``: the output length reported everywhere (EOS counted, padding never);
- ``stopped``: True when the row ended with EOS, False when it ran into ``max_new_tokens``;
- ``text``: the decoded ids with special tokens skipped (EOS, padding), markup kept.

EOS is the tokenizer's EOS plus any EOS of the model's generation config (Qwen3 checkpoints list
``<|im_end|>`` and ``<|endoftext|>``). ``temperature = 0`` is greedy decoding; otherwise pure
sampling with ``temperature`` and ``top_p`` (no top-k), seeded by ``seed``. The model's own generation
config (e.g. a checkpoint's default sampling settings) is never used implicitly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

# The token-id layer lives in decoding.py, which the engines import too (engine.py needs generate_ids, this module
# needs the engines); its names stay importable from here, where callers have always found them.
from .decoding import SamplingConfig, cut_at_eos, eos_ids, generate_ids, left_pad  # noqa: F401
from .engine import EngineConfig, make_engine


@dataclass
class Generation:
    """One generated completion."""

    text: str
    """Decoded completion without special tokens (EOS, padding)."""
    token_ids: list[int]
    """Generated ids up to and including the first EOS."""
    stopped: bool
    """Ended with EOS (False: hit max_new_tokens)."""
    prompt_tokens: int
    """Length of the rendered prompt in tokens."""

    @property
    def n_tokens(self) -> int:
        return len(self.token_ids)


def render_prompts(tokenizer, conversations: Sequence[Sequence[dict]], **template_kwargs) -> list[list[int]]:
    """Token ids of every conversation rendered with ``add_generation_prompt=True``."""
    out = []
    for conv in conversations:
        text = tokenizer.apply_chat_template(list(conv), tokenize=False, add_generation_prompt=True,
                                             **template_kwargs)
        out.append(tokenizer(text, add_special_tokens=False)["input_ids"])
    return out


def generate_chats(model, tokenizer, conversations: Sequence[Sequence[dict]], config: SamplingConfig | None = None,
                   engine: str = "generate", engine_options: dict | None = None, **template_kwargs) -> list[Generation]:
    """Generate one completion per conversation.

    ``engine='generate'``: ``config.batch_size`` rows per ``model.generate`` call (the reference path).
    ``engine='static'``: ``policy.engine.StaticEngine`` (length-sorted batches of ``config.batch_size`` unless
    ``engine_options`` sets ``max_batch_size``; the decode step a CUDA graph on GPU). Same ids in, same
    ``Generation`` rows out, in the order of ``conversations``."""
    import torch

    config = config or SamplingConfig()
    if tokenizer.pad_token_id is None:
        raise ValueError("the tokenizer has no pad token (load_policy sets one)")
    if engine_options and engine != "static":
        raise ValueError(f"engine_options are options of the 'static' engine; engine is {engine!r}")
    torch.manual_seed(config.seed)
    eos = eos_ids(model, tokenizer)
    prompts = render_prompts(tokenizer, conversations, **template_kwargs)
    if engine == "generate":
        results = []
        for start in range(0, len(prompts), config.batch_size):
            results += generate_ids(model, prompts[start:start + config.batch_size], eos, tokenizer.pad_token_id, config)
    elif engine == "static":
        options = {"max_batch_size": config.batch_size, **(engine_options or {})}
        fn = make_engine("static", model, tokenizer, config, EngineConfig(**options))
        try:
            results = fn(prompts, config.max_new_tokens) if prompts else []
        finally:
            fn.release()
    else:
        raise ValueError(f"engine must be 'generate' or 'static', got {engine!r}")
    return [Generation(tokenizer.decode(ids, skip_special_tokens=True), ids, stopped, len(p))
            for p, (ids, stopped) in zip(prompts, results)]
