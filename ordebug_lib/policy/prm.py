"""A process reward model (PRM) for OR-Debug (E8, issue 22 items 2 and 3): a Qwen3 with a scalar head that
reads what the policy read before a step plus the action it wrote, and predicts whether the step made progress.

**What it reads.** For step k of an episode: the token ids the policy was prompted with before step k,
``render_prompts`` of the conversation so far (observation 0, action 1, observation 1, ..., observation k−1,
the trailing ``<|im_start|>assistant\\n`` included; trimmed by ``fit_context`` exactly as ``run_lm_episodes``
trims it), followed by the ids of action k as the chat template renders an assistant turn: its text, then
``<|im_end|>``. That is how the policy's own later contexts hold the action, so example k's ids are a prefix of
example k+1's context (whenever the action text does not begin with a line break, which the template's ``\\n``
would merge with). Stored episodes hold action *texts*; a generation that was not the canonical tokenisation
of its text is read as the canonical one, the same way the policy reads it back. Conversations of stored
episodes are rebuilt by replaying the stored actions through ``RepairEnv`` with the conversational env settings
(``episode_env_config``, the stored step budget): the observations an LM policy reads for that action sequence.

**What it predicts.** One logit z per example, pooled at the last token (the action's ``<|im_end|>``;
``Qwen3ForSequenceClassification`` with ``num_labels=1``), and p = sigmoid(z) = P(progress > 0). The target
is binary, from the ground-truth progress label of ``ordebug/prm_labels.py``:

========  ===========  ================================================================================
progress  target y     meaning
========  ===========  ================================================================================
+1        1 progress   the step moved the model toward the original and broke nothing
0         0            no progress: diagnostics, SUBMIT, malformed or refused actions, neutral edits
−1        0            harm: it broke a correct element or moved a wrong one farther away
========  ===========  ================================================================================

0 and −1 share the negative class: a reranker must prefer repairs over both idling and damage, and a
three-way head would need labels of a harm/idle order that best-of-N never uses. An optional second logit
(``PRMTrainConfig.harm_head``, ``HEADS``) is trained on −1 alone, for first-error detection only: best-of-N and
the RL arms read the progress head. The loss is the binary
cross-entropy of z (``pos_weight`` optional). Training reads train-split examples only and chooses its step
on val-split ones (``selection``); test-split examples are for ``evaluate_prm`` only.

**Labels of the test split.** ``prm_labels.label_episodes`` refuses test (its labels train the PRM).
``evaluation_labels`` makes the same rows for any split from the same lower-level functions
(``prm_labels.label_stored_rows``: the same replay and label functions), so that the PRM can be *evaluated*
on test; ``train_prm`` refuses any test example. The tests check that it agrees with ``label_episodes`` row
for row on train.

Metrics (``evaluate_scores``; p the PRM's probability, y the target, one row per labelled step):

==================  ================================================================================
name                exact definition
==================  ================================================================================
auc                 AUC-ROC of p for y: P(p_pos > p_neg) + ½·P(p_pos = p_neg) over all (positive,
                    negative) step pairs (Mann–Whitney with average ranks); NaN when a class is absent
auc_ci              percentile interval (2.5 %, 97.5 %) of the AUC over ``n_boot`` bootstrap resamples
                    of *episodes* (with replacement, all steps of a drawn episode kept). Steps of one
                    episode share the instance, the context prefix and the policy's state, so they are
                    not independent; resampling steps would narrow the interval falsely (the same
                    reason ``experiments.stats.paired_gap`` averages per instance). Resamples with one
                    class only are skipped (``n_boot_used`` says how many were kept)
calibration         ``n_bins`` equal-width bins of p on [0, 1] (p = 1 in the last): n, mean p,
                    positive rate y
ece                 expected calibration error Σ_b (n_b / N)·|mean y_b − mean p_b| over non-empty bins
brier               mean (p − y)²
first error         per episode, steps in order: the true first error is the first step with
                    progress ≤ ``error_at`` (default 0: the first step that is not progress, the
                    negative class); the predicted one is the first step with p < ``threshold`` (0.5);
                    either may be None (no such step)
first_error.f1      2·TP / (2·TP + FP + FN): TP an episode whose predicted first error is its true
                    one; FP a predicted first error at another step or in an episode without error;
                    FN a true first error not predicted at its step (a wrong step is an FP and an FN)
processbench_f1     harmonic mean of the exact-match rate on episodes with an error and on episodes
                    without one (ProcessBench's F1, arXiv 2412.06559)
harm.first_harm     with a harm head (``PRMTrainConfig.harm_head``, q = P(harm)): the same two F1s where
                    the true first error is the first harmful step (progress −1) and the predicted one
                    the first step with q ≥ ``threshold``; a diagnostic step is no error here, so
                    episodes without harm exist and ProcessBench's F1 is defined
harm.auc            AUC-ROC of q for progress −1, with the same episode-bootstrap interval
==================  ================================================================================

**Best-of-N** (``best_of_n_episodes``): lockstep episodes as ``run_lm_episodes``, but each turn samples N
actions per live episode (one ``generate`` call over N copies of every prompt), and a chooser picks the one
sent to the env: ``"prm"`` the highest PRM score, ``"solver"`` the highest ground-truth progress label
(computed from the current model and the instance's original; the upper bound of a perfect progress PRM over
the same N samples), ``"first"`` sample 0 (plain sampling). Ties go to the earliest sample. N = 1 is exactly
``run_lm_episodes`` with the same sampling. Per-episode rows are ``results.episode_row`` (RR@5 ``rr_at_5``,
faithful recovery ``faithful``, DA ``diagnosis_recall``), so ``paired_compare`` runs ``stats.paired_test``
per instance between best-of-N and greedy decoding or the upper bound.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..ordebug.actions import MUTATING, ActionError, apply_action, parse_action
from ..ordebug.env import EnvConfig, RepairEnv
from ..ordebug.instance import Instance
from ..ordebug.prm_labels import ReplayMismatch, episode_id, label_stored_rows, progress_label, split_rows
from ..ordebug.results import load_results
from ..selection import check_choice_split, choose
from .generation import SamplingConfig, generate_chats, render_prompts
from .ordebug_experts import episode_env_config
from .ordebug_lm_eval import CONTEXT_POLICIES, LMEpisode, fit_context_ids, turn_prompts

CHOOSERS = ("prm", "solver", "first")
HEADS = ("progress", "harm")
"""The PRM's logits: P(progress > 0) always; P(progress < 0) with ``harm_head`` (first-error detection)."""
PAIRED_METRICS = {"RR@5": "rr_at_5", "faithful_recovery": "faithful", "DA": "diagnosis_recall"}
"""Report name -> column of ``results.episode_row`` compared per instance by ``paired_compare``."""
CURVE_FILE = "training_curve.json"
ScoreFn = Callable[[Sequence[Sequence[int]]], Sequence[float]]
"""Anything that scores token sequences with P(progress > 0): a ``PRM`` or a plain function (tests)."""


# -- examples --------------------------------------------------------------------------------------------------
def target_of(progress: int) -> int:
    """The binary target: 1 for progress +1, 0 for 0 (no progress) and −1 (harm).

    >>> [target_of(p) for p in (1, 0, -1)]
    [1, 0, 0]
    """
    if progress not in (1, 0, -1):
        raise ValueError(f"progress must be +1, 0 or -1, got {progress!r}")
    return int(progress > 0)


def action_token_ids(tokenizer, text: str) -> list[int]:
    """Ids of one assistant turn after its generation prompt: the text, then EOS (``<|im_end|>``), as the
    chat template renders the turn in every later context of the policy."""
    return tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]


@dataclass
class PRMExample:
    """One labelled step as the PRM reads it."""

    episode_id: str
    instance_id: str
    split: str | None
    step: int
    """1-based step of the episode."""
    action_text: str
    context_ids: list[int]
    """The policy's prompt before the step (``render_prompts`` of the fitted conversation)."""
    action_ids: list[int]
    """``action_token_ids`` of the action text."""
    progress: int
    seed_label: float
    trimmed: bool = False
    """The context left out old turns (``fit_context``), as the policy's prompt did."""
    policy: str = ""

    @property
    def target(self) -> int:
        return target_of(self.progress)

    @property
    def input_ids(self) -> list[int]:
        return self.context_ids + self.action_ids


def conversation_replay(instance: Instance, trajectory: Sequence[Mapping], env_config: EnvConfig) -> list[dict]:
    """The chat an LM policy holds after the stored actions: observation 0, then (action, observation) per
    step, the observation after the last step left out when it ended the episode (as ``run_lm_episodes``
    builds it). Each replayed step's action text and result must be the stored ones (``ReplayMismatch``)."""
    env = RepairEnv(instance, env_config)
    messages = [{"role": "user", "content": env.reset()[0]}]
    for k, stored in enumerate(trajectory, 1):
        if env.done:
            raise ReplayMismatch(f"{instance.id}: the conversation replay ended after step {k - 1} of "
                                 f"{len(trajectory)}")
        obs, _, terminated, truncated, _ = env.step(stored["action_text"])
        got = env.trajectory[-1]
        if got.result != stored["result"]:
            raise ReplayMismatch(f"{instance.id} step {k}: result replays as {got.result!r}, stored "
                                 f"{stored['result']!r}")
        messages.append({"role": "assistant", "content": stored["action_text"]})
        if not (terminated or truncated):
            messages.append({"role": "user", "content": obs})
    return messages


def stored_conversations(db_path: str | Path, instances_by_id: Mapping[str, Instance], split: str | None = None,
                         policy: str | None = None, env_config: EnvConfig | None = None) -> dict[str, list[dict]]:
    """episode_id -> ``conversation_replay`` of every stored episode (of ``split`` / ``policy`` if given).
    ``env_config``: the conversational settings of the evaluation (default ``episode_env_config()``); the
    stored step budget replaces its ``max_turns``, as ``evaluate_lm`` does."""
    stored = load_results(db_path, policy=policy)
    if split is not None:
        stored = stored[stored["split"] == split]
    return conversations_of_rows(stored, instances_by_id, env_config)


def conversations_of_rows(rows: pd.DataFrame, instances_by_id: Mapping[str, Instance],
                          env_config: EnvConfig | None = None) -> dict[str, list[dict]]:
    """``stored_conversations`` of result rows already loaded (``results.load_results``)."""
    base = env_config or episode_env_config()
    out = {}
    for row in rows.itertuples(index=False):
        inst = instances_by_id.get(row.instance_id)
        if inst is None:
            raise KeyError(f"instance {row.instance_id!r} of a stored episode is not in instances_by_id")
        config = dataclasses.replace(base, max_turns=int(row.max_turns))
        out[episode_id(row.policy, row.instance_id, int(row.seed))] = conversation_replay(inst, row.trajectory, config)
    return out


def evaluation_labels(db_path: str | Path, instances_by_id: Mapping[str, Instance], split: str,
                      policy: str | None = None, env_config: EnvConfig | None = None) -> pd.DataFrame:
    """The rows of ``prm_labels.label_episodes`` for any split, **test included**, for evaluating a PRM (never
    for training one: ``train_prm`` refuses test examples). Built from the same lower-level functions with the
    same replay checks, because ``label_episodes`` refuses the test split by design (``prm_labels.label_stored_rows``)."""
    rows = split_rows(load_results(db_path, policy=policy), split, db_path, policy)
    return label_stored_rows(rows, instances_by_id, split, env_config)


def prm_context(tokenizer, messages: list[dict], max_prompt_tokens: int, n_action_tokens: int,
                max_length: int | None = None) -> tuple[list[int], bool]:
    """(token ids of the PRM's context for an action of ``n_action_tokens`` tokens, whether turns were left out):
    ``messages`` fitted to ``max_prompt_tokens`` (``fit_context``, as the policy's prompt) and, with
    ``max_length`` (the PRM's context), to ``max_length`` − ``n_action_tokens`` where that is less."""
    budget = max_prompt_tokens if max_length is None else min(max_prompt_tokens, max_length - n_action_tokens)
    _, ids, trimmed = fit_context_ids(tokenizer, messages, budget)
    return ids, trimmed


def prm_examples(df_labels: pd.DataFrame, conversations: Mapping[str, list[dict]], tokenizer,
                 max_prompt_tokens: int = 3072, max_length: int | None = None) -> list[PRMExample]:
    """One ``PRMExample`` per row of ``df_labels`` (``label_episodes`` / ``evaluation_labels``), its context the
    first 2k−1 messages of the episode's conversation (observation 0 ... observation k−1) fitted to
    ``max_prompt_tokens`` as the evaluation fitted them (``fit_context``; use the evaluation's value). The
    conversation's k-th assistant turn must be the labelled action text. ``max_length`` (the PRM's context):
    where context + action would pass it, the context is fitted to ``max_length`` − the action's tokens (older
    turns left out, as the evaluation leaves them out), so that no example is too long to train or score."""
    out = []
    for r in df_labels.sort_values(["episode_id", "step"]).itertuples(index=False):
        conv = conversations.get(r.episode_id)
        if conv is None:
            raise KeyError(f"no conversation for episode {r.episode_id!r}")
        k = int(r.step)
        if len(conv) < 2 * k or conv[2 * k - 1]["content"] != r.action_text:
            raise ValueError(f"{r.episode_id} step {k}: the conversation's action is not the labelled "
                             f"{r.action_text!r}")
        action = action_token_ids(tokenizer, r.action_text)
        context, trimmed = prm_context(tokenizer, conv[:2 * k - 1], max_prompt_tokens, len(action), max_length)
        out.append(PRMExample(r.episode_id, r.instance_id, r.split, k, r.action_text, context, action,
                              int(r.progress), float(r.seed_label), trimmed, r.policy))
    return out


def split_examples(db_path: str | Path, instances_by_id: Mapping[str, Instance], split: str, tokenizer,
                   policy: str | None = None, max_prompt_tokens: int = 3072, label_config: EnvConfig | None = None,
                   conversation_config: EnvConfig | None = None, max_length: int | None = None,
                   workers: int = 1) -> list[PRMExample]:
    """The examples of one split: labels as ``label_episodes`` makes them for train / val and as
    ``evaluation_labels`` for test (evaluation only), conversations as ``stored_conversations``, contexts as
    ``prm_examples`` fits them. ``workers``: as ``examples_by_split``."""
    return examples_by_split(db_path, instances_by_id, [split], tokenizer, policy, max_prompt_tokens, label_config,
                             conversation_config, max_length, workers)[split]


def examples_by_split(db_path: str | Path, instances_by_id: Mapping[str, Instance], splits: Sequence[str], tokenizer,
                      policy: str | None = None, max_prompt_tokens: int = 3072, label_config: EnvConfig | None = None,
                      conversation_config: EnvConfig | None = None, max_length: int | None = None,
                      workers: int = 1, labels: Mapping[str, pd.DataFrame] | None = None) -> dict[str, list[PRMExample]]:
    """split -> ``split_examples`` of every split in ``splits``. ``workers`` > 1 builds them in one pool of that
    many spawned processes (``processes.process_map``), all episodes of an instance in one task; the examples and
    their order are the same. Replaying and tokenising every step's context is CPU work that leaves the GPU idle
    (e8b: ~270 s of the PRM's 533-s cell). ``labels``: label rows already made for some splits
    (``labels_by_split``), which are not labelled again; they must hold every stored step of their split."""
    from ..processes import process_map

    labels = dict(labels or {})
    tasks = []
    for split, rows in _stored_splits(db_path, splits, policy, workers).items():
        given = labels.get(split)
        if given is not None:
            _check_labels_cover(given, rows, split)
        tasks += [(part, {i: instances_by_id[i] for i in part["instance_id"].unique() if i in instances_by_id},
                   split, tokenizer, max_prompt_tokens, label_config, conversation_config, max_length,
                   None if given is None else given[given["instance_id"].isin(set(part["instance_id"]))])
                  for part in _instance_parts(rows, workers)]
    out = {split: [] for split in splits}
    for (_, _, split, *_), examples in zip(tasks, process_map(_examples_of_rows, tasks, workers)):
        out[split] += examples
    return {split: sorted(ex, key=lambda e: (e.episode_id, e.step)) for split, ex in out.items()}  # prm_examples' order


def labels_by_split(db_path: str | Path, instances_by_id: Mapping[str, Instance], splits: Sequence[str],
                    policy: str | None = None, label_config: EnvConfig | None = None,
                    workers: int = 1) -> dict[str, pd.DataFrame]:
    """split -> the label rows of its stored episodes (``prm_labels.label_stored_rows``: ``label_episodes``' rows
    for train and val, ``evaluation_labels``' for test), in their order, built in one pool as
    ``examples_by_split`` builds examples. Pass them to ``examples_by_split(labels=...)`` to label once."""
    from ..processes import process_map

    tasks, positions = [], {}
    for split, rows in _stored_splits(db_path, splits, policy, workers).items():
        positions[split] = {episode_id(r.policy, r.instance_id, int(r.seed)): k
                            for k, r in enumerate(rows.itertuples(index=False))}
        tasks += [(part, {i: instances_by_id[i] for i in part["instance_id"].unique() if i in instances_by_id},
                   split, label_config) for part in _instance_parts(rows, workers)]
    out = {split: [] for split in splits}
    for (_, _, split, _), frame in zip(tasks, process_map(_labels_of_rows, tasks, workers)):
        out[split].append(frame)
    result = {}
    for split, frames in out.items():  # back into the stored order: episode by episode, steps in order
        df = pd.concat(frames, ignore_index=True)
        if df.empty:  # no stored step at all
            result[split] = df
            continue
        pos = df["episode_id"].map(positions[split]).to_numpy()
        result[split] = df.iloc[np.lexsort((df["step"].to_numpy(), pos))].reset_index(drop=True)
    return result


def _stored_splits(db_path, splits: Sequence[str], policy: str | None, workers: int) -> dict[str, pd.DataFrame]:
    """split -> its stored result rows, every split and ``workers`` checked first."""
    from ..ordebug.prm_labels import LABEL_SPLITS

    for split in splits:
        if split not in (*LABEL_SPLITS, "test"):
            raise ValueError(f"split must be one of {(*LABEL_SPLITS, 'test')}, got {split!r}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    stored = load_results(db_path, policy=policy)
    return {split: split_rows(stored, split, db_path, policy) for split in splits}


def _check_labels_cover(labels: pd.DataFrame, rows: pd.DataFrame, split: str) -> None:
    """Given labels must be those of exactly these stored episodes: one row per stored step."""
    want = {episode_id(r.policy, r.instance_id, int(r.seed)): int(r.steps) for r in rows.itertuples(index=False)}
    got = labels.groupby("episode_id").size().to_dict() if len(labels) else {}
    if set(labels.get("split", pd.Series([split]))) != {split} or got != {k: v for k, v in want.items() if v}:
        raise ValueError(f"the given {split} labels are not one row per stored step of the {split} episodes "
                         f"({sum(got.values())} rows for {len(got)} episodes; stored: {sum(want.values())} steps "
                         f"of {len(want)} episodes)")


def _instance_parts(rows: pd.DataFrame, workers: int) -> list[pd.DataFrame]:
    """``rows`` in at most 4 x ``workers`` parts of whole instances (each instance's reference is built once),
    balanced by stored steps: the instances with most steps first, each into the lightest part so far."""
    if workers == 1:
        return [rows]
    steps = rows.groupby("instance_id")["steps"].sum().sort_values(ascending=False, kind="stable")
    n = min(4 * workers, len(steps))
    loads, members = [0] * n, [[] for _ in range(n)]
    for inst, k in steps.items():
        j = loads.index(min(loads))
        loads[j] += int(k)
        members[j].append(inst)
    return [rows[rows["instance_id"].isin(m)] for m in members if m]


def _examples_of_rows(task) -> list[PRMExample]:
    """One part of ``split_examples`` (a worker's task): label (unless labels are given), replay and fit the rows'
    steps."""
    rows, by_id, split, tokenizer, max_prompt_tokens, label_config, conversation_config, max_length, given = task
    labels = label_stored_rows(rows, by_id, split, label_config) if given is None else given
    if labels.empty:
        return []
    convs = conversations_of_rows(rows, by_id, conversation_config)
    return prm_examples(labels, convs, tokenizer, max_prompt_tokens, max_length)


def _labels_of_rows(task) -> pd.DataFrame:
    """One part of ``labels_by_split`` (a worker's task)."""
    rows, by_id, split, label_config = task
    return label_stored_rows(rows, by_id, split, label_config)


# -- the model ---------------------------------------------------------------------------------------------------
def _right_pad(rows: Sequence[Sequence[int]], pad_id: int):
    """(input_ids, attention_mask) (B, T), padding on the right: positions stay those of the unpadded row."""
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)  # (B, T)
    mask = torch.zeros((len(rows), width), dtype=torch.long)  # (B, T)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(list(r), dtype=torch.long)
        mask[i, :len(r)] = 1
    return ids, mask


@dataclass
class PRM:
    """A ``Qwen3ForSequenceClassification`` (one logit) with the tokenizer of the policy it scores."""

    model: object
    tokenizer: object

    @property
    def device(self):
        return next(self.model.parameters()).device

    @property
    def max_length(self) -> int:
        return int(self.model.config.max_position_embeddings)

    @property
    def heads(self) -> tuple[str, ...]:
        """The logits the head gives, in order: ``HEADS[:num_labels]`` (progress; with a harm head, harm)."""
        return HEADS[:int(self.model.config.num_labels)]

    def forward_logits(self, sequences: Sequence[Sequence[int]]):
        """Progress logits (B,) of one batch, with gradients (training); ``forward_heads`` gives every head."""
        return self.forward_heads(sequences)[:, 0]

    def forward_heads(self, sequences: Sequence[Sequence[int]]):
        """Logits (B, len(heads)) of one batch, with gradients: the head reads each sequence's last position.
        Pooled here by length, not by transformers' 'last non-pad token': a sampled action may hold the pad
        token (the tiny warm start's RL rollouts did), which that rule would skip or stop at."""
        import torch

        long = [len(s) for s in sequences if len(s) > self.max_length]
        if long:
            raise ValueError(f"a sequence of {max(long)} tokens exceeds the PRM's context of {self.max_length}")
        if any(len(s) == 0 for s in sequences):
            raise ValueError("an empty sequence has no last token to score")
        ids, mask = _right_pad(sequences, self.tokenizer.pad_token_id)
        hidden = self.model.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).last_hidden_state
        last = torch.tensor([len(s) - 1 for s in sequences], device=hidden.device)
        return self.model.score(hidden[torch.arange(len(sequences), device=hidden.device), last])  # (B, heads)

    def logits(self, sequences: Sequence[Sequence[int]], batch_size: int = 16, head: str = "progress") -> np.ndarray:
        """``head``'s logits of every sequence, in order (batches of similar length, eval mode, no gradients)."""
        return self.all_logits(sequences, batch_size)[:, self._head_index(head)]

    def all_logits(self, sequences: Sequence[Sequence[int]], batch_size: int = 16) -> np.ndarray:
        """(len(sequences), len(heads)) logits, one forward per batch for every head."""
        import torch

        out = np.empty((len(sequences), len(self.heads)))
        if not len(sequences):
            return out
        order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                for start in range(0, len(order), batch_size):
                    idx = order[start:start + batch_size]
                    out[idx] = self.forward_heads([sequences[i] for i in idx]).float().cpu().numpy()
        finally:
            self.model.train(was_training)
        return out

    def _head_index(self, head: str) -> int:
        if head not in self.heads:
            raise ValueError(f"this PRM has the heads {self.heads}, not {head!r} (train it with harm_head=True)")
        return self.heads.index(head)

    def __call__(self, sequences: Sequence[Sequence[int]], batch_size: int = 16) -> np.ndarray:
        """P(progress > 0) of every sequence."""
        return 1.0 / (1.0 + np.exp(-self.logits(sequences, batch_size)))

    def harm(self, sequences: Sequence[Sequence[int]], batch_size: int = 16) -> np.ndarray:
        """P(progress < 0) of every sequence (a PRM with a harm head)."""
        return 1.0 / (1.0 + np.exp(-self.logits(sequences, batch_size, head="harm")))

    def score_examples(self, examples: Sequence[PRMExample], batch_size: int = 16) -> np.ndarray:
        return self([e.input_ids for e in examples], batch_size)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        self.model.config.prm_heads = list(self.heads)  # in config.json: build_prm loads the same heads
        self.model.save_pretrained(str(path))
        self.tokenizer.save_pretrained(str(path))
        return path


def build_prm(source: str | Path = "tiny", tokenizer=None, seed: int = 0, device: str = "cpu",
              harm_head: bool | None = None) -> PRM:
    """A PRM from a preset name (fresh, seeded, the project tokenizer unless ``tokenizer``) or from a local
    directory: a saved PRM, or a policy checkpoint (``Qwen3ForCausalLM``) whose backbone then carries a new
    head (transformers initialises ``score``). ``harm_head``: a second logit, harm, beside progress (``HEADS``);
    None: a saved PRM keeps the heads it was saved with, anything else gets progress only. Nothing is ever
    downloaded (``local_files_only``)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, Qwen3ForSequenceClassification

    from .loader import resolve_device
    from .presets import PRESETS, preset_config
    from .tokenizer import project_tokenizer

    name = str(source)
    path = Path(name).expanduser()
    if name in PRESETS:
        tokenizer = tokenizer or project_tokenizer()
        config = preset_config(name, tokenizer)
        config.num_labels = 2 if harm_head else 1
        torch.manual_seed(seed)
        model = Qwen3ForSequenceClassification(config)
    elif path.is_dir() and (path / "config.json").exists():
        if tokenizer is None:
            if not (path / "tokenizer_config.json").exists():
                raise FileNotFoundError(f"{path} holds a model but no tokenizer; pass the policy's tokenizer")
            tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        saved = json.loads((path / "config.json").read_text())
        is_prm = any(a.endswith("ForSequenceClassification") for a in saved.get("architectures") or [])
        heads = tuple(saved.get("prm_heads") or HEADS[:1])  # PRM.save records them; older PRMs had one
        if is_prm and harm_head is not None and harm_head != ("harm" in heads):
            # transformers would re-initialise a head of the wrong shape with a warning only
            raise ValueError(f"{path} is a PRM with the heads {heads}; asked for harm_head={harm_head}")
        labels = len(heads) if is_prm else 2 if harm_head else 1
        torch.manual_seed(seed)  # the fresh head of a policy backbone
        model = AutoModelForSequenceClassification.from_pretrained(str(path), num_labels=labels, local_files_only=True)
    else:
        raise FileNotFoundError(f"{name!r} is neither a preset nor a local directory with a config.json "
                                "(the PRM never downloads)")
    if tokenizer.pad_token_id is None:
        raise ValueError("the PRM's tokenizer needs a pad token: the head pools at the last non-pad token")
    model.config.pad_token_id = tokenizer.pad_token_id
    return PRM(model.to(resolve_device(device)), tokenizer)


def load_prm(path: str | Path, device: str = "cpu") -> PRM:
    """A PRM saved by ``train_prm`` / ``PRM.save``."""
    return build_prm(path, device=device)


# -- training ----------------------------------------------------------------------------------------------------
@dataclass
class PRMTrainConfig:
    """A plain AdamW loop (TRL 1.16 has no PRMTrainer; transformers' Trainer adds nothing needed here)."""

    max_steps: int = 200
    learning_rate: float = 3e-4
    weight_decay: float = 0.0
    batch_size: int = 8
    eval_steps: int = 25
    """Val loss every this many steps (and at step 0 and the last step)."""
    eval_batch_size: int = 16
    patience: int | None = None
    """Stop after this many evaluations without a better val score (None: run all steps)."""
    select_on: str = "loss"
    """'loss' (val BCE, lower is better; defined with one class too) or 'auc' (val AUC)."""
    pos_weight: float | None = None
    """BCE weight of positives (e.g. negatives / positives), None: 1."""
    max_length: int | None = None
    """Examples longer than this are dropped (counted); None: the PRM's context."""
    max_grad_norm: float = 1.0
    seed: int = 0
    bf16: bool = False
    """bfloat16 autocast (GPU)."""
    harm_head: bool = False
    """Train a second logit on harm (progress −1) beside progress, the two BCEs summed. First-error detection
    (ProcessBench, arXiv 2412.06559: the earliest erroneous step) needs P(harm): the progress head cannot give
    it, since 0 and −1 share its negative class and a diagnostic step is "no progress" (e8b: 756 of 945 test
    episodes "erred" at step 1). The PRM must be built with the same heads (``build_prm(harm_head=...)``); the
    step is still chosen on the progress head's val loss or AUC."""


@dataclass
class PRMTrainResult:
    prm: PRM
    train_curve: list[tuple[int, float]]
    """(step, training loss of that step's batch)."""
    val_curve: list[dict]
    """{step, loss, auc} at every evaluation, step 0 = before training (with a harm head also harm_loss,
    harm_auc)."""
    best_step: int
    """The step whose weights the PRM holds (chosen on val)."""
    stopped_early: bool = False
    dropped: dict = field(default_factory=dict)
    """Examples left out for length, per set."""


def bce(logits: np.ndarray, targets: np.ndarray) -> float:
    """Mean binary cross-entropy of logits (numerically stable).

    >>> round(bce(np.array([0.0, 0.0]), np.array([1, 0])), 4)
    0.6931
    """
    z, y = np.asarray(logits, float), np.asarray(targets, float)
    return float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))


def _check_training_sets(train: Sequence[PRMExample], val: Sequence[PRMExample]) -> None:
    if not train or not val:
        raise ValueError("train_prm needs training examples and val examples (the step is chosen on val)")
    bad = sorted({e.split for e in train} - {"train"}, key=str)
    if bad:
        raise ValueError(f"train_prm trains on train-split examples only, got split(s) {bad}")
    for split in {e.split for e in val}:
        check_choice_split(split, "the PRM's training step")
    shared = {e.instance_id for e in train} & {e.instance_id for e in val}
    if shared:
        raise ValueError(f"{len(shared)} instance(s) are in both the training and the val examples, "
                         f"e.g. {sorted(shared)[0]}")


def train_prm(examples: Sequence[PRMExample], config: PRMTrainConfig | None = None, out_dir: str | Path | None = None,
              *, val_examples: Sequence[PRMExample], prm: PRM | None = None) -> PRMTrainResult:
    """Train ``prm`` (default ``build_prm("tiny")``) on train-split ``examples``; evaluate the val loss (and
    AUC) at step 0, every ``eval_steps`` and the last step; end with the weights of the evaluation chosen on
    val (``selection.choose``, split 'val'). With ``out_dir``: the PRM in ``out_dir/model`` and the curves,
    chosen step and config in ``out_dir/training_curve.json``."""
    import torch

    config = config or PRMTrainConfig()
    if config.select_on not in ("loss", "auc"):
        raise ValueError(f"select_on must be 'loss' or 'auc', got {config.select_on!r}")
    _check_training_sets(examples, val_examples)
    prm = prm or build_prm("tiny", seed=config.seed, harm_head=config.harm_head)
    if ("harm" in prm.heads) != config.harm_head:
        raise ValueError(f"config.harm_head is {config.harm_head} but the PRM has the heads {prm.heads}: build it "
                         f"with build_prm(..., harm_head={config.harm_head})")
    limit = config.max_length or prm.max_length
    train = [e for e in examples if len(e.input_ids) <= limit]
    val = [e for e in val_examples if len(e.input_ids) <= limit]
    dropped = {"train": len(examples) - len(train), "val": len(val_examples) - len(val)}
    if not train or not val:
        raise ValueError(f"no example fits max_length={limit} (dropped {dropped})")
    val_seqs, val_y = [e.input_ids for e in val], np.array([e.target for e in val])
    val_harm = np.array([int(e.progress < 0) for e in val])
    model = prm.model
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.learning_rate,
                                  weight_decay=config.weight_decay)
    pos_weight = None if config.pos_weight is None else torch.tensor(float(config.pos_weight), device=prm.device)
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)

    def evaluate(step: int) -> dict:
        z = prm.all_logits(val_seqs, config.eval_batch_size)  # (n_val, heads)
        ev = {"step": step, "loss": bce(z[:, 0], val_y), "auc": auc_roc(z[:, 0], val_y)}
        if config.harm_head:
            ev.update(harm_loss=bce(z[:, 1], val_harm), harm_auc=auc_roc(z[:, 1], val_harm))
        return ev

    def key(ev: dict) -> float:  # higher is better; a NaN AUC never wins
        return -ev["loss"] if config.select_on == "loss" else (-math.inf if math.isnan(ev["auc"]) else ev["auc"])

    val_curve = [evaluate(0)]
    best, best_state = val_curve[0], copy.deepcopy(model.state_dict())
    train_curve: list[tuple[int, float]] = []
    order: list[int] = []
    stale, stopped = 0, False
    model.train()
    for step in range(1, config.max_steps + 1):
        if len(order) < config.batch_size:  # a fresh permutation per epoch, seeded
            order += rng.permutation(len(train)).tolist()
        idx, order = order[:config.batch_size], order[config.batch_size:]
        y = torch.tensor([float(train[i].target) for i in idx], device=prm.device)
        with torch.autocast(device_type=prm.device.type, dtype=torch.bfloat16, enabled=config.bf16):
            z = prm.forward_heads([train[i].input_ids for i in idx]).float()  # (B, heads)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(z[:, 0], y, pos_weight=pos_weight)
        if config.harm_head:
            harm = torch.tensor([float(train[i].progress < 0) for i in idx], device=prm.device)
            loss = loss + torch.nn.functional.binary_cross_entropy_with_logits(z[:, 1], harm)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        train_curve.append((step, float(loss.detach())))
        if step % config.eval_steps == 0 or step == config.max_steps:
            ev = evaluate(step)
            val_curve.append(ev)
            # choose() reads val only, and a tie goes to the first key: the earlier step is kept
            if choose({"kept": key(best), "new": key(ev)}, split="val", what="the PRM's training step") == "new":
                best, best_state, stale = ev, copy.deepcopy(model.state_dict()), 0
            else:
                stale += 1
            if config.patience is not None and stale >= config.patience and step < config.max_steps:
                stopped = True
                break
    model.load_state_dict(best_state)
    model.eval()
    result = PRMTrainResult(prm, train_curve, val_curve, int(best["step"]), stopped, dropped)
    if out_dir is not None:
        out = Path(out_dir)
        prm.save(out / "model")
        (out / CURVE_FILE).write_text(json.dumps({
            "train": train_curve, "val": val_curve, "best_step": result.best_step, "best": best,
            "stopped_early": stopped, "dropped": dropped, "n_train": len(train), "n_val": len(val),
            "positive_rate_train": float(np.mean([e.target for e in train])), "config": dataclasses.asdict(config),
        }, indent=1, allow_nan=True))
    return result


# -- evaluation --------------------------------------------------------------------------------------------------
def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of x, ties sharing their average rank."""
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    ranks = np.empty(len(x))
    start = 0
    while start < len(x):
        end = start
        while end + 1 < len(x) and sorted_x[end + 1] == sorted_x[start]:
            end += 1
        ranks[order[start:end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def auc_roc(scores, targets) -> float:
    """AUC-ROC (Mann–Whitney, ties count half); NaN when a class is absent.

    >>> auc_roc([0.9, 0.8, 0.3, 0.1], [1, 1, 0, 0]), auc_roc([0.5] * 4, [1, 0, 1, 0]), auc_roc([0.2, 0.7], [1, 0])
    (1.0, 0.5, 0.0)
    """
    s, y = np.asarray(scores, float), np.asarray(targets).astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = _average_ranks(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auc_bootstrap_ci(scores, targets, groups, n_boot: int = 1000, seed: int = 0,
                     level: float = 0.95) -> tuple[float, float, int]:
    """(low, high, resamples used): the percentile interval of the AUC over bootstrap resamples of
    ``groups`` (episodes), each drawn group with all its rows; one-class resamples are skipped."""
    s, y, g = np.asarray(scores, float), np.asarray(targets, int), np.asarray(groups)
    keys = list(dict.fromkeys(g.tolist()))
    members = [np.flatnonzero(g == k) for k in keys]
    rng = np.random.default_rng(seed)
    aucs = []
    for _ in range(n_boot):
        idx = np.concatenate([members[i] for i in rng.integers(0, len(keys), len(keys))])
        a = auc_roc(s[idx], y[idx])
        if not math.isnan(a):
            aucs.append(a)
    if not aucs:
        return math.nan, math.nan, 0
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(aucs, [tail, 100 - tail])
    return float(low), float(high), len(aucs)


def calibration(scores, targets, n_bins: int = 10) -> tuple[pd.DataFrame, float]:
    """(reliability table, ECE) over ``n_bins`` equal-width bins of p (see the module docstring).

    >>> table, ece = calibration([0.25] * 4 + [0.75] * 4, [1, 0, 0, 0, 1, 1, 1, 0], n_bins=2)
    >>> table[["n", "mean_score", "positive_rate"]].values.tolist(), ece
    ([[4.0, 0.25, 0.25], [4.0, 0.75, 0.75]], 0.0)
    """
    p, y = np.asarray(scores, float), np.asarray(targets, float)
    if len(p) == 0:
        raise ValueError("calibration of no scores")
    if ((p < 0) | (p > 1)).any():
        raise ValueError("calibration needs probabilities in [0, 1]")
    b = np.minimum((p * n_bins).astype(int), n_bins - 1)
    rows, ece = [], 0.0
    for k in range(n_bins):
        m = b == k
        n = int(m.sum())
        mean_p = float(p[m].mean()) if n else math.nan
        rate = float(y[m].mean()) if n else math.nan
        if n:
            ece += n / len(p) * abs(rate - mean_p)
        rows.append({"bin_low": k / n_bins, "bin_high": (k + 1) / n_bins, "n": float(n), "mean_score": mean_p,
                     "positive_rate": rate})
    return pd.DataFrame(rows), float(ece)


def first_error_detection(frame: pd.DataFrame, threshold: float = 0.5, error_at: int = 0,
                          score: str = "score") -> dict:
    """First-error detection over episodes (module docstring). ``frame``: episode_id, step, progress and the
    column ``score``: 'score' (P(progress)) flags a step with p < ``threshold``; 'harm' (P(harm), with
    ``error_at=-1``: the first harmful step) flags a step with p ≥ ``threshold``. Returns f1, processbench_f1,
    tp, fp, fn, n_episodes, n_with_error, exact_match (share of episodes whose predicted first error, None
    included, is the true one), and per-episode (true, predicted) steps."""
    if score not in ("score", "harm"):
        raise ValueError(f"score must be 'score' or 'harm', got {score!r}")
    tp = fp = fn = 0
    hits_err = hits_clean = n_err = n_clean = 0
    per_episode = {}
    for eid, g in frame.sort_values(["episode_id", "step"]).groupby("episode_id", sort=True):
        errors = g.loc[g["progress"] <= error_at, "step"]
        flagged = g.loc[g[score] < threshold if score == "score" else g[score] >= threshold, "step"]
        true = int(errors.iloc[0]) if len(errors) else None
        pred = int(flagged.iloc[0]) if len(flagged) else None
        per_episode[eid] = (true, pred)
        if true is None:
            n_clean += 1
            hits_clean += pred is None
        else:
            n_err += 1
            hits_err += pred == true
        if pred is not None and pred == true:
            tp += 1
        else:
            fp += pred is not None
            fn += true is not None
    f1 = 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else math.nan
    acc_err = hits_err / n_err if n_err else math.nan
    acc_clean = hits_clean / n_clean if n_clean else math.nan
    pb = (2 * acc_err * acc_clean / (acc_err + acc_clean) if n_err and n_clean and acc_err + acc_clean > 0
          else 0.0 if n_err and n_clean else math.nan)
    n = n_err + n_clean
    return {"f1": f1, "processbench_f1": pb, "tp": tp, "fp": fp, "fn": fn, "n_episodes": n, "n_with_error": n_err,
            "accuracy_with_error": acc_err, "accuracy_without_error": acc_clean,
            "exact_match": (hits_err + hits_clean) / n if n else math.nan, "per_episode": per_episode}


def evaluate_scores(frame: pd.DataFrame, n_boot: int = 1000, seed: int = 0, n_bins: int = 10,
                    threshold: float = 0.5, error_at: int = 0) -> dict:
    """Every metric of the module docstring from a frame with episode_id, step, progress and score (p); with a
    harm column (P(harm) of a harm head) also ``harm``: the harm share, its AUC with the episode-bootstrap
    interval and ``first_harm``, first-error detection of the first harmful step; with a
    policy column also ``auc_by_policy``: steps, positive share and AUC within each policy's episodes (NaN
    where it has one class). A pooled AUC can come from telling the label policies apart (the oracle's steps
    are mostly progress, a random policy's rarely); within a policy only the steps' own merits rank them."""
    y = (frame["progress"].to_numpy() > 0).astype(int)
    p = frame["score"].to_numpy(dtype=float)
    low, high, used = auc_bootstrap_ci(p, y, frame["episode_id"].to_numpy(), n_boot, seed)
    table, ece = calibration(p, y, n_bins)
    by_policy = {}
    if "policy" in frame:
        for name, g in frame.groupby("policy", sort=True):
            yg = (g["progress"].to_numpy() > 0).astype(int)
            by_policy[name] = {"n_steps": len(g), "positive_rate": float(yg.mean()), "auc": auc_roc(g["score"], yg)}
    out = {"n_steps": len(frame), "n_episodes": int(frame["episode_id"].nunique()),
           "positive_rate": float(y.mean()), "auc": auc_roc(p, y), "auc_ci": (low, high), "n_boot_used": used,
           "ece": ece, "brier": float(np.mean((p - y) ** 2)), "calibration": table,
           "first_error": first_error_detection(frame, threshold, error_at), "auc_by_policy": by_policy}
    if "harm" in frame:  # a harm head: its AUC for progress −1, and the first harmful step found by P(harm)
        harm = (frame["progress"].to_numpy() < 0).astype(int)
        h = frame["harm"].to_numpy(dtype=float)
        out["harm"] = {"harm_rate": float(harm.mean()), "auc": auc_roc(h, harm),
                       "auc_ci": auc_bootstrap_ci(h, harm, frame["episode_id"].to_numpy(), n_boot, seed)[:2],
                       "first_harm": first_error_detection(frame, threshold, error_at=-1, score="harm")}
    return out


def examples_frame(examples: Sequence[PRMExample], scores=None, harm=None) -> pd.DataFrame:
    """One row per example: episode_id, policy, instance_id, split, step, action_text, progress, target
    (and score, harm when given)."""
    df = pd.DataFrame([{"episode_id": e.episode_id, "policy": e.policy, "instance_id": e.instance_id,
                        "split": e.split, "step": e.step, "action_text": e.action_text, "progress": e.progress,
                        "target": e.target} for e in examples])
    if scores is not None:
        df["score"] = np.asarray(scores, float)
    if harm is not None:
        df["harm"] = np.asarray(harm, float)
    return df


def evaluate_prm(prm: PRM | ScoreFn, examples: Sequence[PRMExample], n_boot: int = 1000, seed: int = 0,
                 n_bins: int = 10, threshold: float = 0.5, error_at: int = 0, batch_size: int = 16) -> dict:
    """``evaluate_scores`` of the PRM's probabilities on ``examples`` (any split, test included; with a harm
    head, P(harm) too), plus the scored frame under ``"frame"``."""
    if not examples:
        raise ValueError("evaluate_prm needs examples")
    seqs = [e.input_ids for e in examples]
    harm = None
    if isinstance(prm, PRM):
        z = prm.all_logits(seqs, batch_size)  # one forward for both heads
        p = 1.0 / (1.0 + np.exp(-z))
        scores, harm = p[:, 0], (p[:, 1] if "harm" in prm.heads else None)
    else:
        scores = prm(seqs)
    frame = examples_frame(examples, scores, harm)
    out = evaluate_scores(frame, n_boot, seed, n_bins, threshold, error_at)
    out["frame"] = frame
    return out


# -- best-of-N -----------------------------------------------------------------------------------------------------
def pick_best(values: Sequence[float]) -> int:
    """Index of the highest value, the earliest among ties.

    >>> pick_best([0.2, 0.9, 0.9, 0.1]), pick_best([-1, 0, 0])
    (1, 1)
    """
    if not len(values):
        raise ValueError("pick_best of no candidates")
    return int(np.argmax(np.asarray(values, float)))


def rerank_best_of_n(prm: PRM | ScoreFn, candidates: Sequence[tuple[Sequence[int], Sequence[Sequence[int]]]],
                     batch_size: int = 16) -> list[tuple[int, list[float]]]:
    """For each state (context ids, the N candidates' action ids): (index of the highest-scored candidate,
    all N scores). One scoring call over the distinct (context + action) sequences (a ``PRM`` scores
    ``batch_size`` of them per forward; a plain ScoreFn takes the list whole): a score is a function of the
    sequence, and the N samples of a state may repeat an action."""
    keys, sizes = [], []
    for context, actions in candidates:
        if not len(actions):
            raise ValueError("a state without candidates")
        keys += [tuple(context) + tuple(a) for a in actions]
        sizes.append(len(actions))
    distinct = list(dict.fromkeys(keys))  # first-seen order
    got = [float(s) for s in ((prm([list(k) for k in distinct], batch_size) if isinstance(prm, PRM)
                               else prm([list(k) for k in distinct])) if distinct else [])]
    if len(got) != len(distinct):
        raise ValueError(f"the scorer returned {len(got)} scores for {len(distinct)} sequences")
    score_of = dict(zip(distinct, got))
    scores = [score_of[k] for k in keys]
    out, start = [], 0
    for n in sizes:
        chunk = scores[start:start + n]
        out.append((pick_best(chunk), chunk))
        start += n
    return out


def candidate_progress(instance: Instance, model, action_text: str) -> int:
    """The ground-truth progress label of sending ``action_text`` to an env whose current model is ``model``:
    the model it would leave (RESET: the sabotaged start; a valid mutating verb: ``apply_action``; anything
    else, or a refused action: unchanged) against ``model``, by ``prm_labels.progress_label``."""
    try:
        action = parse_action(action_text)
    except ActionError:
        return 0
    if action.verb == "RESET":
        after = instance.sabotaged
    elif action.verb in MUTATING:
        try:
            after = apply_action(model, action)
        except ActionError:
            return 0
    else:
        return 0
    return int(progress_label(instance, model, after, action)["progress"])


@dataclass
class BestOfNResult:
    episodes: list[LMEpisode]
    rows: pd.DataFrame
    """``results.episode_row`` per episode (rr_at_5, faithful, diagnosis_recall, ...)."""
    steps: pd.DataFrame
    """One row per (episode, step): instance_id, step, chosen, chosen_text, scores, progress (of every
    candidate), chosen_progress (the transition the env made), best_progress (max over the candidates)."""


def best_of_n_episodes(policy_model, tokenizer, prm: PRM | ScoreFn | None, instances: Sequence[Instance], n: int,
                       sampling: SamplingConfig, env_config: EnvConfig | None = None, chooser: str = "prm",
                       max_prompt_tokens: int = 3072, context_policy: str = "trim", policy_name: str | None = None,
                       seed: int = 0, generate_batch_size: int | None = None, engine: str = "generate",
                       score_batch_size: int = 16) -> BestOfNResult:
    """Lockstep best-of-N episodes (module docstring). Each turn: the live episodes' prompts (fitted as
    ``run_lm_episodes`` fits them), each repeated ``n`` times, in one ``generate_chats`` call with ``engine``
    seeded ``sampling.seed + turn`` (``generate_batch_size`` rows per batch; None: all); the PRM scores the
    candidates ``score_batch_size`` sequences per forward; the ``chooser``'s candidate is sent to the env.
    ``policy_name`` / ``seed`` label the result rows."""
    from ..ordebug.results import episode_row

    if chooser not in CHOOSERS:
        raise ValueError(f"chooser must be one of {CHOOSERS}, got {chooser!r}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if n > 1 and sampling.temperature <= 0:
        raise ValueError("best-of-N with n > 1 needs sampling (temperature > 0): greedy gives N equal candidates")
    if chooser == "prm" and prm is None:
        raise ValueError("chooser 'prm' needs a PRM")
    if isinstance(prm, PRM) and prm.tokenizer.get_vocab() != tokenizer.get_vocab():
        raise ValueError("the PRM's tokenizer is not the policy's: it would read other token ids")
    if context_policy not in CONTEXT_POLICIES:
        raise ValueError(f"context_policy must be one of {CONTEXT_POLICIES}, got {context_policy!r}")
    env_config = env_config or episode_env_config()
    envs = [RepairEnv(inst, env_config) for inst in instances]
    convs = [[{"role": "user", "content": env.reset()[0]}] for env in envs]
    tokens: list[list[int]] = [[] for _ in envs]
    trims = [0] * len(envs)
    step_rows: list[dict] = []
    live, turn = list(range(len(envs))), 0
    while live:
        live, prompts = turn_prompts(tokenizer, convs, envs, live, trims, max_prompt_tokens, context_policy)
        if not live:
            break
        rows = [p for p in prompts for _ in range(n)]  # episode-major: episode j's candidates are rows j*n ...
        turn_sampling = dataclasses.replace(sampling, batch_size=generate_batch_size or len(rows),
                                            seed=sampling.seed + turn)
        gens = generate_chats(policy_model, tokenizer, rows, turn_sampling, engine=engine)
        cands = [gens[j * n:(j + 1) * n] for j in range(len(live))]
        progress = [[candidate_progress(instances[i], envs[i].model, g.text) for g in c] for i, c in zip(live, cands)]
        if chooser == "prm" and n > 1:  # the PRM reads the prompt the policy read plus each candidate
            actions = [[action_token_ids(tokenizer, g.text) for g in c] for c in cands]
            limit = prm.max_length if isinstance(prm, PRM) else None  # its longest candidate must fit too
            ranked = rerank_best_of_n(prm, [(prm_context(tokenizer, msgs, max_prompt_tokens, max(map(len, a)), limit)[0], a)
                                            for msgs, a in zip(prompts, actions)], score_batch_size)
        else:  # one candidate, or a chooser that needs no scores
            ranked = [(0, [math.nan] * n) for _ in live]
        for j, (i, c) in enumerate(zip(live, cands)):
            pick = pick_best(progress[j]) if chooser == "solver" else ranked[j][0] if chooser == "prm" else 0
            g = c[pick]
            before = envs[i].model
            convs[i].append({"role": "assistant", "content": g.text})
            tokens[i].append(g.n_tokens)
            obs, _, terminated, truncated, _ = envs[i].step(g.text)
            made = candidate_progress(instances[i], before, g.text)
            actual = progress_label(instances[i], before, envs[i].model)["progress"]
            if made != actual:  # the candidate's label must be the transition the env made
                raise RuntimeError(f"{instances[i].id} step {len(tokens[i])}: predicted progress {made}, "
                                   f"the env's transition has {actual}")
            step_rows.append({"instance_id": instances[i].id, "step": len(tokens[i]), "chosen": pick,
                              "chosen_text": g.text, "texts": [x.text for x in c], "scores": ranked[j][1],
                              "progress": progress[j], "chosen_progress": actual,
                              "best_progress": max(progress[j])})
            if not (terminated or truncated):
                convs[i].append({"role": "user", "content": obs})
        live = [i for i in live if not envs[i].done]
        turn += 1
    episodes = [LMEpisode(inst.id, c, env.outcome(), t, k)
                for inst, c, env, t, k in zip(instances, convs, envs, tokens, trims)]
    name = policy_name or f"best_of_{n}_{chooser}"
    rows = pd.DataFrame([episode_row(inst, ep.outcome, name, seed) for inst, ep in zip(instances, episodes)])
    return BestOfNResult(episodes, rows, pd.DataFrame(step_rows))


def paired_compare(a_rows: pd.DataFrame, b_rows: pd.DataFrame,
                   metrics: Mapping[str, str] = PAIRED_METRICS) -> pd.DataFrame:
    """``experiments.stats.paired_test`` of a − b per metric over the instances both sets hold (they must hold
    the same instances, one row each; None counts as 0, as a missing success). Columns: metric, n, a, b,
    diff, se, p, mde."""
    from ..experiments.stats import paired_test

    a, b = a_rows.set_index("instance_id"), b_rows.set_index("instance_id")
    if a.index.duplicated().any() or b.index.duplicated().any():
        raise ValueError("paired_compare: an instance appears twice in one set (one seed per set)")
    if set(a.index) != set(b.index):
        raise ValueError(f"paired_compare: the sets hold different instances ({len(set(a.index) ^ set(b.index))} "
                         "differ)")
    ids = sorted(a.index)

    def values(df, col):
        return [0.0 if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in df.loc[ids, col]]

    return pd.DataFrame([{"metric": name, **paired_test(values(a, col), values(b, col))}
                         for name, col in metrics.items()])


__all__ = ["BestOfNResult", "CHOOSERS", "HEADS", "PAIRED_METRICS", "PRM", "PRMExample", "PRMTrainConfig",
           "PRMTrainResult", "action_token_ids", "auc_bootstrap_ci", "auc_roc", "bce", "best_of_n_episodes",
           "build_prm", "calibration", "candidate_progress", "conversation_replay", "evaluate_prm", "evaluate_scores",
           "evaluation_labels", "examples_by_split", "examples_frame", "first_error_detection", "labels_by_split",
           "load_prm", "paired_compare",
           "pick_best", "prm_context", "prm_examples", "rerank_best_of_n", "split_examples", "stored_conversations",
           "target_of", "train_prm"]
