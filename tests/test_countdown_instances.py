"""Exhaustive solver, seeded generator, disjoint splits, prompt templates."""
import random
from fractions import Fraction

import pytest

from ordebug_lib.tasks.countdown import (
    CountdownInstance,
    check_disjoint,
    evaluate_expression,
    generate_instance,
    generate_instances,
    make_prompt,
    make_splits,
    reachable_values,
    solve,
    to_records,
    uses_each_number_once,
)


def test_reachable_values_two_numbers():
    # 2 and 3: 2+3 = 5, 2·3 = 6, 2−3 = −1, 3−2 = 1, 2/3, 3/2
    assert reachable_values([2, 3]) == {Fraction(5), Fraction(6), Fraction(-1), Fraction(1), Fraction(2, 3), Fraction(3, 2)}
    # 0 and 4: 4, 0, −4, 4, 0/4 = 0 (4/0 undefined) → {4, 0, −4}
    assert reachable_values([0, 4]) == {Fraction(4), Fraction(0), Fraction(-4)}


def test_reachable_values_three_numbers_by_hand():
    # [1, 1, 1]: pairs give {2, 1, 0} (1/1 = 1); combining with the last 1: from 2 → 3, 2, 1, −1, 2, 1/2;
    # from 1 → 2, 1, 0, 0, 1, 1; from 0 → 1, 0, −1, 1, 0 (0/1) → {3, 2, 1, 0, −1, 1/2}
    assert reachable_values([1, 1, 1]) == {Fraction(x) for x in (3, 2, 1, 0, -1)} | {Fraction(1, 2)}


@pytest.mark.parametrize(
    "numbers, target",
    [([2, 3, 4], 14), ([3, 7, 25, 50], 75), ([1, 3, 4, 6], 24), ([1, 5, 5, 5], 24), ([3, 3, 8, 8], 24)],
)
def test_solve_finds_verified_solutions(numbers, target):
    # 24 from [1, 3, 4, 6] needs 6/(1 − 3/4); [1, 5, 5, 5] needs (5 − 1/5)·5; [3, 3, 8, 8] needs 8/(3 − 8/3)
    expr = solve(numbers, target)
    assert expr is not None
    assert evaluate_expression(expr) == target
    assert uses_each_number_once(expr, numbers)


def test_solve_proves_unsolvable():
    # [1, 1, 1] reaches at most 3 (see above), so 100 is impossible; [1, 1] → {2, 1, 0} so 5 is impossible
    assert solve([1, 1, 1], 100) is None
    assert solve([1, 1], 5) is None
    assert Fraction(100) not in reachable_values([1, 1, 1])


def test_generator_is_seeded_and_verified():
    a = generate_instances(30, seed=7, num_numbers=(3, 4), number_range=(1, 50), target_range=(10, 60))
    b = generate_instances(30, seed=7, num_numbers=(3, 4), number_range=(1, 50), target_range=(10, 60))
    assert a == b
    assert a != generate_instances(30, seed=8, num_numbers=(3, 4), number_range=(1, 50), target_range=(10, 60))
    assert {len(i.numbers) for i in a} == {3, 4}
    assert len({i.key for i in a}) == 30  # distinct problems
    for inst in a:
        assert all(1 <= n <= 50 for n in inst.numbers) and 10 <= inst.target <= 60
        assert evaluate_expression(inst.solution) == inst.target
        assert uses_each_number_once(inst.solution, inst.numbers)


def test_generator_sizes_and_errors():
    rng = random.Random(0)
    assert len(generate_instance(rng, num_numbers=3).numbers) == 3
    with pytest.raises(ValueError):
        generate_instance(rng, num_numbers=1)
    with pytest.raises(ValueError):
        generate_instance(rng, number_range=(10, 1))
    # [1..2]² gives at most {1, 2, 3, 4, 0, −1, 1/2} → 50..60 unreachable: refuses instead of looping forever
    with pytest.raises(ValueError, match="no solvable instance"):
        generate_instance(rng, num_numbers=2, number_range=(1, 2), target_range=(50, 60), max_tries=50)


def test_splits_are_disjoint():
    train, test = make_splits(40, 15, seed=3, num_numbers=(3, 4))
    assert len(train) == 40 and len(test) == 15
    train_keys, test_keys = {i.key for i in train}, {i.key for i in test}
    assert not train_keys & test_keys
    # a permuted copy of a training problem is the same problem (key sorts the numbers)
    first = train[0]
    permuted = CountdownInstance(tuple(reversed(first.numbers)), first.target, first.solution)
    with pytest.raises(ValueError, match="split 0 and split 1"):
        check_disjoint(train, [permuted])
    # excluding keys keeps a new pool out of an old one
    extra = generate_instances(15, seed=99, num_numbers=(3, 4), exclude_keys=train_keys | test_keys)
    assert not {i.key for i in extra} & (train_keys | test_keys)


def test_prompts_and_records():
    assert make_prompt([2, 3, 4], 14, "search") == (
        "Make 14 from [2, 3, 4] with + - * /, using each number once. Search, then answer."
    )
    think = make_prompt([2, 3, 4], 14)
    assert "[2, 3, 4]" in think and "equals 14" in think and "<answer>" in think
    inst = CountdownInstance((2, 3, 4), 14, "2 * (3 + 4)")
    (row,) = to_records([inst])
    assert row == {"prompt": think, "numbers": [2, 3, 4], "target": 14, "solution": "2 * (3 + 4)"}
    (conv,) = to_records([inst], conversational=True)
    assert conv["prompt"] == [{"role": "user", "content": think}]
    with pytest.raises(ValueError):
        make_prompt([2, 3], 5, "nope")
