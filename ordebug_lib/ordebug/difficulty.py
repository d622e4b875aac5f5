"""The difficulty levels of OR-Debug instances: the structure an instance of each level has, which the
saboteur's search aims at (``error_search``) and ``validation`` checks (docs/ordebug_benchmark.md)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Difficulty:
    """Structure an instance of this level has (checked by ``validate``).

    size: family size tier of the base model (1: 5-12 variables, 2: 13-24, 3: 25-40).
    n_errors: injected errors for the multi-error types (``ErrorType.multi``: E and G; the others inject one).
    iis: inclusive range of the first IIS's size (constraints + bounds).
    f_depth: inclusive range of the conflict depth for type F (see ``conflict_depth``).
    """

    size: int
    n_errors: int
    iis: tuple[int, int]
    f_depth: tuple[int, int]


DIFFICULTY = {
    "easy": Difficulty(size=1, n_errors=2, iis=(1, 10), f_depth=(2, 2)),
    "medium": Difficulty(size=2, n_errors=2, iis=(2, 10 ** 6), f_depth=(2, 3)),
    "hard": Difficulty(size=3, n_errors=3, iis=(3, 10 ** 6), f_depth=(3, 10 ** 6)),
}
