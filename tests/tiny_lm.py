"""A tiny, randomly initialised Qwen3-architecture causal LM and a local tokenizer, for trainer tests.

No model hub is reachable, so tests build everything from configs:

- a byte-level BPE tokenizer trained in milliseconds on a few Countdown-like strings (byte-level, so every
  string round-trips exactly through encode/decode), wrapped as ``PreTrainedTokenizerFast`` with
  pad / eos tokens and a minimal ChatML-style chat template;
- a ``Qwen3ForCausalLM`` with about 100k parameters (2 layers, hidden size 64), seeded.

Usage::

    from tiny_lm import make_tiny_lm
    path = make_tiny_lm(tmp_path)                 # -> Path holding model + tokenizer
    model = AutoModelForCausalLM.from_pretrained(path)
    tok = AutoTokenizer.from_pretrained(path)

and, for GRPO runs on it (one copy, shared by the trainer tests and ``dist_worker.py``)::

    from tiny_lm import make_distinct_tokens_reward, tiny_countdown_trainer, tiny_grpo_config
    cfg = tiny_grpo_config(6, loss_type="dapo")    # TINY_GRPO, max_completion_length 6, overrides
    tr, before = tiny_countdown_trainer(path, run_dir, l_max=6, engine="static")  # not trained yet
"""
from __future__ import annotations

from pathlib import Path

PAD_TOKEN = "<|pad|>"
EOS_TOKEN = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS = [PAD_TOKEN, EOS_TOKEN, IM_START, IM_END]

# ChatML-like template: enough for TRL to render conversational prompts (add_generation_prompt supported).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

DEFAULT_CORPUS = [
    "Using the numbers [3, 7, 25, 50], create an equation that equals 75.",
    "<think> 50 + 25 = 75. 75 * 3 = 225, too big. Backtrack. </think> <answer>50 + 25</answer>",
    "<answer>(7 - 3) * 25 - 50</answer>",
    "Current state: 8 [2, 4]. Exploring operation: 2 * 4 = 8. Goal Reached",
    "Moving to Node #0,1 Current State: 75:[8, 3] Operations: ['25-17=8'] Backtracking",
    "1 2 3 4 5 6 7 8 9 0 + - * / ( ) = < > [ ] , : . #",
]


def make_tiny_tokenizer(corpus: list[str] | None = None, vocab_size: int = 320):
    """Train a byte-level BPE tokenizer on ``corpus`` and wrap it for transformers.

    The 256 byte symbols plus the 4 special tokens come first, so ``vocab_size`` must exceed 260; the rest
    are merges learned from the corpus (e.g. ``answer``). Worked example: ``tok("<answer>1+2</answer>")``
    encodes to a handful of ids and ``tok.decode(ids)`` gives the same string back exactly.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size <= 256 + len(SPECIAL_TOKENS):
        raise ValueError(f"vocab_size must exceed {256 + len(SPECIAL_TOKENS)} (bytes + specials), got {vocab_size}")
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(corpus or DEFAULT_CORPUS, trainer=trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token=PAD_TOKEN,
        eos_token=EOS_TOKEN,
        additional_special_tokens=[IM_START, IM_END],
    )
    tok.chat_template = CHAT_TEMPLATE
    return tok


def make_tiny_model(vocab_size: int, pad_token_id: int, eos_token_id: int, seed: int = 0):
    """A seeded, randomly initialised ``Qwen3ForCausalLM`` with ~100k parameters (fp32, CPU)."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        pad_token_id=pad_token_id,
        eos_token_id=eos_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config)
    model.generation_config.pad_token_id = pad_token_id
    model.generation_config.eos_token_id = eos_token_id
    return model


def make_tiny_lm(tmp_path: str | Path, seed: int = 0, corpus: list[str] | None = None, vocab_size: int = 320) -> Path:
    """Build the tiny tokenizer + Qwen3 model, save both under ``tmp_path/tiny_qwen3`` and return that path."""
    out = Path(tmp_path) / "tiny_qwen3"
    tok = make_tiny_tokenizer(corpus, vocab_size)
    model = make_tiny_model(len(tok), tok.pad_token_id, tok.eos_token_id, seed)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


# The GRPO settings of the tiny Countdown runs: 2 optimizer steps of 8 completions, 2 groups of 4.
TINY_GRPO = dict(num_generations=4, per_device_train_batch_size=8, max_steps=2, learning_rate=5e-2, beta=0.0, seed=0)


def make_distinct_tokens_reward(l_max: int):
    """TRL reward function: the number of distinct token ids in each completion over ``l_max`` (the completion
    budget, so at most 1). Deterministic and content-dependent, so a random model's groups have reward variance
    without noise (a random policy's Countdown reward is 0 everywhere: no gradient). TRL logs it under its name,
    ``distinct_tokens_reward``."""

    def distinct_tokens_reward(*, completion_ids, **kwargs):
        return [len(set(ids)) / l_max for ids in completion_ids]

    return distinct_tokens_reward


def tiny_grpo_config(l_max: int, **overrides):
    """``GRPORunConfig`` of ``TINY_GRPO`` with ``max_completion_length=l_max``; ``overrides`` replace any of it."""
    from ordebug_lib.training.config import GRPORunConfig

    return GRPORunConfig(**{**TINY_GRPO, "max_completion_length": l_max, **overrides})


def tiny_countdown_trainer(model_dir: str | Path, run_dir: str | Path, *, l_max: int, problems: int = 16,
                           **overrides):
    """A GRPO trainer (``training.run.build_trainer``, CPU) for the model and tokenizer saved at ``model_dir``
    (``make_tiny_lm``) on ``countdown_dataset(problems, seed=0)``, rewarded by ``make_distinct_tokens_reward(l_max)``,
    with ``tiny_grpo_config(l_max, **overrides)``; and the model's parameters before the trainer was built (clones,
    by name). The trainer has not trained."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ordebug_lib.training.run import build_trainer, countdown_dataset

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    tok = AutoTokenizer.from_pretrained(model_dir)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    tr = build_trainer(tiny_grpo_config(l_max, **overrides), model, tok, countdown_dataset(problems, seed=0), run_dir,
                       [make_distinct_tokens_reward(l_max)], use_cpu=True)
    return tr, before
