"""Countdown rewards shaped as TRL ``GRPOTrainer`` reward functions.

TRL 1.16 calls every reward function as::

    reward_func(prompts=prompts, completions=completions, completion_ids=completion_ids, **reward_kwargs)

where ``reward_kwargs`` holds every dataset column except ``prompt`` (here ``numbers``, ``target``,
``solution``) repeated per completion, plus ``trainer_state``, ``log_extra`` and ``log_metric``. It expects
one float per completion back. The functions here take **keyword-only** arguments and read ``numbers``
and ``target`` by name, so an argument can never land in the wrong slot (the earlier study's DGRO
wrapper passed them positionally in swapped order and trained on noise; brief §3.1). They never add noise.

Completions may be plain strings (standard format) or a list of messages (conversational format:
``[{"role": "assistant", "content": "…"}]``); the text of the last message is scored.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from .countdown import countdown_reward, graduated_reward, length_penalized_reward, soft_overlong_punishment


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


def _score(fn: Callable[[str, Sequence[int], int], float], completions, numbers, target) -> list[float]:
    _check_lengths(completions, numbers=numbers, target=target)
    return [float(fn(completion_text(c), list(nums), int(t))) for c, nums, t in zip(completions, numbers, target)]


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

    def length_penalized_reward_func(
        *, completions: Sequence, completion_ids: Sequence, numbers: Sequence, target: Sequence, **kwargs
    ) -> list[float]:
        _check_lengths(completions, numbers=numbers, target=target, completion_ids=completion_ids)
        return [
            float(length_penalized_reward(completion_text(c), list(nums), int(t), len(ids), reference_length, base))
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
