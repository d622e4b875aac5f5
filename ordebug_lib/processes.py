"""``process_map``: a function over items in worker processes, for the builders of demonstrations and the
evaluation of baselines (``policy.data``, ``policy.ordebug_dagger``, ``ordebug.results``)."""
from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor


def process_map(fn, items: list, workers: int) -> list:
    """``[fn(x) for x in items]``, in ``workers`` spawned processes when > 1 (spawn, not fork: the parent
    may hold a CUDA context and torch threads)."""
    if workers <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(items)), mp_context=ctx) as pool:
        return list(pool.map(fn, items))
