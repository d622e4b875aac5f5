"""No action string makes RepairEnv.step raise: a seeded slice of benchmarks/fuzz_actions.py, and hypothesis.

The slice covers every error type, family and difficulty once (a diagonal of the 8 x 9 x 3 cells, not all
216: generating them all takes ~20 s here) and six small or license-limited Netlib models.
"""
import importlib.util
import math
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ordebug_lib.ordebug import actions as grammar
from ordebug_lib.ordebug.env import EnvConfig, RepairEnv
from ordebug_lib.ordebug.instance import DIFFICULTIES, ERROR_TYPES
from ordebug_handmade import production_flip

ROOT = Path(__file__).resolve().parents[1]
NETLIB = ROOT.parent / "shared" / "data" / "netlib-infeasible"
SPEC = importlib.util.spec_from_file_location("fuzz_actions", ROOT / "benchmarks" / "fuzz_actions.py")
fuzz_actions = sys.modules.setdefault("fuzz_actions", importlib.util.module_from_spec(SPEC))  # dataclasses look it up
SPEC.loader.exec_module(fuzz_actions)
CONFIG = EnvConfig(max_turns=30, solve_time_limit=1.0)


def diagonal_cells() -> list[tuple[str, str, str]]:
    """Nine cells: every error type once, every family and difficulty at least once."""
    families = sorted({f for f, _, _ in fuzz_actions.all_cells()})
    return [(families[i % len(families)], e, DIFFICULTIES[i % len(DIFFICULTIES)]) for i, e in enumerate(ERROR_TYPES)]


def explain(summary: dict) -> str:
    return "\n\n".join(f"{name}: {e['instance']} {e['action']!a}\n{e['traceback']}"
                       for name, e in summary["first_exception"].items())


def test_seeded_slice_of_the_fuzz_raises_nothing():
    cells = diagonal_cells()
    assert {e for _, e, _ in cells} == set(ERROR_TYPES) and {d for _, _, d in cells} == set(DIFFICULTIES)
    instances, counts = fuzz_actions.build_instances(
        1, seed=0, netlib_dir=NETLIB, cells=cells,
        netlib_names=["galenet", "itest6", "bgprtr", "woodinfe", "forest6", "mondou2"])
    assert counts["netlib_loaded"] == 6 and counts["generated"] + len(counts["generation_errors"]) == len(cells)
    assert counts["generated"] >= 7  # a cell may fail to generate (counted); most do not
    summary = fuzz_actions.fuzz(instances, 4000, seed=0, config=CONFIG)
    assert summary["n_exceptions"] == 0, explain(summary)
    assert summary["steps"] == 4000 and summary["episodes"] > len(instances)  # every instance had a turn
    verbs = {v.split()[0] for v in summary["steps_by_verb"]}
    assert set(grammar.GRAMMAR) <= verbs and "(malformed)" in verbs  # every verb, valid and not
    assert summary["slowest_step"]["instance"] and summary["actions_per_second"] > 0


def test_main_writes_the_summary_and_exits_1_on_any_exception(tmp_path, monkeypatch, capsys):
    # the script's plumbing on one cell (all 216 are the real run's); then a planted bug in step
    import json

    monkeypatch.setattr(fuzz_actions, "all_cells", lambda: [("knapsack", "B", "easy")])
    out = tmp_path / "fuzz.json"
    argv = ["--n-actions", "200", "--seed", "5", "--netlib-dir", str(tmp_path / "none"), "--out", str(out),
            "--no-progress"]
    assert fuzz_actions.main(argv) == 0
    summary = json.loads(out.read_text())
    assert summary["n_exceptions"] == 0 and sum(summary["steps_by_verb"].values()) == 200
    assert summary["instance_counts"]["cells"] == 1 and summary["slowest_step"]["seconds"] > 0
    real_step = RepairEnv.step

    def flaky(self, action_text):
        if action_text.upper().startswith("GET_IIS"):
            raise ZeroDivisionError("planted")
        return real_step(self, action_text)

    monkeypatch.setattr(RepairEnv, "step", flaky)
    assert fuzz_actions.main(argv) == 1
    summary = json.loads(out.read_text())
    first = summary["first_exception"]["ZeroDivisionError"]
    assert summary["exceptions"]["ZeroDivisionError"] >= 1 and first["where"] == "step"
    assert "planted" in first["traceback"] and first["action"].upper().startswith("GET_IIS")
    assert summary["steps"] + summary["n_exceptions"] == 200  # counted, and the run went on
    assert "first ZeroDivisionError" in capsys.readouterr().err


# -- hypothesis: any text, and every float in every numeric slot --------------------------------------
class Episode:
    """One env, reset whenever its episode ends, shared by the examples of a hypothesis test."""

    def __init__(self):
        self.env = RepairEnv(production_flip(), CONFIG)
        self.info = self.env.reset()[1]

    def step(self, line: str) -> None:
        if self.env.done:
            self.info = self.env.reset()[1]
        before = self.info["step"]
        obs, _, _, _, self.info = self.env.step(line)
        assert isinstance(obs, str) and self.info["step"] == before + 1


EPISODE = Episode()
NAMES = ["cap_assembly", "cap_paint", "demand_b", "make_a", "make_b", "make_c", "make_a.lb", "make_c.ub",
         "cap_paint.ub", "nope", "ñ", ""]
HYPO = settings(max_examples=1000, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@HYPO
@given(st.text(max_size=400))
def test_any_text_is_an_observation(text):
    EPISODE.step(text)


def number_text(x: float) -> str:
    return repr(x) if math.isfinite(x) else str(x)  # 'nan', 'inf', '-inf'


@HYPO
@given(verb=st.sampled_from(sorted(grammar.GRAMMAR)), lower=st.booleans(),
       args=st.lists(st.one_of(st.sampled_from(NAMES), st.floats().map(number_text),
                               st.integers(-10**400, 10**400).map(str), st.text(max_size=12)), max_size=4))
def test_grammar_shaped_lines_are_observations(verb, lower, args):
    EPISODE.step(" ".join([verb.lower() if lower else verb, *args]))


@HYPO
@given(slot=st.sampled_from(["RELAX cap_paint {}", "RELAX make_a.ub {}", "RELAX demand_b {}", "SET_RHS demand_b {}",
                             "SET_COEF cap_paint make_a {}", "SET_BOUNDS make_b {} inf", "SET_BOUNDS make_b 0 {}",
                             "SET_BOUNDS make_c -inf {}"]),
       x=st.floats(), then=st.sampled_from(["GET_IIS", "CHECK_SLACK", "RESET", "INSPECT cap_paint"]))
def test_every_float_in_every_numeric_slot(slot, x, then):
    # a valid edit re-solves (and computes the hidden IIS) on a model with that number in it
    EPISODE.step(slot.format(number_text(x)))
    EPISODE.step(then)
