"""Fuzz the Countdown verifier and rewards with adversarial completions: nothing may raise or hang, every
reward must stay in its documented range, and no wrong answer may earn the full reward.

Usage::

    .venv/bin/python benchmarks/fuzz_countdown.py [--n-completions 100000] [--seed 0] [--group-size 8]
                                                  [--hang-seconds 10] [--out fuzz.json]

Completions come in groups of ``--group-size`` that answer one problem, as a GRPO group does: the problem
is a generated instance (3-4 numbers, with its solver solution) or an odd one (a single number, zeros,
duplicates, six numbers, 31-digit numbers, a negative or huge target). Each completion is an answer body
(``BODIES``: correct solutions respelled, random expressions, near misses, equations, huge numbers, deep
nesting, unicode digits and operators, ``**`` ``%`` ``//`` and bit operators, calls, names, attributes,
lambdas, floats, ``1e309``, leading zeros, division by zero, empty text, random text) in a wrapper
(``WRAPPERS``: the answer tags nested, unclosed, several, empty, in another case, inside ``<think>``, with
up to 64 KB of padding), or one of the enormous completions of ``ENORMOUS`` (1 KB to 1 MB: floods of
``<answer>`` tags, a 1 MB answer). Three in ten are conversational (a list with one assistant message).

Every completion goes through every function of the verifier and every reward:
``extract_answer``, ``parse_expression``, ``evaluate_expression``, ``expression_numbers``,
``uses_each_number_once`` (on the extracted answer and on the raw body), ``countdown_reward``,
``graduated_reward``, ``length_penalized_reward`` (both bases), ``soft_overlong_punishment``; each group
then through the TRL wrappers of ``countdown_trl`` called the way TRL 1.16 calls them (keyword arguments
``prompts``, ``completions``, ``completion_ids``, the dataset columns, ``trainer_state``, ``log_extra``,
``log_metric``). Checks:

- exceptions, counted by type with the first traceback of each (``where``: the function); a completion
  whose calls take more than ``--hang-seconds`` is stopped by SIGALRM and counted as ``Hang``;
- ranges: every reward is a finite float in its documented set (1.0 / 0.1 / 0.0; graduated's six
  levels; base x length factor in [0, 1]; soft overlong in [-1, 0]); the TRL wrappers return one float per
  completion, equal to the plain functions';
- verdicts, against an independent oracle (``oracle_value``: Python's own evaluation of the same text over
  exact fractions, after the verifier accepted it, with the verifier's 1024-bit bound on every
  intermediate; ``reference_extract``: the documented regex, on completions under 4 KB): the value, the
  literals, the extracted answer, and the expected binary and graduated rewards must agree;
- a contract slice (``contract_checks``): bad problems make every reward raise ValueError, non-text
  completions are refused by ``extract_answer`` and ``completion_text``, and are None for the parser.

The summary (printed without tracebacks, written in full to ``--out`` as JSON) holds the counts, the
first example of each failure, reward histograms, the slowest completion (seconds, category, length) and
group, and throughput. Exit status 1 on any exception, hang, range violation, mismatch or contract
violation.
"""
from __future__ import annotations

import argparse
import ast
import json
import math
import random
import re
import signal
import sys
import time
import traceback
from collections import Counter
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from ordebug_lib.tasks import countdown as cd  # noqa: E402
from ordebug_lib.tasks import countdown_trl as trl  # noqa: E402

RANGES = {  # documented values of each reward (docstrings of tasks/countdown.py)
    "countdown_reward": {0.0, 0.1, 1.0},
    "graduated_reward": {0.0, 0.1, 0.3, 0.5, 0.7, 1.0},
}
REFERENCE_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)  # extract_answer's documented semantics
REFERENCE_MAX_CHARS = 4096  # the regex is quadratic on floods of opening tags: only short completions
ENORMOUS_SIZES = (1024, 16 * 1024, 64 * 1024, 256 * 1024, 1024 * 1024)
MB = 1024 * 1024
IDS = list(range(8192))  # completion_ids: only their number matters to the rewards

OTHER_DIGITS = ("٠١٢٣٤٥٦٧٨٩", "۰۱۲۳۴۵۶۷۸۹", "०१२३४५६७८९", "０１２３４５６７８９", "⁰¹²³⁴⁵⁶⁷⁸⁹", "₀₁₂₃₄₅₆₇₈₉",
                "𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗", "⓪①②③④⑤⑥⑦⑧⑨")
OTHER_OPS = {"+": ["＋", "➕", "⁺", "﹢"], "-": ["–", "—", "‐", "－", "➖", "⁻", "−"], "*": ["∗", "✕", "⨯", "·", "＊", "×", "⋅"],
             "/": ["⁄", "∕", "➗", "／", "÷", "\\"], "(": ["（", "⁽", "["], ")": ["）", "⁾", "]"]}
BAD_OPERATORS = ("**", "%", "//", "<<", ">>", "&", "|", "^", "@", "<", ">", "==", "!=", "<=", " and ", " or ", " if ")
PYTHON_SNIPPETS = (
    "abs({a})", "max({a}, {b})", "int('{a}')", "eval('{a}+{b}')", "__import__('os').getpid()", "x", "x + {a}",
    "{a}.real", "({a}).bit_length()", "{a} .numerator", "(lambda: {a})()", "lambda x: x", "[{a}, {b}]", "({a}, {b})",
    "{{{a}: {b}}}", "{{{a}}}", "'{a}'", "b'{a}'", "f'{{{a}}}'", "...", "None", "True + {a}", "(y := {a})",
    "{a} if {b} else {a}", "[i for i in range({a})]", "{a}[0]", "not {a}", "print({a})", "globals()",
    "().__class__.__base__.__subclasses__()", "sum([{a}, {b}])", "math.sqrt({a})", "{a}!", "√{a}", "{a}²",
    "open('/etc/passwd').read()", "exec('1')", "{a};{b}", "{a}\n{b}", "{a} = {b}", "pass",
)
LITERALS = ("1e309", "1e-309", "-1e309", "1.5", ".5", "5.", "1_000", "0x10", "0b101", "0o17", "1j", "inf", "nan",
            "007", "00", "000", "0", "-0", "+0", "09", "1e5", "1E2", "0.0", "१२", "½", "⅓", "1/2", "2⁄3", "1,000",
            "1 000", "∞", "NaN", "Infinity", "0" * 200 + "1", "9" * 256, "9" * 4301, "1" + "0" * 308)


class Hang(BaseException):
    """Raised by SIGALRM when one completion's calls run past ``--hang-seconds`` (BaseException: no
    ``except Exception`` under test can swallow it)."""


def _alarm(signum, frame):
    raise Hang()


# ----------------------------------------------------------------------------------------------------
# Independent oracle
# ----------------------------------------------------------------------------------------------------

class _Q:
    """An exact value with the verifier's bound on every intermediate (``cd.MAX_VALUE_BITS``): Python's
    own operator precedence evaluates the text, not the verifier's AST walk."""

    __slots__ = ("v",)

    def __init__(self, v):
        self.v = Fraction(v)

    def _check(self, v: Fraction) -> "_Q":
        if v.numerator.bit_length() > cd.MAX_VALUE_BITS or v.denominator.bit_length() > cd.MAX_VALUE_BITS:
            raise OverflowError("intermediate beyond the verifier's bound")
        return _Q(v)

    def __add__(self, o):
        return self._check(self.v + o.v)

    def __sub__(self, o):
        return self._check(self.v - o.v)

    def __mul__(self, o):
        return self._check(self.v * o.v)

    def __truediv__(self, o):
        return self._check(self.v / o.v)  # ZeroDivisionError: undefined


def _normalised(text: str) -> str:
    for uni, ascii_op in {"×": "*", "÷": "/", "−": "-"}.items():
        text = text.replace(uni, ascii_op)
    return text.strip()


def oracle_literals(text: str) -> list[int]:
    """Integer literals in reading order (only for text the verifier parsed: digits, operators, parens)."""
    return [int(m) for m in re.findall(r"\d+", _normalised(text))]


def oracle_value(text: str) -> Fraction | None:
    """The exact value of text the verifier parsed, computed by ``eval`` over exact fractions (safe: the
    text holds only digits, + - * / and parentheses); None when it divides by zero or overflows."""
    src = re.sub(r"\d+", lambda m: f"Q({int(m.group())})", _normalised(text))
    try:
        return eval(src, {"__builtins__": {}, "Q": _Q}).v  # noqa: S307 -- text restricted, see docstring
    except (ZeroDivisionError, OverflowError):
        return None


def expected_rewards(answer: str | None, parsed: bool, numbers, target: int) -> tuple[float, float]:
    """(countdown_reward, graduated_reward) as their docstrings define them, from the oracle."""
    if answer is None:
        return 0.0, 0.0
    if not parsed:
        return 0.1, 0.1
    value = oracle_value(answer)
    numbers_ok = Counter(oracle_literals(answer)) == Counter(numbers)
    binary = 1.0 if numbers_ok and value is not None and value == target else 0.1
    if not numbers_ok:
        return binary, 0.1
    if value is None:
        return binary, 0.3
    error = abs(value - target)
    if error == 0:
        return binary, 1.0
    if error < abs(Fraction(target)) / 10:
        return binary, 0.7
    if error < abs(Fraction(target)) / 2:
        return binary, 0.5
    return binary, 0.3


def reference_extract(text: str) -> str | None:
    found = REFERENCE_RE.findall(text)
    return found[-1] if found else None


# ----------------------------------------------------------------------------------------------------
# Problems and completions
# ----------------------------------------------------------------------------------------------------

ODD_PROBLEMS = (([7], 7), ([7], -7), ([0, 0], 0), ([1, 1, 1, 1, 1, 1], 6), ([5, 5, 5, 5], 0), ([99, 99, 99, 99], 10**6),
                ([10**30, 10**30], 2 * 10**30), ([3, 7, 25, 50], 75), ([2, 3], 10**400), ([1, 2, 3], -5), ([0, 9], 9))


def make_problems(seed: int, n: int = 48) -> list[tuple[list[int], int, str | None]]:
    """(numbers, target, solution or None): generated instances and ``ODD_PROBLEMS``."""
    out = [(list(i.numbers), i.target, i.solution) for i in cd.generate_instances(n, seed=seed, num_numbers=(3, 4))]
    for numbers, target in ODD_PROBLEMS:
        out.append((list(numbers), target, cd.solve(numbers, target)))
    return out


def random_expression(rng: random.Random, leaves: list[str]) -> str:
    """A random binary tree over ``leaves`` (in random order) with + - * /, fully or partly parenthesised."""
    items = list(leaves)
    rng.shuffle(items)
    while len(items) > 1:
        i = rng.randrange(len(items) - 1)
        op = rng.choice("+-*/")
        a, b = items[i], items[i + 1]
        text = f"{a} {op} {b}" if rng.random() < 0.5 else f"{a}{op}{b}"
        items[i:i + 2] = [f"({text})" if rng.random() < 0.7 else text]
    return items[0]


def respell(rng: random.Random, expr: str) -> str:
    """The same expression written differently: spacing, the accepted unicode operators, outer parens."""
    out = expr
    if rng.random() < 0.4:
        out = out.replace("*", rng.choice(["*", "×"])).replace("/", rng.choice(["/", "÷"])).replace(
            "-", rng.choice(["-", "−"]))
    if rng.random() < 0.4:
        out = re.sub(r"\s+", rng.choice(["", " ", "  ", "\t"]), out)
    if rng.random() < 0.3:
        out = f"({out})"
    if rng.random() < 0.3:
        out = rng.choice([" ", "\n", "\n  ", "\t"]) + out + rng.choice([" ", "\n", "\r\n", ""])
    return out


def _leaves(rng: random.Random, numbers: list[int]) -> list[str]:
    return [str(n) for n in numbers]


def body_solution(rng, numbers, target, solution):
    if solution is None:
        return body_random_expr(rng, numbers, target, solution)
    return respell(rng, solution)


def body_random_expr(rng, numbers, target, solution):
    return random_expression(rng, _leaves(rng, numbers))


def body_near_miss(rng, numbers, target, solution):
    leaves = _leaves(rng, numbers)
    pick = rng.randrange(5)
    if pick == 0 and leaves:
        leaves.pop(rng.randrange(len(leaves)))  # one number unused
    elif pick == 1:
        leaves.append(rng.choice(leaves))  # one used twice
    elif pick == 2:
        leaves[rng.randrange(len(leaves))] = str(rng.randint(0, 200))  # a number that was not given
    elif pick == 3 and solution:
        return solution.replace("+", "-", 1) if "+" in solution else solution.replace("*", "+", 1)
    else:
        leaves.append(str(target))
    return random_expression(rng, leaves or ["1"])


def body_equation(rng, numbers, target, solution):
    expr = solution or random_expression(rng, _leaves(rng, numbers))
    return rng.choice([f"{expr} = {target}", f"{target} = {expr}", f"{expr} == {target}", f"{expr}={target}",
                       f"{expr} → {target}", f"{expr} ≈ {target}", f"{target}"])


def body_huge(rng, numbers, target, solution):
    pick = rng.randrange(6)
    if pick == 0:
        return "9" * rng.choice([30, 100, 200, 255, 256, 257, 300, 1000])
    if pick == 1:  # products of big literals: intermediates past 2**1024
        lit = "9" * rng.choice([50, 60, 100, 155])
        return "*".join([lit] * rng.randint(2, 5))
    if pick == 2:  # huge denominators
        return "1/" + "/".join(["9" * rng.choice([60, 100, 150])] * rng.randint(1, 4))
    if pick == 3:  # repeated squaring by hand: (((2*2)*(2*2))*...)
        e = "2"
        while len(e) < 240:
            e = f"({e})*({e})" if len(e) < 60 else f"{e}*{e}"
        return e[:256]
    if pick == 4:
        return "+".join(str(rng.choice([10**18, 10**30, 2**64, 2**1023])) for _ in range(rng.randint(1, 6)))
    return random_expression(rng, [str(n * 10**rng.randint(10, 80)) for n in numbers])


def body_deep(rng, numbers, target, solution):
    d = rng.choice([10, 50, 100, 127, 128, 150, 199, 200, 201, 300])
    pick = rng.randrange(5)
    if pick == 0:
        return "(" * d + "1" + ")" * d
    if pick == 1:  # right-nested: 1+(1+(1+...))
        return "1+(" * d + "1" + ")" * d
    if pick == 2:  # a long left chain: deep tree without parentheses
        return "+".join(["1"] * d)
    if pick == 3:
        return "(" * d + "1"  # unbalanced
    return "1" + "/(1" * d + ")" * d


def body_unicode(rng, numbers, target, solution):
    expr = solution or random_expression(rng, _leaves(rng, numbers))
    pick = rng.randrange(3)
    if pick == 0 or pick == 2:
        digits = rng.choice(OTHER_DIGITS)
        expr = "".join(digits[int(c)] if c.isdigit() and rng.random() < 0.8 else c for c in expr)
    if pick == 1 or pick == 2:
        expr = "".join(rng.choice(OTHER_OPS[c]) if c in OTHER_OPS and rng.random() < 0.8 else c for c in expr)
    return expr


def body_operators(rng, numbers, target, solution):
    a, b = rng.choice(numbers), rng.choice(numbers)
    pick = rng.randrange(4)
    if pick == 0:
        return f"{a} {rng.choice(BAD_OPERATORS)} {b}"
    if pick == 1:  # a bad operator inside an otherwise valid expression
        expr = solution or random_expression(rng, _leaves(rng, numbers))
        ops = [i for i, c in enumerate(expr) if c in "+-*/"]
        if ops:
            i = rng.choice(ops)
            return expr[:i] + rng.choice(BAD_OPERATORS) + expr[i + 1:]
        return expr + " ** 2"
    if pick == 2:  # unary operators
        return rng.choice([f"-{a} + {b}", f"+{a}", f"--{a}", f"~{a}", f"{a} - -{b}", f"-({a})", f"{a}*-{b}", "-0"])
    return rng.choice(["2 ** 10000000", "10**10**10", "9**9**9", "2**-1", "(-8)**(1/3)", "0**0", f"{a}%0", f"{a}//0"])


def body_python(rng, numbers, target, solution):
    a, b = rng.choice(numbers), rng.choice(numbers)
    return rng.choice(PYTHON_SNIPPETS).format(a=a, b=b)


def body_literal(rng, numbers, target, solution):
    lit = rng.choice(LITERALS)
    return rng.choice([lit, f"{lit} + {rng.choice(numbers)}", f"{rng.choice(numbers)} * {lit}", f"({lit})"])


def body_divzero(rng, numbers, target, solution):
    a, b = rng.choice(numbers), rng.choice(numbers)
    rest = " + ".join(map(str, numbers))
    return rng.choice([f"{a} / 0", f"{a} / ({b} - {b})", "0 / 0", f"({a} - {a}) / ({b} - {b})", f"{a} / ({b} / 0)",
                       f"({rest}) / ({a} - {a})", f"{a} / ({b} * 0)", "1/(1-1)*0", f"{target} / 0"])


def body_empty(rng, numbers, target, solution):
    return rng.choice(["", " ", "\n", "\t\r\n ", "()", "( )", "(())", "\x00", "\u2028", "\ufeff", "\u200b"])


def body_random_text(rng, numbers, target, solution):
    n = rng.randint(1, 300)
    pick = rng.randrange(4)
    if pick == 0:  # the verifier's own alphabet: token soup that sometimes parses
        return "".join(rng.choice("0123456789+-*/() ") for _ in range(n))
    if pick == 1:
        return "".join(chr(rng.choice([rng.randint(0, 0x7f), rng.randint(0x80, 0xffff), rng.randint(0x10000, 0x10ffff)]))
                       for _ in range(n))
    if pick == 2:
        return bytes(rng.randrange(256) for _ in range(n)).decode("utf-8", "replace")
    words = ["<answer>", "</answer>", "<think>", "</think>", "(", ")", "+", "*", "=", *map(str, numbers), str(target)]
    return " ".join(rng.choice(words) for _ in range(rng.randint(1, 12)))


BODIES = {  # name -> (weight, generator(rng, numbers, target, solution) -> answer text)
    "solution": (12, body_solution), "random_expr": (14, body_random_expr), "near_miss": (10, body_near_miss),
    "equation": (5, body_equation), "huge": (7, body_huge), "deep": (7, body_deep), "unicode": (7, body_unicode),
    "operators": (8, body_operators), "python": (7, body_python), "literal": (7, body_literal),
    "divzero": (5, body_divzero), "empty": (4, body_empty), "random_text": (7, body_random_text),
}
PRESERVING = {"think_answer", "bare", "several_last", "empty_then", "in_think", "padded"}  # body = last answer


def wrap(rng: random.Random, kind: str, body: str, other: str) -> str:
    think = rng.choice(["", "<think>let me see</think> ", "<think>\n" + "step " * rng.randint(1, 50) + "\n</think>\n"])
    if kind == "think_answer":
        return f"{think}<answer>{body}</answer>"
    if kind == "bare":
        return f"<answer>{body}</answer>"
    if kind == "no_tag":
        return f"{think}{body}"
    if kind == "unclosed":
        return f"{think}<answer>{body}"
    if kind == "close_only":
        return f"{think}{body}</answer>"
    if kind == "nested":
        return f"<answer><answer>{body}</answer></answer>"
    if kind == "several_last":
        return f"<answer>{other}</answer> no wait <answer>{body}</answer>"
    if kind == "several_first":
        return f"<answer>{body}</answer> hmm <answer>{other}</answer>"
    if kind == "empty_then":
        return f"<answer></answer><answer>{body}</answer>"
    if kind == "empty_last":
        return f"<answer>{body}</answer><answer></answer>"
    if kind == "case":
        return rng.choice([f"<ANSWER>{body}</ANSWER>", f"<Answer>{body}</Answer>", f"<answer >{body}</answer >",
                           f"< answer>{body}</ answer>", f"<answer/>{body}", f"&lt;answer&gt;{body}&lt;/answer&gt;",
                           f"<answer>{body}<answer/>", f"<answer>{body}</answer"])
    if kind == "in_think":
        return f"<think><answer>{body}</answer></think>"
    if kind == "padded":
        pad = rng.choice(["x", " ", "\n", "é", "<", "<answer", "answer>", "1+"]) * rng.choice([10, 1000, 65536])
        return f"{pad}<answer>{body}</answer>"
    if kind == "unclosed_after":
        return f"<answer>{body}</answer> and <answer>{other}"
    raise AssertionError(f"unknown wrapper {kind!r}")


WRAPPERS = {"think_answer": 25, "bare": 15, "no_tag": 6, "unclosed": 6, "close_only": 4, "nested": 6, "several_last": 7,
            "several_first": 5, "empty_then": 4, "empty_last": 3, "case": 5, "in_think": 4, "padded": 4,
            "unclosed_after": 4}


def enormous(rng: random.Random, numbers: list[int], solution: str | None) -> tuple[str, str]:
    """(kind, completion) of 1 KB to 1 MB."""
    size = rng.choice(ENORMOUS_SIZES)
    kind = rng.choice(["flood_open", "flood_pairs", "flood_close", "huge_answer", "huge_text", "flood_open_close"])
    sol = solution or "1"
    if kind == "flood_open":  # many opening tags, no closing one
        return kind, ("<answer>" * (size // 8 + 1))[:size]
    if kind == "flood_pairs":
        unit = rng.choice(["<answer>1</answer>", f"<answer>{sol}</answer>", "<answer></answer>"])
        return kind, unit * (size // len(unit) + 1)
    if kind == "flood_close":
        return kind, ("</answer>" * (size // 9 + 1))[:size]
    if kind == "huge_answer":
        unit = rng.choice(["9", "1+", "(", ")", "1*", " ", "×", "é", f"{sol}+"])
        return kind, "<answer>" + (unit * (size // len(unit) + 1))[:size] + "</answer>"
    if kind == "huge_text":  # a correct answer after 1 MB of text
        unit = "".join(rng.choice("abc <>/+-*0123456789\n") for _ in range(64))
        return kind, (unit * (size // 64 + 1))[:size] + f"<answer>{sol}</answer>"
    return kind, "<answer>" * (size // 16) + "</answer>" * (size // 18)


# ----------------------------------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------------------------------

class Tally:
    """Failures by kind, the first example of each, and the first traceback of each exception type."""

    def __init__(self):
        self.exceptions: Counter = Counter()
        self.first_exception: dict[str, dict] = {}
        self.failures: Counter = Counter()  # range / mismatch / contract kinds
        self.examples: dict[str, dict] = {}
        self.call_seconds = 0.0  # time inside the functions under test (not the harness's checks)

    def exception(self, e: BaseException, where: str, label: str, completion) -> None:
        name = type(e).__name__
        self.exceptions[name] += 1
        if name not in self.first_exception:
            self.first_exception[name] = {"where": where, "category": label, "completion": shown(completion),
                                          "message": str(e)[:500], "traceback": traceback.format_exc()}

    def fail(self, kind: str, label: str, completion, **detail) -> None:
        self.failures[kind] += 1
        if kind not in self.examples:
            self.examples[kind] = {"category": label, "completion": shown(completion),
                                   **{k: shown(v) for k, v in detail.items()}}


def shown(x, n: int = 300) -> str:
    text = x if isinstance(x, str) else repr(x)
    return ascii(text if len(text) <= n else text[: n - 3] + "...")[1:-1] + (f" ({len(text)} chars)" if len(text) > n else "")


FAILED = object()


def call(tally: Tally, where: str, label: str, completion, fn, *args, **kwargs):
    """fn(*args) or FAILED (counted) if it raised; the time it took goes to ``tally.call_seconds``."""
    t0 = time.perf_counter()
    try:
        return fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 -- the harness counts every exception
        tally.exception(e, where, label, completion)
        return FAILED
    finally:
        tally.call_seconds += time.perf_counter() - t0


def in_set(x, allowed) -> bool:
    return type(x) is float and math.isfinite(x) and x in allowed


def check_body(tally: Tally, label: str, text: str, numbers: list[int], completion) -> dict:
    """The verifier's functions on one answer text; returns what they said (or FAILED)."""
    tree = call(tally, "parse_expression", label, completion, cd.parse_expression, text)
    value = call(tally, "evaluate_expression", label, completion, cd.evaluate_expression, text)
    lits = call(tally, "expression_numbers", label, completion, cd.expression_numbers, text)
    once = call(tally, "uses_each_number_once", label, completion, cd.uses_each_number_once, text, numbers)
    if FAILED in (tree, value, lits, once):
        return {"parsed": FAILED}
    if not (tree is None or isinstance(tree, ast.expr)) or not (value is None or type(value) is Fraction) \
            or type(once) is not bool or not (lits is None or (type(lits) is list and all(type(n) is int for n in lits))):
        tally.fail("verifier_type", label, completion, tree=tree, value=value, literals=lits, once=once)
        return {"parsed": FAILED}
    parsed = tree is not None
    if not parsed and (value is not None or lits is not None or once):
        tally.fail("verifier_inconsistent", label, completion, value=value, literals=lits, once=once)
    if parsed:
        if lits != oracle_literals(text):
            tally.fail("literals_mismatch", label, completion, literals=lits, oracle=oracle_literals(text))
        oracle = oracle_value(text)
        if value != oracle:
            tally.fail("value_mismatch", label, completion, value=value, oracle=oracle)
        if once != (Counter(oracle_literals(text)) == Counter(numbers)):
            tally.fail("once_mismatch", label, completion, once=once, numbers=numbers)
    return {"parsed": parsed}


def check_completion(tally: Tally, label: str, completion, body: str | None, numbers: list[int], target: int,
                     n_tokens: int, reference_length: int, overlong: tuple[int, int], stats: Counter) -> dict:
    """Every function on one completion; returns the rewards for the group's TRL comparison."""
    text = call(tally, "completion_text", label, completion, trl.completion_text, completion)
    if text is FAILED:
        return {}
    answer = call(tally, "extract_answer", label, completion, cd.extract_answer, text)
    if answer is FAILED:
        return {}
    if answer is not None and (type(answer) is not str or f"<answer>{answer}</answer>" not in text):
        tally.fail("extract_not_in_text", label, completion, answer=answer)
    if len(text) <= REFERENCE_MAX_CHARS and answer != reference_extract(text):
        tally.fail("extract_mismatch", label, completion, answer=answer, reference=reference_extract(text))
    parsed = None
    if answer is not None:
        parsed = check_body(tally, label, answer, numbers, completion)["parsed"]
    if body is not None and body != answer:
        check_body(tally, label, body, numbers, completion)
    out = {}
    for name in ("countdown_reward", "graduated_reward"):
        r = call(tally, name, label, completion, getattr(cd, name), text, numbers, target)
        if r is FAILED:
            continue
        out[name] = r
        if not in_set(r, RANGES[name]):
            tally.fail(f"range:{name}", label, completion, reward=r)
        stats[f"{name}={r}"] += 1
    if parsed is not FAILED and len(out) == 2:
        want = expected_rewards(answer, bool(parsed), numbers, target)
        for name, w in zip(("countdown_reward", "graduated_reward"), want):
            if out[name] != w:
                kind = "false_full_reward" if out[name] == 1.0 else "verdict_mismatch"
                tally.fail(f"{kind}:{name}", label, completion, reward=out[name], expected=w, answer=answer,
                           numbers=numbers, target=target)
    base_of = {"graduated": "graduated_reward", "binary": "countdown_reward"}
    for base in cd.BASE_REWARDS:
        r = call(tally, "length_penalized_reward", label, completion, cd.length_penalized_reward, text, numbers,
                 target, n_tokens, reference_length, base)
        if r is FAILED:
            continue
        out[f"length_penalized_{base}"] = r
        factor = cd.length_penalty_factor(n_tokens, reference_length)
        if type(r) is not float or not math.isfinite(r) or not 0.0 <= r <= 1.0:
            tally.fail("range:length_penalized_reward", label, completion, reward=r, base=base)
        elif base_of[base] in out and r != out[base_of[base]] * factor:
            tally.fail("length_penalized_mismatch", label, completion, reward=r, base=base, factor=factor)
    max_len, cache = overlong
    r = call(tally, "soft_overlong_punishment", label, completion, cd.soft_overlong_punishment, n_tokens, max_len, cache)
    if r is not FAILED:
        out["soft_overlong"] = r
        if type(r) is not float or not math.isfinite(r) or not -1.0 <= r <= 0.0:
            tally.fail("range:soft_overlong_punishment", label, completion, reward=r, length=n_tokens, max_len=max_len)
    return out


def check_group_trl(tally: Tally, labels: list[str], completions: list, prompts: list, ids: list[list[int]],
                    numbers: list[int], target: int, solution, reference_length: int, overlong: tuple[int, int],
                    direct: list[dict]) -> None:
    """The TRL wrappers on one group, called as TRL 1.16's ``_calculate_rewards`` calls them."""
    g = len(completions)
    logged = []
    kwargs = dict(prompts=prompts, completions=completions, completion_ids=ids, numbers=[list(numbers)] * g,
                  target=[target] * g, solution=[solution] * g, trainer_state=object(),
                  log_extra=lambda *a, **k: logged.append(a), log_metric=lambda *a, **k: logged.append(a))
    funcs = {"countdown_reward": trl.countdown_reward_func, "graduated_reward": trl.graduated_reward_func}
    for base in cd.BASE_REWARDS:
        funcs[f"length_penalized_{base}"] = trl.make_length_penalized_reward_func(reference_length, base)
    funcs["soft_overlong"] = trl.make_soft_overlong_reward_func(*overlong)
    group = f"group[{','.join(sorted(set(labels)))}]"
    for key, fn in funcs.items():
        out = call(tally, f"trl:{key}", group, completions[0], fn, **kwargs)
        if out is FAILED:
            continue
        if type(out) is not list or len(out) != g or any(type(r) is not float or not math.isfinite(r) for r in out):
            tally.fail(f"trl_shape:{key}", group, completions[0], output=out)
            continue
        for i, (r, d) in enumerate(zip(out, direct)):
            if key in d and r != d[key]:
                tally.fail(f"trl_mismatch:{key}", labels[i], completions[i], trl=r, direct=d[key])


def contract_checks() -> dict:
    """Bad input that must be refused with ValueError (or, for the parser, give None): returns the counts."""
    violations = []
    n = Counter()

    def expect_value_error(what, fn, *args, **kwargs):
        n["checks"] += 1
        try:
            fn(*args, **kwargs)
        except ValueError:
            return
        except Exception as e:  # noqa: BLE001 -- any other type is the violation being counted
            violations.append(f"{what}: {type(e).__name__}: {e}")
            return
        violations.append(f"{what}: returned instead of raising ValueError")

    bad_problems = [([], 5), ([1, 2], 5.0), ([1, 2], True), ([1, 2], "5"), ([1.0, 2], 3), ([True, 2], 3), ("12", 3),
                    ([1, None], 3), (None, 3), ([1, 2], None), ([1, 2], 5.5), ({1: 2}, 3)]
    text = "<answer>1 + 2</answer>"
    for numbers, target in bad_problems:
        for name in ("countdown_reward", "graduated_reward"):
            expect_value_error(f"{name}({numbers!r}, {target!r})", getattr(cd, name), text, numbers, target)
        expect_value_error(f"length_penalized_reward({numbers!r}, {target!r})", cd.length_penalized_reward, text,
                           numbers, target, 10)
        for key, fn in (("countdown_reward_func", trl.countdown_reward_func),
                        ("graduated_reward_func", trl.graduated_reward_func)):
            expect_value_error(f"{key}(numbers=[{numbers!r}], target=[{target!r}])", fn, prompts=["p"],
                               completions=[text], completion_ids=[[1]], numbers=[numbers], target=[target])
    for bad in (None, 5, b"<answer>1</answer>", ["<answer>1</answer>"], {"content": "x"}):
        expect_value_error(f"extract_answer({bad!r})", cd.extract_answer, bad)
        n["checks"] += 1
        if cd.parse_expression(bad) is not None or cd.evaluate_expression(bad) is not None:
            violations.append(f"parse/evaluate_expression({bad!r}) is not None")
    for bad in (None, 5, [], [{"role": "assistant"}], [{"content": 5}], [[]], ("x",)):
        expect_value_error(f"completion_text({bad!r})", trl.completion_text, bad)
    for bad_len in (-1, 1.5, True, None):
        expect_value_error(f"length_penalized_reward(num_tokens={bad_len!r})", cd.length_penalized_reward, text,
                           [1, 2], 3, bad_len)
    expect_value_error("length_penalized_reward(base='nope')", cd.length_penalized_reward, text, [1, 2], 3, 5, base="nope")
    expect_value_error("soft_overlong_punishment(cache_len > max_len)", cd.soft_overlong_punishment, 5, 10, 20)
    expect_value_error("make_soft_overlong_reward_func(10, 0)", trl.make_soft_overlong_reward_func, 10, 0)
    expect_value_error("countdown_reward_func(numbers missing)", trl.countdown_reward_func, prompts=["p"],
                       completions=[text], completion_ids=[[1]], numbers=None, target=[3])
    expect_value_error("countdown_reward_func(column too short)", trl.countdown_reward_func, prompts=["p", "q"],
                       completions=[text, text], completion_ids=[[1], [2]], numbers=[[1, 2]], target=[3, 3])
    return {"n_checks": n["checks"], "violations": violations, "n_violations": len(violations)}


# ----------------------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------------------

def _weighted(rng: random.Random, table: dict) -> str:
    names = list(table)
    weights = [table[n][0] if isinstance(table[n], tuple) else table[n] for n in names]
    return rng.choices(names, weights)[0]


def make_group(rng: random.Random, problems, group_size: int, enormous_rate: float):
    """One group: (problem, [(label, completion, body)]); label is "body/wrapper" or "enormous/kind/chars"."""
    numbers, target, solution = rng.choice(problems)
    items = []
    for _ in range(group_size):
        if rng.random() < enormous_rate:
            kind, text = enormous(rng, numbers, solution)
            label, body = f"enormous/{kind}/{len(text)}", None
        else:
            b = _weighted(rng, BODIES)
            w = _weighted(rng, WRAPPERS)
            body = BODIES[b][1](rng, numbers, target, solution)
            other = rng.choice([body_random_expr, body_empty, body_python])(rng, numbers, target, solution)
            text, label = wrap(rng, w, body, other), f"{b}/{w}"
        completion = [{"role": "assistant", "content": text}] if rng.random() < 0.3 else text
        items.append((label, completion, body))
    return (numbers, target, solution), items


def fuzz(n_completions: int, seed: int = 0, group_size: int = 8, hang_seconds: float = 10.0,
         enormous_rate: float = 0.005, progress: bool = False) -> dict:
    """Run the fuzz (see the module docstring) and return the summary. Every exception of a function under
    test is caught, counted and the run goes on, so one bug does not hide the next."""
    if n_completions < 1 or group_size < 1:
        raise ValueError(f"need n_completions >= 1 and group_size >= 1, got {n_completions}, {group_size}")
    rng = random.Random(seed)
    problems = make_problems(seed)
    tally = Tally()
    stats: Counter = Counter()
    categories: Counter = Counter()
    known_correct = Counter()
    slowest = {"seconds": 0.0}
    slowest_group = {"seconds": 0.0}
    largest = 0
    old = signal.signal(signal.SIGALRM, _alarm)
    t_start = time.perf_counter()
    done = 0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n_completions, desc="completions", mininterval=2.0)
    try:
        while done < n_completions:
            (numbers, target, solution), items = make_group(rng, problems, min(group_size, n_completions - done),
                                                            enormous_rate)
            reference_length = rng.choice([1, 20, 200, 1000])
            max_len = rng.choice([1, 16, 256, 1024, 4096])
            overlong = (max_len, rng.randint(1, max_len))
            direct, ids, labels = [], [], []
            for label, completion, body in items:
                text = completion if isinstance(completion, str) else completion[-1]["content"]
                n_tok = rng.choice([0, 1, len(text) // 4, rng.randint(0, 8191)]) % len(IDS)
                ids.append(IDS[:n_tok])
                labels.append(label)
                first, second = label.split("/")[:2]
                if first == "enormous":
                    categories[f"enormous:{second}"] += 1
                else:
                    categories[f"body:{first}"] += 1
                    categories[f"wrapper:{second}"] += 1
                categories["conversational"] += not isinstance(completion, str)
                largest = max(largest, len(text))
                t0 = tally.call_seconds
                signal.setitimer(signal.ITIMER_REAL, hang_seconds)
                try:
                    d = check_completion(tally, label, completion, body, numbers, target, n_tok, reference_length,
                                         overlong, stats)
                except Hang as e:
                    tally.exception(e, "(a completion's calls)", label, completion)
                    d = {}
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                dt = tally.call_seconds - t0
                direct.append(d)
                if label.startswith("solution/") and label.split("/")[1] in PRESERVING and solution is not None:
                    known_correct["n"] += 1
                    known_correct["rewarded_1.0"] += d.get("countdown_reward") == 1.0
                if dt > slowest["seconds"]:
                    slowest = {"seconds": dt, "category": label, "chars": len(text), "completion": shown(completion, 120)}
            prompts = [cd.make_prompt(numbers, target, "search")] * len(items)
            t0 = tally.call_seconds
            signal.setitimer(signal.ITIMER_REAL, hang_seconds * len(items))
            try:
                check_group_trl(tally, labels, [c for _, c, _ in items], prompts, ids, numbers, target, solution,
                                reference_length, overlong, direct)
            except Hang as e:
                tally.exception(e, "(a group's TRL calls)", labels[0], items[0][1])
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            dt = tally.call_seconds - t0
            if dt > slowest_group["seconds"]:
                slowest_group = {"seconds": dt, "group_size": len(items), "largest_chars": max(
                    len(c if isinstance(c, str) else c[-1]["content"]) for _, c, _ in items)}
            done += len(items)
            if bar is not None:
                bar.update(len(items))
    finally:
        signal.signal(signal.SIGALRM, old)
        if bar is not None:
            bar.close()
    wall = time.perf_counter() - t_start
    contract = contract_checks()
    ranges = {k: v for k, v in tally.failures.items() if k.startswith("range:") or k.startswith("trl_shape:")}
    mismatches = {k: v for k, v in tally.failures.items() if k not in ranges}
    n_failures = sum(tally.exceptions.values()) + sum(tally.failures.values()) + contract["n_violations"]
    return {
        "n_completions": done, "seed": seed, "group_size": group_size, "hang_seconds": hang_seconds,
        "enormous_rate": enormous_rate, "n_problems": len(problems),
        "exceptions": dict(tally.exceptions), "n_exceptions": sum(tally.exceptions.values()),
        "first_exception": tally.first_exception,
        "range_violations": ranges, "n_range_violations": sum(ranges.values()),
        "mismatches": mismatches, "n_mismatches": sum(mismatches.values()), "failure_examples": tally.examples,
        "contract": contract, "n_failures": n_failures,
        "known_correct": dict(known_correct),
        "reward_values": dict(sorted(stats.items())),
        "categories": dict(sorted(categories.items())),
        "largest_completion_chars": largest,
        "slowest_completion": slowest, "slowest_group_trl_calls": slowest_group,
        "wall_seconds": round(wall, 2), "completions_per_second": round(done / wall, 1) if wall > 0 else None,
        "seconds_in_functions_under_test": round(tally.call_seconds, 2),
        "completions_per_second_in_functions_under_test":
            round(done / tally.call_seconds, 1) if tally.call_seconds > 0 else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-completions", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--group-size", type=int, default=8, help="completions per problem (a GRPO group)")
    parser.add_argument("--hang-seconds", type=float, default=10.0,
                        help="a completion whose calls take longer is stopped and counted as Hang")
    parser.add_argument("--enormous-rate", type=float, default=0.005, help="share of 1 KB - 1 MB completions")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON summary here")
    parser.add_argument("--progress", action="store_true", help="a tqdm progress bar")
    args = parser.parse_args(argv)
    summary = fuzz(args.n_completions, args.seed, args.group_size, args.hang_seconds, args.enormous_rate,
                   progress=args.progress)
    summary["command"] = " ".join(["benchmarks/fuzz_countdown.py", *(argv if argv is not None else sys.argv[1:])])
    from ordebug_lib.provenance import git_state

    summary["git"] = git_state(ROOT)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=2, ensure_ascii=True) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "first_exception"}, indent=2, ensure_ascii=True))
    for name, e in summary["first_exception"].items():
        print(f"\n== first {name} ({e['where']}, {e['category']}, completion {e['completion']}):\n{e['traceback']}",
              file=sys.stderr)
    return 1 if summary["n_failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
