"""The knobs' own metrics come out of real training runs (tiny random Qwen3, CPU):

- clip-higher can only clip once ratios move: with one update per generation the ratio is exactly 1 and the
  clip fraction is 0; with ``num_iterations=2`` the second update sees moved ratios and clips;
- the seeds' variance-scaled advantage ('dgro_seeds' arm) logs the share of informative groups under its
  variance floor, and every run logs the rewards before any selection and the episodes it generated (the
  compute of dynamic sampling). The DGRO paper's β₂ knob is tested in ``test_dgro_paper.py``.
"""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from tiny_lm import make_tiny_lm, tiny_countdown_trainer  # noqa: E402

from ordebug_lib.experiments.ordebug_rl import knob_activity  # noqa: E402
from ordebug_lib.training.logging import read_metrics  # noqa: E402

pytestmark = pytest.mark.slow
L_MAX = 6


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    return make_tiny_lm(tmp_path_factory.mktemp("tiny_knobs"))


def run(tiny_path, run_dir, **kw):
    tr, _ = tiny_countdown_trainer(tiny_path, run_dir, l_max=L_MAX, **{"epsilon_high": 0.28, **kw})
    tr.train()
    return read_metrics(Path(run_dir) / "metrics.jsonl")


def test_clip_higher_acts_only_when_ratios_move(tiny_path, tmp_path):
    on_policy = run(tiny_path, tmp_path / "one", num_iterations=1)
    assert all(r["clip_ratio/high_mean"] == 0 for r in on_policy)  # ratio exactly 1: the knob cannot act
    assert not knob_activity("asym_clip", on_policy)["acted"]
    reused = run(tiny_path, tmp_path / "two", num_iterations=2)
    k = knob_activity("asym_clip", reused)
    assert k["acted"] and k["steps_logged"] == 2, k


def test_dgro_floor_and_pre_selection_rewards_are_logged(tiny_path, tmp_path):
    rows = run(tiny_path, tmp_path / "dgro", advantage_method="dgro", dgro_min_variance=1e6)
    k = knob_activity("dgro_seeds", rows)
    assert k["steps_logged"] == 2 and k["max"] == 1.0  # a floor of 1e6 is under every informative group
    low = run(tiny_path, tmp_path / "dgro_low", advantage_method="dgro", dgro_min_variance=1e-12)
    assert knob_activity("dgro_seeds", low)["max"] == 0.0
    for r in rows:
        assert r["ordebug/episodes_generated"] == 8
        assert 0 <= r["ordebug/reward/mean_before_selection"] <= 1
