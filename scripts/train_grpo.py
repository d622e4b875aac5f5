"""Script entry of a GRPO-family run, for ``accelerate launch`` (notebooks are single-process).

    accelerate launch --config_file configs/accelerate_2gpu.yaml scripts/train_grpo.py \
        --task countdown --model small --run-dir runs/grpo_2gpu --set max_steps=5 advantage_method=dgro

    python scripts/train_grpo.py --task ordebug --model tiny --benchmark-dir runs/bench --split train \
        --config my_run.yaml --set loss_type=hybrid beta=0.0

``--config`` is a YAML file of ``GRPORunConfig`` fields; ``--set KEY=VALUE`` overrides them (values parsed
as YAML). ``--model`` is anything ``ordebug_lib.policy.load_policy`` accepts (preset, local checkpoint,
cached hub id); ``--lora-r`` wraps it in fresh LoRA adapters (the reference for β > 0 is then the
adapter-disabled model). Writes ``metrics.jsonl``, ``metrics.csv``, ``run_config.json`` and ``final/``
into ``--run-dir``.

Bad input (a config that does not parse or validate, a model path that is not a checkpoint, an adapter
without its base, a tokenizer without EOS, a benchmark that is unfinished or of an old format) is refused
before any work with one line ``error: ...`` on stderr and exit status 1.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml  # noqa: E402

from ordebug_lib.training.config import GRPORunConfig  # noqa: E402
from ordebug_lib.yamlio import load_yaml  # noqa: E402


# Config fields whose default depends on the task (GRPORunConfig's own defaults are Countdown's).
TASK_DEFAULTS = {"countdown": {}, "ordebug": {"reward": "composite"}}


def parse_sets(items: list[str]) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"--set takes KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k] = load_yaml(v)
    return out


def ordebug_instances(args) -> list:
    from ordebug_lib.ordebug.dataset import load_benchmark
    from ordebug_lib.ordebug.saboteur import make_instance

    if args.benchmark_dir:
        return load_benchmark(args.benchmark_dir, split=args.split)
    # no benchmark given: a few fresh easy instances (smoke runs)
    fams = ("diet", "knapsack", "assignment", "transportation")
    return [make_instance(f, t, "easy", seed=args.seed + k) for k, (f, t) in
            enumerate((f, t) for f in fams for t in "ACD")][: args.n_instances]


def prepare(a) -> tuple[GRPORunConfig, list | None]:
    """The run config and (OR-Debug) the instances, after every check that needs no training: the config
    parses and validates, the model is loadable (``loader.check_source``: no weights read), the benchmark
    is finished and of this format. Raises ValueError / OSError / yaml.YAMLError with the reason."""
    from ordebug_lib.policy.loader import DTYPES, check_source

    if a.config is not None and not a.config.is_file():
        raise FileNotFoundError(f"--config {a.config}: no such file")
    fields = load_yaml(a.config.read_text()) if a.config else {}
    if not isinstance(fields or {}, dict):
        raise ValueError(f"--config {a.config} must hold a mapping of GRPORunConfig fields")
    cfg = GRPORunConfig.from_dict({**TASK_DEFAULTS[a.task], **(fields or {}), **parse_sets(a.set)})
    for name in ("n_prompts", "n_instances"):
        if getattr(a, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be ≥ 1, got {getattr(a, name)}")
    if a.lora_r < 0:
        raise ValueError(f"--lora-r must be ≥ 0, got {a.lora_r}")
    if a.dtype is not None and a.dtype not in DTYPES:
        raise ValueError(f"--dtype must be one of {sorted(DTYPES)}, got {a.dtype!r}")
    check_source(a.model)
    instances = ordebug_instances(a) if a.task == "ordebug" else None
    if instances is not None and not instances:
        raise ValueError(f"the {a.split} split of {a.benchmark_dir} holds no instance")
    return cfg, instances


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", choices=("countdown", "ordebug"), required=True)
    ap.add_argument("--model", required=True, help="preset (tiny/small/base), local checkpoint, or cached hub id")
    ap.add_argument("--run-dir", type=Path, required=True)
    ap.add_argument("--config", type=Path, help="YAML of GRPORunConfig fields")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="GRPORunConfig overrides")
    ap.add_argument("--n-prompts", type=int, default=256, help="Countdown training problems")
    ap.add_argument("--benchmark-dir", help="OR-Debug benchmark directory (dataset.build_benchmark)")
    ap.add_argument("--split", default="train")
    ap.add_argument("--n-instances", type=int, default=8, help="fresh OR-Debug instances when no benchmark is given")
    ap.add_argument("--seed", type=int, default=0, help="seed of the generated problems / instances")
    ap.add_argument("--lora-r", type=int, default=0, help="LoRA rank (0: full fine-tuning)")
    ap.add_argument("--dtype", default=None, help="model dtype (None: fp32; bf16 with --set bf16=true)")
    ap.add_argument("--cpu", action="store_true", help="force the CPU (tests)")
    a = ap.parse_args(argv)
    try:
        cfg, instances = prepare(a)
    except (ValueError, OSError, yaml.YAMLError) as e:  # what prepare's checks raise for bad input
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 1

    from ordebug_lib.policy.loader import load_policy
    from ordebug_lib.training import run

    lora = {"r": a.lora_r, "lora_alpha": 2 * a.lora_r} if a.lora_r > 0 else None
    model, tok = load_policy(a.model, lora=lora, device="cpu", dtype=a.dtype, seed=cfg.seed)
    overrides = {"use_cpu": True} if a.cpu else {}
    if a.task == "countdown":
        trainer = run.train_countdown(cfg, model, tok, run.countdown_dataset(a.n_prompts, a.seed), a.run_dir, **overrides)
    else:
        trainer = run.train_ordebug(cfg, model, tok, instances, a.run_dir, **overrides)
    if trainer.accelerator.is_main_process:
        print(f"done: {trainer.state.global_step} steps; metrics in {a.run_dir / 'metrics.jsonl'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
