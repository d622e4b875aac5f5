"""Countdown rewards shaped as TRL ``GRPOTrainer`` reward functions.

TRL 1.16 calls every reward function as::

    reward_func(prompts=prompts, completions=completions, completion_ids=completion_ids, **reward_kwargs)

where ``reward_kwargs`` holds every dataset column except ``prompt`` (here ``numbers``, ``target``,
``solution``) repeated per completion, plus ``trainer_state``, ``log_extra`` and ``log_metric``. It expects
one float per completion back. The functions here take **keyword-only** arguments and read ``numbers``
and ``target`` by name, so an argument can never land in the wrong slot (the earlier study's DGRO
wrapper passed them positionally in swapped order and trained on noise; brief §3.1). They never add noise.
The columns must hold ints (numpy integers count): a float or string target is refused with ValueError,
never rounded (:func:`problem_of`).

Completions may be plain strings (standard format) or a list of messages (conversational format:
``[{"role": "assistant", "content": "…"}]``); the text of the last message is scored.
"""
from __future__ import annotations

from collections.abc import Mapping
from numbers import Integral
from typing import Any, Callable, Sequence

from .countdown import (BASE_REWARDS, countdown_reward, graduated_reward, length_penalized_reward, length_penalty_factor,
                        soft_overlong_punishment)


def completion_text(completion: Any) -> str:
    """Text of one TRL completion: the string itself, or the ``content`` of the last message.

    Example: ``completion_text([{"role": "assistant", "content": "<answer>1</answer>"}]) == "<answer>1</answer>"``
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        content = completion[-1].get("content")
        if isinstance(content, str):
            return content
    raise ValueError(
        "a completion must be a string or a non-empty list of messages whose last 'content' is a string; "
        f"got {completion!r:.200}"
    )


def _check_lengths(completions: Sequence, **columns: Sequence) -> None:
    n = len(completions)
    for name, col in columns.items():
        if col is None:
            raise ValueError(f"reward function needs the dataset column {name!r}, which TRL did not pass")
        if len(col) != n:
            raise ValueError(f"column {name!r} has {len(col)} entries but there are {n} completions")


def _as_int(x: Any, what: str) -> int:
    # numpy integers (a datasets column) are ints; a float, a string or a bool is a broken column, and
    # int() would have rounded 75.5 to 75 or read "75" as 75 without a word
    if isinstance(x, bool) or not isinstance(x, Integral):
        raise ValueError(f"{what} must be an int, got {x!r} ({type(x).__name__})")
    return int(x)


def problem_of(numbers: Any, target: Any) -> tuple[list[int], int]:
    """One row's ``numbers`` and ``target`` columns as a list of ints and an int; ValueError otherwise.

    Example: ``problem_of((3, 7), 10) == ([3, 7], 10)``; ``problem_of([3, 7], 10.0)`` raises ValueError.
    """
    if isinstance(numbers, (str, bytes, Mapping)) or not hasattr(numbers, "__iter__"):
        raise ValueError(f"numbers must be a sequence of ints, got {numbers!r:.200}")
    return [_as_int(n, "every number") for n in numbers], _as_int(target, "target")


def _score(fn: Callable[[str, Sequence[int], int], float], completions, numbers, target) -> list[float]:
    _check_lengths(completions, numbers=numbers, target=target)
    return [float(fn(completion_text(c), *problem_of(nums, t))) for c, nums, t in zip(completions, numbers, target)]


def countdown_reward_func(*, completions: Sequence, numbers: Sequence, target: Sequence, **kwargs) -> list[float]:
    """TRL reward: :func:`ordebug_lib.tasks.countdown.countdown_reward` (1.0 / 0.1 / 0.0) per completion."""
    return _score(countdown_reward, completions, numbers, target)


def graduated_reward_func(*, completions: Sequence, numbers: Sequence, target: Sequence, **kwargs) -> list[float]:
    """TRL reward: :func:`ordebug_lib.tasks.countdown.graduated_reward` per completion."""
    return _score(graduated_reward, completions, numbers, target)


def make_length_penalized_reward_func(reference_length: int = 200, base: str = "graduated") -> Callable[..., list[float]]:
    """TRL reward: base reward · (0.8 + 0.2·min(1, reference_length / n_tokens)), n_tokens = len(completion_ids[i]).

    Counting uses TRL's ``completion_ids`` (the policy's own tokens, EOS included when generated), not a
    re-tokenisation of the text.
    """
    if base not in BASE_REWARDS:  # validate the parameters now, not at the first step
        raise ValueError(f"unknown base reward {base!r}; expected one of {sorted(BASE_REWARDS)}")
    length_penalty_factor(0, reference_length)

    def length_penalized_reward_func(
        *, completions: Sequence, completion_ids: Sequence, numbers: Sequence, target: Sequence, **kwargs
    ) -> list[float]:
        _check_lengths(completions, numbers=numbers, target=target, completion_ids=completion_ids)
        return [
            float(length_penalized_reward(completion_text(c), *problem_of(nums, t), len(ids), reference_length, base))
            for c, ids, nums, t in zip(completions, completion_ids, numbers, target)
        ]

    length_penalized_reward_func.__name__ = f"length_penalized_{base}_reward_func"
    return length_penalized_reward_func


def make_soft_overlong_reward_func(max_len: int, cache_len: int) -> Callable[..., list[float]]:
    """TRL reward term: DAPO soft overlong punishment (arXiv 2503.14476 Eq. 13) of len(completion_ids[i]).

    Add it next to a task reward (TRL sums reward functions with ``reward_weights``); ``max_len`` should be
    the trainer's ``max_completion_length``.
    """
    soft_overlong_punishment(0, max_len, cache_len)  # validate the parameters now, not at the first step

    def soft_overlong_reward_func(*, completion_ids: Sequence, **kwargs) -> list[float]:
        return [soft_overlong_punishment(len(ids), max_len, cache_len) for ids in completion_ids]

    return soft_overlong_reward_func


REWARD_FUNCS: dict[str, Callable[..., list[float]]] = {
    "countdown": countdown_reward_func,
    "graduated": graduated_reward_func,
}
