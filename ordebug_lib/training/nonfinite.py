"""Non-finite gradients: never applied, each one recorded, and the run fails past ``max_nonfinite_updates``.

Without this guard a NaN gradient reaches AdamW, every weight becomes NaN and the run goes on until sampling
asserts on a NaN probability (seen on the H200: E1 v2 arm ``grpo@1024-s1`` at step 41 of 60; its logged loss
stayed finite because transformers' ``logging_nan_inf_filter`` replaces a NaN micro-batch loss in the log).

| event, per optimizer step                 | what happens                                                         |
|-------------------------------------------|----------------------------------------------------------------------|
| every gradient finite                     | the optimizer steps as usual                                         |
| some gradient NaN/inf, count ≤ allowed    | no parameter is updated (their ``.grad`` is dropped, AdamW skips     |
|                                           | them: no moment or step-count change); one JSON line in              |
|                                           | ``<output_dir>/nonfinite_updates.jsonl``; ``ordebug/nonfinite_skipped``|
|                                           | (the running count) is logged at every step                          |
| count > ``max_nonfinite_updates``         | ``NonfiniteGradientError`` with the same record (default 0: the first)|

A record says where the NaN came from: each micro-batch's loss (finite or not: forward vs backward), its
completion and whole-sequence lengths (prompt + completion: past the context?) and advantage range, the
smallest old log-prob (a sampled token the policy finds impossible), the first parameters whose gradient is
not finite, and ``first_nonfinite_micro_batch``: the micro-batch whose backward made the accumulated gradient
non-finite (checked after each one's backward until one does: one host sync per micro-batch; E3 and E4 v2
met NaN gradients with every loss finite, and a step's 16 micro-batches did not say which batch it was). Skipping is the mixed-precision
convention (``torch.amp.GradScaler`` skips a step whose gradients overflowed); a run that skipped any update
reports how many beside its results.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import TrainerCallback

RECORD = "nonfinite_updates.jsonl"


class NonfiniteGradientError(RuntimeError):
    pass


def _stat(t: torch.Tensor | None, fn) -> float | None:
    if t is None or t.numel() == 0:
        return None
    return float(fn(t.detach().float()))


def micro_batch_summary(loss: torch.Tensor, inputs: dict) -> dict:
    """What one micro-batch's record keeps (tensors detached; read only when a record is written)."""
    mask, prompt = inputs.get("completion_mask"), inputs.get("prompt_mask")
    total = None if mask is None or prompt is None else (mask.sum(-1) + prompt.sum(-1)).detach()
    return {"loss": loss.detach(), "lengths": None if mask is None else mask.sum(-1).detach(), "total_lengths": total,
            "advantages": inputs.get("advantages"), "old_logps": inputs.get("old_per_token_logps"),
            "mask": mask}


def _describe(mb: dict) -> dict:
    old, mask = mb["old_logps"], mb["mask"]
    old_min = None
    if old is not None and mask is not None and mask.any():
        old_min = _stat(old[mask.bool()], torch.min)
    return {"loss": _stat(mb["loss"], lambda t: t.sum()), "loss_finite": bool(torch.isfinite(mb["loss"]).all()),
            "min_length": _stat(mb["lengths"], torch.min), "max_length": _stat(mb["lengths"], torch.max),
            "max_sequence_length": _stat(mb.get("total_lengths"), torch.max),
            "advantage_min": _stat(mb["advantages"], torch.min), "advantage_max": _stat(mb["advantages"], torch.max),
            "old_logp_min": old_min}


def _grad_norms(model) -> tuple[list[str], torch.Tensor | None]:
    params = [(n, p) for n, p in model.named_parameters() if p.grad is not None]
    if not params:
        return [], None
    return [n for n, _ in params], torch.stack(torch._foreach_norm([p.grad for _, p in params]))


class NonfiniteGuardCallback(TrainerCallback):
    """Checks the gradients after clipping, before ``optimizer.step`` (one host sync per optimizer step), and
    the accumulated gradient after each micro-batch's backward until it is non-finite (one sync per micro-batch)."""

    def __init__(self, trainer, allowed: int):
        self.trainer, self.allowed = trainer, allowed
        self.micro_batches: list[dict] = []  # the current optimizer step's (``OrdebugGRPOTrainer._compute_loss``)
        self.first_bad: int | None = None  # index of the micro-batch whose backward made the gradient non-finite
        self.records: list[dict] = []

    def on_step_begin(self, args, state, control, **kwargs):
        self.micro_batches, self.first_bad = [], None

    def on_substep_end(self, args, state, control, **kwargs):  # after each backward but the step's last
        if self.first_bad is None:
            _, norms = _grad_norms(self.trainer.model)
            if norms is not None and not bool(torch.isfinite(norms).all()):
                self.first_bad = len(self.micro_batches) - 1

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        names, norms = _grad_norms(self.trainer.model)
        if norms is None or bool(torch.isfinite(norms).all()):
            return
        bad = [n for n, ok in zip(names, torch.isfinite(norms).tolist()) if not ok]
        first = self.first_bad if self.first_bad is not None else len(self.micro_batches) - 1
        record = {"step": state.global_step + 1, "skipped": len(self.records) + 1, "allowed": self.allowed,
                  "nonfinite_parameters": len(bad), "first_parameters": bad[:8], "first_nonfinite_micro_batch": first,
                  "micro_batches": [_describe(mb) for mb in self.micro_batches]}
        self.records.append(record)
        out = Path(args.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        with open(out / RECORD, "a") as f:
            f.write(json.dumps(record) + "\n")
        if len(self.records) > self.allowed:
            raise NonfiniteGradientError(
                f"non-finite gradient at optimizer step {record['step']} (update {len(self.records)} with one; "
                f"max_nonfinite_updates={self.allowed}); record in {out / RECORD}: {json.dumps(record)[:600]}")
        for p in self.trainer.model.parameters():
            p.grad = None  # AdamW leaves a parameter without a gradient untouched (moments and step count too)

    def on_step_end(self, args, state, control, **kwargs):
        self.trainer._metrics["train"]["ordebug/nonfinite_skipped"].append(float(len(self.records)))
