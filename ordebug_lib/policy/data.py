"""Demonstration data at scale: Countdown splits and OR-Debug expert transcripts, in parallel.

The Countdown generator proves every instance solvable with an exhaustive solver (~20 ms each), so tens
of thousands of SFT streams need several processes. ``countdown_splits`` generates fixed-size chunks
from seeds derived from ``(seed, chunk)``, so the result is the same for any number of workers:
chunks are de-duplicated by instance key in chunk order, shuffled with ``seed``, cut into train and
test, and checked disjoint (``tasks.countdown.check_disjoint``).

``parallel_transcripts`` runs expert episodes on OR-Debug instances in worker processes (the search
baseline solves many candidate repairs per step).
"""
from __future__ import annotations

import hashlib
import multiprocessing
import random
from concurrent.futures import ProcessPoolExecutor
from typing import Sequence

from ..tasks.countdown import CountdownInstance, check_disjoint, generate_instances

CHUNK = 256  # instances per generator call (fixed: the output must not depend on the worker count)


def chunk_seed(seed: int, k: int) -> int:
    """Seed of chunk ``k`` (stable across Python runs)."""
    return int(hashlib.sha256(f"countdown:{seed}:{k}".encode()).hexdigest()[:8], 16)


def _chunk(args: tuple) -> list[CountdownInstance]:
    seed, k, gen_kwargs = args
    return generate_instances(CHUNK, seed=chunk_seed(seed, k), **gen_kwargs)


def _map(fn, items: list, workers: int) -> list:
    """``[fn(x) for x in items]``, in ``workers`` spawned processes when > 1 (spawn, not fork: the parent
    may hold a CUDA context and torch threads)."""
    if workers <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(items)), mp_context=ctx) as pool:
        return list(pool.map(fn, items))


def countdown_splits(n_train: int, n_test: int, seed: int = 0, workers: int = 1,
                     **gen_kwargs) -> tuple[list[CountdownInstance], list[CountdownInstance]]:
    """Disjoint train / test Countdown instances (see the module docstring); ``gen_kwargs`` go to
    ``tasks.countdown.generate_instances`` (num_numbers, number_range, target_range)."""
    need = n_train + n_test
    pool: dict[tuple, CountdownInstance] = {}
    k = 0
    while len(pool) < need:
        n_chunks = max(1, -(-(need - len(pool)) // CHUNK))
        for chunk in _map(_chunk, [(seed, k + j, gen_kwargs) for j in range(n_chunks)], workers):
            for inst in chunk:
                pool.setdefault(inst.key, inst)
        k += n_chunks
        if k > 100 * (need // CHUNK + 1):
            raise ValueError(f"found only {len(pool)} distinct instances of {need} in these ranges: {gen_kwargs}")
    items = list(pool.values())[:need]
    random.Random(seed).shuffle(items)
    train, test = items[:n_train], items[n_train:]
    check_disjoint(train, test)
    return train, test


def _transcript(args: tuple):
    from .ordebug_episodes import expert_transcript

    instance, expert, env_config = args
    return expert_transcript(instance, expert, env_config)


def parallel_transcripts(instances: Sequence, experts: Sequence[str], env_config=None, workers: int = 1):
    """``ordebug_episodes.expert_transcripts`` in worker processes: (successful transcripts, counts)."""
    jobs = [(inst, e, env_config) for e in experts for inst in instances]
    done = _map(_transcript, jobs, workers)
    kept, counts = [], {e: {"episodes": 0, "successful": 0} for e in experts}
    for (_, e, _), t in zip(jobs, done):
        counts[e]["episodes"] += 1
        if t.success:
            counts[e]["successful"] += 1
            kept.append(t)
    return kept, counts
