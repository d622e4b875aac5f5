"""No completion breaks the Countdown verifier: a seeded slice of benchmarks/fuzz_countdown.py, the bugs it
found (a quadratic answer extraction, TRL wrappers that rounded a float target), and hypothesis."""
import importlib.util
import json
import math
import re
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ordebug_lib.tasks import countdown as cd
from ordebug_lib.tasks import countdown_trl as trl

ROOT = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("fuzz_countdown", ROOT / "benchmarks" / "fuzz_countdown.py")
fuzz_countdown = sys.modules.setdefault("fuzz_countdown", importlib.util.module_from_spec(SPEC))
SPEC.loader.exec_module(fuzz_countdown)


def explain(summary: dict) -> str:
    parts = [f"{k}: {v}" for k, v in summary["failure_examples"].items()]
    parts += [f"{name}: {e['completion']}\n{e['traceback']}" for name, e in summary["first_exception"].items()]
    return "\n\n".join(parts + summary["contract"]["violations"])


def test_seeded_slice_of_the_fuzz_finds_nothing():
    # 4 % enormous completions (the real run: 0.5 %) so the slice holds floods of tags and 1 MB answers
    summary = fuzz_countdown.fuzz(3000, seed=1, enormous_rate=0.04)
    assert summary["n_failures"] == 0, explain(summary)
    assert summary["n_completions"] == 3000 and summary["contract"]["n_checks"] > 50
    cats = summary["categories"]
    assert {f"body:{b}" for b in fuzz_countdown.BODIES} <= set(cats)
    assert {f"wrapper:{w}" for w in fuzz_countdown.WRAPPERS} <= set(cats)
    assert any(k.startswith("enormous:flood_open") for k in cats) and summary["largest_completion_chars"] >= 2**20
    # every reward level is reached, and every correct solution in a tag that keeps it as the last answer scores 1
    for level in (0.0, 0.1, 0.3, 0.5, 0.7, 1.0):
        assert summary["reward_values"].get(f"graduated_reward={level}", 0) > 0, level
    kc = summary["known_correct"]
    assert kc["n"] > 100 and kc["rewarded_1.0"] == kc["n"]
    assert summary["slowest_completion"]["seconds"] < 2.0, summary["slowest_completion"]


def test_main_writes_the_summary_and_exits_1_on_a_planted_bug(tmp_path, monkeypatch, capsys):
    out = tmp_path / "fuzz.json"
    argv = ["--n-completions", "200", "--seed", "3", "--out", str(out)]
    assert fuzz_countdown.main(argv) == 0
    summary = json.loads(out.read_text())
    assert summary["n_completions"] == 200 and summary["n_failures"] == 0 and summary["completions_per_second"] > 0
    assert summary["command"].endswith("--n-completions 200 --seed 3 --out " + str(out))
    real = cd.graduated_reward

    def planted(completion, numbers, target):  # a range bug and an exception
        if "/ 0" in completion:
            raise ZeroDivisionError("planted")
        return 1.5 if "<think>" in completion else real(completion, numbers, target)

    monkeypatch.setattr(cd, "graduated_reward", planted)
    monkeypatch.setitem(cd.BASE_REWARDS, "graduated", planted)
    assert fuzz_countdown.main(argv) == 1
    summary = json.loads(out.read_text())
    assert summary["exceptions"]["ZeroDivisionError"] >= 1
    assert "planted" in summary["first_exception"]["ZeroDivisionError"]["traceback"]
    assert summary["range_violations"]["range:graduated_reward"] >= 1
    assert "first ZeroDivisionError" in capsys.readouterr().err


def test_a_hang_is_stopped_and_counted(monkeypatch):
    real = cd.extract_answer

    def slow(completion):
        if "<think>" in completion:
            time.sleep(5)
        return real(completion)

    monkeypatch.setattr(cd, "extract_answer", slow)
    t0 = time.perf_counter()
    summary = fuzz_countdown.fuzz(40, seed=0, hang_seconds=0.05)
    assert summary["exceptions"].get("Hang", 0) >= 1 and time.perf_counter() - t0 < 30
    assert summary["first_exception"]["Hang"]["where"].startswith("(a ")


# -- the bugs the fuzz found ------------------------------------------------------------------------
def test_extract_answer_is_linear_on_a_flood_of_opening_tags():
    # 128 KB: the regex it replaces took 13.6 s on it here (quadratic: about 14 minutes on 1 MB)
    flood = "<answer>" * (2**17 // 8)
    t0 = time.perf_counter()
    assert cd.extract_answer(flood) is None
    assert cd.extract_answer(flood + "1+2</answer>") == "<answer>" * (2**14 - 1) + "1+2"  # the first open, then the first close
    assert cd.extract_answer(flood * 8) is None  # 1 MB
    assert cd.extract_answer("</answer>" * 100_000 + "<answer>3</answer>") == "3"
    assert cd.countdown_reward(flood, [1, 2], 3) == 0.0
    assert time.perf_counter() - t0 < 2.0


def test_trl_wrappers_refuse_a_broken_target_column_instead_of_rounding_it():
    kw = dict(prompts=["p"], completions=["<answer>1 + 2</answer>"], completion_ids=[[1, 2]])
    for target in (3.0, 3.5, "3", True, None):
        with pytest.raises(ValueError, match="target must be an int"):
            trl.countdown_reward_func(numbers=[[1, 2]], target=[target], **kw)
    for numbers in (None, "12", {1: 2}, [1, 2.0], [1, None]):
        with pytest.raises(ValueError, match="numbers|number"):
            trl.graduated_reward_func(numbers=[numbers], target=[3], **kw)
    with pytest.raises(ValueError, match="target must be an int"):
        trl.make_length_penalized_reward_func(20)(numbers=[[1, 2]], target=[3.5], **kw)
    np = pytest.importorskip("numpy")
    assert trl.countdown_reward_func(numbers=[np.array([1, 2])], target=[np.int64(3)], **kw) == [1.0]
    assert trl.problem_of((3, 7), 10) == ([3, 7], 10)
    with pytest.raises(ValueError, match="unknown base reward"):
        trl.make_length_penalized_reward_func(20, base="nope")


# -- hypothesis --------------------------------------------------------------------------------------
HYPO = settings(max_examples=600, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
PROBLEM = ([3, 7, 25, 50], 75)
TAGS = st.sampled_from(["<answer>", "</answer>", "<answer></answer>", "<think>", "</think>", "<ANSWER>", "<answer",
                        "answer>", "(7 * 25 + 50) / 3", "50 + 25", "1/0", " ", "\n", "×", "÷", "−"])


def check_rewards(text: str) -> None:
    numbers, target = PROBLEM
    for fn, allowed in ((cd.countdown_reward, {0.0, 0.1, 1.0}), (cd.graduated_reward, {0.0, 0.1, 0.3, 0.5, 0.7, 1.0})):
        r = fn(text, numbers, target)
        assert type(r) is float and r in allowed, (fn.__name__, text, r)
    lp = cd.length_penalized_reward(text, numbers, target, len(text), 20)
    assert math.isfinite(lp) and 0.0 <= lp <= 1.0
    assert cd.extract_answer(text) == fuzz_countdown.reference_extract(text)


@HYPO
@given(st.text(max_size=300))
def test_any_text_gets_a_reward_in_range(text):
    check_rewards(text)
    check_rewards(f"<answer>{text}</answer>")


@HYPO
@given(st.lists(st.one_of(TAGS, st.text(max_size=8)), max_size=12).map("".join))
def test_tag_games_extract_what_the_documented_regex_extracts(text):
    check_rewards(text)


def expressions(leaves):
    ops = st.sampled_from(["+", "-", "*", "/", "×", "÷", "−", " + ", " * ", " / "])
    return st.recursive(leaves, lambda inner: st.builds(lambda a, o, b, p: f"({a}{o}{b})" if p else f"{a}{o}{b}",
                                                        inner, ops, inner, st.booleans()), max_leaves=12)


@HYPO
@given(expressions(st.one_of(st.integers(0, 10**6).map(str), st.sampled_from(["3", "7", "25", "50", "0", "00"]))))
def test_the_value_is_python_s_own_exact_value(expr):
    value = cd.evaluate_expression(expr)
    if len(expr) > cd.MAX_EXPRESSION_CHARS:
        assert value is None
        return
    assert cd.parse_expression(expr) is not None, expr
    assert value == fuzz_countdown.oracle_value(expr), expr  # None exactly when it divides by zero or overflows
    assert cd.expression_numbers(expr) == fuzz_countdown.oracle_literals(expr)
    want = fuzz_countdown.expected_rewards(expr, True, *PROBLEM)
    assert (cd.countdown_reward(f"<answer>{expr}</answer>", *PROBLEM),
            cd.graduated_reward(f"<answer>{expr}</answer>", *PROBLEM)) == want


@HYPO
@given(expressions(st.sampled_from(["3", "7", "25", "50"])),
       st.sampled_from(["**", "%", "//", "<<", "&", "|", "^", "@", "1e309", "1.5", "x", "abs", "١", "０", "007", ",", "="]),
       st.booleans())
def test_anything_outside_the_grammar_is_not_an_expression(expr, intruder, as_prefix):
    # the intruder in place of the first ASCII operator (spaced, so digits do not merge), or before the expression
    op = re.search(r"[+*/-]", expr)
    bad = f"{intruder}{expr}" if as_prefix or op is None else f"{expr[:op.start()]} {intruder} {expr[op.end():]}"
    assert cd.parse_expression(bad) is None, bad
    assert cd.parse_expression(f"-{expr}") is None  # no unary minus
    assert cd.evaluate_expression(bad) is None and cd.countdown_reward(f"<answer>{bad}</answer>", *PROBLEM) == 0.1


def test_oracle_agrees_on_the_documented_examples():
    assert fuzz_countdown.oracle_value("(7 * 25 + 50) / 3") == 75 == cd.evaluate_expression("(7 * 25 + 50) / 3")
    assert fuzz_countdown.oracle_value("4 / (2 - 2)") is None and cd.evaluate_expression("4 / (2 - 2)") is None
    assert fuzz_countdown.oracle_value("1 / 3") == Fraction(1, 3)
