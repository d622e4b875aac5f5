"""Whole RL optimizer steps per second: ``engine='generate'`` (the baseline) vs ``engine='static'``, side by side.

Usage (the GPU numbers of the "Fast rollouts" issue; one process, one run)::

    .venv/bin/python benchmarks/rl_steps.py --model small --device cuda --dtype bf16 --tasks countdown ordebug \
        --batches 64 512 --steps 3 --out runs/bench/rl_steps_small.json
    .venv/bin/python benchmarks/rl_steps.py --model qwen3-0.6b --lora --gradient-checkpointing --tasks ordebug \
        --batches 64 --out runs/bench/rl_steps_qwen3_0.6b.json

    .venv/bin/python benchmarks/rl_steps.py --model tiny --device cpu --batches 4 --group 2 --new-tokens 8 \
        --max-turns 2 --turn-tokens 6 --steps 2 --micro-batch 4 --out /tmp/rl_steps.json      # CPU smoke

What one measurement is: a fresh policy (same seed), ``OrdebugGRPOTrainer`` (``training/run.py``) with GRPO
advantages and loss, β = 0, one generation of B completions (Countdown, ``--new-tokens`` budget) or B OR-Debug
episodes (``--max-turns`` turns of ``--turn-tokens``; ``B / --group`` distinct instances, each repeated
``--group`` times as GRPO does) per optimizer step, trained in micro-batches of ``--micro-batch`` (gradient
accumulation, so B = 512 fits beside other arms), ``--steps`` optimizer steps of which the first is a warm-up
(graph capture, allocator growth). Reported per run: the median step time and **episodes per second of whole
optimizer steps** (B / step time: generation, env, rewards, log-probs, update — the stage timings of
``training/timing.py``, with their medians), peak CUDA memory; then, per task, the ratios the issue asks for:
the engine at each batch over the baseline at the first batch (the published setting, 64) and over the
baseline at the same batch.

Models as in ``benchmarks/rollouts.py`` (presets with fresh weights, or Qwen3 shapes with random weights and
Qwen3's vocabulary). Random weights write near-gibberish: Countdown rewards are 0 (zero-std groups, advantages
0 — the update still runs its full forward and backward), OR-Debug episodes end on their budget or the context.
The model is cast to ``--dtype`` and trained in it (no autocast), the same for both engines.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from rollouts import QWEN3_SHAPES, load_model, ordebug_instances, peak_gb, peak_reset, sync  # noqa: E402


def run_config(a, task: str, engine: str, batch: int):
    from ordebug_lib.training.config import GRPORunConfig

    micro = min(a.micro_batch, batch)
    if batch % micro:
        raise SystemExit(f"--micro-batch {micro} must divide the batch {batch}")
    common = dict(num_generations=a.group, per_device_train_batch_size=micro, gradient_accumulation_steps=batch // micro,
                  max_steps=a.steps, beta=0.0, learning_rate=1e-5, seed=a.seed, save_final=False,
                  temperature=1.0, engine=engine, gradient_checkpointing=a.gradient_checkpointing,
                  engine_options={"decode": a.decode} if engine == "static" else {})
    if task == "countdown":
        return GRPORunConfig(**common, max_completion_length=a.new_tokens, reward="countdown")
    return GRPORunConfig(**common, max_completion_length=a.max_turns * a.turn_tokens, reward="composite",
                         max_turns=a.max_turns, max_new_tokens_per_turn=a.turn_tokens,
                         max_context_tokens=a.max_context_tokens,
                         env_workers=a.env_workers if engine == "static" else a.baseline_env_workers)


def bench_one(a, task: str, engine: str, batch: int) -> dict:
    import torch

    from ordebug_lib.policy.loader import lora_config
    from ordebug_lib.training.run import build_countdown_trainer, build_ordebug_trainer, countdown_dataset

    model, tok = load_model(a.model, a.device, a.dtype, a.seed)
    model.train().requires_grad_(True)
    if a.lora:
        from peft import get_peft_model

        model = get_peft_model(model, lora_config({"r": 16}))
    cfg = run_config(a, task, engine, batch)
    run_dir = Path(a.work_dir) / f"{task}_{engine}_{batch}"
    over = dict(use_cpu=a.device == "cpu", disable_tqdm=True)
    if task == "countdown":
        ds = countdown_dataset(batch // a.group * (a.steps + 1), seed=a.seed)
        tr = build_countdown_trainer(cfg, model, tok, ds, run_dir, **over)
    else:
        from ordebug_lib.training.rollouts import env_config_for, fits_context

        distinct = ordebug_instances(max(2, batch // a.group), a.seed)
        distinct, _ = fits_context(tok, distinct, env_config_for(a.max_turns, "composite"), a.turn_tokens,
                                   a.max_context_tokens)
        tr = build_ordebug_trainer(cfg, model, tok, distinct, run_dir, **over)
    peak_reset(a.device)
    sync(a.device)
    t0 = time.perf_counter()
    tr.train()
    sync(a.device)
    wall = time.perf_counter() - t0
    rows = tr.stage_rows
    if len(rows) != a.steps:
        raise RuntimeError(f"expected {a.steps} timed steps, got {len(rows)}")
    timed = rows[1:]  # the first step is a warm-up
    med = {k: statistics.median(r[k] for r in timed) for k in timed[0] if k.startswith("timing/")}
    step_s = med["timing/step_s"]
    out = {"task": task, "engine": engine, "batch": batch, "steps": a.steps, "wall_s": wall,
           "step_s_median": step_s, "episodes_per_s": batch / step_s, "stage_medians": med,
           "stage_rows": rows, "peak_mem_gb": peak_gb(a.device)}
    if task == "ordebug":
        eps = tr.ordebug_rollout.last_episodes
        out["mean_episode_steps"] = statistics.mean(e.steps for e in eps)
        out["context_truncated_rate"] = statistics.mean(float(e.context_truncated) for e in eps)
    del tr, model
    if a.device.startswith("cuda"):
        torch.cuda.empty_cache()
    return out


def ratios(results: list[dict], task: str, batches: list[int]) -> list[dict]:
    get = {(r["engine"], r["batch"]): r for r in results if r["task"] == task}
    base0 = get.get(("generate", batches[0]))
    out = []
    for b in batches:
        eng, base = get.get(("static", b)), get.get(("generate", b))
        if eng is None:
            continue
        row = {"task": task, "batch": b}
        if base0 is not None:
            row[f"engine_at_{b}_over_baseline_at_{batches[0]}"] = eng["episodes_per_s"] / base0["episodes_per_s"]
        if base is not None:
            row["engine_over_baseline_same_batch"] = eng["episodes_per_s"] / base["episodes_per_s"]
        out.append(row)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="small", help="preset (tiny, small, base) or " + ", ".join(QWEN3_SHAPES))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default="bf16", choices=["fp32", "bf16"])
    ap.add_argument("--tasks", nargs="+", default=["countdown", "ordebug"], choices=["countdown", "ordebug"])
    ap.add_argument("--engines", nargs="+", default=["generate", "static"], choices=["generate", "static"])
    ap.add_argument("--batches", type=int, nargs="+", default=[64, 512], help="completions / episodes per step")
    ap.add_argument("--group", type=int, default=8, help="GRPO group size")
    ap.add_argument("--micro-batch", type=int, default=64, help="rows per training forward (gradient accumulation)")
    ap.add_argument("--steps", type=int, default=3, help="optimizer steps per run; the first is a warm-up")
    ap.add_argument("--new-tokens", type=int, default=512, help="Countdown: completion budget")
    ap.add_argument("--max-turns", type=int, default=20)
    ap.add_argument("--turn-tokens", type=int, default=48)
    ap.add_argument("--max-context-tokens", type=int, default=4096)
    ap.add_argument("--env-workers", type=int, default=1,
                    help="OR-Debug, static engine: processes stepping the envs (0: one per core)")
    ap.add_argument("--baseline-env-workers", type=int, default=1, help="the same for the baseline (today: 1)")
    ap.add_argument("--decode", default="auto", choices=["auto", "eager", "compile", "cuda_graph"])
    ap.add_argument("--lora", action="store_true", help="train LoRA adapters (r=16, Qwen3 targets)")
    ap.add_argument("--gradient-checkpointing", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work-dir", default="/tmp/rl_steps_bench")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    if a.steps < 2:
        raise SystemExit("--steps must be >= 2 (the first is a warm-up)")
    import os

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    import torch
    import transformers
    from tqdm import tqdm

    from ordebug_lib.policy.loader import resolve_device
    from ordebug_lib.provenance import collect

    a.device = resolve_device(a.device)
    info = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()},
            "torch": torch.__version__, "transformers": transformers.__version__, "python": platform.python_version(),
            "device_name": torch.cuda.get_device_name() if a.device.startswith("cuda") else platform.processor(),
            "provenance": collect(ROOT)}
    jobs = [(t, e, b) for t in a.tasks for b in a.batches for e in a.engines]
    info["env_workers"] = {"static": a.env_workers, "generate": a.baseline_env_workers}
    results = []
    for task, engine, batch in tqdm(jobs, desc="rl steps", unit="run"):
        r = bench_one(a, task, engine, batch)
        results.append(r)
        s = r["stage_medians"]
        tqdm.write(f"{task:9s} {engine:8s} B={batch:4d}: step {r['step_s_median']:7.2f}s  {r['episodes_per_s']:7.2f} ep/s"
                   f"  gen {s['timing/generation_s']:.2f}s env {s['timing/env_s']:.2f}s logp {s['timing/logprobs_s']:.2f}s"
                   f" upd {s['timing/update_s']:.2f}s  peak {r['peak_mem_gb']} GB")
        a.out.parent.mkdir(parents=True, exist_ok=True)  # written after every run: a kill keeps what finished
        a.out.write_text(json.dumps({"info": info, "results": results}, indent=2))
    rat = [x for t in a.tasks for x in ratios(results, t, a.batches)]
    for x in rat:
        print(json.dumps(x))
    a.out.write_text(json.dumps({"info": info, "results": results, "ratios": rat}, indent=2))
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
