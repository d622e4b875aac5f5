"""A non-finite gradient is never applied (``training/nonfinite.py``): within ``max_nonfinite_updates`` the update is
skipped (the weights after it equal the weights before it), recorded and counted; past it the run fails.

The NaN is injected into one parameter's gradient at one optimizer step by a tensor hook, as a NaN from the
backward pass would arrive (the H200 case: E1 v2 ``grpo@1024-s1``, step 41)."""
import json
import math
import sys
from pathlib import Path

import pytest
import torch
from transformers import TrainerCallback

sys.path.insert(0, str(Path(__file__).parent))
from tiny_lm import make_tiny_lm, tiny_countdown_trainer  # noqa: E402

from ordebug_lib.training.config import GRPORunConfig  # noqa: E402
from ordebug_lib.training.logging import read_metrics  # noqa: E402
from ordebug_lib.training.nonfinite import RECORD, NonfiniteGradientError  # noqa: E402

pytestmark = pytest.mark.slow
L_MAX = 8
NAN_STEP = 2  # the optimizer step (1-based) whose gradient gets a NaN


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    return make_tiny_lm(tmp_path_factory.mktemp("tiny_nonfinite"))


class Weights(TrainerCallback):
    """The weights at the end of every optimizer step, and a NaN put into one gradient at ``NAN_STEP``."""

    def __init__(self, trainer):
        self.trainer, self.after = trainer, {}
        self.param = next(p for n, p in trainer.model.named_parameters() if n.endswith("q_proj.weight"))
        self.param.register_hook(self.poison)
        self.before = self.snapshot()

    def snapshot(self):
        return {n: p.detach().clone() for n, p in self.trainer.model.named_parameters()}

    def poison(self, grad):
        return grad * math.nan if self.trainer.state.global_step + 1 == NAN_STEP else grad

    def on_step_end(self, args, state, control, **kwargs):
        self.after[state.global_step] = self.snapshot()


def trainer(tiny_path, run_dir, **kw):
    tr, _ = tiny_countdown_trainer(tiny_path, run_dir, l_max=L_MAX, max_steps=3, engine="static", **kw)
    w = Weights(tr)
    tr.add_callback(w)
    return tr, w


def test_a_nan_gradient_within_the_allowance_is_skipped_recorded_and_counted(tiny_path, tmp_path):
    tr, w = trainer(tiny_path, tmp_path / "run", max_nonfinite_updates=1)
    tr.train()
    steps = sorted(w.after)
    assert steps == [1, 2, 3]
    moved = lambda a, b: any(not torch.equal(a[n], b[n]) for n in a)  # noqa: E731
    assert moved(w.before, w.after[1]) and moved(w.after[2], w.after[3])  # the other steps update
    assert not moved(w.after[1], w.after[2])  # the poisoned step changed no weight
    assert all(torch.isfinite(p).all() for p in tr.model.parameters())
    records = [json.loads(line) for line in (tmp_path / "run" / RECORD).read_text().splitlines()]
    assert len(records) == 1
    r = records[0]
    assert r["step"] == NAN_STEP and r["skipped"] == 1 and r["allowed"] == 1
    assert r["nonfinite_parameters"] >= 1 and any(n.endswith("q_proj.weight") for n in r["first_parameters"])
    assert r["micro_batches"] and all(mb["loss_finite"] for mb in r["micro_batches"])  # NaN from the backward
    assert all(1 <= mb["min_length"] <= mb["max_length"] <= L_MAX for mb in r["micro_batches"])
    rows = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [row["ordebug/nonfinite_skipped"] for row in rows] == [0.0, 1.0, 1.0]


def test_a_nan_gradient_past_the_allowance_fails_the_run_before_it_is_applied(tiny_path, tmp_path):
    tr, w = trainer(tiny_path, tmp_path / "run")  # default 0: fail at the first
    assert tr.run_config.max_nonfinite_updates == 0
    with pytest.raises(NonfiniteGradientError, match=f"optimizer step {NAN_STEP}.*max_nonfinite_updates=0"):
        tr.train()
    assert all(torch.isfinite(p).all() for p in tr.model.parameters())
    assert json.loads((tmp_path / "run" / RECORD).read_text())["step"] == NAN_STEP


def test_config_refuses_a_negative_allowance():
    with pytest.raises(ValueError, match="max_nonfinite_updates must be >= 0"):
        GRPORunConfig(max_nonfinite_updates=-1)


class PoisonOne(TrainerCallback):
    """A NaN in one parameter's gradient from micro-batch ``k`` (0-based) of optimizer step ``NAN_STEP`` only."""

    def __init__(self, trainer, k: int):
        self.trainer, self.k, self.calls = trainer, k, 0
        next(p for n, p in trainer.model.named_parameters() if n.endswith("q_proj.weight")).register_hook(self.poison)

    def on_step_begin(self, args, state, control, **kwargs):
        self.calls = 0

    def poison(self, grad):
        self.calls += 1
        return grad * math.nan if self.trainer.state.global_step + 1 == NAN_STEP and self.calls == self.k + 1 else grad


@pytest.mark.parametrize("k", [0, 1, 2])
def test_the_record_names_the_micro_batch_whose_backward_made_the_gradient_non_finite(tiny_path, tmp_path, k):
    tr, _ = tiny_countdown_trainer(tiny_path, tmp_path / "run", l_max=L_MAX, max_steps=2, engine="static",
                                   gradient_accumulation_steps=3, max_nonfinite_updates=1)
    tr.add_callback(PoisonOne(tr, k))
    tr.train()
    (r,) = [json.loads(line) for line in (tmp_path / "run" / RECORD).read_text().splitlines()]
    assert r["step"] == NAN_STEP and len(r["micro_batches"]) == 3 and r["first_nonfinite_micro_batch"] == k
    assert all(mb["max_length"] < mb["max_sequence_length"] for mb in r["micro_batches"])  # prompt + completion
