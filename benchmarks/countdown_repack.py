"""The single-turn repack of stopped rows, side by side: Countdown evaluation through the static engine with
``shrink_below`` 0.5 (the default: every ``SHRINK_EVERY`` decode steps, when fewer than half of the rows still
decode, the stopped ones are dropped and the rest re-packed) against 0 (never), on a trained warm start whose
completions stop at EOS at many lengths (random weights rarely emit EOS, so ``rollouts.py`` cannot show this).

    .venv/bin/python benchmarks/countdown_repack.py --warm-start-config params/10_countdown_grpo_vs_drgrpo/gpu.yaml \
        --device cuda --problems 1024 --budget 1024 --out runs/bench/repack.json          # the GPU numbers
    .venv/bin/python benchmarks/countdown_repack.py --tiny --problems 8 --budget 24 --out /tmp/repack.json  # CPU smoke

The warm start is trained here (``--warm-start-config``: a notebook-10 profile whose ``warm_start_config`` is
used; ``--tiny``: a seconds-long CPU recipe) unless ``--warm-start DIR`` names one. Greedy decoding: the two
settings must return the same completions (checked and reported). Each setting runs ``--repeats`` times,
alternating, after one warm-up each (CUDA-graph capture); reported: the median wall time, generated tokens/s
and the ratio off/on from this one process.
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

TINY = {"model": "tiny", "n_demos": 200, "n_val": 16, "num_numbers": [3], "stream_max_nodes": [3, 8], "steps": 30,
        "learning_rate": 0.003, "batch_size": 16, "warmup_steps": 0, "max_length": 512, "logging_steps": 10,
        "eval_steps": 30, "bf16": False, "seed": 0, "workers": 1}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--warm-start", type=Path, help="a countdown_warm_start directory")
    src.add_argument("--warm-start-config", type=Path, help="a notebook-10 profile (its warm_start_config is trained)")
    src.add_argument("--tiny", action="store_true", help="train a tiny CPU warm start (smoke)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--problems", type=int, default=1024)
    ap.add_argument("--budget", type=int, default=1024, help="max new tokens")
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path("runs/bench/repack_ws"))
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)

    import torch

    from ordebug_lib import provenance
    from ordebug_lib.policy.countdown_eval import evaluate_countdown
    from ordebug_lib.policy.countdown_sft import CountdownSFTConfig, countdown_warm_start, load_warm_start
    from ordebug_lib.policy.data import countdown_splits
    from ordebug_lib.policy.generation import SamplingConfig
    from ordebug_lib.policy.loader import load_policy, resolve_device
    from ordebug_lib.profiles import load_profile

    device = resolve_device(args.device)
    t0 = time.perf_counter()
    if args.warm_start:
        ws = load_warm_start(args.warm_start)
    else:
        cfg = TINY if args.tiny else load_profile(args.warm_start_config)["warm_start_config"]
        ws = countdown_warm_start(CountdownSFTConfig.from_dict(cfg), args.work, device=device)
    train_s = time.perf_counter() - t0
    _, problems = countdown_splits(1, args.problems, seed=1, num_numbers=tuple(ws.config.num_numbers),
                                   exclude_keys=tuple(p.key for p in ws.problems))
    pol = load_policy(ws.model_dir, device=device, dtype="bfloat16" if device == "cuda" else None, trainable=False)
    model, tok = pol.model, pol.tokenizer
    sampling = SamplingConfig(max_new_tokens=args.budget, temperature=0.0, batch_size=args.batch_size)
    settings = {"repack (shrink_below 0.5)": {"shrink_below": 0.5}, "no repack (shrink_below 0)": {"shrink_below": 0.0}}
    times = {k: [] for k in settings}
    outputs, stats = {}, {}
    for rep in range(args.repeats + 1):  # the first round warms up both
        for name, opts in settings.items():
            if device == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            ev = evaluate_countdown(model, tok, problems, sampling, template=ws.config.template, engine="static",
                                    engine_options=opts)
            if device == "cuda":
                torch.cuda.synchronize()
            if rep > 0 or args.repeats == 0:
                times[name].append(time.perf_counter() - t)
            outputs[name] = [r["completion"] for r in ev.rows]
            stats[name] = {"tokens": sum(r["n_tokens"] for r in ev.rows), "accuracy": ev.summary["accuracy"]}
    on, off = settings
    rows = {}
    for name in settings:
        wall = statistics.median(times[name])
        rows[name] = {"wall_s": wall, "runs_s": times[name], "gen_tokens_per_s": stats[name]["tokens"] / wall,
                      **stats[name]}
    n_tok = [r["n_tokens"] for r in ev.rows]
    result = {"device": torch.cuda.get_device_name(0) if device == "cuda" else platform.processor() or "cpu",
              "problems": len(problems), "budget": args.budget, "batch_size": args.batch_size,
              "repeats": args.repeats, "warm_start": str(ws.dir), "warm_start_s": train_s,
              "completion_tokens": {"mean": statistics.mean(n_tok), "max": max(n_tok), "min": min(n_tok)},
              "settings": rows, "same_completions": outputs[on] == outputs[off],
              "ratio_no_repack_over_repack": rows[off]["wall_s"] / rows[on]["wall_s"],
              "versions": provenance.package_versions(), "git": provenance.git_state(ROOT)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for name, r in rows.items():
        print(f"{name:28s} {r['wall_s']:8.2f} s  {r['gen_tokens_per_s']:10.0f} tok/s  accuracy {r['accuracy']:.3f}")
    print(f"no repack / repack wall time: {result['ratio_no_repack_over_repack']:.2f}x; same completions: "
          f"{result['same_completions']}; completion tokens mean {result['completion_tokens']['mean']:.0f}, "
          f"max {result['completion_tokens']['max']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
