"""The Countdown warm start as one function: problems, search streams, SFT, saved checkpoint.

RL experiments start from it (E1, ``notebooks/10_countdown_grpo_vs_drgrpo``)::

    ws = countdown_warm_start(CountdownSFTConfig(model="small", n_demos=20000), "runs/e1/warm_start",
                              device="cuda", exclude_keys=[p.key for p in rl_problems + eval_problems])
    ws.model_dir          # runs/e1/warm_start/model (policy + tokenizer, ``load_policy`` reads it)
    ws.problem_keys       # every problem the warm start saw (streams and held-out loss)

The directory it writes holds ``model/``, ``problems.jsonl`` (the problems it trained and validated on)
and ``warm_start.json`` (config, data statistics, loss curves, timings, provenance), so a later run can
``load_warm_start(dir)`` and keep its own problems disjoint from these. On a GPU machine the same warm
start is trained from the command line, with the settings of a notebook profile::

    python -m ordebug_lib.policy.countdown_sft --out runs/e1_warm_start \
        --params params/10_countdown_grpo_vs_drgrpo/gpu.yaml --key warm_start_config --device cuda
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ..tasks.countdown import CountdownInstance


@dataclass
class CountdownSFTConfig:
    """Everything that determines a Countdown warm start."""

    model: str = "tiny"
    """Preset (tiny / small / base), a local checkpoint directory, or a cached hub id."""
    n_demos: int = 1000
    """Training problems, one search stream each."""
    n_val: int = 32
    """Held-out problems whose streams give the held-out loss."""
    num_numbers: list[int] = field(default_factory=lambda: [3, 4])
    """How many numbers a problem has (drawn per problem)."""
    stream_max_nodes: list[int] = field(default_factory=lambda: [3, 24])
    """Search-node budget of a stream, drawn per stream from [lo, hi]: it sets the stream length, hence how
    many tokens the warm start writes (``tasks.countdown_streams``)."""
    template: str = "search"
    """Prompt template (``tasks.countdown.PROMPT_TEMPLATES``); the RL runs must use the same one."""
    steps: int = 100
    """SFT optimizer steps."""
    learning_rate: float = 1e-3
    """Peak learning rate (cosine schedule)."""
    batch_size: int = 16
    """Streams per optimizer step."""
    warmup_steps: int = 10
    """Linear warm-up steps."""
    max_length: int = 1024
    """Longest stream record in tokens; longer ones are dropped (never truncated) and counted."""
    logging_steps: int = 10
    """Training loss logged every this many steps."""
    eval_steps: int = 0
    """Held-out loss every this many steps (0: before and after training only)."""
    bf16: bool = False
    """bfloat16 autocast while training (GPU)."""
    seed: int = 0
    """Seed of the problems, streams, initialisation and data order."""
    workers: int = 1
    """Processes generating problems (each is proven solvable by an exhaustive solver)."""
    lora: dict | None = None
    """LoRA settings (e.g. ``{"r": 16, "lora_alpha": 32}``) to train adapters only (real checkpoints); None: all weights."""
    dtype: str | None = None
    """Weights dtype: None (float32) or "bfloat16"."""
    gradient_accumulation_steps: int = 1
    """Micro-batches of ``batch_size`` streams per optimizer step."""
    eval_batch_size: int = 16
    """Streams per batch of the held-out loss."""
    dataset_num_proc: int | None = None
    """Processes TRL tokenises the streams with (None: this process)."""
    keep_best: bool = False
    """End with the weights of the step whose held-out loss was lowest (needs ``eval_steps``)."""

    def __post_init__(self):
        for name in ("n_demos", "n_val", "steps", "batch_size", "max_length", "logging_steps"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive int, got {getattr(self, name)!r}")
        if not isinstance(self.learning_rate, (int, float)) or isinstance(self.learning_rate, bool):
            raise ValueError(f"learning_rate must be a number, got {self.learning_rate!r}")
        if len(self.stream_max_nodes) != 2 or self.stream_max_nodes[0] > self.stream_max_nodes[1]:
            raise ValueError(f"stream_max_nodes must be [lo, hi] with lo <= hi, got {self.stream_max_nodes}")

    def run_config(self):
        """The ``sft.SFTRunConfig`` of these settings (the optimisation part)."""
        from .sft import SFTRunConfig

        return SFTRunConfig(max_steps=self.steps, learning_rate=self.learning_rate, warmup_steps=self.warmup_steps,
                            batch_size=self.batch_size, gradient_accumulation_steps=self.gradient_accumulation_steps,
                            max_length=self.max_length, logging_steps=self.logging_steps,
                            eval_steps=self.eval_steps or None, eval_batch_size=self.eval_batch_size, bf16=self.bf16,
                            seed=self.seed, dataset_num_proc=self.dataset_num_proc, keep_best=self.keep_best)

    @classmethod
    def from_dict(cls, d: dict) -> "CountdownSFTConfig":
        """Build from a dict (e.g. a notebook parameter); unknown keys raise, listing the valid ones."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown CountdownSFTConfig field(s) {sorted(unknown)}; valid: {sorted(names)}")
        return cls(**d)


@dataclass
class CountdownWarmStart:
    """A trained warm start on disk."""

    dir: Path
    """The directory ``countdown_warm_start`` wrote."""
    config: CountdownSFTConfig
    problems: list[CountdownInstance]
    """Every problem it trained or validated on."""
    record: dict
    """The contents of ``warm_start.json``."""

    @property
    def model_dir(self) -> Path:
        return self.dir / "model"

    @property
    def problem_keys(self) -> set[tuple]:
        return {p.key for p in self.problems}


def write_problems(path: str | Path, problems: Iterable[CountdownInstance]) -> None:
    """Write problems as ``problems.jsonl`` rows (numbers, target, solution); ``read_problems`` reads them."""
    Path(path).write_text("".join(json.dumps({"numbers": list(p.numbers), "target": p.target, "solution": p.solution}) + "\n"
                            for p in problems))


def read_problems(path: str | Path) -> list[CountdownInstance]:
    """Problems of a ``problems.jsonl``."""
    return [CountdownInstance(tuple(r["numbers"]), int(r["target"]), r["solution"])
            for r in map(json.loads, Path(path).read_text().splitlines()) if r]


def countdown_warm_start(config: CountdownSFTConfig, out_dir: str | Path, device: str = "auto",
                         exclude_keys: Iterable[tuple] = ()) -> CountdownWarmStart:
    """Generate problems (none of ``exclude_keys``), write one search stream each, SFT ``config.model`` on
    them (loss on the stream only), save the policy and return the warm start. ``out_dir`` must not
    hold a warm start yet."""
    import torch

    from .. import provenance
    from .data import countdown_splits
    from .loader import load_policy, resolve_device
    from .sft import countdown_records, fit_records, run_sft

    out = Path(out_dir)
    if (out / "warm_start.json").exists():
        raise FileExistsError(f"{out} already holds a warm start; load it with load_warm_start or choose another dir")
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(device)
    torch.manual_seed(config.seed)
    t0 = time.perf_counter()
    train, val = countdown_splits(config.n_demos, config.n_val, seed=config.seed, workers=config.workers,
                                  num_numbers=tuple(config.num_numbers), exclude_keys=tuple(exclude_keys))
    budget = tuple(config.stream_max_nodes)
    train_all, traces = countdown_records(train, seed=config.seed, max_nodes=budget, template=config.template)
    val_all, _ = countdown_records(val, seed=config.seed + 1, max_nodes=budget, template=config.template)
    policy = load_policy(config.model, lora=config.lora, device=device, dtype=config.dtype, seed=config.seed)
    tok = policy.tokenizer
    train_records, lengths = fit_records(tok, train_all, config.max_length)
    val_records, _ = fit_records(tok, val_all, config.max_length)
    if not train_records or not val_records:
        raise ValueError(f"every stream is longer than max_length={config.max_length}; raise it or lower stream_max_nodes")
    data = {"n_train_problems": len(train), "n_val_problems": len(val), "n_demos": len(train_records),
            "n_demos_dropped_too_long": len(train_all) - len(train_records), "n_val_records": len(val_records),
            "streams_reaching_goal": sum(t.reached_goal for t in traces) / len(traces),
            "demo_tokens_mean": sum(lengths) / len(lengths), "demo_tokens_max": max(lengths)}
    data_s = time.perf_counter() - t0

    result = run_sft(policy.model, tok, train_records, config.run_config(), eval_records=val_records,
                     output_dir=out / "sft_trainer")
    policy.model = result.trainer.model
    policy.save(out / "model")
    write_problems(out / "problems.jsonl", [*train, *val])
    record = {"config": dataclasses.asdict(config), "device": device, "data": data,
              "sft": {"train_curve": result.train_curve, "eval_curve": result.eval_curve,
                      "initial_held_out_loss": result.initial_eval_loss, "final_held_out_loss": result.final_eval_loss},
              "timings_s": {"data": data_s, "train": result.train_runtime, "total": time.perf_counter() - t0},
              "provenance": provenance.collect()}
    (out / "warm_start.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    del result, policy
    free_cuda_memory()  # a notebook that trains the warm start in its kernel would hold it beside the RL arms
    return CountdownWarmStart(out, config, [*train, *val], record)


def free_cuda_memory() -> None:
    """Return the memory PyTorch caches on the GPU (after a model and its optimizer are gone) to the device."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def load_warm_start(path: str | Path) -> CountdownWarmStart:
    """A warm start written by ``countdown_warm_start``."""
    path = Path(path)
    for need in ("warm_start.json", "problems.jsonl", "model/config.json"):
        if not (path / need).exists():
            raise FileNotFoundError(f"{path} is not a Countdown warm start (no {need}); "
                                    "train one with countdown_warm_start")
    record = json.loads((path / "warm_start.json").read_text())
    return CountdownWarmStart(path, CountdownSFTConfig.from_dict(record["config"]),
                              read_problems(path / "problems.jsonl"), record)


def prepare_cli(params_path: Path, key: str | None, out: Path, device: str) -> CountdownSFTConfig:
    """The command line's config, after every check that needs no training: the YAML parses, ``key`` is in
    it, the fields make a valid config, the model is loadable (``loader.check_source``: no weights read),
    ``out`` holds no warm start, the device exists. Raises ValueError / OSError / yaml.YAMLError."""
    from ..profiles import parse, resolve
    from .loader import check_source

    if not params_path.is_file():
        raise FileNotFoundError(f"--params {params_path}: no such file")
    params = resolve(params_path, parse(params_path.read_text()))  # a profile's extends chain merged
    where = f"{params_path}{'[' + key + ']' if key else ''}"
    if key is not None and (not isinstance(params, dict) or key not in params):
        raise ValueError(f"{params_path} has no key {key!r}" + (f"; keys: {sorted(params)}" if isinstance(params, dict) else ""))
    cfg = params[key] if key else params
    if not isinstance(cfg, dict):
        raise ValueError(f"{where} is not a mapping of CountdownSFTConfig fields")
    config = CountdownSFTConfig.from_dict(cfg)
    check_source(config.model)
    if (out / "warm_start.json").exists():
        raise FileExistsError(f"{out} already holds a warm start; load it with load_warm_start or choose another --out")
    if device not in ("auto", "cpu") and not device.startswith("cuda"):
        raise ValueError(f"--device must be auto, cpu or cuda[:N], got {device!r}")
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ValueError(f"--device {device} but this machine has no usable CUDA GPU; use --device cpu")
    return config


def main(argv: list[str] | None = None) -> int:
    import yaml

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="directory to write (must not hold a warm start)")
    ap.add_argument("--params", type=Path, required=True, help="a YAML file (e.g. a notebook profile)")
    ap.add_argument("--key", default=None, help="the key of the config inside --params (default: the whole file)")
    ap.add_argument("--device", default="auto")
    a = ap.parse_args(argv)
    try:
        config = prepare_cli(a.params, a.key, a.out, a.device)
    except (ValueError, OSError, yaml.YAMLError) as e:  # what prepare_cli's checks raise for bad input
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    ws = countdown_warm_start(config, a.out, device=a.device)
    print(json.dumps({"model_dir": str(ws.model_dir), **ws.record["data"], "timings_s": ws.record["timings_s"],
                      "held_out_loss": [ws.record["sft"]["initial_held_out_loss"], ws.record["sft"]["final_held_out_loss"]]},
                     indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
