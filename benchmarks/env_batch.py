"""Env steps/s of SerialEnvs and ProcessEnvs side by side, on the same instances and the same actions.

Usage::

    .venv/bin/python benchmarks/env_batch.py [--envs 256] [--workers 2 4 8] [--repeats 10]
                                             [--difficulties easy medium hard] [--out env_batch.json]

Instances: ``saboteur.make_instance`` over every (difficulty, family, error type) cell of
``--difficulties``, seed 0, then seed 1, ... until ``--envs`` are built (a cell that raises
GenerationError is skipped). Policy, scripted from the observation text only, so every batch takes the
same actions: GET_IIS; INSPECT the first constraint of the IIS shown; DROP it; GET_IIS again; SUBMIT the
dropped row (no IIS row: INSPECT / SUBMIT of the first variable). Five steps an episode, all envs in
lockstep, one ``step`` call per turn as ``training.rollouts.run_token_episodes`` makes; ``--repeats``
rounds of ``reset`` + the episodes per batch: SerialEnvs and a ProcessEnvs per ``--workers`` value, all
in this one process, their rounds interleaved (serial, each ProcessEnvs, serial, ...) so that drifting
load on a shared machine hits them alike.

Measured: ``steps_per_s`` = env steps / seconds inside ``step`` calls (the policy's own few microseconds
per action are outside); ``reset_s`` the resets (each solves and computes the hidden IIS); ``start_s``
building the batch (for ProcessEnvs: spawning the workers and sending them the instances, once).
``ratio`` = steps_per_s / serial steps_per_s (``ratio_median_of_rounds``: the median of the per-round
ratios, robust to a burst of load during one round); ``episode_ratio`` the same with the resets' time added
(``episode_steps_per_s``). ``load_average_before`` / ``_after``: the machine's load, since other work on
it caps what the workers get; ``available_parallelism`` (after each ProcessEnvs row) measures that cap
directly: the loop rounds per second ``workers`` spinning processes get together, over what one gets.
``identical``: every observation, reward and done flag of every turn, and every outcome with its
trajectory (wall-clock fields ``wall_time`` zeroed), equal to the serial batch's. One Gurobi thread per
process, as everywhere in the package; expect at most about min(workers, free cores) times serial.
Only DROP and reset solve here (GET_IIS shows the IIS the env already tracks; INSPECT and SUBMIT solve
nothing), so these steps are cheaper than the mix of ``env_throughput.py``, and the fixed cost of a
round trip weighs more than it would with solves in every step.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from ordebug_lib.ordebug.env import EnvConfig  # noqa: E402
from ordebug_lib.ordebug.env_batch import ProcessEnvs, SerialEnvs, strip_wall_time  # noqa: E402
from ordebug_lib.ordebug.instance import DIFFICULTIES, ERROR_TYPES, Instance  # noqa: E402

IIS_LINE = re.compile(r"^IIS of the current model \(\d+ members\): (.*)$", re.M)
BOUND_SUFFIXES = (".lb", ".ub", ".type")
TURNS = 5


def _spin(start: float, seconds: float, out) -> None:
    """Count pure-Python loop rounds from ``start`` (a shared monotonic time) for ``seconds``."""
    while time.monotonic() < start:
        time.sleep(0.001)
    n, end = 0, start + seconds
    while time.monotonic() < end:
        for _ in range(1000):
            pass
        n += 1
    out.put(n)


def available_parallelism(workers: int, seconds: float = 1.0) -> float:
    """How many cores' worth of CPU ``workers`` busy processes get right now, relative to one: the best
    ratio ProcessEnvs could reach on this machine at this moment (other users' work takes the rest)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")

    def rounds(k: int) -> int:
        q = ctx.Queue()
        start = time.monotonic() + 1.0  # past the spawns, so all k count over the same second
        procs = [ctx.Process(target=_spin, args=(start, seconds, q)) for _ in range(k)]
        for p in procs:
            p.start()
        total = sum(q.get() for _ in procs)
        for p in procs:
            p.join()
        return total

    return rounds(workers) / rounds(1)


def build(n: int, difficulties) -> list[Instance]:
    from ordebug_lib.ordebug import families
    from ordebug_lib.ordebug.saboteur import GenerationError, make_instance

    cells = [(f, e, d) for d in difficulties for f in families.MODULES for e in ERROR_TYPES]
    out, seed = [], 0
    while len(out) < n:
        for cell in cells:
            if len(out) == n:
                break
            try:
                out.append(make_instance(*cell, seed=seed))
            except GenerationError:
                pass
        seed += 1
    return out


def first_iis_row(obs: str) -> str | None:
    m = IIS_LINE.search(obs)
    rows = [t for t in m.group(1).split(", ") if not t.endswith(BOUND_SUFFIXES)] if m else []
    return rows[0] if rows else None


def act(turn: int, obs: str, first_var: str, memory: dict) -> str:
    """The scripted policy: a function of the turn, the observation and what it noted earlier."""
    if turn in (0, 3):
        return "GET_IIS"
    if turn == 1:
        memory["row"] = first_iis_row(obs)
        return f"INSPECT {memory['row'] or first_var}"
    if turn == 2:
        return f"DROP {memory['row']}" if memory["row"] else f"INSPECT {first_var}"
    return f"SUBMIT {memory['row'] or first_var + '.ub'}"


def one_round(envs, instances) -> dict:
    """reset, then the scripted episodes in lockstep until every env is done."""
    first_vars = [next(iter(inst.sabotaged.vars)) for inst in instances]
    steps, step_s, turns = 0, 0.0, []
    t0 = time.perf_counter()
    obs = envs.reset()
    reset_s = time.perf_counter() - t0
    memory = [{} for _ in instances]
    for turn in range(TURNS):
        live = [i for i, d in enumerate(envs.done()) if not d]
        if not live:
            break
        texts = [act(turn, obs[i], first_vars[i], memory[i]) for i in live]
        t0 = time.perf_counter()
        res = envs.step(live, texts)
        step_s += time.perf_counter() - t0
        steps += len(live)
        turns.append(res)
        for i, r in zip(live, res):
            obs[i] = r[0]
    live = [i for i, d in enumerate(envs.done()) if not d]
    if live:  # --max-turns above TURNS: end the rest as the rollouts end a full context
        envs.truncate(live, "benchmark over")
    outcomes = [strip_wall_time(o) for o in envs.outcomes()]
    return {"steps": steps, "step_s": step_s, "reset_s": reset_s, "turns": turns, "outcomes": outcomes}


def median(xs: list[float]) -> float:
    xs = sorted(xs)
    return (xs[(len(xs) - 1) // 2] + xs[len(xs) // 2]) / 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--envs", type=int, default=256)
    parser.add_argument("--workers", type=int, nargs="+", default=[2])
    parser.add_argument("--repeats", type=int, default=10, help="rounds of reset + episodes per batch")
    parser.add_argument("--difficulties", nargs="+", default=list(DIFFICULTIES), choices=DIFFICULTIES)
    parser.add_argument("--max-turns", type=int, default=TURNS)
    parser.add_argument("--no-calibrate", dest="calibrate", action="store_false",
                        help="skip measuring the parallelism available (available_parallelism, ~4 s per value)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if any(w < 2 for w in args.workers):
        parser.error("--workers values are >= 2 (1 would be the serial batch, measured anyway)")

    load_before = list(os.getloadavg())  # other work on the machine caps what the workers can get
    t0 = time.perf_counter()
    instances = build(args.envs, args.difficulties)
    build_s = time.perf_counter() - t0
    config = EnvConfig(max_turns=args.max_turns)
    batches, start_s = [], []
    for workers in [1, *args.workers]:
        t0 = time.perf_counter()
        batches.append(SerialEnvs(instances, config) if workers == 1 else ProcessEnvs(instances, config, workers))
        start_s.append(time.perf_counter() - t0)
    # rounds interleaved (serial, then each ProcessEnvs, then again): drifting load on a shared machine
    # hits every batch alike; idle workers wait in a read and take no CPU while another batch runs
    rounds: list[list[dict]] = [[] for _ in batches]
    try:
        for _ in range(args.repeats):
            for k, envs in enumerate(batches):
                rounds[k].append(one_round(envs, instances))
    finally:
        for envs in batches:
            envs.close()
    ref = rounds[0]
    rows = []
    for k, (workers, rs) in enumerate(zip([1, *args.workers], rounds)):
        steps, step_s, reset_s = (sum(r[key] for r in rs) for key in ("steps", "step_s", "reset_s"))
        row = {"batch": "SerialEnvs" if workers == 1 else "ProcessEnvs", "workers": workers, "steps": steps,
               "steps_per_s": steps / step_s, "step_s": step_s, "reset_s": reset_s, "start_s": start_s[k],
               "episode_steps_per_s": steps / (step_s + reset_s),
               "identical": all(r["turns"] == q["turns"] and r["outcomes"] == q["outcomes"]
                                for r, q in zip(rs, ref))}
        base = rows[0] if rows else row
        row["ratio"] = row["steps_per_s"] / base["steps_per_s"]
        row["episode_ratio"] = row["episode_steps_per_s"] / base["episode_steps_per_s"]
        row["ratio_median_of_rounds"] = median([q["step_s"] / r["step_s"] for r, q in zip(rs, ref)])
        if workers > 1 and args.calibrate:
            row["available_parallelism"] = available_parallelism(workers)
        rows.append(row)
        print(f"{row['batch']:<12} workers {workers:>3}: {row['steps_per_s']:8.0f} steps/s  x{row['ratio']:.2f} "
              f"(median of rounds x{row['ratio_median_of_rounds']:.2f}; {steps} steps in {step_s:.2f} s; "
              f"resets {reset_s:.2f} s; start {start_s[k]:.2f} s; with resets x{row['episode_ratio']:.2f})  "
              f"identical: {row['identical']}"
              + (f"  [{workers} spinning processes got x{row['available_parallelism']:.2f} of one]"
                 if "available_parallelism" in row else ""), flush=True)
    reference = {"outcomes": [r["outcomes"] for r in ref]}
    sizes = [inst.sabotaged.size for inst in instances]
    summary = {
        "envs": len(instances), "difficulties": args.difficulties, "repeats": args.repeats,
        "turns_per_episode": TURNS, "max_turns": args.max_turns, "cpu_count": os.cpu_count(),
        "load_average_before": load_before, "load_average_after": list(os.getloadavg()),
        "build_s": build_s, "mean_vars": sum(s[0] for s in sizes) / len(sizes),
        "mean_constrs": sum(s[1] for s in sizes) / len(sizes),
        "submitted": sum(o.submitted for o in reference["outcomes"][0]),
        "all_identical": all(r["identical"] for r in rows), "results": rows,
    }
    text = json.dumps(summary, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return 0 if summary["all_identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
