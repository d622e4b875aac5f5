"""OR-Debug environment throughput on this machine: env steps/s for a mix of actions, IIS and solves/s.

Usage::

    .venv/bin/python benchmarks/env_throughput.py [--seconds 1.5] [--netlib DIR]

Models: a hand-built 3-variable production model (a capacity row with its sense flipped), two random
infeasible LPs generated here (seeded; a contradicting pair of rows is appended), and a few Netlib
infeasible LPs of increasing size. For each model the action mix below is cycled for about ``--seconds``
seconds (a new episode whenever one ends), once with the env's default hidden IIS tracking (for PRM
labels) and once without; ``IIS/s`` and ``solve/s`` time ``solver.compute_iis`` / ``solver.solve`` alone.
One Gurobi thread, as everywhere in the package.
"""
from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from ordebug_lib.ordebug.env import EnvConfig, RepairEnv
from ordebug_lib.ordebug.model import LinearModel
from ordebug_lib.ordebug.solver import compute_iis, read_model, solve

ROOT = Path(__file__).resolve().parents[1]
NETLIB = ROOT.parent / "shared" / "data" / "netlib-infeasible"
NETLIB_MODELS = ("galenet", "bgprtr", "klein1", "chemcom", "qual", "pilot4i")


def production() -> LinearModel:
    m = LinearModel("production", "max")
    for name, profit in (("make_a", 7), ("make_b", 4), ("make_c", 6)):
        m.add_var(name, obj=profit)
    m.add_constr("cap_assembly", {"make_a": 2, "make_b": 1, "make_c": 3}, ">=", 120)  # sabotaged: was <=
    m.add_constr("cap_paint", {"make_a": 1, "make_b": 1, "make_c": 1}, "<=", 30)
    m.add_constr("demand_b", {"make_b": 1}, ">=", 5)
    return m


def random_infeasible(n_vars: int, n_constrs: int, seed: int) -> LinearModel:
    """A random bounded LP (<= rows with positive coefficients) plus one contradicting >= row."""
    rng = random.Random(seed)
    m = LinearModel(f"random_{n_vars}x{n_constrs + 1}", "max")
    for j in range(n_vars):
        m.add_var(f"x{j}", ub=rng.choice([10.0, 20.0, 50.0]), obj=rng.randint(1, 20))
    for i in range(n_constrs):
        coeffs = {f"x{j}": rng.randint(1, 9) for j in rng.sample(range(n_vars), max(2, n_vars // 3))}
        m.add_constr(f"row{i}", coeffs, "<=", rng.randint(50, 200))
    first = m.constrs["row0"]
    m.add_constr("row_extra", dict(first.coeffs), ">=", first.rhs + 25)  # contradicts row0
    return m


def action_mix(model: LinearModel) -> list[str]:
    """A cycle of diagnostic, mutating and malformed actions valid for ``model``."""
    c = next(iter(model.constrs))
    v = next(iter(model.vars))
    ineqs = [n for n, k in model.constrs.items() if k.sense != "=="]
    if ineqs:
        edits = [f"FLIP_SENSE {ineqs[0]}", "GET_IIS", f"RELAX {ineqs[0]} 1"]
    else:  # a model of equalities only (e.g. qual): the same number of edits through SET_RHS
        edits = [f"SET_RHS {c} {model.constrs[c].rhs + 1!r}", "GET_IIS", f"SET_RHS {c} {model.constrs[c].rhs!r}"]
    return ["GET_IIS", "CHECK_SLACK", f"INSPECT {c}", f"INSPECT {v}", *edits,
            f"SET_BOUNDS {v} 0 1000", "RESET", "DROP nope", f"DROP {c}", "RESET"]


def steps_per_second(model: LinearModel, seconds: float, track_iis: bool) -> float:
    env = RepairEnv(model, EnvConfig(max_turns=10_000, track_iis=track_iis))
    env.reset()
    mix, n, t0 = action_mix(model), 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or n < len(mix):
        env.step(mix[n % len(mix)])
        n += 1
    return n / (time.perf_counter() - t0)


def calls_per_second(fn, seconds: float) -> float:
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or n < 3:
        fn()
        n += 1
    return n / (time.perf_counter() - t0)


def models(netlib: Path) -> list[LinearModel]:
    out = [production(), random_infeasible(12, 8, seed=0), random_infeasible(40, 30, seed=1)]
    out += [read_model(netlib / f"{name}.mps") for name in NETLIB_MODELS if (netlib / f"{name}.mps").exists()]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=1.5, help="measuring time per cell")
    parser.add_argument("--netlib", type=Path, default=NETLIB)
    args = parser.parse_args()
    header = f"{'model':<16}{'vars':>6}{'rows':>6}{'steps/s':>10}{'steps/s*':>10}{'IIS/s':>9}{'solve/s':>9}"
    print(header)
    print("-" * len(header))
    for m in models(args.netlib):
        assert solve(m).status == "INFEASIBLE", f"{m.name} should be infeasible"
        n_vars, n_constrs = m.size
        row = (steps_per_second(m, args.seconds, True), steps_per_second(m, args.seconds, False),
               calls_per_second(lambda: compute_iis(m), args.seconds),
               calls_per_second(lambda: solve(m, keep_values=False), args.seconds))
        print(f"{m.name:<16}{n_vars:>6}{n_constrs:>6}" + "".join(f"{x:>10.0f}" if i < 2 else f"{x:>9.0f}"
                                                              for i, x in enumerate(row)), flush=True)
    print("steps/s: env steps with the default hidden IIS tracking; steps/s*: with track_iis=False.")


if __name__ == "__main__":
    main()
