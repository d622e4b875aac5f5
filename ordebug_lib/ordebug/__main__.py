"""Debug your own infeasible model with a baseline agent.

Usage::

    python -m ordebug_lib.ordebug debug MODEL.mps|MODEL.lp --agent greedy|search|slack [--max-turns N]
                                         [--time-limit S] [--json]

Loads any (MI)LP file Gurobi reads (``solver.read_model``), checks it is infeasible, runs the agent in the
OR-Debug environment and prints the trajectory and the outcome (JSON with ``--json``). A user model has no
ground truth: the outcome is whether the model ends feasible-and-bounded (RR), not whether the repair
is the intended one. Exit status: 0 the episode ran (whatever its outcome), 2 the model cannot be
debugged (file missing, unreadable, empty, a directory, not a model Gurobi can parse, beyond the license,
not infeasible, unsupported, or the solver failed on it): one ``error: ...`` line on stderr, no traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .baselines import POLICIES, PolicyError
from .env import EnvConfig, RepairEnv, run_episode
from .model import ModelError
from .solver import SolverError, read_model, solve

AGENTS = {name: POLICIES[name] for name in ("greedy", "search", "slack")}  # random needs no user model


class CliError(RuntimeError):
    """The model cannot be debugged; the message is printed as is."""


def debug_model(path: str | Path, agent: str = "greedy", max_turns: int = 20, time_limit: float = 10.0) -> dict:
    """Run ``agent`` on the model file and return the report (what ``--json`` prints)."""
    if agent not in AGENTS:
        raise CliError(f"unknown agent {agent!r}; choose one of {', '.join(AGENTS)}")
    path = Path(path)
    if not path.exists():
        raise CliError(f"no such file: {path}")
    t0 = time.perf_counter()
    try:
        model = read_model(path)
    except ModelError as e:  # most messages name the file already
        raise CliError(str(e) if path.name in str(e) else f"cannot debug {path.name}: {e}") from e
    except FileNotFoundError as e:  # removed since the check above
        raise CliError(f"no such file: {path}") from e
    try:
        status = solve(model, time_limit, keep_values=False).status
    except SolverError as e:
        raise CliError(f"cannot debug {path.name}: {e}") from e
    if status != "INFEASIBLE":
        raise CliError(f"{path.name} is {status}, not INFEASIBLE: there is nothing to debug")
    env = RepairEnv(model, EnvConfig(max_turns=max_turns, solve_time_limit=time_limit))
    outcome = run_episode(env, AGENTS[agent]())
    n_vars, n_constrs = model.size
    if outcome.feasible_end:
        verdict = "repaired" if outcome.submitted else "repaired, no SUBMIT before the step limit"
    else:
        verdict = "timeout" if not outcome.submitted else "not repaired"
    return {
        "model": model.name, "path": str(path), "n_vars": n_vars, "n_constrs": n_constrs, "agent": agent,
        "max_turns": max_turns, "initial_status": outcome.initial_status, "verdict": verdict,
        "steps": outcome.steps, "submitted": outcome.submitted, "diagnosis": outcome.diagnosis,
        "final_status": outcome.final_status, "feasible_end": outcome.feasible_end,
        "first_feasible_step": outcome.first_feasible_step, "final_objective": outcome.final_objective,
        "wall_time": time.perf_counter() - t0,
        "trajectory": [{"step": s.index, "action": s.action_text, "status": s.status, "result": s.result,
                        "wall_time": s.wall_time} for s in outcome.trajectory],
    }


def format_report(report: dict) -> str:
    """Human-readable trajectory and outcome."""
    lines = [f"Model {report['model']}: {report['n_vars']} variables, {report['n_constrs']} constraints, "
             f"status {report['initial_status']}",
             f"Agent {report['agent']}, at most {report['max_turns']} steps"]
    for s in report["trajectory"]:
        action = s["action"] if len(s["action"]) <= 60 else s["action"][:57] + "..."
        result = s["result"].splitlines()[0]
        result = result if len(result) <= 100 else result[:97] + "..."
        lines.append(f"  {s['step']:>2}. {action:<40} -> {s['status']:<11} {result}")
    obj = report["final_objective"]
    lines.append(
        f"Outcome: {report['verdict']}; final status {report['final_status']}"
        + (f", objective {obj:.6g}" if obj is not None else "")
        + (f"; first feasible at step {report['first_feasible_step']}" if report["first_feasible_step"] else "")
        + f"; {report['steps']} steps; {report['wall_time']:.2f} s")
    if report["diagnosis"]:
        lines.append("Blamed: " + " ".join(report["diagnosis"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ordebug_lib.ordebug", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    dbg = sub.add_parser("debug", help="debug an infeasible .mps/.lp model with a baseline agent")
    dbg.add_argument("model", help="path to a .mps or .lp file (optionally compressed)")
    dbg.add_argument("--agent", choices=sorted(AGENTS), default="greedy")
    dbg.add_argument("--max-turns", type=_positive(int), default=20)
    dbg.add_argument("--time-limit", type=_positive(float), default=10.0, help="seconds per solve")
    dbg.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        report = debug_model(args.model, args.agent, args.max_turns, args.time_limit)
    except (CliError, PolicyError, SolverError) as e:  # SolverError: a baseline's own solve failed mid-episode
        print("error: " + " ".join(str(e).split()), file=sys.stderr)  # one line, whatever the message holds
        return 2
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def _positive(kind):
    """An argparse type: a number of ``kind`` above 0 (a bad value is argparse's usage error, exit 2)."""
    def parse(text: str):
        try:
            x = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not x > 0:  # also refuses nan
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return x
    parse.__name__ = kind.__name__
    return parse


if __name__ == "__main__":
    sys.exit(main())
