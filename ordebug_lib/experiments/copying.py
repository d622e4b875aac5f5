"""Does a policy copy what CHECK_SLACK told it? The skill the slack expert's imitators must learn.

For every move (``RELAX`` or ``SET_RHS``) made after a CHECK_SLACK answer in the same episode, the latest
answer decides: is the move's target one of the tokens it named (``name_copied``), and, for those, is
the number the one it showed (``baselines.read_slack_answer``; ``amount_copied``: RELAX by the amount, SET_RHS to the new rhs of an
equality)? The slack expert scores 1 on both by construction; a policy that invents names scores 0.

    python -m ordebug_lib.experiments.copying runs/04_ordebug_sft/<profile>/<run>/results.sqlite
"""
from __future__ import annotations

import argparse
import math
from typing import Iterable, Sequence

from ..ordebug.actions import parse_action
from ..ordebug.baselines import read_slack_answer
from ..ordebug.results import load_results

MOVES = ("RELAX", "SET_RHS")


def copy_counts(trajectory: Sequence[dict]) -> dict[str, int]:
    """Counts of one episode (a list of ``env.StepRecord`` dicts: ``verb``, ``action``, ``result``, ``error``):
    ``moves`` after a CHECK_SLACK answer, ``name_copied``, ``amount_copied`` and ``refused`` (moves the env
    rejected). Moves before any answer are not counted.

    >>> steps = [{"verb": "CHECK_SLACK", "action": "CHECK_SLACK", "error": None,
    ...           "result": "minimum total violation 6; these must move: cap by 6"},
    ...          {"verb": "RELAX", "action": "RELAX cap 6", "error": None, "result": "..."},
    ...          {"verb": "RELAX", "action": "RELAX cap 2", "error": None, "result": "..."},
    ...          {"verb": "RELAX", "action": "RELAX cop 6", "error": "no constraint named 'cop'", "result": "ERROR"}]
    >>> copy_counts(steps)
    {'moves': 3, 'name_copied': 2, 'amount_copied': 1, 'refused': 1}
    """
    out = {"moves": 0, "name_copied": 0, "amount_copied": 0, "refused": 0}
    answer = None
    for step in trajectory:
        verb = step.get("verb")
        if verb == "CHECK_SLACK" and step.get("error") is None:
            answer = {tok: (float(amount), None if rhs is None else float(rhs))
                      for tok, amount, rhs in read_slack_answer((step.get("result") or "").split("\n")[0])}
        elif verb in MOVES and answer is not None:
            out["moves"] += 1
            out["refused"] += step.get("error") is not None
            target, number = parse_action(step["action"]).args  # a step with a verb parsed: (token, finite number)
            if target not in answer:
                continue
            out["name_copied"] += 1
            amount, new_rhs = answer[target]
            want = amount if verb == "RELAX" else new_rhs
            out["amount_copied"] += want is not None and math.isclose(float(number), want, rel_tol=1e-9,
                                                                      abs_tol=1e-12)
    return out


def copy_rates(trajectories: Iterable[Sequence[dict]]) -> dict[str, float | int]:
    """Counts summed over episodes, and the rates: ``name_rate`` = name_copied / moves, ``amount_rate`` =
    amount_copied / name_copied (NaN where nothing to divide)."""
    tot = copy_counts([])
    for t in trajectories:
        for k, v in copy_counts(t).items():
            tot[k] += v
    tot["name_rate"] = tot["name_copied"] / tot["moves"] if tot["moves"] else math.nan
    tot["amount_rate"] = tot["amount_copied"] / tot["name_copied"] if tot["name_copied"] else math.nan
    return tot


def copy_table(results):
    """``copy_rates`` of every policy in ``results`` (rows of ``results.load_results``), one row each."""
    import pandas as pd

    return pd.DataFrame([{"policy": p, "episodes": len(g), **copy_rates(g["trajectory"])}
                         for p, g in results.groupby("policy", sort=True)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ordebug_lib.experiments.copying", description=__doc__.split("\n")[0])
    ap.add_argument("results", nargs="+", help="results.sqlite of a run")
    args = ap.parse_args(argv)
    for path in args.results:
        print(f"## {path}\n")
        print(copy_table(load_results(path)).to_markdown(index=False, floatfmt=".3f"))
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
