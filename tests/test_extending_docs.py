"""docs/extending.md: its three throwaway patches still apply to the package and touch one registry module
(plus the search function's module for an error type) and one test each."""
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PATCHES = {"new_error_type.diff": {"ordebug_lib/ordebug/error_search.py", "ordebug_lib/ordebug/error_types.py",
                                   "tests/test_error_types_registry.py"},
           "new_arm.diff": {"ordebug_lib/experiments/ordebug_rl.py", "tests/test_arm_half_kl.py"},
           "new_baseline.diff": {"ordebug_lib/ordebug/baselines.py", "tests/test_baseline_first_row.py"}}


@pytest.mark.parametrize("name", sorted(PATCHES))
def test_the_patch_applies_and_touches_what_the_doc_says(name):
    patch = ROOT / "docs" / "extending" / name
    files = set(re.findall(r"^\+\+\+ b/(\S+)$", patch.read_text(), flags=re.M))
    assert files == PATCHES[name]
    assert name in (ROOT / "docs" / "extending.md").read_text()
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    done = subprocess.run(["git", "apply", "--check", str(patch)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
