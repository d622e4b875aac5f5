"""GRPO step time and generation tokens/s: our ``OrdebugGRPOTrainer`` vs plain TRL ``GRPOTrainer``.

Usage (the GPU numbers of issue 6)::

    .venv/bin/python benchmarks/grpo_step.py --device cuda --preset small --completions 64 \
        --lengths 128 512 --bf16 --out runs/bench/grpo_step.json

    .venv/bin/python benchmarks/grpo_step.py --device cpu --preset tiny --completions 4 --group-size 2 \
        --lengths 8 --steps 2 --out /tmp/grpo_step.json          # CPU smoke test

For each completion length L and each trainer: a fresh ``preset`` policy (same seed), the same Countdown
prompts, the same ``GRPOConfig`` (one generation batch of ``--completions`` completions = one optimizer step;
``min_new_tokens = max_new_tokens = L`` so every completion is exactly L tokens and both trainers process
the same batch shape), ``--steps`` optimizer steps of which the first is a warm-up. Reported per trainer:
median step wall time (generation + scoring + forward/backward + optimizer), median generation time, and
generation tokens/s = completions · L / generation time; then ours/TRL ratios from this one run.
Our trainer runs with its defaults for the comparison (GRPO advantages, ``loss_type="grpo"``, no dynamic
sampling), so the ratio measures the glue's overhead, not a different algorithm.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def bench_one(impl: str, length: int, a) -> dict:
    import torch
    from transformers import TrainerCallback
    from trl import GRPOTrainer

    from ordebug_lib.policy.loader import load_policy
    from ordebug_lib.tasks.countdown_trl import countdown_reward_func
    from ordebug_lib.training.config import GRPORunConfig
    from ordebug_lib.training.run import countdown_dataset
    from ordebug_lib.training.trainer import OrdebugGRPOTrainer

    torch.manual_seed(0)
    model, tok = load_policy(a.preset, seed=0)
    cfg = GRPORunConfig(num_generations=a.group_size, per_device_train_batch_size=a.completions,
                        max_completion_length=length, max_steps=a.steps, beta=0.0, learning_rate=1e-5,
                        bf16=a.bf16, seed=0, save_final=False)
    out_dir = Path(a.work_dir) / f"{impl}_{length}"
    args = cfg.to_grpo_config(str(out_dir), use_cpu=a.device == "cpu", disable_tqdm=True,
                              generation_kwargs={"min_new_tokens": length})
    ds = countdown_dataset(a.completions // a.group_size * (a.steps + 1), seed=0)
    kwargs = dict(model=model, processing_class=tok, reward_funcs=[countdown_reward_func], args=args, train_dataset=ds)
    trainer = OrdebugGRPOTrainer(**kwargs, run_config=cfg) if impl == "ours" else GRPOTrainer(**kwargs)

    gen_times, gen_tokens, step_times = [], [], []
    generate = trainer._generate

    def timed_generate(prompts):
        sync(a.device)
        t0 = time.perf_counter()
        out = generate(prompts)
        sync(a.device)
        gen_times.append(time.perf_counter() - t0)
        gen_tokens.append(sum(len(ids) for ids in out[1]))
        return out

    trainer._generate = timed_generate

    class StepTimer(TrainerCallback):
        def on_step_begin(self, *args, **kwargs):
            sync(a.device)
            self.t0 = time.perf_counter()

        def on_step_end(self, *args, **kwargs):
            sync(a.device)
            step_times.append(time.perf_counter() - self.t0)

    trainer.add_callback(StepTimer())
    trainer.train()
    if len(step_times) != a.steps or len(gen_times) != a.steps:
        raise RuntimeError(f"expected {a.steps} steps and generations, timed {len(step_times)} / {len(gen_times)}")
    steps, gens, toks = step_times[1:], gen_times[1:], gen_tokens[1:]  # the first step is a warm-up
    if any(t != a.completions * length for t in toks):
        raise RuntimeError(f"completions were not all {length} tokens: {toks}")
    return {"impl": impl, "length": length, "step_s_median": statistics.median(steps),
            "gen_s_median": statistics.median(gens), "gen_tokens_per_s": statistics.median(t / g for t, g in zip(toks, gens)),
            "step_s_all": step_times, "gen_s_all": gen_times}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--preset", default="small")
    ap.add_argument("--completions", type=int, default=64, help="completions per step (one generation batch)")
    ap.add_argument("--group-size", type=int, default=8)
    ap.add_argument("--lengths", type=int, nargs="+", default=[128, 512])
    ap.add_argument("--steps", type=int, default=4, help="optimizer steps per trainer (the first is a warm-up)")
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast (GPU)")
    ap.add_argument("--work-dir", default="/tmp/grpo_step_bench")
    ap.add_argument("--out", type=Path, default=Path("grpo_step.json"))
    a = ap.parse_args(argv)
    if a.steps < 2:
        raise SystemExit("--steps must be ≥ 2 (the first step is a warm-up)")
    if a.completions % a.group_size:
        raise SystemExit("--completions must be a multiple of --group-size")
    import torch

    if a.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda but CUDA is not available")
    from ordebug_lib.provenance import collect
    results = []
    for length in a.lengths:
        for impl in ("trl", "ours"):
            r = bench_one(impl, length, a)
            results.append(r)
            print(f"L={length:4d} {impl:4s}: step {r['step_s_median']:.3f}s  gen {r['gen_s_median']:.3f}s  "
                  f"{r['gen_tokens_per_s']:.0f} gen tok/s", flush=True)
    ratios = []
    for length in a.lengths:
        trl, ours = (next(r for r in results if r["impl"] == i and r["length"] == length) for i in ("trl", "ours"))
        ratios.append({"length": length, "step_time_ours_over_trl": ours["step_s_median"] / trl["step_s_median"],
                       "gen_tokens_per_s_ours_over_trl": ours["gen_tokens_per_s"] / trl["gen_tokens_per_s"]})
        print(f"L={length:4d} ratio ours/TRL: step time {ratios[-1]['step_time_ours_over_trl']:.3f}, "
              f"gen tok/s {ratios[-1]['gen_tokens_per_s_ours_over_trl']:.3f}")
    meta = {"device": torch.cuda.get_device_name(0) if a.device == "cuda" else "cpu", "torch": torch.__version__,
            "provenance": collect(ROOT), **{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()}}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"meta": meta, "results": results, "ratios": ratios}, indent=2))
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
