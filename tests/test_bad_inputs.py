"""Every bad input gets one clear line on stderr and a non-zero exit, never a traceback: the notebook runner,
``scripts/train_grpo.py`` and ``python -m ordebug_lib.policy.countdown_sft``, run as a user runs them.

Where each case is handled: the runner's ``preflight`` (types against the parameters cell, ranges, CUDA, the
GRPO config of every arm, warm starts, checkpoints, benchmarks) before any kernel starts; library checks it
calls (``GRPORunConfig.validate``, ``loader.check_source``, ``dataset.read_index``); the scripts' ``prepare``
steps. A check only a notebook can make surfaces as ``error: <nb> failed in cell N ...: Type: message``.
"""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
SPEC = importlib.util.spec_from_file_location("reliability_report", ROOT / "scripts" / "reliability_report.py")
report = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(report)


def cli(*args, timeout=300):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def runner(*args):
    return cli("-m", "ordebug_lib.run", *args)


def refused(r, *phrases, lines=1):
    """Non-zero exit, no traceback, ``error: ...`` as the one line on stderr (``lines``: how many it may
    take, for a notebook's failure: the error and the executed notebook's path), holding ``phrases``."""
    err = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr[-3000:]
    errors = [line for line in err if line.startswith("error: ")]
    assert len(errors) == 1, r.stderr[-3000:]
    if lines == 1:
        assert err == errors, r.stderr[-3000:]
    for p in phrases:
        assert p in errors[0], (p, errors[0])
    return errors[0]


# -- every case of scripts/reliability_report.py's BAD_INPUTS (which also measures them for the report) --
@pytest.fixture(scope="module")
def disk(tmp_path_factory):
    return report.make_bad_inputs(tmp_path_factory.mktemp("bad"))


@pytest.mark.parametrize("case", report.BAD_INPUTS, ids=[c[0] for c in report.BAD_INPUTS])
def test_every_bad_input_is_refused_in_one_line(case, disk, tmp_path):
    import torch

    if torch.cuda.is_available() and any("CUDA" in p for p in case[2]):
        pytest.skip("this machine has CUDA")
    cmd = report.bad_input_command(case, disk, tmp_path)
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    refused(r, *case[2])
    assert not (tmp_path / "run").exists() and not (tmp_path / "ws").exists()  # nothing was started
    assert report.outcome(r, 0.0, case[2])["one_clear_line"]  # the report's verdict agrees


def test_a_check_only_the_notebook_makes_is_one_line_naming_the_cell(tmp_path):
    from test_runner import make_project

    root = make_project(tmp_path, "chk", 'if x > 1:\n    raise ValueError(f"x must be at most 1, got {x}; lower it")')
    r = runner("chk", "--profile", "smoke", "--root", str(root))
    line = refused(r, "chk failed in cell ", "ValueError: x must be at most 1, got 2; lower it", lines=2)
    assert r.stderr.strip().splitlines()[-1].strip().startswith("executed notebook:")
    assert line.startswith("error: ")


def test_a_timed_out_cell_and_a_dead_kernel_are_one_line_and_recorded(tmp_path):
    from test_runner import make_project, only_run

    (tmp_path / "a").mkdir()
    root = make_project(tmp_path / "a", "slow", "import time\ntime.sleep(30)")
    refused(runner("slow", "--profile", "smoke", "--cell-timeout", "2", "--root", str(root)),
            "a cell ran longer than --cell-timeout 2 s", lines=2)
    assert json.loads((only_run(root, "slow") / "provenance.json").read_text())["status"] == "failed"
    (tmp_path / "b").mkdir()
    root = make_project(tmp_path / "b", "die", "import os\nos._exit(3)")
    refused(runner("die", "--profile", "smoke", "--root", str(root)), "the kernel died", lines=2)
    assert json.loads((only_run(root, "die") / "provenance.json").read_text())["status"] == "failed"
