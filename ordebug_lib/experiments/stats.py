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


def paired_gap(frame, z: float = 2.0) -> dict:
    """A policy's gap to a baseline over several runs on the same instances, paired by instance.

    ``frame`` has one row per (run, instance): columns ``run``, ``instance_id``, ``policy`` and
    ``baseline`` (the two policies' values on that episode). Each instance's gap is averaged over the
    runs first, so the band is ``z`` standard errors of the mean over *instances*. Runs on the same
    instances are not independent, and pooling them as more episodes would narrow the band falsely. The
    band is never less than one instance (1/n). Every run must cover the same instances, with no
    missing values.

    >>> import pandas as pd
    >>> f = pd.DataFrame({"run": [0, 0, 1, 1], "instance_id": ["a", "b", "a", "b"],
    ...                   "policy": [1.0, 1.0, 1.0, 0.0], "baseline": [0.0, 0.0, 0.0, 0.0]})
    >>> g = paired_gap(f)
    >>> g["gap"], g["runs"], g["instances"], round(g["band"], 3)   # gaps per instance 1.0 and 0.5
    (0.75, 2, 2, 0.5)
    """
    missing = {"run", "instance_id", "policy", "baseline"} - set(frame.columns)
    if missing:
        raise ValueError(f"paired_gap needs columns {sorted(missing)}")
    if frame[["policy", "baseline"]].isna().any().any():
        raise ValueError("paired_gap: missing policy or baseline values")
    if frame.duplicated(["run", "instance_id"]).any():
        raise ValueError("paired_gap: an instance appears twice in one run")
    per_run = frame.groupby("run")["instance_id"].apply(frozenset)
    if per_run.nunique() != 1:
        raise ValueError("paired_gap: the runs do not cover the same instances")
    gaps = (frame["policy"] - frame["baseline"]).groupby(frame["instance_id"]).mean()  # (instances,)
    n = len(gaps)
    se = float(gaps.std(ddof=1)) / math.sqrt(n) if n > 1 else float("inf")
    return {"runs": len(per_run), "instances": n, "policy": float(frame["policy"].mean()),
            "baseline": float(frame["baseline"].mean()), "gap": float(gaps.mean()), "band": max(z * se, 1.0 / n)}
