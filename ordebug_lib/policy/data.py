"""Demonstration data at scale: Countdown splits and OR-Debug expert transcripts, in parallel.

The Countdown generator proves every instance solvable with an exhaustive solver (~20 ms each), so tens
of thousands of SFT streams need several processes. ``countdown_splits`` generates fixed-size chunks
from seeds derived from ``(seed, chunk)``, so the result is the same for any number of workers:
chunks are de-duplicated by instance key in chunk order, shuffled with ``seed``, cut into train and
test, and checked disjoint (``tasks.countdown.check_disjoint``).

``parallel_transcripts`` runs expert episodes on OR-Debug instances in worker processes (the search
baseline solves many candidate repairs per step); ``parallel_recoveries`` makes the recovery
demonstrations of ``ordebug_recovery.recovery_transcripts`` the same way (``processes.process_map``).
"""
from __future__ import annotations

import hashlib
import random
from typing import Sequence

from ..ordebug.baselines import BASELINES
from ..ordebug.results import parallel_baselines
from ..processes import process_map
from ..tasks.countdown import CountdownInstance, check_disjoint, generate_instances
from .ordebug_experts import expert_transcript, kept_demos
from .ordebug_recovery import recovery_transcripts

# BASELINES and parallel_baselines (the baseline ladder into a results database) live in ordebug/, beside the
# baselines and the results store; they are importable from here as before
__all__ = ["BASELINES", "CHUNK", "chunk_seed", "countdown_splits", "parallel_baselines", "parallel_recoveries",
           "parallel_transcripts"]

CHUNK = 256  # instances per generator call (fixed: the output must not depend on the worker count)


def chunk_seed(seed: int, k: int) -> int:
    """Seed of chunk ``k`` (stable across Python runs)."""
    return int(hashlib.sha256(f"countdown:{seed}:{k}".encode()).hexdigest()[:8], 16)


def _chunk(args: tuple) -> list[CountdownInstance]:
    seed, k, gen_kwargs = args
    return generate_instances(CHUNK, seed=chunk_seed(seed, k), **gen_kwargs)


def countdown_splits(n_train: int, n_test: int, seed: int = 0, workers: int = 1,
                     **gen_kwargs) -> tuple[list[CountdownInstance], list[CountdownInstance]]:
    """Disjoint train / test Countdown instances (see the module docstring); ``gen_kwargs`` go to
    ``tasks.countdown.generate_instances`` (num_numbers, number_range, target_range)."""
    need = n_train + n_test
    pool: dict[tuple, CountdownInstance] = {}
    k = 0
    while len(pool) < need:
        n_chunks = max(1, -(-(need - len(pool)) // CHUNK))
        for chunk in process_map(_chunk, [(seed, k + j, gen_kwargs) for j in range(n_chunks)], workers):
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
    instance, expert, env_config = args
    return expert_transcript(instance, expert, env_config)


def parallel_transcripts(instances: Sequence, experts: Sequence[str], env_config=None, workers: int = 1):
    """Every expert on every instance, in worker processes: (the demonstrations, ``ordebug_experts.keep_demo``,
    in expert then instance order; counts per expert ``{"search": {"episodes": n, "successful": k,
    "kept": j}, ...}``, successful: faithful with the exact root cause)."""
    jobs = [(inst, e, env_config) for e in experts for inst in instances]
    return kept_demos(process_map(_transcript, jobs, workers), experts)


def _recovery(args: tuple):
    instance, kinds, n_wrong, env_config, seed, observable_only = args
    return recovery_transcripts(instance, kinds, n_wrong, env_config, seed, observable_only)


def parallel_recoveries(instances: Sequence, kinds: Sequence[str], n_wrong: int = 2, env_config=None,
                        workers: int = 1, seed: int = 0, observable_only: bool = True):
    """``ordebug_recovery.recovery_transcripts`` of every instance in worker processes: (successful
    recovery transcripts in instance order, counts per kind summed over the instances)."""
    done = process_map(_recovery, [(inst, tuple(kinds), n_wrong, env_config, seed, observable_only)
                            for inst in instances], workers)
    kept, counts = [], {k: {"tried": 0, "kept": 0} for k in kinds}
    for transcripts, c in done:
        kept += transcripts
        for kind, row in c.items():
            for key, n in row.items():
                counts[kind][key] = counts[kind].get(key, 0) + n
    return kept, counts
