"""Choose on val, report on test: the one place that decides which split a choice may read.

Everything that *chooses* — an SFT recipe, a ``keep_best`` checkpoint, an RL hyper-parameter, the best
arm of a sweep — reads the val split. The test split is read once, for the report; a choice made on it
would make the reported number an optimistic one (the winner of many draws on the same instances).

    >>> choose({"lr=5e-5": 0.31, "lr=5e-4": 0.02}, split="val", what="the E1 learning rate")
    'lr=5e-5'
    >>> choose({"a": 1.0}, split="test", what="the E1 learning rate")
    Traceback (most recent call last):
    ...
    ordebug_lib.selection.SelectionError: the E1 learning rate would be chosen on the test split; choices read the val split (test is read once, for the report)
"""
from __future__ import annotations

from typing import Iterable, Mapping

CHOICE_SPLIT = "val"


class SelectionError(ValueError):
    """A choice was about to read a split other than val."""


def check_choice_split(split: str | None, what: str) -> None:
    """Refuse a choice (``what`` names it) that would read ``split`` instead of val."""
    if split != CHOICE_SPLIT:
        raise SelectionError(f"{what} would be chosen on the {split} split; choices read the {CHOICE_SPLIT} split "
                             "(test is read once, for the report)")


def check_instances_for_choice(instances: Iterable, what: str) -> None:
    """Every instance a choice reads is a val-split one (``meta['split']``, set by the benchmark builder)."""
    for inst in instances:
        split = inst.meta.get("split")
        if split != CHOICE_SPLIT:
            check_choice_split(split, f"{what} (instance {inst.id})")


def choose(scores: Mapping[str, float], split: str, what: str, higher_is_better: bool = True) -> str:
    """The key of the best score, measured on ``split`` (val only); ties go to the first key given."""
    check_choice_split(split, what)
    if not scores:
        raise ValueError(f"{what}: nothing to choose from")
    sign = 1.0 if higher_is_better else -1.0
    return max(scores, key=lambda k: sign * scores[k])


__all__ = ["CHOICE_SPLIT", "SelectionError", "check_choice_split", "check_instances_for_choice", "choose"]
