"""Fuzz ``RepairEnv.step`` with random and grammar-aware action strings: no action may raise.

Usage::

    .venv/bin/python benchmarks/fuzz_actions.py [--n-actions 100000] [--seed 0] [--instances-per-cell 1]
                                                [--netlib-dir ../shared/data/netlib-infeasible]
                                                [--time-limit 1] [--out fuzz.json] [--no-progress]

Instances: ``saboteur.make_instance(family, error_type, difficulty, seed)`` for every family x error type
(A-I) x difficulty, ``--instances-per-cell`` seeds each (a cell that raises GenerationError is counted and
skipped), plus every ``*.mps`` of ``--netlib-dir`` (a model beyond the license raises ModelError: counted
and skipped). Episodes go round the instances, one after another, and reset when done.

Actions (``ActionFuzzer``): three in four are grammar-aware (every verb of ``actions.GRAMMAR``, names real
and invented, numbers huge, tiny, NaN, +-inf, negative, unicode digits, empty, extra or missing
arguments, lower-case verbs, ``<action>`` tags), the rest random text (unicode, control characters,
5,000-character lines, several lines). The env's contract is that no string makes ``step`` raise: a
malformed action is an ``ERROR: ...`` observation and a solver failure a readable solver observation.

The summary (printed, and written to ``--out`` as JSON) counts exceptions by type with the first
traceback of each, steps by verb (``(malformed)`` when the line does not parse), solver statuses, how often
each solver-failure observation was given, the slowest step (action, instance, seconds) and throughput.
Exit status 1 if anything raised. ``--time-limit`` is the env's ``solve_time_limit``: 1 s here, not the
default 10 s, because a huge coefficient can make an IIS search run its whole limit (measured: 1e20),
which at 10 s would spend most of a run waiting; the work limit of CHECK_SLACK stays the env's.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
import traceback
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from ordebug_lib.ordebug import actions as grammar  # noqa: E402
from ordebug_lib.ordebug.env import EnvConfig, RepairEnv  # noqa: E402
from ordebug_lib.ordebug.instance import DIFFICULTIES, ERROR_TYPES, Instance  # noqa: E402
from ordebug_lib.ordebug.model import LinearModel, ModelError  # noqa: E402
from ordebug_lib.ordebug.solver import read_model  # noqa: E402

NETLIB_DEFAULT = ROOT.parent / "shared" / "data" / "netlib-infeasible"
# observations the env gives instead of raising; counted to show the fuzz reaches those paths
SOLVER_NOTES = {
    "check_slack_no_relaxation": "CHECK_SLACK found no relaxation",
    "check_slack_license": "CHECK_SLACK is not available",
    "get_iis_failed": "GET_IIS found no IIS",
}
NUMBERS = (  # hostile and ordinary number tokens; "real" numbers near the model's own are added per action
    "0", "-0", "1", "-1", "2.5", "-3", "1e308", "-1e308", "1.7976931348623157e308", "1e309", "-1e309", "1e400",
    "1e-308", "5e-324", "1e-400", "1e100", "-1e100", "1e99", "1e20", "1e-20", "1e15", "nan", "NaN", "-nan",
    "inf", "-inf", "+inf", "Infinity", "-Infinity", "INF", "1_000", "١٢", "०.५", "１２", "½", "⁵", "0x10", "1e",
    "e5", "--1", "1,5", "", " ", "١e٣", "12abc", "∞",
)
JUNK_WORDS = ("", ".", "..", ".lb", ".ub", ".type", "x", "X1", "ñame", "名前", "😀", "\x00", "\t", "DROP", "GET_IIS",
              "<action>", "</action>", "inf", "nan", "a" * 300)


@dataclass
class FuzzInstance:
    label: str  # "family/type/difficulty/seed" or "netlib/<name>"
    problem: Instance | LinearModel


def all_cells() -> list[tuple[str, str, str]]:
    """Every (family, error type, difficulty) of the benchmark: 8 x 9 x 3."""
    from ordebug_lib.ordebug import families

    return [(f, e, d) for f in families.MODULES for e in ERROR_TYPES for d in DIFFICULTIES]


def build_instances(instances_per_cell: int = 1, seed: int = 0, netlib_dir: Path | None = NETLIB_DEFAULT,
                    cells: list[tuple[str, str, str]] | None = None, netlib_names: list[str] | None = None,
                    progress: bool = False) -> tuple[list[FuzzInstance], dict]:
    """Instances of the (family, error type, difficulty) ``cells`` (default ``all_cells()``), seeds
    ``seed .. seed + instances_per_cell - 1`` each, then the Netlib models of ``netlib_dir`` (None or
    missing: none; ``netlib_names``: only those), and counts of what was skipped: ``{"cells", "generated",
    "generation_errors": [label, ...], "netlib_loaded", "netlib_skipped": [name, ...]}``."""
    from ordebug_lib.ordebug.saboteur import GenerationError, make_instance

    cells = all_cells() if cells is None else cells
    out: list[FuzzInstance] = []
    counts = {"cells": len(cells), "generated": 0, "generation_errors": [], "netlib_loaded": 0, "netlib_skipped": []}
    jobs = [(cell, seed + k) for cell in cells for k in range(instances_per_cell)]
    for (family, error_type, difficulty), s in _bar(jobs, progress, "instances"):
        label = f"{family}/{error_type}/{difficulty}/{s}"
        try:
            out.append(FuzzInstance(label, make_instance(family, error_type, difficulty, seed=s)))
            counts["generated"] += 1
        except GenerationError:  # a documented outcome of the generator, not a failure of the env
            counts["generation_errors"].append(label)
    if netlib_dir is not None and Path(netlib_dir).is_dir():
        for path in sorted(Path(netlib_dir).glob("*.mps")):
            if netlib_names is not None and path.stem not in netlib_names:
                continue
            try:
                out.append(FuzzInstance(f"netlib/{path.stem}", read_model(path)))
                counts["netlib_loaded"] += 1
            except ModelError:  # beyond the license
                counts["netlib_skipped"].append(path.stem)
    return out, counts


class ActionFuzzer:
    """Action strings for the env's current state (names from ``info``), from one seeded stream."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def __call__(self, info: dict) -> str:
        r = self.rng.random()
        if r < 0.75:
            return self.grammar_aware(info)
        return self.random_text(info)

    # -- grammar-aware -------------------------------------------------------------------------------
    def grammar_aware(self, info: dict) -> str:
        rng = self.rng
        verb = rng.choice(list(grammar.GRAMMAR))
        kinds = grammar.GRAMMAR[verb]
        if kinds == ("*",):
            args = [self.token(info) for _ in range(rng.choice([0, 1, 1, 2, 3, 8]))]
        else:
            args = [self.arg(kind, info) for kind in kinds]
        p = rng.random()
        if p < 0.06:
            args.append(self.arg(rng.choice("cvnb"), info))  # one argument too many
        elif p < 0.12 and args:
            args.pop(rng.randrange(len(args)))  # one too few
        shown = verb.lower() if rng.random() < 0.15 else verb.title() if rng.random() < 0.05 else verb
        line = " ".join([shown, *args])
        q = rng.random()
        if q < 0.05:
            line = f"<action>{line}</action>"
        elif q < 0.08:
            line = f"I think the problem is here.\n<action>{line}</action>\n"
        elif q < 0.10:
            line = f"  {line}\t "
        return line

    def arg(self, kind: str, info: dict) -> str:
        rng = self.rng
        if kind == "c":
            return self.constraint(info)
        if kind == "v":
            return self.variable(info)
        if kind == "r":
            return self.constraint(info) if rng.random() < 0.5 else self.bound_token(info)
        if kind == "name":
            return self.token(info)
        if kind == "n":
            return self.number(info)
        if kind == "b":
            return rng.choice(["inf", "-inf", "0", "1e308", "-1e308"]) if rng.random() < 0.3 else self.number(info)
        if kind == "t":
            return rng.choice(["C", "I", "B", "c", "i", "b", "Z", "", "CI", "integer", "ｂ"])
        raise AssertionError(f"unknown argument kind {kind!r}")

    def constraint(self, info: dict) -> str:
        names = info["constraint_names"]
        if names and self.rng.random() < 0.8:
            return self.rng.choice(names)
        return self.invented(info)

    def variable(self, info: dict) -> str:
        names = info["variable_names"]
        if names and self.rng.random() < 0.8:
            return self.rng.choice(names)
        return self.invented(info)

    def bound_token(self, info: dict) -> str:
        base = self.variable(info) if self.rng.random() < 0.85 else self.constraint(info)
        return base + self.rng.choice([".lb", ".ub", ".ub", ".lb", ".type", ".LB", ".", ""])

    def token(self, info: dict) -> str:
        pick = self.rng.random()
        return (self.constraint(info) if pick < 0.4 else self.bound_token(info) if pick < 0.8
                else self.invented(info))

    def invented(self, info: dict) -> str:
        rng = self.rng
        real = info["constraint_names"] + info["variable_names"]
        pick = rng.random()
        if real and pick < 0.35:  # close to a real name: a typo, a suffix, another case
            name = rng.choice(real)
            return rng.choice([name + "_", name[:-1] or "x", name.upper(), name + ".lb.ub", "_" + name])
        if pick < 0.7:
            return rng.choice([w for w in JUNK_WORDS if w.strip()] or ["x"])
        n = rng.choice([1, 3, 12, 60, 1900])
        return "".join(chr(rng.choice([rng.randint(33, 126), rng.randint(0xa1, 0x2fff)])) for _ in range(n))

    def number(self, info: dict) -> str:
        rng = self.rng
        pick = rng.random()
        if pick < 0.45:
            return rng.choice(NUMBERS)
        if pick < 0.75:  # a plausible edit: near a right-hand side of the model
            model = info["model"]
            rhs = [c.rhs for c in model.constrs.values() if math.isfinite(c.rhs)] or [1.0]
            return repr(rng.choice(rhs) * rng.choice([0, 0.5, 1, 1.1, 2, -1]) + rng.choice([0, 1, 10, 0.25]))
        return repr(rng.choice([-1, 1]) * rng.random() * 10.0 ** rng.randint(-320, 308))

    # -- random text ---------------------------------------------------------------------------------
    def random_text(self, info: dict) -> str:
        rng = self.rng
        pick = rng.randrange(8)
        if pick == 0:
            return rng.choice(["", " ", "\n", "\t\n  ", "<action></action>", "<action>\n</action>", "\x00", "\u2028"])
        if pick == 1:  # long lines: past MAX_ACTION_CHARS, and just under it (they reach the parser)
            n = rng.choice([5000, grammar.MAX_ACTION_CHARS + 1, grammar.MAX_ACTION_CHARS - 1, 1999])
            head = rng.choice(["SUBMIT ", "INSPECT ", "DROP ", "", "set_rhs "])
            body = rng.choice([lambda k: "x " * (k // 2), lambda k: "9" * k, lambda k: "é" * k,
                               lambda k: (self.token(info) + " ") * (k // 10 + 1)])(n)
            return (head + body)[:n]
        if pick == 2:  # unicode and control characters, one line or several
            n = rng.randint(1, 80)
            return "".join(chr(rng.choice([rng.randint(0, 0x7f), rng.randint(0x80, 0xffff), rng.randint(0x10000, 0x10ffff)]))
                           for _ in range(n))
        if pick == 3:  # several actions at once
            return "\n".join(self.grammar_aware(info) for _ in range(rng.randint(2, 4)))
        if pick == 4:  # a real action with its characters shuffled or repeated
            line = list(self.grammar_aware(info))
            rng.shuffle(line)
            return "".join(line)
        if pick == 5:  # words of the grammar in any order
            words = list(grammar.GRAMMAR) + list(NUMBERS) + list(JUNK_WORDS) + info["constraint_names"][:20]
            return " ".join(rng.choice(words) for _ in range(rng.randint(1, 6)))
        if pick == 6:  # tags nested, unclosed, several blocks
            inner = self.grammar_aware(info)
            return rng.choice([f"<action><action>{inner}</action></action>", f"<action>{inner}",
                               f"{inner}</action>", f"<action>GET_IIS</action> then <action>{inner}</action>",
                               f"<ACTION>{inner}</ACTION>"])
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 40))).decode("utf-8", "replace")


def _bar(items, progress: bool, desc: str, total: int | None = None):
    if not progress:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, total=total, mininterval=2.0, smoothing=0.05)


def fuzz(instances: list[FuzzInstance], n_actions: int, seed: int = 0, config: EnvConfig | None = None,
         progress: bool = False, fuzzer: ActionFuzzer | None = None) -> dict:
    """Send ``n_actions`` fuzzed actions to RepairEnvs of ``instances`` (round the list, a new episode
    whenever one ends) and return the summary (see the module docstring). Every exception of ``reset`` or
    ``step`` is caught here, counted by type (first traceback kept) and followed by a fresh episode of the
    next instance: this harness catches everything so one bug does not hide the next."""
    if not instances:
        raise ValueError("no instances to fuzz")
    config = config or EnvConfig(max_turns=30, solve_time_limit=1.0)
    rng = random.Random(seed)
    fuzzer = fuzzer or ActionFuzzer(rng)
    exceptions: Counter = Counter()
    first: dict[str, dict] = {}
    by_verb: Counter = Counter()
    verb_time: Counter = Counter()
    statuses: Counter = Counter()
    notes: Counter = Counter()
    slowest = {"seconds": 0.0, "action": None, "instance": None}
    episodes = failed_in_a_row = 0
    env = info = None
    k = -1
    t_start = time.perf_counter()
    bar = _bar(range(n_actions), progress, "actions", total=n_actions)

    def caught(e: BaseException, where: str, label: str, action: str | None) -> None:
        name = type(e).__name__
        exceptions[name] += 1
        if name not in first:
            first[name] = {"where": where, "instance": label, "action": action, "message": str(e)[:500],
                           "traceback": traceback.format_exc()}

    for _ in bar:
        while env is None or env.done:  # the next instance, round the list
            k += 1
            inst = instances[k % len(instances)]
            try:
                env = RepairEnv(inst.problem, config)
                _, info = env.reset()
                episodes, failed_in_a_row = episodes + 1, 0
            except Exception as e:  # noqa: BLE001 -- the harness counts every exception
                caught(e, "reset", inst.label, None)
                env, failed_in_a_row = None, failed_in_a_row + 1
                if failed_in_a_row >= len(instances):
                    raise RuntimeError("every instance fails to reset; first: " + str(first)[:2000]) from e
        label = instances[k % len(instances)].label
        action = fuzzer(info)
        before = info["step"]
        t0 = time.perf_counter()
        try:
            obs, _, _, _, info = env.step(action)
        except Exception as e:  # noqa: BLE001
            caught(e, "step", label, action)
            env = None
            continue
        dt = time.perf_counter() - t0
        rec = env.trajectory[-1]
        verb = rec.verb if rec.error is None else f"{rec.verb or '(malformed)'} (error)"
        by_verb[verb] += 1
        verb_time[verb] += dt
        statuses[info["status"]] += 1
        for key, prefix in SOLVER_NOTES.items():
            notes[key] += info["last_result"].startswith(prefix)
        notes["solver_error_status"] += info["status"] == "SOLVER_ERROR"
        if not isinstance(obs, str) or info["step"] != before + 1:
            caught(AssertionError(f"step {before} -> {info['step']}, observation {type(obs).__name__}"),
                   "invariant", label, action)
        if dt > slowest["seconds"]:
            slowest = {"seconds": dt, "action": action if len(action) <= 300 else action[:297] + "...",
                       "instance": label, "result": info["last_result"][:300]}
    wall = time.perf_counter() - t_start
    steps = sum(by_verb.values())
    return {
        "n_actions": n_actions, "seed": seed, "steps": steps, "episodes": episodes, "instances": len(instances),
        "exceptions": dict(exceptions), "n_exceptions": sum(exceptions.values()), "first_exception": first,
        "steps_by_verb": dict(sorted(by_verb.items())),
        "seconds_by_verb": {v: round(t, 3) for v, t in sorted(verb_time.items())},
        "statuses": dict(statuses.most_common()), "solver_observations": dict(notes),
        "slowest_step": slowest, "wall_seconds": round(wall, 2),
        "actions_per_second": round(n_actions / wall, 1) if wall > 0 else None,
        "config": {"max_turns": config.max_turns, "solve_time_limit": config.solve_time_limit,
                   "slack_work_limit": config.slack_work_limit, "track_iis": config.track_iis},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-actions", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--instances-per-cell", type=int, default=1,
                        help="seeds per (family, error type, difficulty) cell")
    parser.add_argument("--netlib-dir", type=Path, default=NETLIB_DEFAULT,
                        help="folder of Netlib infeasible .mps files (default: ../shared/data/netlib-infeasible "
                             "relative to the repository root)")
    parser.add_argument("--time-limit", type=float, default=1.0, help="the env's solve_time_limit (s)")
    parser.add_argument("--max-turns", type=int, default=30, help="step budget of each episode")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON summary here")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm progress bars")
    args = parser.parse_args(argv)
    if not args.netlib_dir.is_absolute() and not args.netlib_dir.exists():
        args.netlib_dir = ROOT / args.netlib_dir  # relative to the repository root, not the working directory
    instances, counts = build_instances(args.instances_per_cell, args.seed, args.netlib_dir,
                                        progress=not args.no_progress)
    config = EnvConfig(max_turns=args.max_turns, solve_time_limit=args.time_limit)
    summary = fuzz(instances, args.n_actions, args.seed, config, progress=not args.no_progress)
    summary["instance_counts"] = {**counts, "n_generation_errors": len(counts["generation_errors"]),
                                  "n_netlib_skipped": len(counts["netlib_skipped"])}
    summary["command"] = " ".join(["benchmarks/fuzz_actions.py", *(argv if argv is not None else sys.argv[1:])])
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=2, ensure_ascii=True) + "\n")
    brief = {k: v for k, v in summary.items() if k not in ("first_exception",)}
    brief["instance_counts"] = {k: v for k, v in summary["instance_counts"].items()
                                if k not in ("generation_errors",)}
    print(json.dumps(brief, indent=2, ensure_ascii=True))
    for name, e in summary["first_exception"].items():
        print(f"\n== first {name} ({e['where']}, {e['instance']}, action {ascii(e['action'])}):\n{e['traceback']}",
              file=sys.stderr)
    return 1 if summary["n_exceptions"] else 0


if __name__ == "__main__":
    sys.exit(main())
