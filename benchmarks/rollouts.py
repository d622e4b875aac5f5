"""Rollout generation speed: the reference ``generate`` engine vs the ``static`` engine, side by side.

Usage (the GPU numbers of the "Fast rollouts" issue)::

    .venv/bin/python benchmarks/rollouts.py --model small --device cuda --dtype bf16 --batches 64 512 \
        --new-tokens 512 --max-turns 20 --out runs/bench/rollouts_small.json
    .venv/bin/python benchmarks/rollouts.py --model qwen3-0.6b --device cuda --dtype bf16 --batches 64 256 \
        --out runs/bench/rollouts_qwen3_0.6b.json

    .venv/bin/python benchmarks/rollouts.py --model tiny --device cpu --batches 2 4 --new-tokens 16 \
        --prompt-tokens 24 --max-turns 2 --turn-tokens 8 --repeats 1 --out /tmp/rollouts.json   # CPU smoke

Models: a preset of ``policy.presets`` (``tiny``, ``small``, ``base``: fresh seeded weights, the project
tokenizer), or a Qwen3 shape with random weights and Qwen3's real vocabulary (151,936; the project tokenizer
still writes the prompts and reads the actions: ids it does not know decode to nothing) — ``qwen3-0.6b``,
``qwen3-1.7b``. Random weights rarely emit EOS, so rows mostly run to their budget, as in RL's long tail.

Two measurements per batch size B, each run ``--repeats`` times (the first is a warm-up: CUDA-graph capture,
compilation and allocator growth happen there; the median of the others is reported, or the only run):

a. single turn: B prompts of ``--prompt-tokens`` random ids, ``--new-tokens`` new tokens each, one
   GenerateFn call. Reported: generated tokens/s (EOS counted, padding never), ms per decode step
   (generation wall time / decode steps, prefill included), peak CUDA memory; with greedy decoding
   (``--temperature 0``, the default) also how many rows the engine reproduced exactly and their mean common
   prefix with the baseline ("jitter": on GPU in bf16 the two paths round differently and greedy paths drift
   apart after a near-tie), and batch invariance of the engine (the first rows again, alone).
b. multi turn: B OR-Debug episodes (``B / --group`` distinct instances, each repeated ``--group`` times as GRPO
   does) of up to ``--max-turns`` turns of ``--turn-tokens`` tokens, through ``run_token_episodes``: the
   baseline is ``model_generate_fn`` (re-prefills the whole context every turn), the engine its
   ``multi_turn()`` function (keeps the KV cache). Reported: episodes/s, generated tokens/s (policy tokens),
   generation time alone (env steps excluded), prefill tokens, whether the episodes are identical.

Ratios are engine / baseline from this one process and run; CPU numbers say nothing about GPU speed.
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

# Qwen3 shapes (config.json of the released checkpoints), built with random weights
QWEN3_SHAPES = {
    "qwen3-0.6b": dict(hidden_size=1024, num_hidden_layers=28, num_attention_heads=16, num_key_value_heads=8,
                       head_dim=128, intermediate_size=3072, vocab_size=151936, tie_word_embeddings=True,
                       max_position_embeddings=40960, rope_theta=1000000.0, rms_norm_eps=1e-6),
    "qwen3-1.7b": dict(hidden_size=2048, num_hidden_layers=28, num_attention_heads=16, num_key_value_heads=8,
                       head_dim=128, intermediate_size=6144, vocab_size=151936, tie_word_embeddings=True,
                       max_position_embeddings=40960, rope_theta=1000000.0, rms_norm_eps=1e-6),
}


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def load_model(name: str, device: str, dtype: str, seed: int):
    import torch

    from ordebug_lib.policy.loader import load_policy
    from ordebug_lib.policy.tokenizer import project_tokenizer

    if name not in QWEN3_SHAPES:
        model, tok = load_policy(name, device=device, dtype=dtype, seed=seed, trainable=False)
        return model, tok
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tok = project_tokenizer()
    cfg = Qwen3Config(pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=None,
                      **QWEN3_SHAPES[name])
    torch.manual_seed(seed)
    torch_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
    with torch.device(device):
        model = Qwen3ForCausalLM(cfg).to(torch_dtype)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    model.eval().requires_grad_(False)
    return model, tok


class Counter:
    """Counts the model's eager forwards (CUDA-graph replays never reach Python: the engine counts those)."""

    def __init__(self, model):
        self.decode_steps = self.prefill_tokens = 0
        self.handle = model.register_forward_pre_hook(self.hook, with_kwargs=True)

    def hook(self, module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is not None:
            if ids.shape[1] == 1:
                self.decode_steps += 1
            else:
                self.prefill_tokens += int(ids.numel())

    def close(self):
        self.handle.remove()


def peak_reset(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()


def peak_gb(device: str):
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**30, 3) if device.startswith("cuda") else None


def median_run(runs: list[dict]) -> dict:
    """The run of median wall time among the measured ones (all but the warm-up when there are several)."""
    runs = runs[1:] if len(runs) > 1 else runs
    order = sorted(runs, key=lambda r: r["seconds"])
    out = dict(order[len(order) // 2])
    out["seconds_all"] = [round(r["seconds"], 4) for r in runs]
    return out


def make_engines(model, tok, a):
    from ordebug_lib.policy.engine import EngineConfig, make_engine
    from ordebug_lib.policy.generation import SamplingConfig

    sampling = SamplingConfig(temperature=a.temperature, top_p=a.top_p, seed=a.seed)
    config = EngineConfig(kv_bucket=a.kv_bucket, len_bucket=a.len_bucket, decode=a.decode,
                          prefill_chunk=a.prefill_chunk)
    return make_engine("generate", model, tok, sampling), make_engine("static", model, tok, sampling, config)


def common_prefix(x, y) -> int:
    return next((i for i, (p, q) in enumerate(zip(x, y)) if p != q), min(len(x), len(y)))


def single_turn(model, tok, a, batch: int, engines) -> dict:
    import random

    rng = random.Random(a.seed + batch)
    prompts = [[rng.randrange(10, len(tok)) for _ in range(a.prompt_tokens)] for _ in range(batch)]
    result = {"batch": batch}
    outs = {}
    for label, eng in zip(("baseline", "engine"), engines):
        runs = []
        for _ in range(a.repeats):
            counter = Counter(model)
            stats0 = dict(getattr(eng, "stats", {}))
            peak_reset(a.device)
            sync(a.device)
            t0 = time.perf_counter()
            out = eng(prompts, a.new_tokens)
            sync(a.device)
            dt = time.perf_counter() - t0
            counter.close()
            steps = (eng.stats["decode_steps"] - stats0["decode_steps"]) if hasattr(eng, "stats") else counter.decode_steps
            tokens = sum(len(ids) for ids, _ in out)
            runs.append({"seconds": dt, "tokens": tokens, "tokens_per_s": tokens / dt, "decode_steps": steps,
                         "ms_per_decode_step": 1e3 * dt / max(steps, 1), "peak_mem_gb": peak_gb(a.device)})
        outs[label] = out
        result[label] = median_run(runs)
    result["ratio"] = {"tokens_per_s": result["engine"]["tokens_per_s"] / result["baseline"]["tokens_per_s"]}
    if a.temperature == 0:
        ref, got = outs["baseline"], outs["engine"]
        prefixes = [common_prefix(x[0], y[0]) for x, y in zip(ref, got)]
        result["same_ids"] = ref == got
        result["agreement"] = {"rows_equal": sum(x == y for x, y in zip(ref, got)) / len(ref),
                               "mean_common_prefix": statistics.mean(prefixes),
                               "mean_length": statistics.mean(len(x[0]) for x in ref)}
        k = min(4, batch)
        alone = [engines[1]([p], a.new_tokens)[0] for p in prompts[:k]]
        result["engine_batch_invariant_rows"] = sum(x == y for x, y in zip(alone, got[:k])) / k
    return result


def ordebug_instances(n: int, seed: int):
    from ordebug_lib.ordebug.saboteur import make_instance

    families = ("diet", "knapsack", "production_planning", "transportation", "assignment", "staffing")
    out, s = [], seed
    while len(out) < n:
        try:
            out.append(make_instance(families[len(out) % len(families)], "AB"[len(out) % 2], "easy", seed=s))
        except Exception:  # noqa: BLE001 - a family/seed without a valid instance: try the next seed
            pass
        s += 1
    return out


def multi_turn(model, tok, a, batch: int, engines) -> dict:
    import dataclasses

    from ordebug_lib.training.rollouts import env_config_for, fits_context, run_token_episodes

    cfg = env_config_for(a.max_turns, "composite")
    distinct = ordebug_instances(max(1, batch // a.group), a.seed)
    distinct, _ = fits_context(tok, distinct, cfg, a.turn_tokens, a.max_context_tokens)
    if not distinct:
        raise SystemExit("no instance fits --max-context-tokens with one action")
    instances = [distinct[i % len(distinct)] for i in range(batch)]
    result = {"batch": batch, "distinct_instances": len(distinct)}
    episodes = {}
    for label, eng in zip(("baseline", "engine"), engines):
        runs = []
        for _ in range(a.repeats):
            gen_time = [0.0]
            inner = eng.multi_turn()

            def timed(contexts, n, inner=inner):
                sync(a.device)
                t = time.perf_counter()
                out = inner(contexts, n)
                sync(a.device)
                gen_time[0] += time.perf_counter() - t
                return out

            counter = Counter(model)
            stats0 = dict(getattr(eng, "stats", {}))
            peak_reset(a.device)
            t0 = time.perf_counter()
            eps = run_token_episodes(timed, tok, instances, cfg, a.turn_tokens, a.max_context_tokens)
            dt = time.perf_counter() - t0
            counter.close()
            if hasattr(inner, "reset"):
                inner.reset()
            policy_tokens = sum(sum(e.env_mask) for e in eps)
            if hasattr(eng, "stats"):
                steps = eng.stats["decode_steps"] - stats0["decode_steps"]
                prefill = eng.stats["prefill_tokens"] - stats0["prefill_tokens"]
            else:
                steps, prefill = counter.decode_steps, counter.prefill_tokens
            runs.append({"seconds": dt, "generation_seconds": gen_time[0], "episodes_per_s": batch / dt,
                         "policy_tokens": policy_tokens, "tokens_per_s": policy_tokens / dt,
                         "generation_tokens_per_s": policy_tokens / gen_time[0],
                         "decode_steps": steps, "ms_per_decode_step": 1e3 * gen_time[0] / max(steps, 1),
                         "prefill_tokens": prefill, "mean_steps": statistics.mean(e.steps for e in eps),
                         "peak_mem_gb": peak_gb(a.device)})
        episodes[label] = eps
        result[label] = median_run(runs)
    result["ratio"] = {k: result["engine"][k] / result["baseline"][k]
                       for k in ("episodes_per_s", "tokens_per_s", "generation_tokens_per_s")}
    if a.temperature == 0:
        same = [dataclasses.asdict(x) == dataclasses.asdict(y) for x, y in zip(episodes["baseline"], episodes["engine"])]
        result["same_episodes"] = sum(same) / len(same)
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="small", help="preset (tiny, small, base) or " + ", ".join(QWEN3_SHAPES))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"])
    ap.add_argument("--batches", type=int, nargs="+", default=[64, 512])
    ap.add_argument("--new-tokens", type=int, default=512, help="single turn: new tokens per row")
    ap.add_argument("--prompt-tokens", type=int, default=128, help="single turn: prompt length")
    ap.add_argument("--max-turns", type=int, default=20, help="multi turn: step budget K of an episode")
    ap.add_argument("--turn-tokens", type=int, default=256, help="multi turn: max new tokens per turn")
    ap.add_argument("--max-context-tokens", type=int, default=4096)
    ap.add_argument("--group", type=int, default=8, help="multi turn: episodes per distinct instance")
    ap.add_argument("--temperature", type=float, default=0.0, help="0: greedy (and the agreement checks)")
    ap.add_argument("--top-p", type=float, default=1.0)
    ap.add_argument("--decode", default="auto", choices=["auto", "eager", "compile", "cuda_graph"])
    ap.add_argument("--kv-bucket", type=int, default=256)
    ap.add_argument("--len-bucket", type=int, default=32)
    ap.add_argument("--prefill-chunk", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=2, help="runs per measurement; the first is a warm-up if > 1")
    ap.add_argument("--skip", nargs="*", default=[], choices=["single", "multi"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)

    import torch
    import transformers
    from tqdm import tqdm

    from ordebug_lib.policy.loader import resolve_device

    a.device = resolve_device(a.device)
    model, tok = load_model(a.model, a.device, a.dtype, a.seed)
    engines = make_engines(model, tok, a)
    info = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()},
            "torch": torch.__version__, "transformers": transformers.__version__, "python": platform.python_version(),
            "device_name": torch.cuda.get_device_name() if a.device.startswith("cuda") else platform.processor(),
            "parameters": sum(p.numel() for p in model.parameters()), "decode_mode": engines[1].decode_mode}
    res = {"info": info, "single_turn": [], "multi_turn": []}
    jobs = [(kind, b) for kind in ("single", "multi") if kind not in a.skip for b in a.batches]
    for kind, b in tqdm(jobs, desc="rollouts", unit="run"):
        fn = single_turn if kind == "single" else multi_turn
        row = fn(model, tok, a, b, engines)
        res[f"{kind}_turn"].append(row)
        tqdm.write(f"{kind:6s} B={b:5d}  baseline {row['baseline']['tokens_per_s']:10.0f} tok/s  "
                   f"engine {row['engine']['tokens_per_s']:10.0f} tok/s  x{row['ratio']['tokens_per_s']:.2f}")
        engines[1].release()
    res["engine_stats"] = engines[1].stats
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=2))
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
