"""A benchmark instance: the original model, its sabotaged copy and the recorded ground truth."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .model import LinearModel

ERROR_TYPES = {
    "A": "sense flip (<= <-> >=)",
    "B": "variable type changed (integer <-> continuous)",
    "C": "coefficient changed or term removed",
    "D": "contradicting constraint added",
    "E": "multi-constraint conflict (two or more repairs needed)",
    "F": "hidden dependency (conflict through linking constraints / auxiliary variables)",
    "G": "cascading conflict (repairing one reveals the next)",
    "H": "root cause is a variable bound",
    "I": "several repairs restore feasibility, only one keeps the original optimum",
}
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
    error_type: str  # "A".."I"
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
