"""The project tokenizer: byte-level BPE trained on task text, with a ChatML chat template.

No hub tokenizer is reachable, so the default policy uses a tokenizer trained here with the
``tokenizers`` library on the text the policy reads and writes: Countdown prompts and search streams,
and OR-Debug expert transcripts (rendered models, solver observations, actions in the grammar of
``ordebug/actions.py``) of instances made from train-split base models only (``ordebug_corpus``). It is
byte-level, so every string round-trips exactly.

Design, in the style of Qwen3's tokenizer so that code written for one works with the other:

- pre-tokenisation splits every digit on its own (``\\p{N}``), as Qwen does: numbers are written
  digit by digit, which keeps arithmetic consistent (``94`` is always ``9`` ``4``);
- special tokens ``<|pad|>`` (padding), ``<|endoftext|>``, ``<|im_start|>`` and ``<|im_end|>``;
  ``<|im_end|>`` ends every chat turn and is the **EOS** token: generation stops there;
- the markup ``<think> </think> <answer> </answer> <action> </action>`` is added as atomic tokens
  that are *not* "special": decoding with ``skip_special_tokens=True`` (as TRL does for rewards) keeps
  them, so the Countdown reward still sees ``<answer>`` and the env still sees ``<action>``;
- the chat template is ChatML without newlines between turns, and wraps each assistant turn
  (content + ``<|im_end|>``) in ``{% generation %}`` markers, so TRL's ``assistant_only_loss`` trains
  on the policy's own turns (EOS included) and never on environment observations.

Rendered conversation::

    <|im_start|>user\\nMake 14 from [2, 3, 4] ...<|im_end|><|im_start|>assistant\\nGoal 14 ...<|im_end|>

The trained tokenizer is committed under ``ordebug_lib/policy/assets/tokenizer`` (``project_tokenizer()``
loads it); ``python -m ordebug_lib.policy.tokenizer`` rebuilds it from freshly generated task text.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Iterable, Sequence

from ..ordebug.dataset import seeds_in_split
from ..ordebug.difficulty import DIFFICULTY
from ..ordebug.families import FAMILIES
from ..ordebug.instance import DIFFICULTIES, ERROR_TYPES
from ..ordebug.saboteur import GenerationError, make_instance
from .ordebug_experts import Transcript, expert_transcript

PAD_TOKEN = "<|pad|>"
EOS_TOKEN = "<|im_end|>"  # ends every turn; generation stops at it
ENDOFTEXT_TOKEN = "<|endoftext|>"
IM_START = "<|im_start|>"
SPECIAL_TOKENS = (PAD_TOKEN, ENDOFTEXT_TOKEN, IM_START, EOS_TOKEN)
MARKUP_TOKENS = ("<think>", "</think>", "<answer>", "</answer>", "<action>", "</action>")

# Qwen2/Qwen3's pre-tokenizer pattern: words with one leading non-letter, single digits, punctuation runs
PRETOKENIZE_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
    r"|\s+(?!\S)|\s+"
)

CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\n' -}}"
    "{%- if message['role'] == 'assistant' -%}"
    "{% generation %}{{- message['content'] + '<|im_end|>' -}}{% endgeneration %}"
    "{%- else -%}"
    "{{- message['content'] + '<|im_end|>' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\n' -}}{%- endif -%}"
)

ASSET_DIR = Path(__file__).resolve().parent / "assets" / "tokenizer"
# the benchmark definition whose train split the OR-Debug text is drawn from: the project's default build
# (dataset.build_benchmark's seed and split_fractions), so its val and test models are never in the corpus
DEFAULT_SPLIT_SALT = 0
DEFAULT_SPLIT_FRACTIONS = (0.7, 0.15, 0.15)


@dataclass
class TokenizerConfig:
    """How the project tokenizer is trained."""

    vocab_size: int = 4096
    """Target vocabulary (bytes + specials + merges); BPE stops earlier when the corpus has no more pairs."""
    min_frequency: int = 2
    """A pair must occur this often to be merged."""
    model_max_length: int = 4096
    """Recorded in the tokenizer config (the presets' context length)."""


def train_tokenizer(texts: Iterable[str], config: TokenizerConfig | None = None):
    """Train the byte-level BPE on ``texts``; return a ``PreTrainedTokenizerFast`` with the chat template.

    >>> tok = train_tokenizer(["Goal 14 from [2, 3, 4]", "<action>GET_IIS</action>"] * 20,
    ...                       TokenizerConfig(vocab_size=300))
    >>> tok.decode(tok("<answer>2 + (3 * 4)</answer>")["input_ids"])
    '<answer>2 + (3 * 4)</answer>'
    >>> tok.eos_token, tok.pad_token
    ('<|im_end|>', '<|pad|>')
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    config = config or TokenizerConfig()
    n_fixed = 256 + len(SPECIAL_TOKENS)
    if config.vocab_size <= n_fixed:
        raise ValueError(f"vocab_size must exceed {n_fixed} (256 bytes + special tokens), got {config.vocab_size}")
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=config.vocab_size, min_frequency=config.min_frequency, special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    backend.train_from_iterator(texts, trainer=trainer)
    backend.add_tokens([AddedToken(t, special=False, normalized=False) for t in MARKUP_TOKENS])
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token=PAD_TOKEN, eos_token=EOS_TOKEN,
        additional_special_tokens=[IM_START, ENDOFTEXT_TOKEN], model_max_length=config.model_max_length,
        padding_side="left",
    )
    tok.chat_template = CHAT_TEMPLATE
    check_tokenizer(tok)
    return tok


def check_tokenizer(tok) -> None:
    """Raise ValueError unless ``tok`` has the special and markup tokens as single tokens, EOS, pad and a
    chat template whose assistant turn ends in EOS."""
    vocab = tok.get_vocab()
    missing = [t for t in (*SPECIAL_TOKENS, *MARKUP_TOKENS) if t not in vocab]
    if missing:
        raise ValueError(f"tokenizer lacks the token(s) {missing}")
    if tok.eos_token != EOS_TOKEN or tok.pad_token != PAD_TOKEN:
        raise ValueError(f"tokenizer eos/pad must be {EOS_TOKEN!r}/{PAD_TOKEN!r}, got {tok.eos_token!r}/{tok.pad_token!r}")
    for t in MARKUP_TOKENS:
        if tok(t, add_special_tokens=False)["input_ids"] != [vocab[t]]:
            raise ValueError(f"markup {t!r} is not encoded as one token")
    rendered = tok.apply_chat_template([{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}],
                                       tokenize=False)
    if rendered != f"{IM_START}user\nu{EOS_TOKEN}{IM_START}assistant\na{EOS_TOKEN}":
        raise ValueError(f"unexpected chat rendering {rendered!r}")


def project_tokenizer(path: str | Path = ASSET_DIR):
    """The committed project tokenizer (``ordebug_lib/policy/assets/tokenizer``), checked."""
    from transformers import PreTrainedTokenizerFast

    path = Path(path)
    if not (path / "tokenizer.json").exists():
        raise FileNotFoundError(
            f"no project tokenizer at {path}; build it with `python -m ordebug_lib.policy.tokenizer --out {path}`")
    tok = PreTrainedTokenizerFast.from_pretrained(str(path))
    check_tokenizer(tok)
    return tok


# -- training text ------------------------------------------------------------------------------------
def chat_text(messages: Sequence[dict]) -> str:
    """A conversation rendered as the chat template does (without tokenising), for corpus building."""
    parts = []
    for m in messages:
        parts.append(f"{IM_START}{m['role']}\n{m['content']}{EOS_TOKEN}")
    return "".join(parts)


def countdown_corpus(n: int, seed: int) -> list[str]:
    """Countdown text: every prompt template and one search stream (as a chat) per generated instance.
    The instances need not avoid the evaluation problems: merges learned from text leak no answers."""
    from ..tasks.countdown import PROMPT_TEMPLATES, generate_instances, make_prompt
    from ..tasks.countdown_streams import make_streams

    instances = generate_instances(n, seed=seed)
    streams = make_streams(instances, seed=seed, max_nodes=(10, 120))
    texts = []
    for inst, trace in zip(instances, streams):
        for template in PROMPT_TEMPLATES:
            texts.append(make_prompt(inst.numbers, inst.target, template))
        texts.append(chat_text([{"role": "user", "content": make_prompt(inst.numbers, inst.target, "search")},
                                {"role": "assistant", "content": trace.text}]))
    return texts


def corpus_instances(n_per_cell: int, seed: int, salt: int = DEFAULT_SPLIT_SALT,
                     fractions: Sequence[float] = DEFAULT_SPLIT_FRACTIONS, families: Sequence[str] | None = None,
                     error_types: str | None = None, difficulties: Sequence[str] | None = None):
    """Up to ``n_per_cell`` instances of every family x error type x difficulty (naming alternating; the
    ``families``, ``error_types`` and ``difficulties`` given, else all),
    made only from base models of the **train split** of the benchmark definition with this ``salt``
    (the build seed) and ``fractions``: base seeds come from ``dataset.seeds_in_split(..., "train", ...)``
    as the benchmark builder draws them, on streams of their own (``tokenizer<seed>/<type>/<difficulty>``),
    so no val or test base model of such a build reaches the corpus. Cells the generator cannot fill
    (``GenerationError``) are skipped: the corpus needs text, not a complete grid.

    >>> inst = next(corpus_instances(1, seed=0))
    >>> from ordebug_lib.ordebug.dataset import split_of
    >>> split_of(inst.family, inst.meta["size"], inst.meta["base_seed"], DEFAULT_SPLIT_FRACTIONS, 0)
    'train'
    """
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-9 or fractions[0] == 0:
        raise ValueError(f"fractions must be (train, val, test), non-negative, summing to 1, with a train "
                         f"split to draw from; got {fractions}")
    k = 0
    for family in families or FAMILIES:
        for error_type in error_types or ERROR_TYPES:
            for difficulty in difficulties or DIFFICULTIES:
                size = DIFFICULTY[difficulty].size
                stream = seeds_in_split(family, size, "train", fractions, salt,
                                        f"tokenizer{seed}/{error_type}/{difficulty}")
                for _ in range(n_per_cell):
                    k += 1
                    first = next(stream)
                    try:  # chain, as dataset._Builder: the next instance goes on with the unused seeds
                        yield make_instance(family, error_type, difficulty, first,
                                            naming=("semantic", "random")[k % 2], base_seeds=chain([first], stream))
                    except GenerationError:
                        continue


def corpus_transcripts(n_per_cell: int, seed: int, salt: int = DEFAULT_SPLIT_SALT,
                       fractions: Sequence[float] = DEFAULT_SPLIT_FRACTIONS) -> list[Transcript]:
    """Transcripts (successful or not) of the oracle_iis and search experts on the ``corpus_instances``
    (train-split base models only), for tokenizer training."""
    return [expert_transcript(inst, e) for inst in corpus_instances(n_per_cell, seed, salt, fractions)
            for e in ("oracle_iis", "search")]


def ordebug_corpus(n_per_cell: int, seed: int, split_salt: int = DEFAULT_SPLIT_SALT,
                   split_fractions: Sequence[float] = DEFAULT_SPLIT_FRACTIONS) -> list[str]:
    """OR-Debug text: expert transcripts (oracle and search baselines) of instances of every family x
    error type x difficulty x naming, rendered as chats. Their base models are all of the train split of
    the benchmark definition ``split_salt`` (the build seed) and ``split_fractions``
    (``corpus_instances``): the default build's val and test models are never in it."""
    return [chat_text(t.messages) for t in corpus_transcripts(n_per_cell, seed, split_salt, split_fractions)]


def corpus_note(texts: Sequence[str], vocabulary: int, **params) -> str:
    """The text of CORPUS.txt: the call that built the tokenizer (split salt and fractions of the OR-Debug
    part included) and the corpus size.

    >>> print(corpus_note(["ab", "c"], 300, seed=1, split_salt=0), end="")
    trained by ordebug_lib.policy.tokenizer.build_project_tokenizer(seed=1, split_salt=0)
    2 texts, 3 characters; vocabulary 300
    """
    args = ", ".join(f"{k}={v}" for k, v in params.items())
    return (f"trained by ordebug_lib.policy.tokenizer.build_project_tokenizer({args})\n"
            f"{len(texts)} texts, {sum(len(t) for t in texts)} characters; vocabulary {vocabulary}\n")


def build_project_tokenizer(out: str | Path = ASSET_DIR, n_countdown: int = 3000, n_ordebug_per_cell: int = 1,
                            seed: int = 12345, config: TokenizerConfig | None = None,
                            split_salt: int = DEFAULT_SPLIT_SALT,
                            split_fractions: Sequence[float] = DEFAULT_SPLIT_FRACTIONS):
    """Generate the corpus, train, save to ``out``; return the tokenizer. The OR-Debug text comes from
    train-split base models only of the benchmark definition ``split_salt`` / ``split_fractions`` (default:
    the project's default build, seed 0 and (0.7, 0.15, 0.15)); CORPUS.txt records both."""
    split_fractions = tuple(float(f) for f in split_fractions)
    texts = (countdown_corpus(n_countdown, seed)
             + ordebug_corpus(n_ordebug_per_cell, seed, split_salt, split_fractions))
    tok = train_tokenizer(texts, config)
    Path(out).mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(str(out))
    (Path(out) / "CORPUS.txt").write_text(corpus_note(
        texts, len(tok), n_countdown=n_countdown, n_ordebug_per_cell=n_ordebug_per_cell, seed=seed,
        config=config or TokenizerConfig(), split_salt=split_salt, split_fractions=split_fractions))
    return tok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ordebug_lib.policy.tokenizer", description=build_project_tokenizer.__doc__)
    ap.add_argument("--out", type=Path, default=ASSET_DIR)
    ap.add_argument("--n-countdown", type=int, default=3000)
    ap.add_argument("--n-ordebug-per-cell", type=int, default=1)
    ap.add_argument("--vocab-size", type=int, default=TokenizerConfig.vocab_size)
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument("--split-salt", type=int, default=DEFAULT_SPLIT_SALT,
                    help="build seed of the benchmark whose train split the OR-Debug text is drawn from")
    ap.add_argument("--split-fractions", type=float, nargs=3, default=list(DEFAULT_SPLIT_FRACTIONS),
                    metavar=("TRAIN", "VAL", "TEST"))
    a = ap.parse_args(argv)
    tok = build_project_tokenizer(a.out, a.n_countdown, a.n_ordebug_per_cell, a.seed, TokenizerConfig(a.vocab_size),
                                  a.split_salt, a.split_fractions)
    print(f"saved tokenizer with {len(tok)} tokens to {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
