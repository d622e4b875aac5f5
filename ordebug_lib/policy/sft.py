"""SFT warm start with TRL's ``SFTTrainer``: loss on what the policy writes, never on its prompt.

Two record formats, both conversational so a real chat checkpoint trains on exactly what it will see:

- Countdown, prompt/completion (``completion_only_loss=True``)::

      {"prompt": [{"role": "user", "content": "Make 14 from [2, 3, 4] ..."}],
       "completion": [{"role": "assistant", "content": "Goal 14 from [2, 3, 4]\\n...<answer>2 + (3 * 4)</answer>"}]}

  The loss covers the search stream and the EOS that ends it.
- OR-Debug, multi-turn messages (``assistant_only_loss=True``)::

      {"messages": [{"role": "user", "content": <observation 0>}, {"role": "assistant", "content": "<action>GET_IIS</action>"},
                    {"role": "user", "content": <observation 1>}, ..., {"role": "assistant", "content": "<action>SUBMIT ...</action>"}]}

  The chat template wraps assistant turns in ``{% generation %}``, so only the actions (and their EOS)
  are trained on; environment observations are context only.
- OR-Debug, one record per action (``turn_records``): prompt/completion records whose prompt is the
  conversation so far (several turns) and whose completion is one assistant turn. TRL 1.16 renders the
  prompt with ``add_generation_prompt=True`` and the prompt + completion without it; with the project
  template the first is a prefix of the second, so ``completion_only_loss`` covers exactly that one
  action and its EOS. Earlier assistant turns are context: a prefix may hold actions the loss must not
  cover (the injected mistakes of recovery demonstrations, ``ordebug_recovery.recovery_transcripts``).

- Language modelling, ``{"text": ...}`` (``text_records``): whole transcripts rendered by the chat template,
  loss on every token, observations included. Not imitation: a phase before SFT
  (``OrdebugSFTConfig.pretrain_steps``) in which a model built from scratch learns the observation text
  and how it repeats itself (names, amounts), from thousands of tokens per episode instead of the ~10 of
  its actions.

``SFTRunConfig.keep_best`` ends the run with the weights of the step whose held-out loss was lowest
(checked every ``eval_steps`` and after the last step), as ``load_best_model_at_end`` would, but from an
in-memory copy instead of checkpoints on disk; ``SFTResult.best_step`` says which step that was.

Records longer than ``max_length`` tokens are dropped (``fit_records``) rather than truncated, so no
completion loses its answer or its SUBMIT; the number dropped is reported.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ..tasks.countdown import CountdownInstance, make_prompt
from ..tasks.countdown_streams import SearchTrace, make_streams
from .attention import training_attention


@dataclass
class SFTRunConfig:
    """Optimisation settings of one SFT run."""

    max_steps: int = 50
    """Optimizer steps."""
    learning_rate: float = 1e-3
    """Peak learning rate (from-scratch presets like ~1e-3; LoRA on a real checkpoint ~1e-4)."""
    lr_scheduler_type: str = "cosine"
    """transformers scheduler name."""
    warmup_steps: int = 0
    """Linear warm-up steps."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    batch_size: int = 8
    """Sequences per device per micro-batch."""
    gradient_accumulation_steps: int = 1
    """Micro-batches per optimizer step."""
    max_length: int = 1024
    """Longest tokenised record; longer ones are dropped by ``fit_records`` before training."""
    logging_steps: int = 5
    """Training loss is logged every this many steps (the learning curve)."""
    eval_steps: int | None = None
    """Held-out loss every this many steps (None: only before and after training)."""
    eval_batch_size: int = 16
    """Sequences per evaluation batch."""
    bf16: bool = False
    """bfloat16 autocast (GPU)."""
    gradient_checkpointing: bool = False
    """Trade compute for memory (TRL turns it on by default; small models do not need it)."""
    seed: int = 0
    """Seed of data order and dropout."""
    max_grad_norm: float = 1.0
    """Gradient clipping."""
    dataset_num_proc: int | None = None
    """Processes TRL tokenises the records with (None: this process)."""
    keep_best: bool = False
    """End with the weights of the evaluated step (0, every ``eval_steps``, the last) whose held-out loss
    was lowest, not the last step's. Needs ``eval_records`` and ``eval_steps``."""


@dataclass
class SFTResult:
    """What one run produced."""

    trainer: object
    """The ``SFTTrainer`` (its model is the trained policy)."""
    train_curve: list[tuple[int, float]]
    """(step, training loss) at every logging step."""
    eval_curve: list[tuple[int, float]] = field(default_factory=list)
    """(step, held-out loss), step 0 = before training."""
    train_runtime: float = 0.0
    """Seconds spent in ``trainer.train()``."""
    best_step: int | None = None
    """With ``keep_best``: the step whose weights the trainer's model holds (lowest held-out loss)."""
    best_eval_loss: float | None = None
    """With ``keep_best``: the held-out loss of that step."""

    @property
    def initial_eval_loss(self) -> float | None:
        return self.eval_curve[0][1] if self.eval_curve else None

    @property
    def final_eval_loss(self) -> float | None:
        return self.eval_curve[-1][1] if self.eval_curve else None


# -- records ----------------------------------------------------------------------------------------
def countdown_records(instances: Sequence[CountdownInstance], seed: int = 0, max_nodes: int | tuple[int, int] = 60,
                      template: str = "search", **stream_kwargs) -> tuple[list[dict], list[SearchTrace]]:
    """Prompt/completion records of Countdown search streams (one stream per instance), and the traces."""
    instances = list(instances)
    traces = make_streams(instances, seed=seed, max_nodes=max_nodes, **stream_kwargs)
    records = [{"prompt": [{"role": "user", "content": make_prompt(i.numbers, i.target, template)}],
                "completion": [{"role": "assistant", "content": t.text}]} for i, t in zip(instances, traces)]
    return records, traces


def messages_records(transcripts: Sequence[Sequence[dict]]) -> list[dict]:
    """``{"messages": ...}`` records of multi-turn transcripts; each must end with an assistant turn."""
    out = []
    for k, msgs in enumerate(transcripts):
        if not msgs or msgs[-1]["role"] != "assistant":
            raise ValueError(f"transcript {k} must end with an assistant turn")
        out.append({"messages": [dict(m) for m in msgs]})
    return out


def turn_records(messages: Sequence[dict], turns: Sequence[int] | None = None) -> list[dict]:
    """One prompt/completion record per assistant turn of a conversation: the prompt is every message
    before that turn, the completion is the turn. ``turns`` picks assistant turns by their index among
    the assistant turns (0 = the first action); None: all of them. The loss of each record covers only
    its completion, so assistant turns left out of ``turns`` are context and never trained on.

    >>> msgs = [{"role": "user", "content": "o0"}, {"role": "assistant", "content": "a0"},
    ...         {"role": "user", "content": "o1"}, {"role": "assistant", "content": "a1"}]
    >>> [([m["content"] for m in r["prompt"]], r["completion"][0]["content"]) for r in turn_records(msgs, [1])]
    [(['o0', 'a0', 'o1'], 'a1')]
    """
    where = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    picked = range(len(where)) if turns is None else turns
    out = []
    for k in picked:
        if not 0 <= k < len(where):
            raise ValueError(f"assistant turn {k} does not exist (the conversation has {len(where)})")
        i = where[k]
        if i == 0:
            raise ValueError("an assistant turn needs a prompt before it")
        out.append({"prompt": [dict(m) for m in messages[:i]], "completion": [dict(messages[i])]})
    return out


def text_records(tokenizer, transcripts: Sequence[Sequence[dict]]) -> list[dict]:
    """``{"text": ...}`` records of whole transcripts as the chat template renders them (no generation
    prompt): language modelling on every token, for a phase before SFT (see the module docstring)."""
    return [{"text": tokenizer.apply_chat_template([dict(m) for m in msgs], tokenize=False)}
            for msgs in transcripts]


def _kind_of(record: dict) -> str | None:
    if {"prompt", "completion"} <= set(record):
        return "prompt_completion"
    return "messages" if "messages" in record else "text" if "text" in record else None


def record_kind(records: Sequence[dict]) -> str:
    """'prompt_completion', 'messages' or 'text'; mixed or other formats are an error."""
    kinds = {_kind_of(r) for r in records}
    if len(kinds) != 1 or None in kinds:
        raise ValueError(f"records must all be prompt/completion, all messages or all text; found {kinds}")
    return kinds.pop()


def record_length(tokenizer, record: dict) -> int:
    """Tokens of a record as the trainer will see it (chat template applied)."""
    if "text" in record:
        return len(tokenizer(record["text"], add_special_tokens=False)["input_ids"])
    msgs = record["messages"] if "messages" in record else list(record["prompt"]) + list(record["completion"])
    text = tokenizer.apply_chat_template(msgs, tokenize=False)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def fit_records(tokenizer, records: Sequence[dict], max_length: int) -> tuple[list[dict], list[int]]:
    """(records of at most ``max_length`` tokens, lengths of all records)."""
    lengths = [record_length(tokenizer, r) for r in records]
    return [r for r, n in zip(records, lengths) if n <= max_length], lengths


# -- training ---------------------------------------------------------------------------------------
def sft_config(config: SFTRunConfig, kind: str, output_dir: str, has_eval: bool):
    """The ``trl.SFTConfig`` of a run (no checkpoints, no reporting, explicit loss masking)."""
    from trl import SFTConfig

    return SFTConfig(
        output_dir=output_dir, max_steps=config.max_steps, learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler_type, warmup_steps=config.warmup_steps,
        weight_decay=config.weight_decay, per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        per_device_eval_batch_size=config.eval_batch_size, max_length=config.max_length,
        logging_steps=config.logging_steps, logging_first_step=True,
        eval_strategy="steps" if (has_eval and config.eval_steps) else "no",
        eval_steps=config.eval_steps if has_eval else None,
        save_strategy="no", report_to="none", bf16=config.bf16, fp16=False,
        gradient_checkpointing=config.gradient_checkpointing, seed=config.seed, data_seed=config.seed,
        max_grad_norm=config.max_grad_norm, dataloader_num_workers=0, disable_tqdm=True,
        completion_only_loss=(kind == "prompt_completion"), assistant_only_loss=(kind == "messages"),
        packing=False, padding_free=False, dataset_num_proc=config.dataset_num_proc,
    )


def best_weights_callback():
    """A ``TrainerCallback`` that keeps a CPU copy of the weights at the lowest held-out loss it is shown
    (every evaluation of the trainer, and ``offer`` for evaluations made outside it)."""
    from transformers import TrainerCallback

    class BestWeights(TrainerCallback):
        def __init__(self):
            self.step, self.loss, self.state = None, float("inf"), None

        def offer(self, model, step: int, loss: float) -> None:
            if loss < self.loss:
                self.step, self.loss = int(step), float(loss)
                self.state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}

        def on_evaluate(self, args, state, control, metrics=None, model=None, **kwargs):
            if metrics and "eval_loss" in metrics and model is not None:
                self.offer(model, state.global_step, metrics["eval_loss"])

    return BestWeights()


def make_trainer(model, tokenizer, train_records: Sequence[dict], config: SFTRunConfig,
                 eval_records: Sequence[dict] | None = None, output_dir: str | Path | None = None):
    """An ``SFTTrainer`` on the records (see the module docstring for the formats)."""
    from datasets import Dataset
    from trl import SFTTrainer

    kind = record_kind(train_records)
    if eval_records is not None and record_kind(eval_records) != kind:
        raise ValueError("train and eval records must have the same format")
    for name, recs in (("train", train_records), ("eval", eval_records or [])):
        too_long = sum(record_length(tokenizer, r) > config.max_length for r in recs)
        if too_long:
            raise ValueError(f"{too_long} {name} record(s) exceed max_length={config.max_length} tokens; "
                             "drop them with fit_records (truncation would cut the answer / SUBMIT)")
    output_dir = str(output_dir or tempfile.mkdtemp(prefix="ordebug-sft-"))
    args = sft_config(config, kind, output_dir, has_eval=eval_records is not None)
    training_attention()  # cuDNN's SDPA backward makes NaN gradients on H100/H200 (policy/attention.py)
    return SFTTrainer(
        model=model, args=args, processing_class=tokenizer, train_dataset=Dataset.from_list(list(train_records)),
        eval_dataset=Dataset.from_list(list(eval_records)) if eval_records is not None else None,
    )


def run_sft(model, tokenizer, train_records: Sequence[dict], config: SFTRunConfig,
            eval_records: Sequence[dict] | None = None, output_dir: str | Path | None = None) -> SFTResult:
    """Train; held-out loss before and after (and every ``eval_steps``) when ``eval_records`` are given.
    With ``config.keep_best`` the trainer's model ends with the weights of the best evaluated step."""
    if config.keep_best and (eval_records is None or not config.eval_steps):
        raise ValueError("keep_best needs eval_records and eval_steps (the held-out loss picks the step)")
    trainer = make_trainer(model, tokenizer, train_records, config, eval_records, output_dir)
    best = best_weights_callback() if config.keep_best else None
    if best is not None:
        trainer.add_callback(best)
    eval_curve = []
    if eval_records is not None:
        eval_curve.append((0, float(trainer.evaluate()["eval_loss"])))
    out = trainer.train()
    train_curve = [(int(h["step"]), float(h["loss"])) for h in trainer.state.log_history if "loss" in h]
    eval_curve += [(int(h["step"]), float(h["eval_loss"])) for h in trainer.state.log_history
                   if "eval_loss" in h and int(h["step"]) > 0]
    if eval_records is not None and (not eval_curve or eval_curve[-1][0] != trainer.state.global_step):
        eval_curve.append((trainer.state.global_step, float(trainer.evaluate()["eval_loss"])))
    result = SFTResult(trainer, train_curve, eval_curve, float(out.metrics.get("train_runtime", 0.0)))
    if best is not None:
        if best.step is None:
            raise RuntimeError("keep_best saw no held-out loss during the run")
        if best.step != trainer.state.global_step:
            trainer.model.load_state_dict(best.state)
        result.best_step, result.best_eval_loss = best.step, best.loss
        best.state = None
    return result


def trained_token_texts(trainer, index: int = 0) -> tuple[str, str]:
    """(text the loss covers, text it does not) of one prepared training example, for checking masks."""
    ex = trainer.train_dataset[index]
    batch = trainer.data_collator([ex])
    ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
    tok = trainer.processing_class
    covered = tok.decode([i for i, l in zip(ids, labels) if l != -100])
    context = tok.decode([i for i, l in zip(ids, labels) if l == -100])
    return covered, context
