"""Run a parameterised notebook headless with Papermill, with checked parameters and provenance.

Usage::

    python -m ordebug_lib.run NOTEBOOK [--profile P] [-p KEY VALUE ...]
    python -m ordebug_lib.run --all [--profile P]
    python -m ordebug_lib.run NOTEBOOK --profile gpu --publish   # copy figures/reports into the repo

Parameters come from ``params/<notebook>/<profile>.yaml``, then ``-p`` overrides (values are parsed
as YAML, with ``1e-4`` a float: ``-p steps 10`` is an int, ``-p lens "[128, 256]"`` a list; a ``-p`` mapping replaces
the profile's whole mapping). A profile may be a delta: ``extends: gpu`` loads ``gpu.yaml`` of the same folder first
(``extends: <notebook>/<profile>``: another notebook's), then the profile's keys replace its keys, mappings merged key
by key unless tagged ``!replace`` (:mod:`ordebug_lib.profiles`); the merged parameters are what is checked, run
and recorded. Every key must be a name in the notebook's cell tagged ``parameters``; Papermill only warns about
unknown keys, we refuse them.
The runner always passes ``run_dir``. A notebook declares the files it must produce in its metadata
(``metadata.ordebug.artifacts``, glob patterns relative to the run directory); a missing one fails the run.

Before a kernel starts, :func:`preflight` checks the parameters of the project's notebooks (``PREFLIGHT``):
types against the defaults of the parameters cell, ranges, the configs the notebook will build (GRPO
arms, warm starts), paths (checkpoints, warm starts, benchmarks) and CUDA for a GPU setting. Every
refusal, there or later, is one line ``error: ...`` on stderr and exit status 1, never a traceback; a
notebook that raises is reported as ``<notebook> failed in cell N ...: <Exception>: <message>``.

A run survives ``kill -9`` at any point: its directory appears whole (made under a temporary name, then
renamed), ``params.json``, ``attempts.json`` and ``provenance.json`` are replaced atomically, and
``--run-id ID --resume`` starts the notebook again in the same directory, where what it stored (a
finished benchmark, evaluation rows, arms with ``done.json``) is reused. ``running.json`` names the
runner's pid: a resume is refused while that process is still alive.
"""
from __future__ import annotations

import argparse
import ast
import datetime as dt
import glob
import io
import json
import os
import secrets
import shutil
import socket
import sys
import time
import tokenize
from pathlib import Path
from typing import Any, Callable

import yaml

# nbformat imports jsonschema, which at import builds an Earley parser (rfc3987_syntax, via lark) for its optional
# "iri" format checks: ~2 s of CPU on every runner start. nbformat's notebook schemas use no "format" keyword and
# this process checks no other schema, so the runner declines that optional import (jsonschema skips it on
# ImportError); validation and every result are the same, each `python -m ordebug_lib.run` starts 2 s sooner.
if "jsonschema" not in sys.modules:
    sys.modules.setdefault("rfc3987_syntax", None)
import nbformat  # noqa: E402

from . import provenance
from .files import pid_alive, write_atomic
from .profiles import ProfileError, load_profile
from .yamlio import load_yaml

ROOT = Path(__file__).resolve().parents[1]
KERNEL_NAME = "ordebug"  # registered by `make kernel`; pinned so runs never pick up a stray kernel
PUBLISH_PROFILE = "gpu"  # only published profiles (gpu, gpu_<variant>) write into the committed figures/ reports/


class RunError(RuntimeError):
    """A run could not start or did not finish cleanly; the message says why."""


def notebook_path(name: str, root: Path = ROOT) -> Path:
    stem = Path(name).stem
    path = root / "notebooks" / f"{stem}.ipynb"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in (root / "notebooks").glob("*.ipynb")))
        raise RunError(f"no notebook {stem!r} in {root / 'notebooks'}; known: {known}")
    return path


def list_notebooks(root: Path = ROOT) -> list[str]:
    return sorted(p.stem for p in (root / "notebooks").glob("[0-9]*.ipynb"))


def load_params(stem: str, profile: str, root: Path = ROOT) -> dict:
    path = root / "params" / stem / f"{profile}.yaml"
    if not path.exists():
        have = sorted(p.stem for p in (root / "params" / stem).glob("*.yaml"))
        raise RunError(f"no parameters for {stem} profile {profile!r} ({path}); profiles: {have or 'none'}")
    try:
        return load_profile(path)  # its extends chain merged (ordebug_lib.profiles)
    except ProfileError as e:
        raise RunError(str(e)) from None


def notebook_parameters(path: Path) -> dict:
    """Names and defaults of the notebook's ``parameters`` cell (via papermill.inspect_notebook)."""
    import papermill

    params = papermill.inspect_notebook(str(path))
    if not params:
        raise RunError(f"{path.name} has no cell tagged 'parameters'")
    return params


def validate_params(params: dict, declared: dict, nb_name: str) -> None:
    unknown = sorted(set(params) - set(declared))
    if unknown:
        valid = ", ".join(sorted(declared))
        raise RunError(f"unknown parameter(s) {unknown} for notebook {nb_name}; valid parameters: {valid}")


def declared_artifacts(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return list(nb.metadata.get("ordebug", {}).get("artifacts", []))


def check_kernel(name: str = KERNEL_NAME) -> None:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        raise RunError(
            f"Jupyter kernel {name!r} is not registered; run `make kernel` "
            f"(or: {sys.executable} -m ipykernel install --sys-prefix --name {name})"
        ) from None


def parse_overrides(pairs: list[list[str]] | None) -> dict:
    out = {}
    for k, v in pairs or []:
        try:
            out[k] = load_yaml(v)
        except yaml.YAMLError as e:
            raise RunError(f"-p {k} {v!r}: not a valid YAML value ({_first_line(e)})") from None
    return out


def _first_line(e: BaseException) -> str:
    return " ".join(str(e).split())[:1000]


def _check_not_running(run_dir: Path) -> None:
    """Refuse to resume a run whose runner (``running.json``) is still alive on this host."""
    p = run_dir / "running.json"
    if not p.exists():
        return
    info = json.loads(p.read_text())
    pid = int(info.get("pid", 0))
    if info.get("host") == socket.gethostname() and pid != os.getpid() and pid_alive(pid):
        raise RunError(f"run {run_dir} is still running (runner pid {pid}); wait for it to end or stop it, then "
                       "--resume again")


# ----------------------------------------------------------------------------------------------------
# Checks before the kernel starts
# ----------------------------------------------------------------------------------------------------

NO_LITERAL = object()  # a default that is not a Python literal: its type is not checked


def parameter_cell(path: Path) -> dict[str, tuple[Any, str]]:
    """name -> (default value, comments) of the assignments in the notebook's ``parameters`` cell. The
    comments are every ``#`` comment on the assignment's lines: what the notebook says a value means
    (``None: all`` allows None for a parameter whose default is not None)."""
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if not cells:
        raise RunError(f"{path.name} has no cell tagged 'parameters'")
    src = cells[0].source
    comments: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string
    out = {}
    for node in ast.parse(src).body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else \
            node.target if isinstance(node, ast.AnnAssign) else None
        if not isinstance(target, ast.Name) or node.value is None:
            continue
        try:
            default = ast.literal_eval(node.value)
        except (ValueError, TypeError, SyntaxError):
            default = NO_LITERAL
        out[target.id] = (default, " ".join(comments.get(n, "") for n in range(node.lineno, node.end_lineno + 1)))
    return out


_KINDS = {bool: ("a boolean", (bool,)), int: ("an integer", (int,)), float: ("a number", (int, float)),
          str: ("a string", (str,)), list: ("a list", (list,)), tuple: ("a list", (list,)), dict: ("a mapping", (dict,))}


def check_types(stem: str, params: dict, cell: dict[str, tuple[Any, str]]) -> None:
    """Each value has the type of its default in the parameters cell (an int where a float is expected is
    fine; None only where the default is None or the comment says what None means)."""
    for name, value in params.items():
        if name == "run_dir" or name not in cell:
            continue
        default, comment = cell[name]
        if default is NO_LITERAL or default is None or type(default) not in _KINDS:
            continue
        if value is None:
            if "None" in comment:
                continue
            raise RunError(f"{stem}: parameter {name} must not be null (its default is {default!r})")
        what, ok = _KINDS[type(default)]
        if not isinstance(value, ok) or (isinstance(value, bool) and bool not in ok):
            raise RunError(f"{stem}: parameter {name} must be {what} like its default {default!r}, got {value!r} "
                           f"({type(value).__name__})")


# lowest allowed value of numeric parameters, by name, in the project's notebooks
AT_LEAST = {
    **dict.fromkeys(("n_per_cell", "max_turns", "max_steps", "workers", "steps", "batch_size", "grad_accum",
                     "max_length", "logging_steps", "n_demos", "n_eval", "max_new_tokens", "eval_batch_size",
                     "max_prompt_tokens", "n_rl_problems", "parallel", "bench_n_per_cell", "dagger_steps",
                     "dagger_max_turns", "matmul_size", "hybrid_reference_length", "short_length", "n_train",
                     "gradient_accumulation_steps", "dataset_num_proc", "dagger_batch_size", "dagger_max_new_tokens",
                     "dagger_max_prompt_tokens"), 1),
    **dict.fromkeys(("seed", "n_val", "warmup_steps", "eval_steps", "pretrain_steps", "dagger_rounds", "temperature",
                     "recovery_n_wrong"), 0),
    "group_size": 2,
}
POSITIVE = ("learning_rate", "pretrain_learning_rate", "solver_time_limit", "grpo_eps", "dgro_beta_reward")
LISTS_AT_LEAST = {"budgets": 1, "max_completion_lengths": 1, "seeds": 0, "rl_seeds": 0, "num_numbers": 2}


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def check_ranges(stem: str, params: dict, where: str = "parameter ") -> None:
    """``AT_LEAST``, ``POSITIVE`` and ``LISTS_AT_LEAST`` by name; ``where`` names the mapping in the message (a
    config inside a parameter: ``"warm_start_config."``)."""
    for name, lo in AT_LEAST.items():
        v = params.get(name)
        if _is_number(v) and v < lo:
            raise RunError(f"{stem}: {where}{name} must be ≥ {lo}, got {v}")
    for name in POSITIVE:
        v = params.get(name)
        if _is_number(v) and not v > 0:
            raise RunError(f"{stem}: {where}{name} must be > 0, got {v}")
    for name, lo in LISTS_AT_LEAST.items():
        v = params.get(name)
        if isinstance(v, list):
            bad = [x for x in v if not (_is_number(x) and int(x) == x) or x < lo]
            if bad or not v:
                raise RunError(f"{stem}: {where}{name} must be a non-empty list of integers ≥ {lo}, got {v!r}")


def check_config_fields(stem: str, where: str, cls, config) -> None:
    """A config mapping inside a parameter (``where``, e.g. ``warm_start_config``) of dataclass ``cls``: a mapping,
    each value of its field's default type (None where the field's type allows it) and in ``check_ranges``' ranges.
    Unknown fields are left to ``cls`` (its own message lists the valid ones)."""
    import dataclasses

    if not isinstance(config, dict):
        raise RunError(f"{stem}: {where} must be a mapping of {cls.__name__} fields, got {config!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name, value in config.items():
        f = fields.get(name)
        if f is None or f.default is dataclasses.MISSING or f.default is None or type(f.default) not in _KINDS:
            continue
        if value is None:
            if "None" in str(f.type):
                continue
            raise RunError(f"{stem}: {where}.{name} must not be null (its default is {f.default!r})")
        what, ok = _KINDS[type(f.default)]
        if not isinstance(value, ok) or (isinstance(value, bool) and bool not in ok):
            raise RunError(f"{stem}: {where}.{name} must be {what} like its default {f.default!r}, got {value!r} "
                           f"({type(value).__name__})")
    check_ranges(stem, config, f"{where}.")


def check_cuda(stem: str, params: dict) -> None:
    """A GPU setting (``device: cuda``, ``require_cuda: true``) on a machine without CUDA is refused now,
    not in a cell minutes later."""
    device = params.get("device")
    wants = (isinstance(device, str) and device.startswith("cuda")) or params.get("require_cuda") is True
    if not wants:
        return
    import torch

    if not torch.cuda.is_available():
        by_device = isinstance(device, str) and device.startswith("cuda")
        setting, instead = (f"device={device!r}", "-p device cpu") if by_device else ("require_cuda=true",
                                                                                    "-p require_cuda false")
        raise RunError(f"{stem}: {setting} but this machine has no usable CUDA GPU (torch.cuda.is_available() is "
                       f"False); run a CPU profile (smoke, default) or pass {instead}")


def _refusal(stem: str, what: str, fn: Callable, *args, **kwargs):
    """fn(*args) of a library check; its ValueError / OSError (the errors checks raise for bad input) and
    KeyError (a warm start's or benchmark's JSON file without a key it must have) as a RunError naming the
    parameter."""
    try:
        return fn(*args, **kwargs)
    except (ValueError, OSError, KeyError) as e:
        raise RunError(f"{stem}: {what}: {_first_line(e)}") from None


def check_model(stem: str, what: str, model: str, budget: tuple[str, int] | None = None) -> None:
    """A preset, a saved checkpoint (with a tokenizer that has an EOS token), an adapter with its base, or a
    cached hub id; ``budget`` (name, tokens) must fit in the model's context."""
    from .policy.loader import check_source, context_length

    _refusal(stem, f"{what} {model!r}", check_source, model)
    context = context_length(model)
    if budget is not None and context is not None and budget[1] > context:
        raise RunError(f"{stem}: {budget[0]}={budget[1]} tokens exceeds the {context}-token context of {model!r}")


def check_benchmark(stem: str, name: str, directory) -> None:
    """A finished benchmark of the format this code reads."""
    if directory is None:
        return
    from .ordebug.dataset import read_index

    if not Path(directory).is_dir():
        raise RunError(f"{stem}: {name} {directory!r} is not a directory (build one with 02_ordebug_benchmark)")
    _refusal(stem, f"{name} {directory!r}", read_index, directory)


def _check_02(stem: str, params: dict) -> None:
    from .ordebug.dataset import SPLITS
    from .ordebug.instance import DIFFICULTIES
    from .ordebug.saboteur import NAMINGS
    from .policy.data import BASELINES

    if params.get("naming", NAMINGS[0]) not in NAMINGS:
        raise RunError(f"{stem}: naming must be one of {NAMINGS}, got {params['naming']!r}")

    _check_error_types(stem, "error_types", params.get("error_types"))
    bad = sorted(set(params.get("difficulties", [])) - set(DIFFICULTIES))
    if bad:
        raise RunError(f"{stem}: unknown difficulty(ies) {bad}; known: {', '.join(DIFFICULTIES)}")
    bad = sorted(set(params.get("policies", [])) - set(BASELINES))
    if bad:
        raise RunError(f"{stem}: unknown policy(ies) {bad}; baselines: {', '.join(BASELINES)}")
    fractions = params.get("split_fractions")
    if fractions is not None:
        if len(fractions) != len(SPLITS) or any(not _is_number(f) or f < 0 for f in fractions) \
                or abs(sum(fractions) - 1) > 1e-9:
            raise RunError(f"{stem}: split_fractions must be {len(SPLITS)} non-negative numbers summing to 1 "
                           f"({', '.join(SPLITS)}), got {fractions}")
        split = params.get("eval_split", "test")
        if split not in SPLITS:
            raise RunError(f"{stem}: eval_split must be one of {SPLITS}, got {split!r}")
        if fractions[SPLITS.index(split)] == 0:
            raise RunError(f"{stem}: eval_split {split!r} gets no instances (its split fraction is 0)")


def _check_error_types(stem: str, name: str, spec) -> None:
    """Letters of the error-type registry (``saboteur.ERROR_TYPES``) or "all" (``saboteur.ALL_TYPES``)."""
    from .ordebug.saboteur import ALL_TYPES, ERROR_TYPES

    if spec is None or spec == ALL_TYPES:
        return
    bad = sorted(set(spec) - set(ERROR_TYPES))
    if bad:
        raise RunError(f"{stem}: unknown error type(s) {bad} in {name}; known: {''.join(ERROR_TYPES)} "
                       f"(or {ALL_TYPES!r} for all of them)")


def _run_parameters(stem: str, params: dict) -> dict:
    """What the notebook will run with: the literal defaults of its parameters cell under ``params``."""
    cell = parameter_cell(notebook_path(stem))
    return {**{k: v for k, (v, _) in cell.items() if v is not NO_LITERAL}, **params}


def _check_countdown_sft(stem: str, params: dict) -> None:
    from .experiments.sft_experiment import countdown_run
    from .policy.countdown_sft import CountdownSFTConfig

    full = _run_parameters(stem, params)
    check_config_fields(stem, "warm_start_config", CountdownSFTConfig, full["warm_start_config"])
    run = _refusal(stem, "warm_start_config", countdown_run, full)
    check_model(stem, "warm_start_config model", run.config.model, ("max_new_tokens", full["max_new_tokens"]))
    if run.config.keep_best and not run.config.eval_steps:
        raise RunError(f"{stem}: warm_start_config keep_best needs eval_steps > 0 (the held-out loss is what picks the "
                       "step)")


def _check_ordebug_sft(stem: str, params: dict) -> None:
    from .experiments.sft_experiment import ordebug_run
    from .policy.data import BASELINES
    from .policy.ordebug_sft import OrdebugSFTConfig, check_config
    from .policy.sft import SFTRunConfig

    full = _run_parameters(stem, params)
    ws = full["warm_start_config"]
    check_config_fields(stem, "warm_start_config", OrdebugSFTConfig, ws)
    if ws.get("sft") is not None:
        check_config_fields(stem, "warm_start_config.sft", SFTRunConfig, ws["sft"])
    _check_error_types(stem, "warm_start_config.bench_error_types", ws.get("bench_error_types"))
    bad = sorted(set(full["baselines"]) - set(BASELINES))
    if bad:
        raise RunError(f"{stem}: unknown baseline(s) {bad}; baselines: {', '.join(BASELINES)}")
    run = _refusal(stem, "warm_start_config", ordebug_run, full)
    _refusal(stem, "warm_start_config", check_config, run.config)
    check_model(stem, "warm_start_config model", run.config.model, ("max_new_tokens", full["max_new_tokens"]))
    check_benchmark(stem, "benchmark_dir", run.config.benchmark_dir)
    check_benchmark(stem, "train_benchmark_dir", run.config.train_benchmark_dir)
    if run.config.sft.keep_best and not run.config.sft.eval_steps:
        raise RunError(f"{stem}: warm_start_config.sft keep_best needs eval_steps > 0 (the held-out loss is what picks "
                       "the step)")


def _grpo_configs(stem: str, runs: list[dict]) -> None:
    from .training.config import GRPORunConfig

    for fields in runs:
        _refusal(stem, "grpo", GRPORunConfig.from_dict, fields)


def _check_10(stem: str, params: dict) -> None:
    from .experiments.countdown_e1 import arm_jobs, e1_arms, sweep_arms
    from .policy.countdown_sft import CountdownSFTConfig, load_warm_start

    ws_config = _refusal(stem, "warm_start_config", CountdownSFTConfig.from_dict, params.get("warm_start_config", {}))
    budgets = params.get("budgets") or [1]
    warm_start = params.get("warm_start")
    if warm_start:
        ws = _refusal(stem, f"warm_start {warm_start!r}", load_warm_start, warm_start)
        if ws.config != ws_config:
            differ = sorted(k for k, v in vars(ws.config).items() if vars(ws_config)[k] != v)
            raise RunError(f"{stem}: the warm start at {warm_start} was trained with other settings than "
                           f"warm_start_config ({', '.join(differ)} differ); pass its settings or train a new one")
        check_model(stem, "warm_start model", str(ws.model_dir), ("budgets", max(budgets)))
    else:
        check_model(stem, "warm_start_config model", ws_config.model, ("budgets", max(budgets)))
    rates = params.get("learning_rates")
    grpo = params.get("grpo", {})
    if rates:
        _refusal(stem, "learning_rates", sweep_arms, params.get("sweep_budget") or max(budgets), rates)
        if not params.get("n_val"):
            raise RunError(f"{stem}: a learning-rate sweep is judged on val: set n_val ≥ 1")
        if "learning_rate" in grpo:
            raise RunError(f"{stem}: learning_rates sweeps the rate; remove grpo.learning_rate")
        if params.get("sweep_budget") is not None and params["sweep_budget"] not in budgets:
            raise RunError(f"{stem}: sweep_budget {params['sweep_budget']} is not one of budgets {budgets}")
    arms = _refusal(stem, "budgets/extras", e1_arms, budgets, extras=params.get("extras", ()),
                    seeds=params.get("seeds", [0]), hybrid_alpha=params.get("hybrid_alpha"),
                    learning_rates={"grpo": rates[0], "dr_grpo": rates[0]} if rates else None)
    _refusal(stem, "grpo", arm_jobs, arms, ".", ".", ".", ".", grpo, eval_engine=params.get("eval_engine", "generate"))
    _grpo_configs(stem, [{**grpo, **a.run_fields(), "seed": a.seed, "save_final": False} for a in arms if a.trains])


def _check_2x(stem: str, params: dict) -> None:
    from .experiments.ordebug_rl import arm_jobs, make_arms, warm_start_config
    from .experiments.sft_experiment import trained_max_turns
    from .policy.ordebug_sft import check_config

    warm_start, bench = params.get("warm_start"), params.get("benchmark_dir")
    max_turns = params.get("max_turns")
    budget = ("max_new_tokens", params.get("max_new_tokens", 0))
    if warm_start:
        if not bench:
            raise RunError(f"{stem}: warm_start needs benchmark_dir: the benchmark its SFT used (its test split is "
                           "the evaluation set)")
        check_model(stem, "warm_start", warm_start, budget)
        prov = Path(warm_start).parent / "provenance.json"
        if prov.exists():  # 04_ordebug_sft (and 03_sft) write it next to model/: the observations name the budget
            trained = trained_max_turns(json.loads(prov.read_text()).get("parameters", {}))
            if trained is not None and trained != max_turns:
                raise RunError(f"{stem}: the warm start {warm_start} was trained with max_turns={trained}, not "
                               f"max_turns={max_turns} (its observations name the episode budget)")
        check_benchmark(stem, "benchmark_dir", bench)
    else:
        if params.get("require_warm_start"):
            raise RunError(f"{stem}: this profile needs -p warm_start runs/04_ordebug_sft/<profile>/<id>/model -p "
                           "benchmark_dir <the benchmark that SFT used> (a warm start trained earlier)")
        ws = _refusal(stem, "warm_start_config", warm_start_config, params.get("warm_start_config", {}))
        _refusal(stem, "warm_start_config", check_config, ws)
        if max_turns is not None and ws.max_turns != max_turns:
            raise RunError(f"{stem}: warm_start_config max_turns={ws.max_turns} must equal max_turns={max_turns} "
                           "(the observations name the episode budget)")
        check_model(stem, "warm_start_config model", ws.model, budget)
    arms = _refusal(stem, "arms", make_arms, params.get("arms", []), seeds=params.get("rl_seeds", [0]),
                    dgro=params.get("dgro"))
    _refusal(stem, "grpo", arm_jobs, arms, ".", ".", ".", params.get("grpo", {}), curriculum=params.get("curriculum"),
             **({"self_play": params["self_play"]} if "self_play" in params else {}))


def _check_24(stem: str, params: dict) -> None:
    """20-23's checks, with the prm_path the notebook sets once its PRM is trained (the step-credit arms need one)."""
    from .experiments.prm_experiment import check_prm_params

    _refusal(stem, "E8 settings", check_prm_params, params)
    _check_2x(stem, {**params, "grpo": {**params.get("grpo", {}), "prm_path": "tiny"}})


def _check_25(stem: str, params: dict) -> None:
    """20-23's checks, with the warm start's train/val evaluation the notebook writes before the arms start."""
    from .experiments.self_play import check_self_play

    sp = _refusal(stem, "self_play", check_self_play, params.get("self_play"))
    if sp["warm_start_db"] is not None:
        raise RunError(f"{stem}: self_play warm_start_db is set by the notebook (its own evaluation of the warm start)")
    _check_2x(stem, {**params, "self_play": {**params.get("self_play", {}), "warm_start_db": "."}})


# notebook -> its checks beyond types, ranges and CUDA (which every notebook listed here gets)
PREFLIGHT: dict[str, Callable[[str, dict], None] | None] = {
    "00_environment_check": None, "01_normalization_math": None, "02_ordebug_benchmark": _check_02,
    "03_countdown_sft": _check_countdown_sft, "04_ordebug_sft": _check_ordebug_sft,
    "10_countdown_grpo_vs_drgrpo": _check_10, "20_ordebug_sft_vs_grpo": _check_2x,
    "21_ordebug_dgro": _check_2x, "22_ordebug_dapo_ablation": _check_2x, "23_ordebug_curriculum": _check_2x,
    "24_ordebug_prm": _check_24, "25_ordebug_self_play": _check_25,
}


def preflight(nb_path: Path, params: dict) -> None:
    """Refuse (RunError, one line) parameters that cannot work, before a kernel starts. For the project's
    notebooks (``PREFLIGHT``): types (:func:`check_types`), ranges (``AT_LEAST``, ``POSITIVE``,
    ``LISTS_AT_LEAST``), CUDA (:func:`check_cuda`), then the notebook's own checks: the configs it will build
    (the GRPO config of every arm, the warm start's), and the paths it will read (a checkpoint, a warm
    start, a benchmark of this format). Other notebooks get none of these (their parameters are theirs)."""
    stem = nb_path.stem
    if stem not in PREFLIGHT:
        return
    check_types(stem, params, parameter_cell(nb_path))
    check_ranges(stem, params)
    check_cuda(stem, params)
    if PREFLIGHT[stem] is not None:
        PREFLIGHT[stem](stem, params)


def new_run_id() -> str:
    return dt.datetime.now().strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def run_notebook(
    name: str,
    profile: str = "default",
    overrides: dict | None = None,
    run_id: str | None = None,
    cell_timeout: int = 3600,
    publish: bool = False,
    root: Path = ROOT,
    runs_root: Path | None = None,
    resume: bool = False,
) -> Path:
    """Execute one notebook; return its run directory. Raises RunError on any failure.

    ``resume`` re-executes the notebook in an existing run directory (``run_id`` required) that was
    started with exactly the same parameters (its ``params.json``): work the notebook stored there is
    reused where it skips it (experiment arms with a matching ``done.json``, stored evaluation rows), so
    a run cut by a command's time limit can finish in a second command. Every attempt's start and
    commit are listed in ``attempts`` of the provenance."""
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    if publish and not (profile == PUBLISH_PROFILE or profile.startswith(PUBLISH_PROFILE + "_")):
        raise RunError(f"--publish is only for the {PUBLISH_PROFILE!r} profile and its variants "
                       f"{PUBLISH_PROFILE}_<name> (got {profile!r})")
    nb_path = notebook_path(name, root)
    stem = nb_path.stem
    params = load_params(stem, profile, root)
    params.update(overrides or {})
    declared = notebook_parameters(nb_path)
    validate_params(params, declared, stem)
    if "run_dir" not in declared:
        raise RunError(f"{stem}: the parameters cell must define run_dir")
    preflight(nb_path, params)
    check_kernel()

    if resume and not run_id:
        raise RunError("--resume needs the --run-id of the run to resume")
    run_dir = (runs_root or root / "runs") / stem / profile / (run_id or new_run_id())
    params["run_dir"] = str(run_dir.resolve())
    params_json = json.dumps(params, indent=2, default=str)
    attempts = []
    if run_dir.exists():
        if not resume:
            raise RunError(f"run directory {run_dir} exists; choose another --run-id (runs are never overwritten) "
                           "or --resume it")
        stored = run_dir / "params.json"
        if not stored.exists():
            raise RunError(f"cannot resume {run_dir}: it has no params.json (not started by this runner)")
        before, now = json.loads(stored.read_text()), json.loads(params_json)
        if before != now:
            diff = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
            raise RunError(f"cannot resume {run_dir}: it was started with other parameters ({', '.join(diff)})")
        _check_not_running(run_dir)
        if (run_dir / "attempts.json").exists():  # absent when the first attempt was killed before writing it
            attempts = json.loads((run_dir / "attempts.json").read_text())
    elif resume:
        raise RunError(f"nothing to resume: {run_dir} does not exist (a run killed before it made its directory "
                       "left nothing: start it again without --resume)")
    else:
        # made under a temporary name with its params.json, then renamed: a kill leaves no half-made run
        tmp = run_dir.with_name(f".{run_dir.name}.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)  # a leftover of a killed process that had this pid
        tmp.mkdir(parents=True)
        (tmp / "params.json").write_text(params_json + "\n")
        os.rename(tmp, run_dir)
    out_nb = run_dir / f"{stem}.ipynb"

    record = {"notebook": stem, "profile": profile, "parameters": params, **provenance.collect(root)}
    start = time.time()
    record["start"] = dt.datetime.now(dt.timezone.utc).isoformat()
    attempts.append({"start": record["start"], "git": record.get("git")})
    write_atomic(run_dir / "attempts.json", json.dumps(attempts, indent=2, default=str) + "\n")
    record["attempts"] = attempts
    write_atomic(run_dir / "running.json", json.dumps({"host": socket.gethostname(), "pid": os.getpid()}) + "\n")
    error = None
    try:
        papermill.execute_notebook(
            str(nb_path), str(out_nb), parameters=params, kernel_name=KERNEL_NAME,
            execution_timeout=cell_timeout, progress_bar=True, cwd=str(root),
            report_mode=False, log_output=False, kernel_manager_class=_logged_kernel_manager(run_dir / KERNEL_LOG),
        )
    except PapermillExecutionError as e:
        error = f"{stem} failed in cell {e.cell_index} (execution count {e.exec_count}): {e.ename}: {e.evalue}"
    except CellTimeoutError:
        error = f"{stem}: a cell ran longer than --cell-timeout {cell_timeout} s and was stopped"
    except DeadKernelError:
        error = f"{stem}: the kernel died (killed, out of memory, or a crash in a cell)"
    finally:
        (run_dir / "running.json").unlink(missing_ok=True)
    record["end"] = dt.datetime.now(dt.timezone.utc).isoformat()
    record["wall_time_s"] = round(time.time() - start, 3)

    if error is None:
        missing = [a for a in declared_artifacts(nb_path) if not glob.glob(str(run_dir / a))]
        if missing:
            error = f"{stem} finished but did not write declared artifact(s) {missing} in {run_dir}"
    record["status"] = "failed" if error else "ok"
    record["error"] = error
    write_atomic(run_dir / "provenance.json", json.dumps(record, indent=2, default=str) + "\n")
    if error:
        raise RunError(f"{error}\n  executed notebook: {out_nb} (kernel log: {run_dir / KERNEL_LOG})")
    if publish:
        publish_run(run_dir, stem, root, replaces=former_owner(stem, root))
    return run_dir


KERNEL_LOG = "kernel.log"


def _logged_kernel_manager(log: Path):
    """A kernel manager class whose kernel writes its own stderr to ``log`` (appended) instead of the
    terminal: ipykernel's log (a traceback of its own when a timed-out cell is stopped, transport
    warnings), C libraries, and the processes a cell starts. Cell outputs still go to the notebook."""
    from jupyter_client.manager import AsyncKernelManager

    class LoggedKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd, **kw):
            with open(log, "a") as fh:  # the kernel keeps its own copy of the descriptor
                kw["stderr"] = fh
                return await super()._async_launch_kernel(kernel_cmd, **kw)

    return LoggedKernelManager


PUBLISHED = Path("reports") / "published"
"""Every published run's own files, in ``<notebook>.<profile>.<run id>/``: never overwritten by another run."""
REGISTRY = Path("reports") / "runs.md"


# Notebooks that replaced another: notebook -> the tag of the publication whose files in figures/ and reports/ their
# publications replace (03_sft was split; its gpu run wrote sft_countdown_*, its gpu_ordebug run sft_ordebug_*).
FORMER_OWNERS = {"03_countdown_sft": "03_sft", "04_ordebug_sft": "03_sft.gpu_ordebug"}


def former_owner(stem: str, root: Path = ROOT) -> str | None:
    """``FORMER_OWNERS[stem]`` while its provenance is committed (``reports/provenance/<tag>.json``), for
    ``publish_run(replaces=...)``: files of that publication that no archive holds yet are archived with its
    provenance, not under the new notebook's tag without one. None for other notebooks."""
    former = FORMER_OWNERS.get(stem)
    return former if former and (root / "reports" / "provenance" / f"{former}.json").exists() else None


def publish_run(run_dir: Path, stem: str, root: Path = ROOT, replaces: str | None = None) -> Path:
    """Publish a gpu run: its figures, reports, provenance and metrics go into its own archive folder
    ``reports/published/<stem>.<profile>.<run id>/`` (refused if it exists: runs are never overwritten), and
    copies into the committed ``figures/`` and ``reports/`` (the latest published run of each file) and
    ``reports/provenance/<stem>[.<profile>].json``. A committed file about to be replaced that no archive holds
    (published before archives existed) is first archived under ``<replaces>.legacy`` with the provenance of
    ``replaces``, the tag of the publication that wrote those files (default: this run's own tag, e.g.
    ``<stem>.gpu_1024``; give ``replaces=stem`` when a variant profile replaces the ``gpu`` profile's files), so a
    second run never loses the first one's files nor their provenance. ``reports/runs.md`` lists every archive."""
    profile = run_dir.parent.name
    tag = stem if profile == PUBLISH_PROFILE else f"{stem}.{profile}"
    archive = root / PUBLISHED / f"{stem}.{profile}.{run_dir.name}"
    if archive.exists():
        raise RunError(f"{archive} exists: this run was published already (published runs are never overwritten)")
    files = [(sub, f) for sub in ("figures", "reports") for f in sorted((run_dir / sub).glob("*")) if f.is_file()]
    prov_dir = root / "reports" / "provenance"
    owner = replaces or tag
    if replaces is not None and not (prov_dir / f"{replaces}.json").exists():
        raise RunError(f"replaces={replaces!r}: no {prov_dir / (replaces + '.json')} (the provenance of the "
                       f"publication whose files this run replaces)")
    _archive_legacy(root, owner, [root / sub / f.name for sub, f in files]
                    + [prov_dir / f"{owner}.json", prov_dir / f"{owner}.metrics.json"])
    tmp = archive.with_name(f".{archive.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for sub, f in files:
        (tmp / sub).mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, tmp / sub / f.name)
    tmp.mkdir(parents=True, exist_ok=True)
    shutil.copy2(run_dir / "provenance.json", tmp / "provenance.json")
    if (run_dir / "metrics.json").exists():
        shutil.copy2(run_dir / "metrics.json", tmp / "metrics.json")
    os.rename(tmp, archive)  # whole or absent
    for sub, f in files:
        dest = root / sub / f.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, dest)
    prov_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(run_dir / "provenance.json", prov_dir / f"{tag}.json")
    if (run_dir / "metrics.json").exists():
        shutil.copy2(run_dir / "metrics.json", prov_dir / f"{tag}.metrics.json")
    write_registry(root)
    return archive


def _archived(root: Path, path: Path) -> bool:
    """Whether some archive holds a file of ``path``'s kind and name with its bytes."""
    if path.parent.name == "provenance":
        name = "metrics.json" if path.name.endswith(".metrics.json") else "provenance.json"
        candidates = (root / PUBLISHED).glob(f"*/{name}")
    else:
        candidates = (root / PUBLISHED).glob(f"*/{path.parent.name}/{path.name}")
    data = path.read_bytes()
    return any(f.read_bytes() == data for f in candidates)


def _archive_legacy(root: Path, tag: str, paths: list[Path]) -> Path | None:
    """Archive the committed files among ``paths`` that exist and no archive holds (see ``publish_run``)."""
    todo = [p for p in paths if p.exists() and not _archived(root, p)]
    if not todo:
        return None
    legacy = root / PUBLISHED / f"{tag}.legacy"
    n = 1
    while legacy.exists():  # a second legacy set of the same tag (cannot happen twice for one file)
        n += 1
        legacy = root / PUBLISHED / f"{tag}.legacy{n}"
    for p in todo:
        if p.parent.name == "provenance":
            dest = legacy / ("metrics.json" if p.name.endswith(".metrics.json") else "provenance.json")
        else:
            dest = legacy / p.parent.name / p.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, dest)
    return legacy


def registry_rows(root: Path = ROOT) -> list[dict]:
    """One row per archive of ``reports/published/`` (notebook, profile, run id, seed, commit, device, time),
    then one per provenance file of ``reports/provenance/`` that no archive holds: the runs published before
    archives existed, several of them under hand-given names (their reports are not kept apart)."""
    sources = [(d.name, d / "provenance.json", d) for d in sorted((root / PUBLISHED).glob("*/"))]
    for f in sorted((root / "reports" / "provenance").glob("*.json")):
        if not f.name.endswith(".metrics.json") and not f.name.endswith(".episodes.json") and not _archived(root, f):
            sources.append((f"provenance/{f.name}", f, None))
    rows = []
    for name, prov_file, d in sources:
        prov = {}
        if prov_file.exists():
            try:
                prov = json.loads(prov_file.read_text())
            except json.JSONDecodeError:
                prov = {}
        params = prov.get("parameters", {})
        git = prov.get("git", {}) or {}
        dev = prov.get("device", {}) or {}
        if not isinstance(prov, dict) or ("notebook" not in prov and d is None):
            continue  # not a run's provenance (e.g. a list of episodes)
        rows.append({"archive": name, "notebook": prov.get("notebook", name.split(".")[0]),
                     "profile": prov.get("profile", "?"), "run_id": Path(str(params.get("run_dir", ""))).name or "-",
                     "seed": params.get("seed", "-"), "commit": (git.get("commit") or "-")[:10],
                     "dirty": git.get("dirty", "-"), "device": dev.get("gpu_name") or dev.get("device") or "-",
                     "start": prov.get("start", "-"), "wall_s": prov.get("wall_time_s", "-"),
                     "files": sum(1 for f in d.rglob("*") if f.is_file()) if d is not None else 1})
    return rows


NOTES_HEADING = "## Notes"
"""Where the hand-written part of ``reports/runs.md`` starts: what runs measured beyond their tables (timings,
memory, tries that were not published), which ``write_registry`` keeps as it is."""


def write_registry(root: Path = ROOT) -> Path:
    """``reports/runs.md``: the registry of published runs, rebuilt from the archives; the file's hand-written
    notes (from the line ``NOTES_HEADING`` to the end) are kept."""
    out = root / REGISTRY
    notes = ""
    if out.exists():
        text = out.read_text()
        at = text.find("\n" + NOTES_HEADING + "\n")
        notes = text[at + 1:] if at >= 0 else ""
    rows = registry_rows(root)
    cols = ["archive", "notebook", "profile", "run_id", "seed", "commit", "dirty", "device", "start", "wall_s", "files"]
    lines = ["# Published runs", "",
             "Every run published with `python -m ordebug_lib.run NOTEBOOK --profile gpu[_variant] --publish`, from its "
             "archive in `reports/published/` (its own figures, reports, provenance and metrics; `.legacy` archives hold "
             "files published before archives existed, kept when a later run replaced them), then the runs published "
             "before archives existed, by their file in `reports/provenance/` (their reports were not kept apart). "
             f"Rebuilt by `ordebug_lib.run.write_registry`, which keeps the hand-written `{NOTES_HEADING}` at the end.", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, "\n".join(lines) + "\n" + ("\n" + notes if notes else ""))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ordebug_lib.run", description=__doc__.split("\n\n")[0])
    ap.add_argument("notebook", nargs="?", help="notebook name, e.g. 00_environment_check")
    ap.add_argument("--profile", default=os.environ.get("PROFILE", "default"))
    ap.add_argument("-p", "--param", nargs=2, action="append", metavar=("KEY", "VALUE"))
    ap.add_argument("--all", action="store_true", help="run every notebook that has this profile")
    ap.add_argument("--publish", action="store_true", help="copy figures/reports into the repo (gpu only)")
    ap.add_argument("--cell-timeout", type=int, default=3600, help="seconds per cell")
    ap.add_argument("--run-id")
    ap.add_argument("--resume", action="store_true",
                    help="finish the run --run-id, started with the same parameters (e.g. cut by a time limit)")
    ap.add_argument("--root", type=Path, default=ROOT, help="project folder holding notebooks/ and params/")
    args = ap.parse_args(argv)
    root = args.root.resolve()
    if bool(args.notebook) == args.all:
        ap.error("give a NOTEBOOK or --all (not both)")
    names = [n for n in list_notebooks(root) if (root / "params" / n / f"{args.profile}.yaml").exists()] if args.all \
        else [args.notebook]
    if args.all and not names:
        ap.error(f"no notebook has a {args.profile!r} profile")
    try:
        overrides = parse_overrides(args.param)
        for n in names:
            print(f"== {n} [{args.profile}]", flush=True)
            rd = run_notebook(n, args.profile, overrides, args.run_id, args.cell_timeout, args.publish, root=root,
                              resume=args.resume)
            print(f"   ok -> {rd}", flush=True)
    except RunError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
