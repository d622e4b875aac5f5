"""The leak-detector findings of benchmark format 2 recompute from the committed per-episode rows."""
from pathlib import Path

import pandas as pd
import pytest

from ordebug_lib.experiments.leaks import detector_table

ROOT = Path(__file__).resolve().parents[1]
LEAKS = ROOT / "reports" / "benchmark_v2_leaks"


@pytest.mark.parametrize("seed, published", [
    ("seed0", ROOT / "reports" / "ordebug_leak_detectors.csv"),
    ("seed2027", None),
])
def test_detector_tables_recompute_from_the_episodes(seed, published):
    episodes = pd.read_csv(LEAKS / f"episodes_{seed}.csv")
    assert (episodes["split"] == "test").all() and episodes.groupby("policy").size().eq(378).all()
    table = detector_table(episodes).set_index(["detector", "metric"])
    expected = {  # (diff, se, beats) as README.md states them
        "seed0": {("kind_prior", "DA"): (0.088, 0.022, True), ("kind_prior", "faithful_recovery"): (0.048, 0.015, True),
                  ("last_iis_row", "DA"): (0.007, 0.029, False)},
        "seed2027": {("kind_prior", "DA"): (0.041, 0.025, False), ("kind_prior", "faithful_recovery"): (0.019, 0.018, False),
                     ("last_iis_row", "DA"): (0.029, 0.030, False)},
    }[seed]
    for key, (diff, se, beats) in expected.items():
        row = table.loc[key]
        assert round(row["diff"], 3) == diff and round(row["se"], 3) == se and bool(row["beats"]) == beats, key
    if published is not None:  # the published table is the one these rows give
        pub = pd.read_csv(published).set_index(["detector", "metric"])
        assert (pub["diff"] - table.loc[pub.index, "diff"]).abs().max() < 1e-9
