"""DAPO dynamic sampling plumbing (arXiv 2503.14476 §3.2): pick rows of a scored batch, merge rounds, refill.

TRL 1.16 has no dynamic sampling, so the trainer (``trainer.py``) generates a batch, drops the groups whose
rewards all agree (``ordebug_lib.advantages.dynamic_sampling_mask``, zero std) and generates further
groups from fresh prompts until the batch is full again. This module holds the tensor bookkeeping:

- ``select_rows(batch, idx)``: the rows ``idx`` of one scored batch (the dict TRL's
  ``_generate_and_score_completions`` returns);
- ``concat_batches(batches, pad_token_id)``: several such dicts as one, re-padding each tensor the way
  TRL pads it (prompts on the left, completions on the right);
- ``RefillSampler``: a seeded stream of dataset rows, each repeated G times, for the refill rounds.

Keys this module does not know (images, vLLM fields it was not told about) raise: a batch is never
merged with a field silently dropped.
"""
from __future__ import annotations

from typing import Sequence

import torch

# key -> (padding side, padding value; None = the tokenizer's pad id)
PADDED_KEYS = {
    "prompt_ids": ("left", None),
    "prompt_mask": ("left", 0),
    "completion_ids": ("right", None),
    "completion_mask": ("right", 0),
    "tool_mask": ("right", 1),  # as TRL pads it; the completion mask zeroes the padding anyway
    "old_per_token_logps": ("right", 0.0),
    "ref_per_token_logps": ("right", 0.0),
    "sampling_per_token_logps": ("right", 0.0),
    "importance_sampling_ratio": ("right", 0.0),
}
ROW_KEYS = ("advantages",)  # (B,) per-row tensors
RECOMPUTED_KEYS = ("num_items_in_batch",)  # batch-level scalars the caller recomputes


def _check_keys(batch: dict) -> None:
    unknown = set(batch) - set(PADDED_KEYS) - set(ROW_KEYS) - set(RECOMPUTED_KEYS)
    if unknown:
        raise ValueError(f"dynamic sampling cannot merge the batch field(s) {sorted(unknown)} "
                         "(multimodal inputs are not supported with dynamic sampling)")


def select_rows(batch: dict, idx: torch.Tensor | Sequence[int]) -> dict:
    """The rows ``idx`` of a scored batch; batch-level scalars (``num_items_in_batch``) are left out."""
    _check_keys(batch)
    idx = torch.as_tensor(idx, dtype=torch.long)
    out = {}
    for k, v in batch.items():
        if k in RECOMPUTED_KEYS:
            continue
        out[k] = v[idx.to(v.device)]
    return out


def _pad_to(x: torch.Tensor, width: int, side: str, value) -> torch.Tensor:
    extra = width - x.shape[1]
    if extra == 0:
        return x
    pad = torch.full((x.shape[0], extra), value, dtype=x.dtype, device=x.device)
    return torch.cat([pad, x] if side == "left" else [x, pad], dim=1)


def concat_batches(batches: Sequence[dict], pad_token_id: int) -> dict:
    """Stack the rows of several scored batches (as returned by ``select_rows``) into one, re-padded.

    Example: prompt_ids [[5, 6]] and [[7]] → [[5, 6], [pad, 7]] (left); completion_ids [[1]] and [[2, 3]]
    → [[1, pad], [2, 3]] (right).
    """
    if not batches:
        raise ValueError("concat_batches needs at least one batch")
    keys = set(batches[0])
    for b in batches:
        _check_keys(b)
        if set(b) != keys:
            raise ValueError(f"batches carry different fields: {sorted(keys)} vs {sorted(b)}")
    out = {}
    for k in batches[0]:
        if k in PADDED_KEYS:
            side, value = PADDED_KEYS[k]
            value = pad_token_id if value is None else value
            width = max(b[k].shape[1] for b in batches)
            out[k] = torch.cat([_pad_to(b[k], width, side, value) for b in batches], dim=0)
        else:
            out[k] = torch.cat([b[k] for b in batches], dim=0)
    return out


class RefillSampler:
    """Endless seeded stream of dataset rows for refill rounds: one random permutation after another,
    a different stream per process (``seed``, ``process_index``). ``draw(n, G)`` returns n distinct-ish
    prompts, each repeated G times contiguously (the layout TRL's ``RepeatSampler`` gives)."""

    def __init__(self, dataset, seed: int, process_index: int = 0):
        if len(dataset) == 0:
            raise ValueError("dynamic sampling needs a non-empty train dataset to refill from")
        self.dataset = dataset
        self.generator = torch.Generator().manual_seed(10_007 * (seed + 1) + process_index)
        self._order: list[int] = []

    def _next_index(self) -> int:
        if not self._order:
            self._order = torch.randperm(len(self.dataset), generator=self.generator).tolist()
        return self._order.pop()

    def draw(self, n_prompts: int, group_size: int) -> list[dict]:
        rows = [dict(self.dataset[self._next_index()]) for _ in range(n_prompts)]
        return [dict(r) for r in rows for _ in range(group_size)]
