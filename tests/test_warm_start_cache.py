"""The warm-start cache (``experiments/warm_start_cache.py``): trained once per key, copied into each run."""
import json
import multiprocessing as mp
import time
from pathlib import Path

import pytest

from ordebug_lib.experiments import warm_start_cache as wsc


def fake_train(calls: list, sleep: float = 0.0):
    def train(out: Path):
        calls.append(str(out))
        time.sleep(sleep)
        (out / "benchmark").mkdir(parents=True)
        (out / "benchmark" / "manifest.json").write_text("{}")
        (out / "warm_start_model").mkdir()
        (out / "warm_start_model" / "config.json").write_text('{"n": %d}' % len(calls))
        return {"data": {"benchmark": str(out / "benchmark"), "n_records": 7}}, "trained here: fake"
    return train


def test_trains_once_and_copies_into_each_run(tmp_path):
    calls, root = [], tmp_path / "cache"
    rec1, desc1 = wsc.cached_warm_start({"model": "tiny"}, "cpu", tmp_path / "run1", fake_train(calls), root=root)
    rec2, desc2 = wsc.cached_warm_start({"model": "tiny"}, "cpu", tmp_path / "run2", fake_train(calls), root=root)
    assert len(calls) == 1 and ".tmp-" in calls[0]  # trained under a temporary name, then renamed
    for run, rec in ((tmp_path / "run1", rec1), (tmp_path / "run2", rec2)):
        assert json.loads((run / "warm_start_model" / "config.json").read_text()) == {"n": 1}
        assert (run / "benchmark" / "manifest.json").exists()
        assert rec["data"] == {"benchmark": str(run / "benchmark"), "n_records": 7}  # its own copy's path
    assert rec1["cache"]["trained_by_this_run"] and not rec2["cache"]["trained_by_this_run"]
    assert rec2["cache"]["trained_for"] == str(tmp_path / "run1") and rec1["cache"]["key"] == rec2["cache"]["key"]
    assert "trained by this run" in desc1 and "reused, trained at" in desc2 and desc2.startswith("trained here: fake")
    assert [p.name for p in root.iterdir() if p.is_dir()] == [rec1["cache"]["key"][:16]]


def test_other_settings_train_again_and_a_resumed_run_copies_again(tmp_path):
    calls, root = [], tmp_path / "cache"
    wsc.cached_warm_start({"model": "tiny"}, "cpu", tmp_path / "run", fake_train(calls), root=root)
    (tmp_path / "run" / "warm_start_model" / "config.json").write_text("stale")
    wsc.cached_warm_start({"model": "tiny"}, "cpu", tmp_path / "run", fake_train(calls), root=root)
    assert json.loads((tmp_path / "run" / "warm_start_model" / "config.json").read_text()) == {"n": 1}
    wsc.cached_warm_start({"model": "tiny", "seed": 1}, "cpu", tmp_path / "run3", fake_train(calls), root=root)
    assert len(calls) == 2


def test_a_failed_training_leaves_no_entry(tmp_path):
    def broken(out: Path):
        (out / "benchmark").mkdir(parents=True)
        raise RuntimeError("killed mid-training")

    with pytest.raises(RuntimeError, match="killed"):
        wsc.cached_warm_start({"model": "tiny"}, "cpu", tmp_path / "run", broken, root=tmp_path / "cache")
    calls = []
    wsc.cached_warm_start({"model": "tiny"}, "cpu", tmp_path / "run", fake_train(calls), root=tmp_path / "cache")
    assert len(calls) == 1


def test_a_training_that_writes_no_model_is_refused(tmp_path):
    def no_model(out: Path):
        (out / "benchmark").mkdir(parents=True)
        return {}, "x"

    with pytest.raises(RuntimeError, match="wrote no \\['warm_start_model'\\]"):
        wsc.cached_warm_start({"model": "tiny"}, "cpu", tmp_path / "run", no_model, root=tmp_path / "cache")


def _worker(root: str, run: str, log: str):
    def train(out: Path):
        with open(log, "a") as f:
            f.write("train\n")
        time.sleep(1.0)
        (out / "benchmark").mkdir(parents=True)
        (out / "warm_start_model").mkdir()
        return {}, "fake"

    wsc.cached_warm_start({"model": "tiny"}, "cpu", Path(run), train, root=Path(root))


def test_two_processes_wanting_one_key_train_it_once(tmp_path):
    log = tmp_path / "log.txt"
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_worker, args=(str(tmp_path / "cache"), str(tmp_path / f"run{i}"), str(log)))
             for i in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0, 0]
    assert log.read_text() == "train\n"
    assert (tmp_path / "run0" / "warm_start_model").is_dir() and (tmp_path / "run1" / "warm_start_model").is_dir()


def test_the_key_follows_the_source(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    before = wsc.source_digest(tmp_path)
    (tmp_path / "a.py").write_text("x = 2\n")
    assert wsc.source_digest(tmp_path) != before
    assert wsc.cache_key({}, "cpu", source="s1") != wsc.cache_key({}, "cpu", source="s2")
