"""Evaluation results in SQLite: one row per (policy, instance_id, seed), resumable.

Each row holds the metric columns of ``metrics.episode_metrics``, the instance metadata (family,
error_type, difficulty, naming, split, size), the failure class, the diagnosis, the root cause, and the
full trajectory as JSON (``env.StepRecord`` per step), so failures can be collected later for curriculum
and self-play and PRM labels can be computed from stored episodes.

Usage::

    df = evaluate(GreedyIISDropPolicy(), instances, "runs/eval.sqlite", policy_name="greedy", seed=0)
    df = evaluate(OraclePolicy, instances, db, "oracle")        # a factory: one policy per instance
    parallel_baselines(BASELINES, test, db, workers=4, train=train)  # the baseline ladder, in worker processes
    failures = load_failures(db, policy="greedy")
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import pandas as pd

from ..processes import process_map
from .baselines import BASELINES, POLICIES, KindPrior, KindPriorPolicy, OraclePolicy, RandomPolicy
from .env import EnvConfig, EpisodeOutcome, Policy, RepairEnv, run_episode, run_lockstep
from .instance import Instance
from .metrics import FAILURE_CLASSES, RR_KS, episode_metrics

TABLE = "episodes"
# column -> SQLite type. Booleans are stored as 0/1, None as NULL.
COLUMNS: dict[str, str] = {
    "policy": "TEXT NOT NULL", "instance_id": "TEXT NOT NULL", "seed": "INTEGER NOT NULL",
    "family": "TEXT", "error_type": "TEXT", "difficulty": "TEXT", "naming": "TEXT", "split": "TEXT",
    "n_vars": "INTEGER", "n_constrs": "INTEGER", "is_mip": "INTEGER",
    "steps": "INTEGER", "max_turns": "INTEGER", "submitted": "INTEGER", "truncated": "INTEGER",
    "initial_status": "TEXT", "final_status": "TEXT", "feasible_end": "INTEGER", "first_feasible_step": "INTEGER",
    **{f"rr_at_{k}": "INTEGER" for k in RR_KS},
    "faithful": "INTEGER", "exact_repair": "INTEGER", "final_objective": "REAL", "original_objective": "REAL",
    "diagnosis_recall": "REAL", "diagnosis_precision": "REAL", "diagnosis_f1": "REAL",
    "failure_class": "TEXT", "wall_time": "REAL",
    "reward_outcome": "REAL", "reward_diagnosis": "REAL", "reward_efficiency": "REAL", "reward_composite": "REAL",
    "diagnosis_json": "TEXT", "root_cause_json": "TEXT", "trajectory_json": "TEXT", "created_at": "TEXT",
}
BOOL_COLUMNS = ("is_mip", "submitted", "truncated", "feasible_end", *(f"rr_at_{k}" for k in RR_KS), "faithful",
                "exact_repair")
PRIMARY_KEY = ("policy", "instance_id", "seed")
STORED_AS = {"max_turns": "max_steps"}
"""Columns stored under another name: the episode budget kept its name from before it became ``max_turns``
(issue 18), so databases written earlier stay readable and resumable. Rows and DataFrames use the
``COLUMNS`` names; only the SQL of this module sees the stored ones."""


def _stored(name: str) -> str:
    return STORED_AS.get(name, name)


PolicyFactory = Callable[[Instance], Policy]


def connect(db_path: str | Path) -> sqlite3.Connection:
    """Open (and create if needed) the results database."""
    db_path = Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db_path)
    cols = ", ".join(f"{_stored(name)} {kind}" for name, kind in COLUMNS.items())
    conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} ({cols}, PRIMARY KEY ({', '.join(PRIMARY_KEY)}))")
    have = [r[1] for r in conn.execute(f"PRAGMA table_info({TABLE})")]
    want = [_stored(name) for name in COLUMNS]
    if have != want:
        conn.close()
        missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
        raise ValueError(f"{db_path} was written by another version of ordebug (columns missing: {missing}, "
                         f"unknown: {extra}); evaluate into a new database")
    return conn


def episode_seed(seed: int, instance_id: str) -> int:
    """A per-episode seed that does not depend on which other episodes run (so resuming is exact).

    >>> episode_seed(0, "prod-001") == episode_seed(0, "prod-001") != episode_seed(1, "prod-001")
    True
    """
    return int(hashlib.sha256(f"{seed}:{instance_id}".encode()).hexdigest()[:8], 16)


def episode_row(instance: Instance, outcome: EpisodeOutcome, policy_name: str, seed: int) -> dict:
    """One database row (see ``COLUMNS``)."""
    n_vars, n_constrs = instance.sabotaged.size
    row = {
        "policy": policy_name, "instance_id": instance.id, "seed": seed, "family": instance.family,
        "error_type": instance.error_type, "difficulty": instance.difficulty, "naming": instance.naming,
        "split": instance.meta.get("split"),  # optional metadata: None when the builder did not set one
        "n_vars": n_vars, "n_constrs": n_constrs, "is_mip": instance.sabotaged.is_mip,
        **episode_metrics(outcome),
        "diagnosis_json": json.dumps(outcome.diagnosis), "root_cause_json": json.dumps(outcome.root_cause),
        "trajectory_json": json.dumps(outcome.to_dict()["trajectory"]),
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    unknown = set(row) - set(COLUMNS)
    if unknown:
        raise KeyError(f"row has columns the table does not: {sorted(unknown)}")
    return row


def insert_rows(conn: sqlite3.Connection, rows: list[dict]) -> None:
    """Insert result rows (``episode_row``) into the results table, in one transaction."""
    names = list(COLUMNS)
    with conn:
        conn.executemany(
            f"INSERT INTO {TABLE} ({', '.join(map(_stored, names))}) VALUES ({', '.join('?' * len(names))})",
            [[_sql(row.get(n)) for n in names] for row in rows])


def _sql(x):
    return int(x) if isinstance(x, bool) else x


def done_ids(conn: sqlite3.Connection, policy_name: str, seed: int) -> dict[str, int]:
    """instance_id -> max_turns of the rows already stored for this policy and seed."""
    cur = conn.execute(f"SELECT instance_id, {_stored('max_turns')} FROM {TABLE} WHERE policy = ? AND seed = ?",
                       (policy_name, seed))
    return dict(cur.fetchall())


def evaluate(policy: Policy | PolicyFactory, instances: Iterable[Instance], db_path: str | Path,
             policy_name: str, seed: int = 0, max_turns: int = 20, progress: bool = True,
             env_config: EnvConfig | None = None, batch_size: int = 1) -> pd.DataFrame:
    """Run ``policy`` on every instance not yet stored for (policy_name, seed); return all their rows.

    ``policy`` is a policy object (``act``; ``reset(seed=...)`` is called at each episode start with
    ``episode_seed(seed, instance.id)``) or a factory ``instance -> policy`` (e.g. ``OraclePolicy``).
    ``batch_size > 1`` runs episodes in lockstep through ``act_batch`` (batch-safe policy objects only).
    Rows are committed after each episode (or batch), so an interrupted run resumes where it stopped.
    Resuming with a different ``max_turns`` than the stored rows is refused.
    """
    instances = list(instances)
    ids = [inst.id for inst in instances]
    if len(set(ids)) != len(ids):
        raise ValueError("instances contain duplicate ids")
    is_factory = isinstance(policy, type) or not hasattr(policy, "act")  # a class is a factory too
    if batch_size > 1 and is_factory:
        raise ValueError("batch_size > 1 needs one batch-safe policy object, not a per-instance factory")
    config = dataclasses.replace(env_config or EnvConfig(), max_turns=max_turns)
    conn = connect(db_path)
    try:
        stored = done_ids(conn, policy_name, seed)
        clash = sorted(i for i in ids if i in stored and stored[i] != max_turns)
        if clash:
            raise ValueError(f"{len(clash)} stored rows of {policy_name!r} seed {seed} used another max_turns "
                             f"(e.g. {clash[0]}: {stored[clash[0]]}); use another policy_name or database")
        todo = [inst for inst in instances if inst.id not in stored]
        bar = _progress(len(todo), f"{policy_name} seed {seed}", progress)
        for start in range(0, len(todo), batch_size):
            chunk = todo[start:start + batch_size]
            if batch_size > 1:
                outcomes = run_lockstep([RepairEnv(inst, config) for inst in chunk], policy)
            else:
                inst = chunk[0]
                agent = policy(inst) if is_factory else policy
                outcomes = [run_episode(RepairEnv(inst, config), agent, seed=episode_seed(seed, inst.id))]
            insert_rows(conn, [episode_row(i, o, policy_name, seed) for i, o in zip(chunk, outcomes)])
            if bar is not None:
                bar.update(len(chunk))
        if bar is not None:
            bar.close()
    finally:
        conn.close()
    df = load_results(db_path, policy=policy_name, seed=seed)
    return df[df["instance_id"].isin(ids)].reset_index(drop=True)


def _baseline_rows(args: tuple) -> list[dict]:
    """Result rows of one baseline on some instances, exactly as ``evaluate`` makes them."""
    name, instances, seed, max_turns, prior = args
    config = dataclasses.replace(EnvConfig(), max_turns=max_turns)
    rows = []
    for inst in instances:
        agent = (RandomPolicy(seed=seed) if name == "random" else OraclePolicy(inst) if name == "oracle"
                 else KindPriorPolicy(prior) if name == "kind_prior" else POLICIES[name]())
        outcome = run_episode(RepairEnv(inst, config), agent, seed=episode_seed(seed, inst.id))
        rows.append(episode_row(inst, outcome, name, seed))
    return rows


def parallel_baselines(names: Sequence[str], instances: Sequence, db_path, seed: int = 0, max_turns: int = 20,
                       workers: int = 1, train: Sequence = ()) -> None:
    """``evaluate`` of the named baselines (``baselines.BASELINES``) on ``instances``, with the episodes
    spread over worker processes; the rows (the same as a sequential ``evaluate`` writes: per-episode
    seeds, default ``EnvConfig``) go into ``db_path``. Instances already stored for a baseline and seed
    are skipped; stored rows with another ``max_turns`` are refused. ``kind_prior`` learns its prior
    from ``train`` (the benchmark's train split; ``baselines.KindPrior.fit`` refuses any other)."""
    bad = set(names) - set(BASELINES)
    if bad:
        raise ValueError(f"unknown baselines {sorted(bad)}; baselines: {', '.join(BASELINES)}")
    if "kind_prior" in names and not train:
        raise ValueError("the kind_prior baseline learns from the train split: pass train=<its instances>")
    prior = KindPrior.fit(train) if "kind_prior" in names else None
    conn = connect(db_path)
    try:
        jobs = []
        for name in names:
            stored = done_ids(conn, name, seed)
            clash = sorted(i.id for i in instances if i.id in stored and stored[i.id] != max_turns)
            if clash:
                raise ValueError(f"{len(clash)} stored rows of {name!r} seed {seed} used another max_turns")
            todo = [i for i in instances if i.id not in stored]
            n_chunks = max(1, min(4 * workers, len(todo)))  # several per worker: search episodes vary a lot
            jobs += [(name, todo[k::n_chunks], seed, max_turns, prior) for k in range(n_chunks) if todo[k::n_chunks]]
        for rows in process_map(_baseline_rows, jobs, workers):
            insert_rows(conn, rows)
    finally:
        conn.close()


def _progress(total: int, desc: str, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="episode")


def load_results(db_path: str | Path, policy: str | None = None, seed: int | None = None) -> pd.DataFrame:
    """All stored rows (optionally of one policy / seed) as a DataFrame; 0/1 columns back to bool
    (NULL stays None), JSON columns decoded into ``diagnosis`` / ``root_cause`` / ``trajectory``."""
    if not Path(db_path).exists():
        raise FileNotFoundError(f"no results database at {db_path}")
    query, params = f"SELECT * FROM {TABLE}", []
    conds = []
    if policy is not None:
        conds.append("policy = ?")
        params.append(policy)
    if seed is not None:
        conds.append("seed = ?")
        params.append(seed)
    if conds:
        query += " WHERE " + " AND ".join(conds)
    with sqlite3.connect(db_path) as conn:
        df = pd.read_sql_query(query + " ORDER BY policy, seed, instance_id", conn, params=params)
    df = df.rename(columns={v: k for k, v in STORED_AS.items()})
    for col in BOOL_COLUMNS:
        df[col] = df[col].map(lambda x: None if x is None or pd.isna(x) else bool(x)).astype(object)
    for col in ("diagnosis", "root_cause", "trajectory"):
        df[col] = df.pop(f"{col}_json").map(json.loads)
    return df


def load_failures(db_path: str | Path, policy: str | None = None,
                  classes: Iterable[str] = FAILURE_CLASSES[:-1]) -> pd.DataFrame:
    """The rows whose failure class is one of ``classes`` (default: every class but success), e.g. the
    instances a curriculum or self-play round should revisit."""
    classes = list(classes)
    unknown = set(classes) - set(FAILURE_CLASSES)
    if unknown:
        raise ValueError(f"unknown failure class(es) {sorted(unknown)}; known: {FAILURE_CLASSES}")
    df = load_results(db_path, policy=policy)
    return df[df["failure_class"].isin(classes)].reset_index(drop=True)
