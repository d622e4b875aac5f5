"""Countdown arithmetic and rewards: hand-worked cases plus hypothesis properties."""
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ordebug_lib.tasks.countdown import (
    countdown_reward,
    evaluate_expression,
    expression_numbers,
    extract_answer,
    graduated_reward,
    length_penalized_reward,
    length_penalty_factor,
    soft_overlong_punishment,
    uses_each_number_once,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "expr, value",
    [
        ("25 - 5 * 4", Fraction(5)),  # precedence: 25 − 20
        ("(7 - 3) * 25 - 50", Fraction(50)),  # 4·25 − 50
        ("(7 * 25 + 50) / 3", Fraction(75)),  # 225/3
        ("1 / 3", Fraction(1, 3)),  # exact, no float rounding
        ("(1 / 3 + 2) * 3", Fraction(7)),  # 7/3 · 3
        ("6 / (1 - 3 / 4)", Fraction(24)),  # 6 / (1/4)
        ("2 - 5", Fraction(-3)),  # negative results are fine, negative literals are not
        (" ((8)) ", Fraction(8)),
        ("3 × 4 ÷ 2 − 1", Fraction(5)),  # unicode operators read as * / -
        ("0", Fraction(0)),
    ],
)
def test_evaluate_expression_values(expr, value):
    assert evaluate_expression(expr) == value


@pytest.mark.parametrize(
    "expr",
    [
        "4 / (2 - 2)",  # division by zero
        "__import__('os').system('true')",  # names and calls
        "abs(3)",
        "x + 1",
        "2 ** 10",  # power
        "7 // 2",  # floor division
        "7 % 2",
        "-3 + 5",  # unary minus
        "+3",
        "3 - -2",
        "1.5 * 2",  # float
        "1e3",
        "1_000",
        "0x10",
        "007",
        "1 2",
        "(1 + 2",
        "",
        "   ",
        "1 + 2 = 3",  # an equation is not an expression
        "1 < 2",
        "[1, 2]",
        "(1, 2)",
        "1 if 1 else 2",
        "9" * 300,  # longer than MAX_EXPRESSION_CHARS
    ],
)
def test_evaluate_expression_rejects(expr):
    assert evaluate_expression(expr) is None


def test_evaluate_expression_never_raises_on_weird_inputs():
    assert evaluate_expression("(" * 120 + "1" + ")" * 120) == 1  # deep but legal
    assert evaluate_expression("(" * 300 + "1" + ")" * 300) is None  # over the length limit
    assert evaluate_expression(None) is None  # not a string
    assert evaluate_expression("99999999 * 99999999 * 99999999") == 99999999**3
    # with a longer length limit, a product over 2**1024 ≈ 1.8e308 is refused: 32 factors ≈ 10^320
    huge = " * ".join(["9999999999"] * 32)
    assert evaluate_expression(huge) is None  # 413 chars: over the default length limit
    assert evaluate_expression(huge, max_chars=1000) is None  # value bound
    assert evaluate_expression(" * ".join(["9999999999"] * 30), max_chars=1000) == 9999999999**30  # ≈ 1e300 fits


def test_expression_numbers_and_use_once():
    assert expression_numbers("(7 - 3) * 25 - 50") == [7, 3, 25, 50]
    assert expression_numbers("2 ** 3") is None
    assert uses_each_number_once("3 * 3 + 5", [3, 3, 5])
    assert not uses_each_number_once("3 * 5", [3, 3, 5])  # one 3 unused
    assert not uses_each_number_once("3 * 3 * 3 + 5", [3, 3, 5])  # 3 used three times
    assert not uses_each_number_once("3 * 3 + 5 = 14", [3, 3, 5])  # not an expression


def test_extract_answer_last_complete_tag():
    assert extract_answer("<answer>1+2</answer> no, <answer>3*1</answer>") == "3*1"
    assert extract_answer("<answer>1+2") is None  # unclosed
    assert extract_answer("<answer>1+2</answer><answer>5") == "1+2"  # last *complete* pair
    assert extract_answer("<answer>\n 2 * 3 \n</answer>") == "\n 2 * 3 \n"
    assert extract_answer("no tags") is None


NUMS, TARGET = [3, 7, 25, 50], 75


@pytest.mark.parametrize(
    "completion, seed_reward, graduated",
    [
        # (7·25 + 50)/3 = 225/3 = 75, every number once
        ("<think>try</think> <answer>(7 * 25 + 50) / 3</answer>", 1.0, 1.0),
        # 3 − 7 + 25 + 50 = 71: error 4 < 7.5 (10% of 75)
        ("<answer>3 - 7 + 25 + 50</answer>", 0.1, 0.7),
        # (25 − 7)·3 + 50 = 104: error 29, ≥ 7.5 but < 37.5 (50%)
        ("<answer>(25 - 7) * 3 + 50</answer>", 0.1, 0.5),
        # 50 + 25·3 − 7 = 118: error 43 ≥ 37.5 → valid numbers, wrong value
        ("<answer>50 + 25 * 3 - 7</answer>", 0.1, 0.3),
        ("<answer>(50 + 25) / (7 - 7 + 3 - 3)</answer>", 0.1, 0.1),  # 7 and 3 twice → not valid numbers
        ("<answer>3 * 25 / (50 - 50)</answer>", 0.1, 0.1),  # 50 twice, 7 missing
        ("<answer>50 + 25</answer>", 0.1, 0.1),  # 3 and 7 unused
        ("<answer>(7 * 25 + 50) / 3 = 75</answer>", 0.1, 0.1),  # an equation, not an expression
        ("<answer>seventy-five</answer>", 0.1, 0.1),
        ("<answer></answer>", 0.1, 0.1),
        ("<answer>(7 * 25 + 50) / 3", 0.0, 0.0),  # no closing tag
        ("The answer is (7 * 25 + 50) / 3", 0.0, 0.0),
        ("", 0.0, 0.0),
        # last answer counts: a correct one followed by a wrong one is wrong …
        ("<answer>(7 * 25 + 50) / 3</answer> wait <answer>50 + 25</answer>", 0.1, 0.1),
        # … and a wrong one followed by a correct one is right
        ("<answer>50 + 25</answer> wait <answer>(7 * 25 + 50) / 3</answer>", 1.0, 1.0),
    ],
)
def test_rewards_hand_cases(completion, seed_reward, graduated):
    assert countdown_reward(completion, NUMS, TARGET) == seed_reward
    assert graduated_reward(completion, NUMS, TARGET) == graduated


def test_graduated_numbers_valid_but_undefined_is_point_three():
    # numbers [3, 3, 5], target 10: 5 / (3 - 3) uses each number once but divides by zero
    assert graduated_reward("<answer>5 / (3 - 3)</answer>", [3, 3, 5], 10) == 0.3
    assert countdown_reward("<answer>5 / (3 - 3)</answer>", [3, 3, 5], 10) == 0.1


def test_graduated_strict_bounds():
    # target 100, numbers [10, 11, 1]: 10·11·1 = 110: error 10, not < 10 (strict) → 0.5
    assert graduated_reward("<answer>10 * 11 * 1</answer>", [10, 11, 1], 100) == 0.5
    # 10·11 − 1 = 109: error 9 < 10 → 0.7
    assert graduated_reward("<answer>10 * 11 - 1</answer>", [10, 11, 1], 100) == 0.7
    # target 100, value 150 = error 50, not < 50 → 0.3; value 149: error 49 → 0.5
    assert graduated_reward("<answer>(10 + 5) * 10</answer>", [10, 5, 10], 100) == 0.3
    assert graduated_reward("<answer>(10 + 5) * 10 - 1</answer>", [10, 5, 10, 1], 100) == 0.5
    # exact fraction arithmetic: 1/3 + 1/3 + 1/3 = 1 exactly
    assert countdown_reward("<answer>1/3 + 1/3 + 1/3</answer>", [1, 3, 1, 3, 1, 3], 1) == 1.0


def test_length_penalty():
    # ≤ 200 tokens: factor 1; 400: 0.8 + 0.2·0.5 = 0.9; 1000: 0.8 + 0.2·0.2 = 0.84
    assert length_penalty_factor(150) == 1.0
    assert length_penalty_factor(200) == 1.0
    assert length_penalty_factor(400) == pytest.approx(0.9)
    assert length_penalty_factor(1000) == pytest.approx(0.84)
    assert length_penalty_factor(0) == 1.0
    assert length_penalty_factor(100, reference_length=50) == pytest.approx(0.9)
    good = "<answer>(7 * 25 + 50) / 3</answer>"
    assert length_penalized_reward(good, NUMS, TARGET, 400) == pytest.approx(0.9)  # 1.0 · 0.9
    # graduated 0.5 at 1000 tokens: 0.5 · 0.84 = 0.42
    assert length_penalized_reward("<answer>(25 - 7) * 3 + 50</answer>", NUMS, TARGET, 1000) == pytest.approx(0.42)
    # binary base: 0.1 · 0.9 = 0.09
    assert length_penalized_reward("<answer>50+25</answer>", NUMS, TARGET, 400, base="binary") == pytest.approx(0.09)
    with pytest.raises(ValueError):
        length_penalized_reward(good, NUMS, TARGET, 10, base="nope")
    with pytest.raises(ValueError):
        length_penalty_factor(-1)


def test_soft_overlong_punishment_eq13():
    # L_max = 20, L_cache = 4: free up to 16; −(len − 16)/4 in (16, 20]; −1 beyond
    assert soft_overlong_punishment(10, 20, 4) == 0.0
    assert soft_overlong_punishment(16, 20, 4) == 0.0
    assert soft_overlong_punishment(17, 20, 4) == pytest.approx(-0.25)
    assert soft_overlong_punishment(18, 20, 4) == pytest.approx(-0.5)
    assert soft_overlong_punishment(20, 20, 4) == pytest.approx(-1.0)
    assert soft_overlong_punishment(21, 20, 4) == -1.0
    for bad in ((5, 20, 0), (5, 20, 21), (-1, 20, 4), (5.0, 20, 4)):
        with pytest.raises(ValueError):
            soft_overlong_punishment(*bad)


def test_bad_problem_arguments_raise():
    with pytest.raises(ValueError):
        countdown_reward("<answer>1</answer>", [], 1)
    with pytest.raises(ValueError):
        countdown_reward("<answer>1</answer>", [1.5], 1)
    with pytest.raises(ValueError):
        countdown_reward("<answer>1</answer>", [1], "1")
    with pytest.raises(ValueError):
        countdown_reward(None, [1], 1)


def test_no_python_eval_in_package():
    # the acceptance check `grep -rn "eval(" ordebug_lib` must find no use of Python's eval/exec in our files
    for path in [ROOT / "ordebug_lib" / "losses.py", ROOT / "ordebug_lib" / "advantages.py",
                 *(ROOT / "ordebug_lib" / "tasks").glob("*.py")]:
        text = path.read_text()
        assert "eval(" not in text and "exec(" not in text, path


# ---------------------------------------------------------------------------------------------------
# Properties: arbitrary strings never raise and stay in range
# ---------------------------------------------------------------------------------------------------

ARITH = st.text(alphabet="0123456789+-*/() ×÷−.x_eE=<>", max_size=60)
TAGGED = st.builds(lambda a, b, c: f"{a}<answer>{b}</answer>{c}", st.text(max_size=20), ARITH, st.text(max_size=20))
ANY_TEXT = st.one_of(st.text(max_size=300), ARITH, TAGGED)
NUMBERS = st.lists(st.integers(min_value=0, max_value=100), min_size=1, max_size=5)


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT)
def test_evaluate_expression_total(text):
    value = evaluate_expression(text)
    assert value is None or isinstance(value, Fraction)


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT, NUMBERS, st.integers(min_value=-1000, max_value=1000), st.integers(min_value=0, max_value=5000))
def test_rewards_total_and_in_range(text, numbers, target, n_tokens):
    assert countdown_reward(text, numbers, target) in (0.0, 0.1, 1.0)
    assert graduated_reward(text, numbers, target) in (0.0, 0.1, 0.3, 0.5, 0.7, 1.0)
    assert 0.0 <= length_penalized_reward(text, numbers, target, n_tokens) <= 1.0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=999), min_size=1, max_size=4),
       st.lists(st.sampled_from("+-*/"), min_size=3, max_size=3))
def test_valid_expressions_agree_with_fraction_arithmetic(nums, ops):
    # left-to-right fully parenthesised expression, evaluated independently with Fraction
    expr, value = str(nums[0]), Fraction(nums[0])
    for op, n in zip(ops, nums[1:]):
        expr = f"({expr}) {op} {n}"
        if op == "/" and n == 0:
            value = None
        elif value is not None:
            value = {"+": value + n, "-": value - n, "*": value * n, "/": value / n if n else None}[op]
    assert evaluate_expression(expr) == value
    if value is not None:
        # the answer uses exactly these numbers, so the seed reward is 1.0 iff the value is an integer target
        assert uses_each_number_once(expr, nums)
        if value.denominator == 1:
            assert countdown_reward(f"<answer>{expr}</answer>", nums, int(value)) == 1.0


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=5000), st.integers(min_value=1, max_value=4096), st.data())
def test_soft_overlong_in_range(length, max_len, data):
    cache = data.draw(st.integers(min_value=1, max_value=max_len))
    p = soft_overlong_punishment(length, max_len, cache)
    assert -1.0 <= p <= 0.0
