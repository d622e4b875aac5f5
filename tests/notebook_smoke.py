"""Run a notebook's smoke profile through the runner in a subprocess, as a newcomer would (helper for tests)."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_smoke(stem: str, tmp_path: Path, timeout: int = 900) -> Path:
    """``python -m ordebug_lib.run <stem> --profile smoke`` under a run id unique to this test; asserts it
    succeeded (with the end of its stderr) and returns the run directory."""
    run_id = f"test-{tmp_path.name}-{os.getpid()}"
    r = subprocess.run([sys.executable, "-m", "ordebug_lib.run", stem, "--profile", "smoke", "--run-id", run_id],
                       cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-3000:]
    return ROOT / "runs" / stem / "smoke" / run_id
