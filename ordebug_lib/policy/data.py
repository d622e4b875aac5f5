"""Demonstration data at scale: Countdown splits and OR-Debug expert transcripts, in parallel.

The Countdown generator proves every instance solvable with an exhaustive solver (~20 ms each), so tens
of thousands of SFT streams need several processes. ``countdown_splits`` generates fixed-size chunks
from seeds derived from ``(seed, chunk)``, so the result is the same for any number of workers:
chunks are de-duplicated by instance key in chunk order, shuffled with ``seed``, cut into train and
test, and checked disjoint (``tasks.countdown.check_disjoint``).

``parallel_transcripts`` runs expert episodes on OR-Debug instances in worker processes (the search
baseline solves many candidate repairs per step); ``parallel_recoveries`` makes the recovery
demonstrations of ``ordebug_episodes.recovery_transcripts`` the same way.
"""
from __future__ import annotations

import hashlib
import multiprocessing
import random
from concurrent.futures import ProcessPoolExecutor
from typing import Sequence

from ..tasks.countdown import CountdownInstance, check_disjoint, generate_instances
from .ordebug_episodes import expert_transcript, kept_demos, recovery_transcripts

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
    instance, expert, env_config = args
    return expert_transcript(instance, expert, env_config)


def parallel_transcripts(instances: Sequence, experts: Sequence[str], env_config=None, workers: int = 1):
    """Every expert on every instance, in worker processes: (the demonstrations, ``ordebug_episodes.keep_demo``,
    in expert then instance order; counts per expert ``{"search": {"episodes": n, "successful": k,
    "kept": j}, ...}``, successful: faithful with the exact root cause)."""
    jobs = [(inst, e, env_config) for e in experts for inst in instances]
    return kept_demos(_map(_transcript, jobs, workers), experts)


def _recovery(args: tuple):
    instance, kinds, n_wrong, env_config, seed, observable_only = args
    return recovery_transcripts(instance, kinds, n_wrong, env_config, seed, observable_only)


def parallel_recoveries(instances: Sequence, kinds: Sequence[str], n_wrong: int = 2, env_config=None,
                        workers: int = 1, seed: int = 0, observable_only: bool = True):
    """``ordebug_episodes.recovery_transcripts`` of every instance in worker processes: (successful
    recovery transcripts in instance order, counts per kind summed over the instances)."""
    done = _map(_recovery, [(inst, tuple(kinds), n_wrong, env_config, seed, observable_only)
                            for inst in instances], workers)
    kept, counts = [], {k: {"tried": 0, "kept": 0} for k in kinds}
    for transcripts, c in done:
        kept += transcripts
        for kind, row in c.items():
            for key, n in row.items():
                counts[kind][key] = counts[kind].get(key, 0) + n
    return kept, counts


BASELINES = ("random", "greedy", "last_iis_row", "kind_prior", "search", "slack", "oracle")
"""baselines.POLICIES, the kind_prior leak detector (it needs a prior from the train split), the oracle."""


def _baseline_rows(args: tuple) -> list[dict]:
    """Result rows of one baseline on some instances, exactly as ``results.evaluate`` makes them."""
    import dataclasses

    from ..ordebug.baselines import POLICIES, KindPriorPolicy, OraclePolicy, RandomPolicy
    from ..ordebug.env import EnvConfig, RepairEnv, run_episode
    from ..ordebug.results import episode_row, episode_seed

    name, instances, seed, max_steps, prior = args
    config = dataclasses.replace(EnvConfig(), max_steps=max_steps)
    rows = []
    for inst in instances:
        agent = (RandomPolicy(seed=seed) if name == "random" else OraclePolicy(inst) if name == "oracle"
                 else KindPriorPolicy(prior) if name == "kind_prior" else POLICIES[name]())
        outcome = run_episode(RepairEnv(inst, config), agent, seed=episode_seed(seed, inst.id))
        rows.append(episode_row(inst, outcome, name, seed))
    return rows


def parallel_baselines(names: Sequence[str], instances: Sequence, db_path, seed: int = 0, max_steps: int = 20,
                       workers: int = 1, train: Sequence = ()) -> None:
    """``results.evaluate`` of the named baselines (``BASELINES``) on ``instances``, with the episodes
    spread over worker processes; the rows (the same as a sequential ``evaluate`` writes: per-episode
    seeds, default ``EnvConfig``) go into ``db_path``. Instances already stored for a baseline and seed
    are skipped; stored rows with another ``max_steps`` are refused. ``kind_prior`` learns its prior
    from ``train`` (the benchmark's train split; ``baselines.KindPrior.fit`` refuses any other)."""
    from ..ordebug import results
    from ..ordebug.baselines import KindPrior

    bad = set(names) - set(BASELINES)
    if bad:
        raise ValueError(f"unknown baselines {sorted(bad)}; baselines: {', '.join(BASELINES)}")
    if "kind_prior" in names and not train:
        raise ValueError("the kind_prior baseline learns from the train split: pass train=<its instances>")
    prior = KindPrior.fit(train) if "kind_prior" in names else None
    conn = results.connect(db_path)
    try:
        jobs = []
        for name in names:
            stored = results.done_ids(conn, name, seed)
            clash = sorted(i.id for i in instances if i.id in stored and stored[i.id] != max_steps)
            if clash:
                raise ValueError(f"{len(clash)} stored rows of {name!r} seed {seed} used another max_steps")
            todo = [i for i in instances if i.id not in stored]
            n_chunks = max(1, min(4 * workers, len(todo)))  # several per worker: search episodes vary a lot
            jobs += [(name, todo[k::n_chunks], seed, max_steps, prior) for k in range(n_chunks) if todo[k::n_chunks]]
        for rows in _map(_baseline_rows, jobs, workers):
            results.insert_rows(conn, rows)
    finally:
        conn.close()
