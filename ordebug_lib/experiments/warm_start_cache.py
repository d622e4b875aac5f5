"""A warm start trained here once per (settings, code), then copied into every run that asks for the same one.

The OR-Debug RL notebooks without a given warm start train one from ``warm_start_config``; 20, 21 and 22 share
their smoke and default settings, so ``make paper`` trained the same tiny model three times and the tests twice.

==============================  ==========================================================================
piece                           what it is
==============================  ==========================================================================
key                             sha256 of the settings (JSON, sorted keys), the device, torch's version and
                                every ``ordebug_lib/**/*.py`` file: a change of any of them trains anew
entry                           ``runs/_warm_starts/<key[:16]>/``: ``benchmark/``, ``warm_start_model/`` and
                                ``entry.json`` (the warm start's record and who trained it, when, how long)
lock                            ``<entry>.lock`` (``fcntl.flock``): a second process wanting the same key waits
                                for the first to finish instead of training it again
the run's own copy              ``benchmark/`` and ``warm_start_model/`` are copied into the run directory,
                                so a run never depends on the cache (deleting it loses nothing)
provenance                      the record names the entry and whether this run trained it or reused it
==============================  ==========================================================================

An entry is written under a temporary name and renamed when complete: a killed training leaves no entry.
``python -m ordebug_lib.run ... -p warm_start_cache false`` trains in the run directory as before.

>>> k = cache_key({"model": "tiny", "seed": 0}, "cpu"); len(k), k == cache_key({"seed": 0, "model": "tiny"}, "cpu")
(64, True)
>>> k == cache_key({"model": "tiny", "seed": 1}, "cpu") or k == cache_key({"model": "tiny", "seed": 0}, "cuda")
False
"""
from __future__ import annotations

import datetime
import fcntl
import hashlib
import json
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

PACKAGE = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = PACKAGE.parent / "runs" / "_warm_starts"
ENTRY = "entry.json"
COPIED = ("benchmark", "warm_start_model")


def source_digest(package: Path = PACKAGE) -> str:
    """sha256 over the package's Python files (relative path and bytes, in sorted order)."""
    h = hashlib.sha256()
    for f in sorted(package.rglob("*.py")):
        h.update(str(f.relative_to(package)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def cache_key(config: dict, device: str, source: str | None = None) -> str:
    import torch

    blob = json.dumps({"config": config, "device": device.split(":")[0], "torch": torch.__version__,
                       "source": source if source is not None else source_digest()}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # released when the file closes, also when the process dies
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _repath(obj, old: str, new: str):
    """``obj`` with every string that starts with ``old`` starting with ``new`` (the record names its paths)."""
    if isinstance(obj, str):
        return new + obj[len(old):] if obj.startswith(old) else obj
    if isinstance(obj, dict):
        return {k: _repath(v, old, new) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_repath(v, old, new) for v in obj]
    return obj


def cached_warm_start(config: dict, device: str, run_dir: Path, train: Callable[[Path], tuple[dict, str]],
                      root: Path = DEFAULT_ROOT) -> tuple[dict, str]:
    """``train(dir)`` writes ``dir/benchmark`` and ``dir/warm_start_model`` and returns (record, description);
    it runs only when no entry holds this key. Copies both into ``run_dir``; returns the record (its paths
    under ``run_dir``, with a ``cache`` field) and the description."""
    key = cache_key(config, device)
    entry = root / key[:16]
    trained_now = False
    with _locked(root / f"{key[:16]}.lock"):
        if not (entry / ENTRY).exists():
            tmp = root / f"{key[:16]}.tmp-{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            t0 = time.perf_counter()
            record, desc = train(tmp)
            missing = [n for n in COPIED if not (tmp / n).exists()]
            if missing:
                raise RuntimeError(f"the warm start's training wrote no {missing} under {tmp}")
            meta = {"key": key, "record": _repath(record, str(tmp), "<entry>"), "desc": desc, "trained_for": str(run_dir),
                    "trained_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                    "train_s": round(time.perf_counter() - t0, 1)}
            (tmp / ENTRY).write_text(json.dumps(meta, indent=1, default=str))
            tmp.rename(entry)
            trained_now = True
        meta = json.loads((entry / ENTRY).read_text())
        if meta["key"] != key:
            raise RuntimeError(f"{entry} holds key {meta['key'][:16]}..., not {key[:16]}...: remove it")
        run_dir.mkdir(parents=True, exist_ok=True)
        for name in COPIED:
            shutil.rmtree(run_dir / name, ignore_errors=True)  # a resumed run copies again
            shutil.copytree(entry / name, run_dir / name)
    record = _repath(meta["record"], "<entry>", str(run_dir))
    record["cache"] = {"entry": str(entry), "key": key, "trained_by_this_run": trained_now,
                       "trained_for": meta["trained_for"], "trained_at": meta["trained_at"], "train_s": meta["train_s"]}
    how = "trained by this run" if trained_now else f"reused, trained at {meta['trained_at'][:19]} for {meta['trained_for']}"
    return record, f"{meta['desc']}; cached in `{entry}` ({how})"
