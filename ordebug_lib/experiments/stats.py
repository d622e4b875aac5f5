"""How large a difference between two rates must be before a report calls it a change."""
from __future__ import annotations

import math


def noise_band(p1: float, p2: float, n: int, z: float = 2.0) -> float:
    """z standard errors of the difference of two rates measured on ``n`` episodes each (binomial, the
    same evaluation set), and never less than one episode (1/n).

    >>> round(noise_band(0.162, 0.200, 101), 3)   # DA of two policies on 101 test instances
    0.108
    >>> noise_band(0.0, 0.0, 101) == 1 / 101
    True
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    se = math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / n)
    return max(z * se, 1.0 / n)


def first_last_means(series, frac: float = 0.25) -> tuple[float, float]:
    """Means of the first and the last ``frac`` of a per-step series (at least one step each).

    >>> import pandas as pd
    >>> first_last_means(pd.Series([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]))
    (1.5, 7.5)
    """
    k = max(1, int(round(len(series) * frac)))
    return float(series.iloc[:k].mean()), float(series.iloc[-k:].mean())
