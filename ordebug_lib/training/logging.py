"""Per-step run log: ``<run_dir>/metrics.jsonl`` (one JSON object per logging step) and ``metrics.csv``.

A ``transformers.TrainerCallback``; the main process writes. Each row holds what the trainer logged at
that step plus ``step`` and ``time/wall_s`` (seconds since training began). The keys that matter, by
namespace:

- ``ordebug/reward/{mean,std}``            rewards of the training batch (after dynamic sampling)
- ``ordebug/groups/zero_std_frac``         fraction of sampled groups whose rewards all agree
- ``ordebug/advantage/{mean,std,max,min,abs_mean}``  the advantages the loss used (ours)
- ``ordebug/dynamic_sampling/{rounds,kept_groups,filled_zero_std_groups}``  when on
- ``completions/{mean,min,max}_length``, ``completions/clipped_ratio`` (truncation ratio)   TRL
- ``clip_ratio/{low_mean,high_mean,region_mean}``, ``kl`` (β > 0), ``entropy``, ``learning_rate``,
  ``loss``, ``grad_norm``, ``step_time``                                                  TRL / transformers

Non-finite values are written as ``null`` in JSONL (JSON has no NaN) and counted in ``nonfinite_keys``
of the row, never hidden. The CSV is rewritten from the JSONL at the end of training (columns: the
union of keys).
"""
from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

from transformers import TrainerCallback

REQUIRED_KEYS = (
    "ordebug/reward/mean", "ordebug/reward/std", "ordebug/groups/zero_std_frac", "ordebug/advantage/mean",
    "ordebug/advantage/std", "ordebug/advantage/max", "completions/mean_length", "completions/clipped_ratio",
    "clip_ratio/low_mean", "clip_ratio/high_mean", "entropy", "learning_rate", "time/wall_s",
)
"""Keys every training row must carry (``kl`` too when β > 0)."""


def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


class JsonlMetricsCallback(TrainerCallback):
    """Append every training log to ``run_dir/metrics.jsonl``; write ``metrics.csv`` at train end."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.jsonl = self.run_dir / "metrics.jsonl"
        self.csv = self.run_dir / "metrics.csv"
        self._t0: float | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self._t0 = time.perf_counter()
        if state.is_world_process_zero:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.jsonl.write_text("")

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or "train_runtime" in logs:
            return
        row = {"step": state.global_step, "time/wall_s": time.perf_counter() - (self._t0 or time.perf_counter())}
        nonfinite = []
        for k, v in logs.items():
            if isinstance(v, float) and not math.isfinite(v):
                nonfinite.append(k)
            row[k] = _clean(v)
        row["nonfinite_keys"] = nonfinite
        with self.jsonl.open("a") as f:
            f.write(json.dumps(row) + "\n")

    def on_train_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            write_csv(self.jsonl, self.csv)


def read_metrics(path: str | Path) -> list[dict]:
    """The rows of a ``metrics.jsonl``."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def write_csv(jsonl: str | Path, out: str | Path) -> Path:
    """``metrics.csv`` from ``metrics.jsonl`` (columns: union of keys, in first-seen order)."""
    rows = read_metrics(jsonl)
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    with Path(out).open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({k: (";".join(v) if isinstance(v, list) else v) for k, v in r.items()})
    return Path(out)
