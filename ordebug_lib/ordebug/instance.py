"""A benchmark instance: the original model, its sabotaged copy and the recorded ground truth."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field

from .error_types import ERROR_TYPES as _REGISTRY
from .model import LinearModel


class _Descriptions(Mapping):
    """Letter -> description of every error type, read live from the registry ``error_types.ERROR_TYPES``
    (also ``saboteur.ERROR_TYPES``)."""

    @staticmethod
    def _registry():
        return _REGISTRY

    def __getitem__(self, letter: str) -> str:
        return self._registry()[letter].description

    def __iter__(self) -> Iterator[str]:
        return iter(self._registry())

    def __len__(self) -> int:
        return len(self._registry())

    def __repr__(self) -> str:
        return repr(dict(self))


ERROR_TYPES: Mapping[str, str] = _Descriptions()
"""Letter -> one-line description of each error type, in the benchmark's order: a read-only view of the
registry ``error_types.ERROR_TYPES``, which also holds each type's search and checks."""
DIFFICULTIES = ("easy", "medium", "hard")


@dataclass
class Instance:
    """One OR-Debug problem.

    ``root_cause`` lists diagnosis tokens (constraint names, ``<var>.lb``/``.ub``/``.type``) that a
    correct SUBMIT must name. ``true_repair`` is a list of action lines (actions.py grammar) that turns
    ``sabotaged`` back into a model whose optimum equals ``original_objective``.
    """

    id: str
    family: str
    error_type: str  # a letter of error_types.ERROR_TYPES
    difficulty: str  # easy / medium / hard
    naming: str  # semantic / random
    seed: int
    original: LinearModel
    sabotaged: LinearModel
    root_cause: list[str]
    true_repair: list[str]
    original_objective: float
    meta: dict = field(default_factory=dict)

    def index_row(self) -> dict:
        """Everything but the two models (they go to MPS files), for the JSONL index."""
        d = asdict(self)
        d.pop("original")
        d.pop("sabotaged")
        n, m = self.sabotaged.size
        d.update(n_vars=n, n_constrs=m, is_mip=self.sabotaged.is_mip,
                 fingerprint=self.sabotaged.fingerprint(names=False))
        return d
