"""Stage timings of every RL optimizer step, logged as the large RL frameworks publish them.

=============  ==========================================================================================
stage          what its seconds cover (``timing/<stage>_s`` in the run's metrics; shares ``timing/<stage>_share``)
=============  ==========================================================================================
generation     the policy writing completions or actions (TRL's ``_generate`` minus ``env``)
env            OR-Debug only: ``RepairEnv`` steps (Gurobi re-solves) inside the rollout
rewards        the reward functions (``_calculate_rewards``)
logprobs       the rest of TRL's scoring round: padding, old / reference log-probs of the batch
update         everything else of the optimizer step: forward, backward, optimizer (step wall − the above)
=============  ==========================================================================================

``timing/step_s`` is the step's wall time and ``timing/gen_tokens_per_s`` the model-written tokens of the
step (observation tokens of OR-Debug excluded) per second of ``generation``. A step that reuses a buffered
generation (``steps_per_generation`` > gradient accumulation) has only ``update`` time: the stages are
charged to the step in which they ran. Boundaries synchronise CUDA so that queued kernels land in the stage
that launched them.

>>> clock = StageClock(sync=False)
>>> clock.add("generation", 3.0); clock.add("env", 1.0); clock.add("rewards", 0.5)
>>> row = clock.close_step(step_seconds=10.0, gen_tokens=600)
>>> row["timing/update_s"], row["timing/generation_share"], row["timing/gen_tokens_per_s"]
(5.5, 0.3, 200.0)
>>> clock.close_step(step_seconds=2.0)["timing/update_s"]  # a fresh step: only the update ran
2.0
"""
from __future__ import annotations

import time
from contextlib import contextmanager

from transformers import TrainerCallback

STAGES = ("generation", "env", "rewards", "logprobs", "update")


def cuda_sync() -> None:
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


class StageClock:
    """Seconds per stage of the current optimizer step."""

    def __init__(self, sync: bool = True):
        self.sync = sync
        self.seconds = dict.fromkeys(STAGES, 0.0)
        self.gen_tokens = 0

    def add(self, stage: str, seconds: float) -> None:
        if stage not in STAGES or stage == "update":
            raise KeyError(f"unknown stage {stage!r}; measured stages: {STAGES[:-1]}")
        self.seconds[stage] += seconds

    @contextmanager
    def time(self, stage: str):
        if self.sync:
            cuda_sync()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            if self.sync:
                cuda_sync()
            self.add(stage, time.perf_counter() - t0)

    def close_step(self, step_seconds: float, gen_tokens: int | None = None) -> dict[str, float]:
        """The metrics row of the step that just ended; the clock starts the next step at zero."""
        s = dict(self.seconds)
        s["update"] = max(step_seconds - sum(v for k, v in s.items() if k != "update"), 0.0)
        row = {"timing/step_s": step_seconds}
        for k, v in s.items():
            row[f"timing/{k}_s"] = v
            row[f"timing/{k}_share"] = v / step_seconds if step_seconds > 0 else 0.0
        tokens = self.gen_tokens if gen_tokens is None else gen_tokens
        if s["generation"] > 0:
            row["timing/gen_tokens_per_s"] = tokens / s["generation"]
        self.seconds = dict.fromkeys(STAGES, 0.0)
        self.gen_tokens = 0
        return row


class StageTimingCallback(TrainerCallback):
    """Closes the trainer's ``stage_clock`` at every optimizer step and hands the row to TRL's metrics (which
    averages it over ``logging_steps`` like every other metric)."""

    def __init__(self, trainer):
        self.trainer = trainer
        self._t0: float | None = None

    def on_step_begin(self, args, state, control, **kwargs):
        if self.trainer.stage_clock.sync:
            cuda_sync()
        self._t0 = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if self._t0 is None:
            return
        if self.trainer.stage_clock.sync:
            cuda_sync()
        row = self.trainer.stage_clock.close_step(time.perf_counter() - self._t0)
        for k, v in row.items():
            self.trainer._metrics["train"][k].append(v)
        self.trainer.stage_rows.append({"step": state.global_step, **row})
        self._t0 = None
