"""One rank of a multi-process RL run (``accelerate launch``), for tests/test_scale_out_cpu.py.

Trains ``--steps`` optimizer steps of Countdown or OR-Debug GRPO on the tiny preset with the static engine, and
writes ``<out>/rank<k>.json``: what this rank generated each step (prompt hashes / episode instance ids), the
parameter checksum at the end, the world size and the per-device batch.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tiny_lm import make_distinct_tokens_reward  # noqa: E402  (python puts this script's folder on sys.path)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", choices=("countdown", "ordebug"), required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--engine", default="static")
    a = ap.parse_args()
    import torch

    from ordebug_lib.ordebug.saboteur import make_instance
    from ordebug_lib.policy.loader import load_policy
    from ordebug_lib.training import run
    from ordebug_lib.training.config import GRPORunConfig

    model, tok = load_policy("tiny", seed=0)
    with torch.no_grad():
        start = float(sum(p.detach().double().sum().item() for p in model.parameters()))
    # KRPO: non-zero advantages even where a random policy's group rewards agree, so there are gradients to sync
    common = dict(num_generations=2, per_device_train_batch_size=4, max_steps=a.steps, beta=0.0, learning_rate=1e-3,
                  seed=0, save_final=False, engine=a.engine, temperature=1.0, advantage_method="krpo")
    if a.task == "countdown":
        cfg = GRPORunConfig(**common, max_completion_length=8)
        tr = run.build_trainer(cfg, model, tok, run.countdown_dataset(32, 0), a.out / "run",
                               [make_distinct_tokens_reward(8)], use_cpu=True)
    else:
        cfg = GRPORunConfig(**common, reward="composite", max_turns=2, max_new_tokens_per_turn=8,
                            max_completion_length=16)
        insts = [make_instance(f, "A", "easy", seed=s) for f in ("diet", "knapsack") for s in (1, 2, 3, 4)]
        tr = run.build_ordebug_trainer(cfg, model, tok, insts, a.out / "run", use_cpu=True)
    seen = []
    generate = tr._generate

    def recording(prompts):
        out = generate(prompts)
        seen.append([hashlib.sha1(json.dumps(p, sort_keys=True).encode()).hexdigest()[:12] for p in prompts])
        return out

    tr._generate = recording
    tr.train()
    with torch.no_grad():
        checksum = float(sum(p.detach().double().sum().item() for p in tr.model.parameters()))
    rank = tr.accelerator.process_index
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / f"rank{rank}.json").write_text(json.dumps({
        "rank": rank, "world_size": tr.accelerator.num_processes, "prompts_per_step": seen,
        "param_checksum": checksum, "param_checksum_start": start, "per_device_batch": cfg.per_device_train_batch_size,
        "steps": tr.state.global_step, "engine": tr._engine.name if tr._engine is not None else "generate"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
