"""Countdown: reach a target number with + − × ÷ using each given number exactly once.

Contents
- safe arithmetic: :func:`parse_expression`, :func:`evaluate_expression` (an AST walk over integer
  literals, never Python's ``eval``), :func:`expression_numbers`;
- rewards: :func:`countdown_reward` (seeds/004 §1: 1.0 / 0.1 / 0.0), :func:`graduated_reward`
  (seeds/004 §4.2), :func:`length_penalized_reward` (seeds/004 §4.2), :func:`soft_overlong_punishment`
  (DAPO, arXiv 2503.14476 Eq. 13);
- instances: :class:`CountdownInstance`, an exhaustive solver (:func:`reachable_values`, :func:`solve`),
  a seeded generator (:func:`generate_instances`), disjoint train/test splits (:func:`make_splits`),
  prompt templates (:func:`make_prompt`, :func:`to_records`).

TRL-shaped reward callables live in :mod:`ordebug_lib.tasks.countdown_trl`, search-stream traces for the
warm start in :mod:`ordebug_lib.tasks.countdown_streams`.
"""
from __future__ import annotations

import ast
import random
import re
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from math import gcd
from typing import Callable, Iterable, Sequence

# ----------------------------------------------------------------------------------------------------
# Safe arithmetic
# ----------------------------------------------------------------------------------------------------

MAX_EXPRESSION_CHARS = 256  # Countdown answers are ~30 characters; anything much longer is not an answer
MAX_VALUE_BITS = 1024  # bound on |numerator| and |denominator| of every intermediate value
_ALLOWED_CHARS = re.compile(r"[0-9+\-*/() \t\r\n]*")
_UNICODE_OPERATORS = {"×": "*", "÷": "/", "−": "-"}
_BINARY_OPS: dict[type, Callable[[Fraction, Fraction], Fraction]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}


def _normalise(expr: str) -> str:
    for uni, ascii_op in _UNICODE_OPERATORS.items():
        expr = expr.replace(uni, ascii_op)
    return expr.strip()


def parse_expression(expr: str, max_chars: int = MAX_EXPRESSION_CHARS) -> ast.expr | None:
    """Parse ``expr`` into an AST made only of binary + − * / over non-negative integer literals.

    Returns None (never raises) for anything else: non-strings, names, calls, attribute access, powers,
    ``//`` and ``%``, unary plus/minus (so ``-3`` and ``+-3`` are rejected: Countdown has no negation),
    floats, ``1_000``, hex, leading zeros (``07``, as in Python), comparisons, ``=``, empty input, input longer
    than ``max_chars``, syntax errors, nesting too deep for Python's parser.
    The characters ``×``, ``÷`` and ``−`` are read as ``*``, ``/`` and ``-``.

    Example: ``parse_expression("(1 + 2) * 3")`` → BinOp tree; ``parse_expression("2 ** 3")`` → None.
    """
    if not isinstance(expr, str):
        return None
    text = _normalise(expr)
    if not text or len(text) > max_chars or not _ALLOWED_CHARS.fullmatch(text):
        return None
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # malformed model output → not an expression
        return None
    stack = [tree.body]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY_OPS:
            stack.extend((node.left, node.right))
        elif isinstance(node, ast.Constant) and type(node.value) is int:
            continue
        else:
            return None
    return tree.body


def _value(node: ast.expr) -> Fraction | None:
    if isinstance(node, ast.Constant):
        return Fraction(node.value)
    left, right = _value(node.left), _value(node.right)
    if left is None or right is None:
        return None
    if isinstance(node.op, ast.Div) and right == 0:
        return None
    out = _BINARY_OPS[type(node.op)](left, right)
    if out.numerator.bit_length() > MAX_VALUE_BITS or out.denominator.bit_length() > MAX_VALUE_BITS:
        return None
    return out


def evaluate_expression(expr: str, max_chars: int = MAX_EXPRESSION_CHARS) -> Fraction | None:
    """Exact value of an arithmetic expression over integer literals, or None.

    Grammar and rejections as in :func:`parse_expression`; additionally None on division by zero anywhere
    and on intermediate values larger than 2**1024. Arithmetic is exact (``fractions.Fraction``), so
    ``"(1 + 2) / 3 * 3" → Fraction(3)`` and ``"1 / 3"`` → ``Fraction(1, 3)`` (no float rounding). Never
    uses ``eval``/``exec``; never raises on a string.

    Examples: ``"25 - 5 * 4" → 5``; ``"(7 - 3) * 25 - 50" → 50``; ``"4 / (2 - 2)" → None``;
    ``"__import__('os')" → None``; ``"2 ** 10" → None``; ``"-3 + 5" → None``; ``"1.5 * 2" → None``.
    """
    tree = parse_expression(expr, max_chars)
    if tree is None:
        return None
    try:
        return _value(tree)
    except RecursionError:  # a pathologically deep tree is not a Countdown answer
        return None


def expression_numbers(expr: str, max_chars: int = MAX_EXPRESSION_CHARS) -> list[int] | None:
    """Integer literals of a well-formed expression, in reading order; None if it does not parse.

    Example: ``expression_numbers("(7 - 3) * 25 - 50") == [7, 3, 25, 50]``
    """
    tree = parse_expression(expr, max_chars)
    if tree is None:
        return None
    return _in_order(tree)


def _in_order(tree: ast.expr) -> list[int]:
    out: list[int] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Constant):
            out.append(node.value)
        else:
            stack.extend((node.right, node.left))
    return out


def uses_each_number_once(expr: str, numbers: Sequence[int]) -> bool:
    """True iff the expression parses and its literals are exactly the multiset ``numbers``.

    Every given number must appear, and appear once (a number given twice must be used twice).
    Example: numbers [3, 3, 5]: "3 * 3 + 5" → True, "3 * 5" → False, "3 * 3 * 3 + 5" → False.
    """
    used = expression_numbers(expr)
    return used is not None and Counter(used) == Counter(numbers)


# ----------------------------------------------------------------------------------------------------
# Rewards
# ----------------------------------------------------------------------------------------------------

_OPEN, _CLOSE = "<answer>", "</answer>"


def extract_answer(completion: str) -> str | None:
    """Text inside the **last** complete ``<answer>…</answer>`` pair, or None when there is none.

    Pairs are read left to right, each opening tag with the first closing tag after it, the search going
    on after that closing tag: the pairs ``re.findall(r"<answer>(.*?)</answer>", completion, re.DOTALL)``
    finds. An opening tag without its closing tag (e.g. a truncated completion) is not an answer; the tags
    are case-sensitive. Runs in time linear in the length of the completion (that regex is quadratic on a
    flood of opening tags with no closing one: 13.6 s for 128 KB of ``<answer>``, found by
    ``benchmarks/fuzz_countdown.py``).

    Examples: ``extract_answer("<answer>1+2</answer> no, <answer>3*1</answer>") == "3*1"``;
    ``extract_answer("<answer><answer>2</answer></answer>") == "<answer>2"``;
    ``extract_answer("<answer>1+2</answer><answer>5") == "1+2"``.
    """
    if not isinstance(completion, str):
        raise ValueError(f"completion must be a string, got {type(completion).__name__}")
    found, start = None, 0
    while (i := completion.find(_OPEN, start)) >= 0:
        j = completion.find(_CLOSE, i + len(_OPEN))
        if j < 0:  # no closing tag after this one, hence none after any later opening tag either
            break
        found, start = completion[i + len(_OPEN):j], j + len(_CLOSE)
    return found


def _check_problem(numbers: Sequence[int], target: int) -> None:
    if isinstance(numbers, (str, bytes)) or not isinstance(numbers, Sequence) or len(numbers) == 0:
        raise ValueError(f"numbers must be a non-empty sequence of ints, got {numbers!r}")
    if any(type(n) is not int for n in numbers):
        raise ValueError(f"numbers must all be ints, got {numbers!r}")
    if type(target) is not int:
        raise ValueError(f"target must be an int, got {target!r}")


def countdown_reward(completion: str, numbers: Sequence[int], target: int) -> float:
    """The seed Countdown reward (seeds/004 §3.4, §4.2 "Current reward structure"): 1.0 / 0.1 / 0.0.

    - 1.0: the last ``<answer>`` holds an expression that uses each given number exactly once and whose
      exact value equals ``target``;
    - 0.1: an answer tag is present but the answer is wrong or invalid (wrong value, wrong numbers,
      unparsable, division by zero, …);
    - 0.0: no complete ``<answer>…</answer>`` pair.

    Examples with numbers [3, 7, 25, 50], target 75:
    ``"<think>…</think> <answer>(7 * 25 + 50) / 3</answer>"`` → 1.0 ((175 + 50) / 3 = 75);
    ``"<answer>50 + 25</answer>"`` → 0.1 (3 and 7 unused); ``"<answer>(7 * 25 + 50) / 3 = 75</answer>"``
    → 0.1 (an equation, not an expression); ``"<answer>50 + 25 + 7 - 7</answer>"`` → 0.1 (7 twice, 3 unused);
    ``"<answer>(7 * 25 + 50) / 3"`` (no closing tag) → 0.0; ``"75"`` → 0.0.
    """
    _check_problem(numbers, target)
    answer = extract_answer(completion)
    if answer is None:
        return 0.0
    value = evaluate_expression(answer)
    if value is not None and value == target and uses_each_number_once(answer, numbers):
        return 1.0
    return 0.1


def graduated_reward(completion: str, numbers: Sequence[int], target: int) -> float:
    """Graduated Countdown reward (seeds/004 §4.2 "Graduated Rewards"), first matching rule wins:

    ======  ==================================================================================
    1.0     numbers valid and value == target exactly
    0.7     numbers valid, value defined and |value − target| < 0.1·|target|
    0.5     numbers valid, value defined and |value − target| < 0.5·|target|
    0.3     numbers valid (each given number used exactly once) but the value is wrong or undefined
    0.1     an answer tag is present (anything else inside it)
    0.0     no complete ``<answer>…</answer>`` pair
    ======  ==================================================================================

    "Numbers valid" requires the answer to parse as an expression (:func:`uses_each_number_once`), so
    ``"2 + 3 * 4 = 14"`` (an equation, not an expression) is 0.1; a parsable answer that divides by zero
    with the right numbers is 0.3. Bounds are strict as in seeds/004: with target 100, value 110 is not
    within 10% (error 10 is not < 10) and gets 0.5.

    Examples, numbers [3, 7, 25, 50], target 75 (10% = 7.5, 50% = 37.5):
    "(7 * 25 + 50) / 3" → 1.0; "3 - 7 + 25 + 50" = 71, error 4 → 0.7; "(25 - 7) * 3 + 50" = 104,
    error 29 → 0.5; "50 + 25 * 3 - 7" = 118, error 43 → 0.3; "50 * 3 / (25 - 25 + 7 - 7)" → 0.1
    (25 and 7 twice); "50 + 25" → 0.1; no tag → 0.0.
    """
    _check_problem(numbers, target)
    answer = extract_answer(completion)
    if answer is None:
        return 0.0
    if not uses_each_number_once(answer, numbers):
        return 0.1
    value = evaluate_expression(answer)
    if value is not None:
        error = abs(value - target)
        if error == 0:
            return 1.0
        if error < abs(Fraction(target)) * Fraction(1, 10):
            return 0.7
        if error < abs(Fraction(target)) * Fraction(1, 2):
            return 0.5
    return 0.3


BASE_REWARDS: dict[str, Callable[[str, Sequence[int], int], float]] = {
    "graduated": graduated_reward,
    "binary": countdown_reward,
}


def length_penalty_factor(num_tokens: int, reference_length: int = 200) -> float:
    """0.8 + 0.2·min(1, reference_length / num_tokens) (seeds/004 §4.2 "Length-Normalized Rewards").

    Completions up to ``reference_length`` tokens keep the full reward (factor 1.0); longer ones lose up to
    20%: 400 tokens → 0.8 + 0.2·0.5 = 0.9; 1000 tokens → 0.8 + 0.2·0.2 = 0.84. num_tokens = 0 → 1.0.
    """
    if type(num_tokens) is not int or num_tokens < 0:
        raise ValueError(f"num_tokens must be a non-negative int, got {num_tokens!r}")
    if reference_length <= 0:
        raise ValueError(f"reference_length must be positive, got {reference_length}")
    if num_tokens <= reference_length:
        return 1.0
    return 0.8 + 0.2 * (reference_length / num_tokens)


def length_penalized_reward(
    completion: str,
    numbers: Sequence[int],
    target: int,
    num_tokens: int,
    reference_length: int = 200,
    base: str = "graduated",
) -> float:
    """base_reward · :func:`length_penalty_factor` (num_tokens, reference_length), base ∈ {graduated, binary}.

    Example: a correct answer in 400 tokens → 1.0 · 0.9 = 0.9; a 0.5-reward answer in 100 tokens → 0.5.
    """
    if base not in BASE_REWARDS:
        raise ValueError(f"unknown base reward {base!r}; expected one of {sorted(BASE_REWARDS)}")
    return BASE_REWARDS[base](completion, numbers, target) * length_penalty_factor(num_tokens, reference_length)


def soft_overlong_punishment(length: int, max_len: int, cache_len: int) -> float:
    """DAPO soft overlong punishment (arXiv 2503.14476 Eq. 13), added to the task reward:

        0                                   if length ≤ max_len − cache_len
        ((max_len − cache_len) − length) / cache_len   if max_len − cache_len < length ≤ max_len
        −1                                  if length > max_len

    Example, max_len 20, cache_len 4: length 16 → 0; 18 → (16 − 18)/4 = −0.5; 20 → −1.0; 21 → −1.
    """
    for name, v in (("length", length), ("max_len", max_len), ("cache_len", cache_len)):
        if type(v) is not int:
            raise ValueError(f"{name} must be an int, got {v!r}")
    if length < 0 or cache_len <= 0 or cache_len > max_len:
        raise ValueError(f"need length ≥ 0 and 0 < cache_len ≤ max_len; got {length}, {max_len}, {cache_len}")
    expected_max = max_len - cache_len
    if length <= expected_max:
        return 0.0
    if length <= max_len:
        return (expected_max - length) / cache_len
    return -1.0


# ----------------------------------------------------------------------------------------------------
# Instances, exhaustive solver, generator, splits
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CountdownInstance:
    """One problem: reach ``target`` from ``numbers``; ``solution`` is one verified expression."""

    numbers: tuple[int, ...]
    target: int
    solution: str

    @property
    def key(self) -> tuple[tuple[int, ...], int]:
        """Order-free identity used for de-duplication and split disjointness: (sorted numbers, target)."""
        return tuple(sorted(self.numbers)), self.target


Rational = tuple[int, int]  # (numerator, denominator > 0) in lowest terms: hashes and compares fast


def _rat(num: int, den: int) -> Rational | None:
    if den == 0:
        return None
    if den < 0:
        num, den = -num, -den
    g = gcd(num, den)
    return num // g, den // g


def _combine(a: Rational, b: Rational) -> Iterable[tuple[str, Rational, bool]]:
    """(operator, value, swapped) for the six ordered operations on a and b; swapped means "b op a"."""
    (an, ad), (bn, bd) = a, b
    yield "+", _rat(an * bd + bn * ad, ad * bd), False
    yield "*", _rat(an * bn, ad * bd), False
    yield "-", _rat(an * bd - bn * ad, ad * bd), False
    yield "-", _rat(bn * ad - an * bd, ad * bd), True
    if bn != 0:
        yield "/", _rat(an * bd, ad * bn), False
    if an != 0:
        yield "/", _rat(bn * ad, bd * an), True


def _value_table(numbers: Sequence[int], stop_at: Rational | None = None) -> tuple[dict, bool]:
    """Bottom-up table mask → {value: how it was made} over all subsets of ``numbers``.

    A value is made either from a leaf (index,) or from (op, left_mask, left_value, right_mask, right_value).
    With ``stop_at``, the full set stops as soon as that value appears (returns found=True).
    """
    n = len(numbers)
    full_mask = (1 << n) - 1
    table: dict[int, dict[Rational, tuple]] = {1 << i: {(x, 1): (i,)} for i, x in enumerate(numbers)}
    for mask in sorted(range(1, full_mask + 1), key=lambda m: bin(m).count("1")):
        if mask in table:
            continue
        values: dict[Rational, tuple] = {}
        table[mask] = values
        sub = (mask - 1) & mask
        while sub:
            other = mask ^ sub
            if sub < other:  # each unordered split once; _combine tries both operand orders
                for a in table[sub]:
                    for b in table[other]:
                        for op, v, swapped in _combine(a, b):
                            if v is None or v in values:
                                continue
                            values[v] = (op, other, b, sub, a) if swapped else (op, sub, a, other, b)
                            if mask == full_mask and v == stop_at:
                                return table, True
            sub = (sub - 1) & mask
    return table, False


def _expression(table: dict, numbers: Sequence[int], mask: int, value: Rational, top: bool = True) -> str:
    how = table[mask][value]
    if len(how) == 1:
        return str(numbers[how[0]])
    op, lm, lv, rm, rv = how
    text = f"{_expression(table, numbers, lm, lv, False)} {op} {_expression(table, numbers, rm, rv, False)}"
    return text if top else f"({text})"


def reachable_values(numbers: Sequence[int]) -> set[Fraction]:
    """Every exact value reachable with + − × ÷ using **each** number exactly once.

    Exhaustive: any expression tree splits its numbers into two disjoint non-empty subsets at the root, and
    the root value depends only on the two sub-values, so building the value sets of all subsets bottom-up
    (over all splits and all six ordered operations) enumerates every reachable value. Intermediate values
    may be fractions (the reward evaluates exactly, so ``(1 / 3 + 2) * 3`` is a legal way to make 7).
    No unary minus, matching :func:`evaluate_expression`.

    Example: ``reachable_values([2, 3]) == {5, 6, −1, 1, 2/3, 3/2}``.
    """
    _check_problem(list(numbers), 0)
    if len(numbers) > 6:
        raise ValueError(f"the exhaustive solver handles at most 6 numbers, got {len(numbers)}")
    table, _ = _value_table(numbers)
    return {Fraction(n, d) for n, d in table[(1 << len(numbers)) - 1]}


def solve(numbers: Sequence[int], target: int) -> str | None:
    """An expression using each number exactly once that evaluates to ``target``, or None if none exists
    (a proof of unsolvability, since the search of :func:`reachable_values` is exhaustive).

    Examples: ``solve([2, 3, 4], 14)`` → e.g. ``"2 * (3 + 4)"``; ``solve([1, 1, 1], 100)`` → None.
    """
    _check_problem(numbers, target)
    if len(numbers) > 6:
        raise ValueError(f"the exhaustive solver handles at most 6 numbers, got {len(numbers)}")
    goal = (target, 1)
    table, found = _value_table(numbers, stop_at=goal)
    if not found:
        return None
    return _expression(table, numbers, (1 << len(numbers)) - 1, goal)


def _pick_size(num_numbers: int | Sequence[int], rng: random.Random) -> int:
    sizes = [num_numbers] if isinstance(num_numbers, int) else list(num_numbers)
    if not sizes or any(type(s) is not int or s < 2 for s in sizes):
        raise ValueError(f"num_numbers must be an int ≥ 2 or a sequence of them, got {num_numbers!r}")
    return rng.choice(sizes)


def generate_instance(
    rng: random.Random,
    num_numbers: int | Sequence[int] = (3, 4),
    number_range: tuple[int, int] = (1, 99),
    target_range: tuple[int, int] = (10, 100),
    max_tries: int = 10_000,
) -> CountdownInstance:
    """Sample numbers and a target uniformly (inclusive ranges) until the target is provably reachable.

    The count of numbers is drawn once from ``num_numbers`` (so (3, 4) gives a 50/50 mix even though
    3-number draws are rejected more often); rejection sampling then keeps the target uniform over
    ``target_range`` among solvable draws; the stored
    solution comes from the exhaustive solver and is re-checked with :func:`evaluate_expression`.
    """
    lo, hi = number_range
    tlo, thi = target_range
    if not (0 <= lo <= hi and tlo <= thi):
        raise ValueError(f"bad ranges number_range={number_range}, target_range={target_range}")
    size = _pick_size(num_numbers, rng)  # chosen once, so the size mix is not skewed by rejections
    for _ in range(max_tries):
        numbers = tuple(rng.randint(lo, hi) for _ in range(size))
        target = rng.randint(tlo, thi)
        solution = solve(numbers, target)
        if solution is not None:
            if evaluate_expression(solution) != target or not uses_each_number_once(solution, numbers):
                raise AssertionError(f"solver produced an invalid solution {solution!r} for {numbers} → {target}")
            return CountdownInstance(numbers, target, solution)
    raise ValueError(f"no solvable instance found in {max_tries} tries for ranges {number_range}, {target_range}")


def generate_instances(
    n: int,
    seed: int = 0,
    num_numbers: int | Sequence[int] = (3, 4),
    number_range: tuple[int, int] = (1, 99),
    target_range: tuple[int, int] = (10, 100),
    exclude_keys: Iterable[tuple] = (),
) -> list[CountdownInstance]:
    """``n`` distinct solvable instances (distinct by :attr:`CountdownInstance.key`), seeded and reproducible.

    Instances whose key is in ``exclude_keys`` are never returned (used to keep splits disjoint).
    """
    if type(n) is not int or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    rng = random.Random(seed)
    seen = set(exclude_keys)
    out: list[CountdownInstance] = []
    stale = 0
    while len(out) < n:
        inst = generate_instance(rng, num_numbers, number_range, target_range)
        if inst.key in seen:
            stale += 1
            if stale > 100 * (n + 10):
                raise ValueError(f"could only find {len(out)} distinct instances of {n} in these ranges")
            continue
        seen.add(inst.key)
        out.append(inst)
    return out


def check_disjoint(*splits: Sequence[CountdownInstance]) -> None:
    """Raise ValueError if any two splits share a problem (same sorted numbers and target)."""
    seen: dict[tuple, int] = {}
    for i, split in enumerate(splits):
        for inst in split:
            j = seen.setdefault(inst.key, i)
            if j != i:
                raise ValueError(f"instance {inst.key} is in split {j} and split {i}")


def make_splits(
    n_train: int, n_test: int, seed: int = 0, **generator_kwargs
) -> tuple[list[CountdownInstance], list[CountdownInstance]]:
    """Disjoint train and test sets: one pool of distinct instances, shuffled, cut in two; checked.

    Example: ``train, test = make_splits(1000, 200, seed=0, num_numbers=(3, 4))``.
    """
    pool = generate_instances(n_train + n_test, seed=seed, **generator_kwargs)
    random.Random(seed + 1).shuffle(pool)
    train, test = pool[:n_train], pool[n_train:]
    check_disjoint(train, test)
    return train, test


# ----------------------------------------------------------------------------------------------------
# Prompts
# ----------------------------------------------------------------------------------------------------

PROMPT_TEMPLATES = {
    # seeds/004 style: reasoning in <think>, final equation in <answer>
    "think": (
        "Using the numbers {numbers}, create an equation that equals {target}. You can use + - * / and "
        "parentheses, and each number must be used exactly once. Think step by step inside <think> </think> "
        "tags, then give only the final equation inside <answer> </answer> tags, for example "
        "<answer>(1 + 2) * 3</answer>."
    ),
    # short prompt for search-stream warm starts (the trace itself is the reasoning)
    "search": "Make {target} from {numbers} with + - * /, using each number once. Search, then answer.",
}


def make_prompt(numbers: Sequence[int], target: int, template: str = "think") -> str:
    """Render a prompt. Example: ``make_prompt([2, 3, 4], 14, "search")`` →
    ``"Make 14 from [2, 3, 4] with + - * /, using each number once. Search, then answer."``
    """
    if template not in PROMPT_TEMPLATES:
        raise ValueError(f"unknown prompt template {template!r}; expected one of {sorted(PROMPT_TEMPLATES)}")
    _check_problem(list(numbers), target)
    return PROMPT_TEMPLATES[template].format(numbers=list(numbers), target=target)


def to_records(
    instances: Iterable[CountdownInstance], template: str = "think", conversational: bool = False
) -> list[dict]:
    """Dataset rows with the columns TRL reward callables read: ``prompt``, ``numbers``, ``target``, ``solution``.

    ``conversational=True`` gives ``prompt = [{"role": "user", "content": …}]`` (TRL applies the chat
    template); otherwise ``prompt`` is the plain string.
    """
    rows = []
    for inst in instances:
        text = make_prompt(inst.numbers, inst.target, template)
        prompt = [{"role": "user", "content": text}] if conversational else text
        rows.append({"prompt": prompt, "numbers": list(inst.numbers), "target": inst.target, "solution": inst.solution})
    return rows
