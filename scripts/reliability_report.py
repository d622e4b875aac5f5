"""Regenerate ``reports/reliability.md`` from the fuzz summaries and test results in ``reports/reliability/``.

Usage::

    .venv/bin/python scripts/reliability_report.py                      # the report from the stored JSON
    .venv/bin/python scripts/reliability_report.py --run-tests          # rerun the reliability tests first (~6 min)
    .venv/bin/python scripts/reliability_report.py --bad-inputs ROOT --label LABEL [--commit SHA]
        # run every case of BAD_INPUTS as a user would against the checkout at ROOT and store what happened
        # in reports/reliability/bad_inputs_LABEL.json; "before" was measured on a copy of the parent commit:
        #   git archive d5f8241 | tar -x -C /tmp/head
        #   scripts/reliability_report.py --bad-inputs /tmp/head --label before --commit d5f8241

Inputs (``reports/reliability/``; the fuzz scripts write the first ones with ``--out``):

=================================  ===========================================================================
fuzz_countdown_1e5.json            ``benchmarks/fuzz_countdown.py --n-completions 100000`` (after the fixes)
fuzz_countdown_3k_before_fix.json  the same script, 3,000 completions, on the Countdown code before the fixes
fuzz_actions_1e5.json              ``benchmarks/fuzz_actions.py --n-actions 100000``
fuzz_actions_old_env_30k.json      ``benchmarks/fuzz_actions.py --n-actions 30000`` on the env before its fixes
fuzz_actions_1e6_crash.json        the first 10^6-action run: the process crashed, so the script wrote no summary;
                                   a record of the crash and its reproduction, written from a traced rerun
fuzz_actions_1e6.json              ``benchmarks/fuzz_actions.py --n-actions 1000000`` after the fix of that crash
                                   (actions refuse numbers beyond 1e15, commit 25e5d4f)
bad_inputs_before.json / _after    ``--bad-inputs`` on a copy of the commit before this work / on the checkout
tests.json                         ``--run-tests``: the pytest results of ``TEST_FILES``
=================================  ===========================================================================

Numbers from before the fixes that no stored file holds (``HISTORY``) are quoted from the issue.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "reports" / "reliability"
REPORT = ROOT / "reports" / "reliability.md"
TEST_FILES = ("tests/test_fuzz_countdown.py", "tests/test_kill9.py", "tests/test_bad_inputs.py",
              "tests/test_fuzz_actions.py", "tests/test_ordebug_cli.py")
HISTORY = [  # (area, what broke, source)
    ("OR-Debug actions", "an earlier fuzz of 110,176 random actions raised SolverError twice", "the issue"),
    ("OR-Debug actions", "the env fuzz of 30,000 actions on the old env raised 63 SolverErrors",
     "the issue; fuzz_actions_old_env_30k.json"),
    ("debug CLI", "a corrupt MPS file, an LP syntax error and a directory each raised GurobiError with a traceback "
     "and exit 1", "the issue"),
]


# ----------------------------------------------------------------------------------------------------
# Bad inputs, run as a user runs them
# ----------------------------------------------------------------------------------------------------

def make_bad_inputs(d: Path) -> dict[str, str]:
    """Directories a user could pass by mistake, made under ``d``; returns {placeholder: path}: ``empty`` (not
    a checkpoint), ``nowhere`` (does not exist), ``adapter`` (a LoRA adapter whose base is gone), ``no_eos``
    (a tokenizer with neither EOS nor pad), ``old_bench`` (benchmark format 1), ``unfinished`` (a build killed
    before its manifest), ``cd_ws`` (a Countdown warm start trained with other settings), ``od_ws`` (an
    OR-Debug warm start trained with max_turns 20)."""
    from ordebug_lib.policy.countdown_sft import CountdownSFTConfig
    from ordebug_lib.policy.tokenizer import project_tokenizer

    d.mkdir(parents=True, exist_ok=True)
    (d / "empty").mkdir(exist_ok=True)
    (d / "adapter").mkdir(exist_ok=True)
    (d / "adapter" / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(d / "gone")}))
    tok = project_tokenizer()
    tok.eos_token = tok.pad_token = None
    tok.save_pretrained(d / "no_eos")
    qwen = json.dumps({"model_type": "qwen3", "max_position_embeddings": 4096})
    (d / "no_eos" / "config.json").write_text(qwen)
    (d / "old_bench").mkdir(exist_ok=True)
    (d / "old_bench" / "manifest.json").write_text(json.dumps({"format_version": 1, "n_instances": 0}))
    (d / "old_bench" / "index.jsonl").write_text("")
    (d / "unfinished").mkdir(exist_ok=True)
    (d / "unfinished" / "index.jsonl").write_text("")
    (d / "unfinished" / ".building.json").write_text("{}")
    ws = d / "cd_ws"
    (ws / "model").mkdir(parents=True, exist_ok=True)
    (ws / "model" / "config.json").write_text("{}")
    (ws / "problems.jsonl").write_text("")
    (ws / "warm_start.json").write_text(json.dumps({"config": vars(CountdownSFTConfig(model="tiny", n_demos=999))}))
    od = d / "od_ws"
    project_tokenizer().save_pretrained(od / "model")
    (od / "model" / "config.json").write_text(qwen)
    (od / "provenance.json").write_text(json.dumps({"parameters": {"warm_start_config": {"max_turns": 20}}}))
    return {name: str(d / name) for name in ("empty", "nowhere", "adapter", "no_eos", "old_bench", "unfinished",
                                             "cd_ws", "od_ws")} | {"od_model": str(od / "model")}


R02, R03, R04, R10, R20 = (["run", nb, "--profile", "smoke"] for nb in (
    "02_ordebug_benchmark", "03_countdown_sft", "04_ordebug_sft", "10_countdown_grpo_vs_drgrpo", "20_ordebug_sft_vs_grpo"))
TG_CD = ["train_grpo", "--task", "countdown", "--run-dir", "{tmp}/run", "--cpu"]
TG_OD = ["train_grpo", "--task", "ordebug", "--model", "tiny", "--run-dir", "{tmp}/run", "--cpu"]
SFT = ["countdown_sft", "--out", "{tmp}/ws", "--params", "{params}"]
# (case, argv with {placeholders} of make_bad_inputs, phrases the one error line must hold, SFT params or None)
BAD_INPUTS: list[tuple[str, list[str], tuple[str, ...], object]] = [
    ("unknown notebook", ["run", "nope"], ("no notebook 'nope'", "known: 00_environment_check"), None),
    ("unknown profile", ["run", "02_ordebug_benchmark", "--profile", "nope"],
     ("profile 'nope'", "profiles: ['default', 'gpu', 'smoke']"), None),
    ("unknown parameter", [*R02, "-p", "bogus", "1"], ("unknown parameter(s) ['bogus']",), None),
    ("a word for an int", [*R02, "-p", "n_per_cell", "two"],
     ("parameter n_per_cell must be an integer like its default 4, got 'two' (str)",), None),
    ("the episode budget's old name", [*R02, "-p", "max_steps", "20"], ("unknown parameter(s) ['max_steps']",
                                                                        "max_turns"), None),
    ("a float for an int", [*R02, "-p", "max_turns", "2.5"], ("parameter max_turns must be an integer",), None),
    ("null where a value is needed", [*R02, "-p", "max_turns", "null"], ("parameter max_turns must not be null",),
     None),
    ("a word for a boolean", [*R02, "-p", "fail_on_leak", "maybe"], ("fail_on_leak must be a boolean",), None),
    ("broken YAML in -p", [*R02, "-p", "n_per_cell", "[1,"], ("-p n_per_cell '[1,': not a valid YAML",), None),
    ("zero instances per cell", [*R02, "-p", "n_per_cell", "0"], ("parameter n_per_cell must be ≥ 1, got 0",), None),
    ("unknown error type", [*R02, "-p", "error_types", "AZ"], ("unknown error type(s) ['Z']",), None),
    ("unknown naming", [*R02, "-p", "naming", "weird"], ("naming must be one of",), None),
    ("split fractions of two splits", [*R02, "-p", "split_fractions", "[0.5, 0.5]"],
     ("split_fractions must be 3 non-negative numbers summing to 1",), None),
    ("evaluating an empty split", [*R02, "-p", "eval_split", "val"], ("eval_split 'val' gets no instances",), None),
    ("negative steps", [*R03, "-p", "warm_start_config", "{model: tiny, steps: -5}"],
     ("warm_start_config.steps must be ≥ 1, got -5",), None),
    ("zero learning rate", [*R03, "-p", "warm_start_config", "{model: tiny, learning_rate: 0}"],
     ("warm_start_config.learning_rate must be > 0",), None),
    ("a word for an int (SFT config)", [*R03, "-p", "warm_start_config", "{model: tiny, steps: two}"],
     ("warm_start_config.steps must be an integer like its default 100, got 'two' (str)",), None),
    ("unknown SFT config field", [*R03, "-p", "warm_start_config", "{task: chess}"],
     ("unknown CountdownSFTConfig field(s) ['task']",), None),
    ("negative SFT steps (OR-Debug)", [*R04, "-p", "warm_start_config", "{sft: {max_steps: -5}}"],
     ("warm_start_config.sft.max_steps must be ≥ 1, got -5",), None),
    ("a second seed in the SFT config", [*R04, "-p", "warm_start_config", "{seed: 2}"],
     ("warm_start_config seed=2 differs from seed=0",), None),
    ("unknown baseline (SFT)", [*R04, "-p", "baselines", "[random, chess]"], ("unknown baseline(s) ['chess']",), None),
    ("completion budget past the context (SFT)", [*R03, "-p", "max_new_tokens", "5000"],
     ("max_new_tokens=5000 tokens exceeds the 4096-token context of 'tiny'",), None),
    ("keep_best without evaluation", [*R03, "-p", "warm_start_config", "{model: tiny, keep_best: true}"],
     ("keep_best needs eval_steps > 0",), None),
    ("a zero budget", [*R10, "-p", "budgets", "[16, 0]"], ("parameter budgets must be a non-empty list of integers ≥ 1",),
     None),
    ("completion budget past the context (E1)", [*R10, "-p", "budgets", "[8192]"],
     ("budgets=8192 tokens exceeds the 4096-token context of 'tiny'",), None),
    ("group size not dividing the batch (E1)",
     [*R10, "-p", "grpo", "{num_generations: 3, per_device_train_batch_size: 8, steps_per_generation: 1, max_steps: 1}"],
     ("grpo: the generation batch", "= 8 is not a multiple of num_generations 3"), None),
    ("negative RL steps", [*R10, "-p", "grpo", "{num_generations: 4, max_steps: -1}"],
     ("grpo: max_steps must be ≥ 1, got -1",), None),
    ("a per-arm setting in the shared GRPO settings", [*R10, "-p", "grpo", "{loss_type: dapo}"],
     ("['loss_type'] are set per arm",), None),
    ("a bad warm start config", [*R10, "-p", "warm_start_config", "{model: tiny, steps: 0}"],
     ("warm_start_config: steps must be a positive int",), None),
    ("group size not dividing the batch (OR-Debug)",
     [*R20, "-p", "grpo", "{num_generations: 3, per_device_train_batch_size: 4, max_steps: 2, max_completion_length: 32}"],
     ("is not a multiple of num_generations 3",), None),
    ("completion budget past the context (OR-Debug)",
     [*R20, "-p", "grpo", "{max_completion_length: 5000, num_generations: 2}"],
     ("max_completion_length 5000 exceeds max_context_tokens",), None),
    ("episode budget other than the warm start's", [*R20, "-p", "max_turns", "7"],
     ("warm_start_config max_turns=6 must equal max_turns=7",), None),
    ("unknown arm", [*R20, "-p", "arms", "[sft, chess]"], ("arms: unknown arm kind 'chess'",), None),
    ("a profile that needs a warm start", [*R20, "-p", "require_warm_start", "true"], ("this profile needs -p warm_start",),
     None),
    ("GPU profile without CUDA (00)", ["run", "00_environment_check", "--profile", "gpu"],
     ("require_cuda=true but this machine has no usable CUDA GPU",), None),
    ("GPU profile without CUDA (03)", ["run", "03_countdown_sft", "--profile", "gpu"],
     ("device='cuda' but this machine has no usable CUDA GPU", "-p device cpu"), None),
    ("GPU profile without CUDA (10)", ["run", "10_countdown_grpo_vs_drgrpo", "--profile", "gpu"],
     ("device='cuda' but this machine has no usable CUDA GPU",), None),
    ("model dir without a checkpoint", [*R03, "-p", "warm_start_config", "{model: {empty}}"],
     ("holds no config.json (not a saved model)",), None),
    ("model path that does not exist", [*R03, "-p", "warm_start_config", "{model: {nowhere}}"], ("does not exist",), None),
    ("LoRA adapter without its base", [*R03, "-p", "warm_start_config", "{model: {adapter}}"],
     ("is a LoRA adapter whose base model", "cannot be loaded", "does not exist"), None),
    ("tokenizer without pad or EOS", [*R03, "-p", "warm_start_config", "{model: {no_eos}}"],
     ("has neither a pad nor an EOS token",), None),
    ("benchmark of format 1", [*R04, "-p", "benchmark_dir", "{old_bench}"],
     ("has format version 1", "this code reads version 2", "Rebuild it"), None),
    ("unfinished benchmark build", [*R04, "-p", "benchmark_dir", "{unfinished}"],
     ("did not finish", "run build_benchmark with the same parameters"), None),
    ("benchmark dir that does not exist", [*R04, "-p", "benchmark_dir", "{nowhere}"], ("is not a directory",), None),
    ("missing warm start (E1)", [*R10, "-p", "warm_start", "{nowhere}"],
     ("is not a Countdown warm start (no warm_start.json)",), None),
    ("mismatched warm start (E1)", [*R10, "-p", "warm_start", "{cd_ws}"],
     ("was trained with other settings than warm_start_config", "n_demos"), None),
    ("warm start without its benchmark (OR-Debug)", [*R20, "-p", "warm_start", "{od_model}"],
     ("warm_start needs benchmark_dir",), None),
    ("mismatched warm start (OR-Debug)", [*R20, "-p", "warm_start", "{od_model}", "-p", "benchmark_dir", "{old_bench}"],
     ("was trained with max_turns=20, not max_turns=6",), None),
    ("warm start dir without a checkpoint (OR-Debug)",
     [*R20, "-p", "warm_start", "{empty}", "-p", "benchmark_dir", "{old_bench}"], ("holds no config.json",), None),
    ("train_grpo: model dir without a checkpoint", [*TG_CD, "--model", "{empty}"], ("holds no config.json",), None),
    ("train_grpo: LoRA adapter without its base", [*TG_CD, "--model", "{adapter}"], ("is a LoRA adapter whose base model",),
     None),
    ("train_grpo: tokenizer without pad or EOS", [*TG_CD, "--model", "{no_eos}"],
     ("has neither a pad nor an EOS token",), None),
    ("train_grpo: hub id not in the cache", [*TG_CD, "--model", "org/not-cached"],
     ("not a hub id in the local Hugging Face cache",), None),
    ("train_grpo: group size not dividing the batch",
     [*TG_CD, "--model", "tiny", "--set", "num_generations=3", "per_device_train_batch_size=8"],
     ("is not a multiple of num_generations 3",), None),
    ("train_grpo: negative steps", [*TG_CD, "--model", "tiny", "--set", "max_steps=-1"],
     ("max_steps must be ≥ 1, got -1",), None),
    ("train_grpo: completion budget past the context", [*TG_CD, "--model", "tiny", "--set", "max_completion_length=8192"],
     ("max_completion_length 8192 exceeds max_context_tokens 4096",), None),
    ("train_grpo: a word for a number", [*TG_CD, "--model", "tiny", "--set", "learning_rate=fast"],
     ("learning_rate must be float",), None),
    ("train_grpo: missing config file", [*TG_CD, "--model", "tiny", "--config", "{tmp}/missing.yaml"], ("no such file",),
     None),
    ("train_grpo: benchmark of format 1", [*TG_OD, "--benchmark-dir", "{old_bench}"], ("has format version 1",), None),
    ("train_grpo: unfinished benchmark build", [*TG_OD, "--benchmark-dir", "{unfinished}"], ("did not finish",), None),
    ("train_grpo: directory without a benchmark", [*TG_OD, "--benchmark-dir", "{empty}"], ("no benchmark manifest",), None),
    ("countdown_sft: model dir without a checkpoint", SFT, ("holds no config.json",), {"model": "{empty}"}),
    ("countdown_sft: LoRA adapter without its base", SFT, ("is a LoRA adapter whose base model",), {"model": "{adapter}"}),
    ("countdown_sft: tokenizer without pad or EOS", SFT, ("has neither a pad nor an EOS token",), {"model": "{no_eos}"}),
    ("countdown_sft: negative steps", SFT, ("steps must be a positive int, got -3",), {"model": "tiny", "steps": -3}),
    ("countdown_sft: unknown field", SFT, ("unknown CountdownSFTConfig field(s) ['modle']",), {"modle": "tiny"}),
    ("countdown_sft: missing --key", [*SFT, "--key", "nope"], ("has no key 'nope'", "warm_start_config"),
     {"warm_start_config": {"model": "tiny"}}),
    ("countdown_sft: params not a mapping", SFT, ("is not a mapping of CountdownSFTConfig fields",), [1, 2]),
    ("countdown_sft: --device cuda without CUDA", [*SFT, "--device", "cuda"],
     ("--device cuda but this machine has no usable CUDA GPU",), {"model": "tiny"}),
    ("countdown_sft: missing params file", ["countdown_sft", "--out", "{tmp}/ws", "--params", "{tmp}/missing.yaml"],
     ("no such file",), None),
]
ENTRY = {"run": ["-m", "ordebug_lib.run"], "train_grpo": ["scripts/train_grpo.py"],
         "countdown_sft": ["-m", "ordebug_lib.policy.countdown_sft"]}


def _fill(x, values: dict):
    if isinstance(x, str):  # {name} placeholders only: YAML flow mappings keep their braces
        return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), x)
    if isinstance(x, list):
        return [_fill(v, values) for v in x]
    if isinstance(x, dict):
        return {k: _fill(v, values) for k, v in x.items()}
    return x


def bad_input_command(case, dirs: dict, tmp: Path) -> list[str]:
    """The command line of one ``BAD_INPUTS`` case (writing its params file, if it has one, into ``tmp``)."""
    _, argv, _, params = case
    values = {**dirs, "tmp": str(tmp), "params": str(tmp / "params.yaml")}
    if params is not None:
        (tmp / "params.yaml").write_text(json.dumps(_fill(params, values)))
    argv = _fill(argv, values)
    return [sys.executable, *ENTRY[argv[0]], *argv[1:]]


def outcome(r: subprocess.CompletedProcess | None, seconds: float, phrases) -> dict:
    """What a user saw: exit status, a traceback or not, the ``error:`` lines, whether it names the problem."""
    if r is None:
        return {"rc": None, "timed_out": True, "seconds": round(seconds, 1), "traceback": None, "error_lines": None,
                "one_clear_line": False, "message": None}
    lines = [s for s in r.stderr.splitlines() if s.strip()]
    errors = [s for s in lines if s.startswith("error: ")]
    last = lines[-1] if lines else ""
    return {"rc": r.returncode, "timed_out": False, "seconds": round(seconds, 1), "traceback": "Traceback" in r.stderr,
            "error_lines": len(errors), "stderr_lines": len(lines),
            "one_clear_line": r.returncode != 0 and "Traceback" not in r.stderr and len(errors) == 1 == len(lines)
            and all(p in errors[0] for p in phrases),
            "message": (errors[0] if errors else last)[:400]}


def _run(cmd: list[str], root: Path, timeout: float) -> subprocess.CompletedProcess | None:
    """``cmd`` in ``root``; None if it ran past ``timeout`` (then its whole process group is killed: a
    notebook that was not refused is running a kernel)."""
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env={**os.environ, "PYTHONPATH": str(root)})
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return None
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def measure_bad_inputs(root: Path, label: str, timeout: float, commit: str | None = None) -> Path:
    """Run every case against the checkout at ``root`` and store the outcomes (``commit``: what ``root`` is a
    copy of, when it is not a git checkout, e.g. ``git archive``)."""
    out = []
    with tempfile.TemporaryDirectory() as t:
        dirs = make_bad_inputs(Path(t) / "disk")
        for case in BAD_INPUTS:
            tmp = Path(tempfile.mkdtemp(dir=t))
            cmd = bad_input_command(case, dirs, tmp)
            t0 = time.perf_counter()
            res = outcome(_run(cmd, root, timeout), time.perf_counter() - t0, case[2])
            out.append({"case": case[0], **res})
            print(f"{case[0]:55s} rc={res['rc']} traceback={res['traceback']} one_line={res['one_clear_line']} "
                  f"{res['seconds']}s", flush=True)
    path = DATA / f"bad_inputs_{label}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    git = _git(root) if commit is None else {"commit": commit, "dirty": False, "source": f"a copy of {commit} at {root}"}
    path.write_text(json.dumps({"root": str(root), "label": label, "timeout_s": timeout, "git": git,
                                "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                                "cases": out}, indent=2, ensure_ascii=False) + "\n")
    return path


# ----------------------------------------------------------------------------------------------------
# Tests
# ----------------------------------------------------------------------------------------------------

def run_tests() -> Path:
    """pytest on ``TEST_FILES``; per file and per test: outcome and seconds, into ``tests.json``."""
    with tempfile.TemporaryDirectory() as t:
        xml = Path(t) / "junit.xml"
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}",
                               *TEST_FILES], cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if not xml.exists():
            raise RuntimeError(f"pytest wrote no results (exit {proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
        cases = []
        for tc in ET.parse(xml).getroot().iter("testcase"):
            kind = next((c.tag for c in tc if c.tag in ("failure", "error", "skipped")), "passed")
            cases.append({"file": tc.get("classname", "").replace(".", "/") + ".py", "test": tc.get("name"),
                          "outcome": kind, "seconds": round(float(tc.get("time", 0)), 2)})
    path = DATA / "tests.json"
    path.write_text(json.dumps({"command": "pytest -q " + " ".join(TEST_FILES), "exit_status": proc.returncode,
                                "wall_seconds": round(wall, 1), "git": _git(ROOT),
                                "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                                "tests": cases}, indent=2) + "\n")
    return path


def _git(root: Path) -> dict:
    sys.path.insert(0, str(ROOT))
    from ordebug_lib.provenance import git_state

    return git_state(root)


# ----------------------------------------------------------------------------------------------------
# The report
# ----------------------------------------------------------------------------------------------------

def _load(name: str) -> dict | None:
    p = DATA / name
    return json.loads(p.read_text()) if p.exists() else None


def _n(x) -> str:
    return f"{x:,}" if isinstance(x, int) else str(x)


def _table(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in r) + " |" for r in rows]
    return "\n".join(out)


def _failures(s: dict) -> str:
    parts = [f"{n} {k}" for k, n in s.get("exceptions", {}).items()]
    parts += [f"{n} {k}" for k, n in {**s.get("range_violations", {}), **s.get("mismatches", {})}.items()]
    if s.get("contract", {}).get("n_violations"):
        parts.append(f"{s['contract']['n_violations']} contract violations")
    return ", ".join(parts) or "none"


def countdown_section(after: dict | None, before: dict | None) -> list[str]:
    out = ["## Countdown verifier and rewards (`benchmarks/fuzz_countdown.py`)", ""]
    if after is None:
        return out + ["No summary stored (`fuzz_countdown_1e5.json`).", ""]
    out += [f"Command: `{after['command']}` at commit `{(after.get('git') or {}).get('commit')}` "
            f"(dirty: {(after.get('git') or {}).get('dirty')}).", "",
            f"{_n(after['n_completions'])} completions in groups of {after['group_size']} over {after['n_problems']} "
            f"problems, {after['categories'].get('conversational', 0):,} of them conversational, the largest "
            f"{_n(after['largest_completion_chars'])} characters, plus {after['contract']['n_checks']} contract checks "
            "(bad problems, non-text completions).", ""]
    rows = []
    if before is not None:
        rows.append(["before the fixes", _n(before["n_completions"]), _failures(before),
                     f"{before['slowest_completion']['seconds']:.2f} s ({before['slowest_completion']['category']})",
                     before["completions_per_second"]])
    rows.append(["now", _n(after["n_completions"]), _failures(after),
                 f"{after['slowest_completion']['seconds']:.3f} s ({after['slowest_completion']['category']})",
                 after["completions_per_second"]])
    out += [_table(["run", "completions", "failures", "slowest completion", "completions/s"], rows), ""]
    if before is not None and before.get("exceptions", {}).get("Hang"):
        out += [f"Before the fixes {before['exceptions']['Hang']} completions (floods of `<answer>` with no closing tag) "
                f"were stopped at the {before['hang_seconds']:.0f} s limit inside `extract_answer`: its regex "
                "`<answer>(.*?)</answer>` is quadratic in the number of opening tags (measured directly: 13.6 s on "
                "128 KB, 0.87 s on 32 KB, 0.05 s on 8 KB); the new scan is linear (`tests/test_fuzz_countdown.py` "
                "times 1 MB).", ""]
    if before is not None and before.get("contract", {}).get("violations"):
        out += ["Contract violations before the fixes (the TRL wrappers converted columns with `int()` / `list()`):", ""]
        out += [f"- `{v}`" for v in before["contract"]["violations"][:14]] + [""]
    kc = after.get("known_correct", {})
    out += [f"Every correct solution in a tag that keeps it the last answer was rewarded 1.0: {kc.get('rewarded_1.0')} of "
            f"{kc.get('n')}. Throughput in the functions under test: "
            f"{after['completions_per_second_in_functions_under_test']:,} completions/s "
            f"({after['seconds_in_functions_under_test']} s of {after['wall_seconds']} s; the rest is the harness's oracle).",
            "", "Reward values reached:", ""]
    vals = after["reward_values"]
    out += [_table(["reward", "value", "completions"], [[k.split("=")[0], k.split("=")[1], _n(v)] for k, v in vals.items()]),
            ""]
    bodies = {k[5:]: v for k, v in after["categories"].items() if k.startswith("body:")}
    wrappers = {k[8:]: v for k, v in after["categories"].items() if k.startswith("wrapper:")}
    enormous = {k[9:]: v for k, v in after["categories"].items() if k.startswith("enormous:")}
    out += ["Answer bodies: " + ", ".join(f"{k} {v:,}" for k, v in bodies.items()) + ".",
            "", "Tag wrappers: " + ", ".join(f"{k} {v:,}" for k, v in wrappers.items()) + ".",
            "", "Enormous completions (1 KB - 1 MB): " + ", ".join(f"{k} {v:,}" for k, v in enormous.items()) + ".", ""]
    return out


def actions_section(a1e5: dict | None, old: dict | None, crash: dict | None, a1e6: dict | None = None) -> list[str]:
    out = ["## OR-Debug actions (`benchmarks/fuzz_actions.py`)", ""]
    rows = []
    for label, s in (("old env", old), ("after the env fixes", a1e5), ("10^6, after the crash's fix", a1e6)):
        if s is not None:
            rows.append([label, f"`{s['command']}`", _n(s["n_actions"]), _failures(s),
                         f"{s['slowest_step']['seconds']:.2f} s", s["actions_per_second"]])
    if crash is not None:
        rows.insert(len(rows) - (a1e6 is not None), ["10^6, before the crash's fix", f"`{crash['command']}`",
                     f"{_n(crash['steps_before_crash'])} then a crash",
                     f"process killed by {crash['signal']} in {crash['where']}", "-", crash.get("actions_per_second", "-")])
    out += [_table(["run", "command", "actions", "failures", "slowest step", "actions/s"], rows), ""]
    if crash is not None:
        rep = crash["minimal_reproduction"]
        out += [f"**The first 10^6-action run did not finish.** {crash['summary']}", "",
                f"Minimal reproduction on `{rep['instance']}`: " + " then ".join(f"`{a}`" for a in rep["actions"])
                + f" → {rep['outcome']}.", "",
                "Coefficient sweep (the same two actions, `SET_COEF def_payroll pt_thu_06 <v>`): "
                + ", ".join(f"{v}: {r}" for v, r in crash["coefficient_sweep"].items()) + ".", "",
                (f"Fixed since (commit 25e5d4f): actions refuse numbers beyond 1e15 (`actions.MAX_MAGNITUDE`), "
                 "an ActionError the agent reads; the 10^6 run above is after that fix." if a1e6 is not None
                 else f"Not fixed here: {crash['not_fixed_because']}"), ""]
    return out


def tests_section(tests: dict | None) -> list[str]:
    out = ["## Tests", ""]
    if tests is None:
        return out + ["No test results stored; run with `--run-tests`.", ""]
    by_file: dict[str, dict] = {}
    for t in tests["tests"]:
        f = by_file.setdefault(t["file"], {"passed": 0, "failure": 0, "error": 0, "skipped": 0, "seconds": 0.0})
        f[t["outcome"]] += 1
        f["seconds"] += t["seconds"]
    out += [f"`{tests['command']}` at commit `{tests['git'].get('commit')}` (dirty: {tests['git'].get('dirty')}), "
            f"{tests['date']}: exit status {tests['exit_status']}, {tests['wall_seconds']} s.", ""]
    out += [_table(["file", "passed", "failed", "errors", "skipped", "seconds"],
                   [[f"`{k}`", v["passed"], v["failure"], v["error"], v["skipped"], round(v["seconds"], 1)]
                    for k, v in by_file.items()]), ""]
    bad = [t for t in tests["tests"] if t["outcome"] in ("failure", "error")]
    if bad:
        out += ["Failing: " + ", ".join(f"`{t['test']}`" for t in bad), ""]
    return out


def _kind(c: dict) -> str:
    """How a case ended, as a user saw it."""
    if c["timed_out"]:
        return "still running at the limit"
    if c["rc"] == 0:
        return "accepted (exit 0)"
    if c["traceback"]:
        return "traceback"
    if c["message"] and "failed in cell" in c["message"]:
        return "refused in a notebook cell"
    return "one line" if c["one_clear_line"] else "refused, other form"


def _kinds(cases: list[dict]) -> str:
    counts: dict[str, int] = {}
    for c in cases:
        counts[_kind(c)] = counts.get(_kind(c), 0) + 1
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def bad_inputs_section(before: dict | None, after: dict | None) -> list[str]:
    out = ["## Bad input: one clear line, non-zero exit, no traceback", ""]
    if after is None:
        return out + ["No measurement stored; run `--bad-inputs . --label after`.", ""]
    b = {c["case"]: c for c in (before or {}).get("cases", [])}

    def said(c):
        if c is None:
            return "-"
        if c["timed_out"]:
            return f"not refused within {before['timeout_s']:.0f} s (it ran)"
        tb = "traceback, " if c["traceback"] else ""
        return f"exit {c['rc']}, {tb}{c['seconds']} s: {c['message'] or '(no message)'}"

    if before is not None:
        out += [f"Before: `--bad-inputs` against a copy of commit `{before['git'].get('commit')}` (this work's parent), "
                f"each case stopped after {before['timeout_s']:.0f} s. Now: the checkout at commit "
                f"`{after['git'].get('commit')}` (dirty: {after['git'].get('dirty')}).", ""]
        out += [f"Before ({len(b)} cases): {_kinds(list(b.values()))}. \"Refused in a notebook cell\" is the runner's "
                "`error: <nb> failed in cell N ...: Type: message` plus the executed notebook's path, after the kernel "
                "started and the cells before it ran; \"accepted\" means the run went on with the bad value.", ""]
    out += ["The stand-in checkpoints of `make_bad_inputs` hold no weights: a case that reached a model load before "
            "failed on the missing weights (so \"tokenizer without pad or EOS\" before reports a model it cannot "
            "load, not the tokenizer).", ""]
    ok = sum(c["one_clear_line"] for c in after["cases"])
    out += [f"Now ({len(after['cases'])} cases): {_kinds(after['cases'])}; {ok} give exactly one `error:` line on "
            "stderr holding the phrases `tests/test_bad_inputs.py` checks, exit status 1 and no traceback, before any "
            "work starts.", ""]
    rows = [[c["case"], said(b.get(c["case"])) if before is not None else "-",
             ("ok: " if c["one_clear_line"] else "NOT ONE LINE: ") + f"{c['seconds']} s: {c['message']}"]
            for c in after["cases"]]
    return out + [_table(["case", "before", "now"], rows), ""]


def kill9_section(tests: dict | None) -> list[str]:
    out = ["## kill -9 anywhere (`tests/test_kill9.py`)", "",
           "Each case SIGKILLs a process tree (its process group, and the Jupyter kernel, which runs in a session of "
           "its own) at one point, runs the documented resume command and compares with a run never interrupted:", "",
           "- **builder** (`build_benchmark`, 18 instances): killed from outside once it marked the build under way, "
           "and by the child itself after the 1st and the 17th model file, in the middle of writing the index "
           "(half a temporary file), between the index and the manifest, and after the manifest before the "
           "marker's removal. Before the manifest, `read_index`, `load_benchmark` and `read_manifest` refuse the "
           "directory (\"did not finish ... run build_benchmark with the same parameters\"); `build_benchmark` "
           "again on it rebuilds it; index, manifest (but its `build_seconds`) and model files equal the "
           "uninterrupted build's. A finished build with the same parameters is reused; with others, and files "
           "this code did not mark as its build, refused (nothing deleted); a truncated or shortened index does "
           "not load;",
           "- **evaluation** (`results.evaluate` of greedy then search, a sleep per action so a kill lands inside): "
           "killed after the first row, half of greedy's rows, half of search's; the rows stored are whole, once "
           "each, and equal to the reference's; `evaluate` again gives exactly the reference table (but the wall "
           "clock columns);",
           "- **arms** (`jobs.run_jobs`, three stand-in arms of 0.6 s, not a real RL arm): killed in the middle of "
           "the second arm; `run_jobs` again skips the first, reruns the second from scratch, runs the third;",
           "- **runner** (`python -m ordebug_lib.run 02_ordebug_benchmark --profile smoke`): killed at 1 s "
           "(start-up), once the benchmark's first model file exists, once 3 episodes are stored; "
           "`--run-id ID --resume` (or, killed before the run had a directory, the same command without "
           "`--resume`, after `--resume` said \"nothing to resume\") ends with every table of `reports/`, the "
           "benchmark index, the episodes and `metrics.json` (but its timings) equal to the uninterrupted run's. "
           "A resume is refused while the run's runner (`running.json`) is alive.", ""]
    if tests is not None:
        k = [t for t in tests["tests"] if t["file"].endswith("test_kill9.py")]
        out += [f"Last run: {sum(t['outcome'] == 'passed' for t in k)} of {len(k)} passed in "
                f"{sum(t['seconds'] for t in k):.0f} s.", ""]
    return out


def report() -> str:
    cd_after, cd_before = _load("fuzz_countdown_1e5.json"), _load("fuzz_countdown_3k_before_fix.json")
    a1e5, old, crash = _load("fuzz_actions_1e5.json"), _load("fuzz_actions_old_env_30k.json"), _load("fuzz_actions_1e6_crash.json")
    a1e6 = _load("fuzz_actions_1e6.json")
    tests, bi_before, bi_after = _load("tests.json"), _load("bad_inputs_before.json"), _load("bad_inputs_after.json")
    lines = ["# Reliability: fuzzing, kill -9 and bad input", "",
             "Generated by `scripts/reliability_report.py` from `reports/reliability/*.json`; do not edit by hand.", "",
             "## Summary", ""]
    rows = []
    if cd_after is not None:
        before = (f"{_n(cd_before['n_completions'])} completions on the old code: {_failures(cd_before)}"
                  if cd_before else "-")
        rows.append(["Countdown verifier and rewards", "adversarial completions, every reward, the TRL wrappers",
                     _n(cd_after["n_completions"]), before, _failures(cd_after)])
    if a1e5 is not None:
        now = f"10^5: {_failures(a1e5)}"
        before = "; ".join(h[1] for h in HISTORY[:2])
        if a1e6 is not None:
            now += f"; 10^6: {_failures(a1e6)}"
        elif crash is not None:
            now += (f"; 10^6: the process crashed ({crash['signal']} in {crash['where']}) after "
                    f"{_n(crash['steps_before_crash'])} actions, not fixed")
        if crash is not None and a1e6 is not None:
            before += (f"; the first 10^6 run crashed ({crash['signal']} in {crash['where']}) after "
                       f"{_n(crash['steps_before_crash'])} actions")
        count = (f"{_n(a1e6['n_actions'])} + {_n(a1e5['n_actions'])}" if a1e6 is not None else
                 f"{_n(a1e5['n_actions'])} (+ {_n(crash['steps_before_crash'])} of 10^6)" if crash else _n(a1e5["n_actions"]))
        rows.append(["OR-Debug env actions", "random and grammar-aware action strings", count, before, now])
    cli = [t for t in (tests or {}).get("tests", []) if t["file"].endswith("test_ordebug_cli.py")]
    rows.append(["debug CLI", "bad files", f"{len(cli)} tests" if cli else "-", HISTORY[2][1],
                 f"{sum(t['outcome'] == 'passed' for t in cli)} of {len(cli)} tests pass" if cli else "-"])
    k9 = [t for t in (tests or {}).get("tests", []) if t["file"].endswith("test_kill9.py")]
    rows.append(["kill -9", "builder, evaluation, arms, notebook runner", f"{len(k9)} tests" if k9 else "-",
                 "index and manifest written in place; a killed build's index blocked the rebuild; a resumed "
                 "02 run would meet its own finished benchmark and stop; a run could lack params.json or attempts.json "
                 "(from the code, not measured)",
                 f"{sum(t['outcome'] == 'passed' for t in k9)} of {len(k9)} tests pass" if k9 else "-"])
    if bi_after is not None:
        b = bi_before["cases"] if bi_before else []
        rows.append(["bad input", "runner parameters and paths, train_grpo.py, countdown_sft CLI",
                     f"{len(bi_after['cases'])} cases",
                     _kinds(b) if b else "-", _kinds(bi_after["cases"])])
    lines += [_table(["area", "what was tried", "how many", "broke before the fixes", "breaks now"], rows), ""]
    lines += ["Quoted from the issue (no stored file): " + "; ".join(f"{h[1]} ({h[2]})" for h in HISTORY) + ".", ""]
    lines += countdown_section(cd_after, cd_before)
    lines += actions_section(a1e5, old, crash, a1e6)
    lines += kill9_section(tests)
    lines += bad_inputs_section(bi_before, bi_after)
    lines += tests_section(tests)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run-tests", action="store_true", help=f"rerun {', '.join(TEST_FILES)} first")
    ap.add_argument("--bad-inputs", type=Path, metavar="ROOT", help="measure BAD_INPUTS against this checkout")
    ap.add_argument("--label", default="after", help="name of the --bad-inputs measurement (before / after)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per --bad-inputs case")
    ap.add_argument("--commit", help="the commit ROOT is a copy of, when it is not a git checkout")
    ap.add_argument("--out", type=Path, default=REPORT)
    a = ap.parse_args(argv)
    if a.bad_inputs is not None:
        print(f"wrote {measure_bad_inputs(a.bad_inputs.resolve(), a.label, a.timeout, a.commit)}")
        return 0
    if a.run_tests:
        print(f"wrote {run_tests()}")
    a.out.write_text(report())
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
