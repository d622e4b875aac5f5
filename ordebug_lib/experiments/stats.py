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


# -- paired tests and goodness of fit --------------------------------------------------------------------
Z_POWER = 2.8  # z_{0.975} + z_{0.80}: a two-sided 5% test with 80% power (1.96 + 0.84)


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z.

    >>> round(normal_sf(1.96), 4), normal_sf(0.0)
    (0.025, 0.5)
    """
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def paired_test(a, b) -> dict:
    """Paired comparison of two policies' per-instance values (same instances, same order): the mean
    difference a - b, its standard error, the two-sided p-value of a z test (n is in the hundreds), and
    the minimum detectable effect ``Z_POWER * se``: the smallest true difference this many instances would
    detect at 5% with 80% power. Below it, an absent effect is "not detected", not "none".

    >>> t = paired_test([1, 1, 0, 1, 0, 1, 1, 0], [0, 1, 0, 0, 0, 1, 0, 0])
    >>> t["n"], t["diff"], round(t["se"], 3), round(t["p"], 3), round(t["mde"], 3)
    (8, 0.375, 0.183, 0.04, 0.512)
    """
    import numpy as np

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError(f"paired_test needs two equal-length series of at least 2 values, got {a.shape} and {b.shape}")
    if np.isnan(a).any() or np.isnan(b).any():
        raise ValueError("paired_test: missing values")
    d = a - b
    se = float(d.std(ddof=1)) / math.sqrt(len(d))
    diff = float(d.mean())
    p = 1.0 if se == 0 and diff == 0 else 0.0 if se == 0 else 2 * normal_sf(abs(diff) / se)
    return {"n": len(d), "a": float(a.mean()), "b": float(b.mean()), "diff": diff, "se": se, "p": p,
            "mde": Z_POWER * se}


def seed_se(*seed_means) -> float:
    """Standard error of a difference of means across training seeds: ``sqrt(Σ sd²/n)`` over the sides with
    at least 2 seeds (Welch). A side with one seed counts as fixed (the warm start or SFT checkpoint that every
    arm starts from, evaluated once and greedily); NaN when no side has 2 seeds. A paired per-problem test
    averages each problem over the seeds, so its SE holds the problems' noise, not the seeds': with 3 seeds, a
    difference beyond the problem CI can still be one the training seeds scatter by.

    >>> round(seed_se([0.1611, 0.1855, 0.1768], [0.1553, 0.1592, 0.1689]), 4)   # E1 v2, DR-GRPO vs GRPO at 1024
    0.0082
    >>> round(seed_se([0.155, 0.159, 0.169], [0.166]), 4), seed_se([0.2], [0.1]) != seed_se([0.2], [0.1])
    (0.0042, True)
    """
    import numpy as np

    parts = [np.var(np.asarray(s, dtype=float), ddof=1) / len(s) for s in seed_means if len(s) >= 2]
    return float(math.sqrt(sum(parts))) if parts else float("nan")


SEED_SPREAD = "within the seed spread"
"""The verdict of a difference beyond the paired problem CI but smaller than 1.96 between-seed SEs."""


def verdict(diff: float, se: float, seed_se_: float = float("nan")) -> str:
    """"beyond the CI" when the 95% paired CI (diff ± 1.96 se) excludes 0 and, where seeds tell (``seed_se``
    not NaN), |diff| ≥ 1.96 seed SE too; ``SEED_SPREAD`` when only the problem CI excludes 0; else "not
    detected" (never "no": below the MDE an effect can hide).

    >>> verdict(0.0133, 0.0060), verdict(0.0133, 0.0060, 0.0082), verdict(0.0133, 0.0060, 0.005), verdict(0.01, 0.01)
    ('beyond the CI', 'within the seed spread', 'beyond the CI', 'not detected')
    """
    if not abs(diff) > 1.96 * se:
        return "not detected"
    if seed_se_ == seed_se_ and abs(diff) < 1.96 * seed_se_:
        return SEED_SPREAD
    return "beyond the CI"


def instances_for_mde(mde: float, sd: float = 0.4) -> int:
    """Instances a paired comparison needs to detect ``mde`` (5%, 80% power) when the per-instance
    differences have standard deviation ``sd`` (0.4: two binary metrics that disagree on ~16-20% of the
    instances; measured on the v1 ladder: 101 instances gave an MDE of about 11 points).

    >>> instances_for_mde(0.06), instances_for_mde(0.11)
    (349, 104)
    """
    return math.ceil((Z_POWER * sd / mde) ** 2)


def chi2_sf(x: float, df: int) -> float:
    """P(X > x) for X chi-square with ``df`` degrees of freedom: the regularized upper incomplete gamma
    Q(df/2, x/2), by its series below a + 1 and its continued fraction above (Numerical Recipes §6.2).

    >>> round(chi2_sf(3.841, 1), 4), round(chi2_sf(11.345, 3), 4), round(chi2_sf(0.0, 2), 4)
    (0.05, 0.01, 1.0)
    """
    if df < 1:
        raise ValueError(f"df must be >= 1, got {df}")
    if x <= 0:
        return 1.0
    a, y = df / 2.0, x / 2.0
    log_front = a * math.log(y) - y - math.lgamma(a)
    if y < a + 1:  # P(a, y) by its series; Q = 1 - P
        term = total = 1.0 / a
        k = a
        while abs(term) > abs(total) * 1e-15:
            k += 1
            term *= y / k
            total += term
        return max(0.0, 1.0 - total * math.exp(log_front))
    tiny = 1e-300  # Q(a, y) by Lentz's continued fraction
    b = y + 1 - a
    c, d = 1 / tiny, 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return min(1.0, h * math.exp(log_front))


def uniform_rank_test(ranks, bins: int = 4) -> dict:
    """Is an item's rank uniform among the ranks it could have had? ``ranks`` holds (rank, out_of) pairs
    with 0 <= rank < out_of (e.g. the root's place among the IIS rows). Each rank becomes the quantile
    (rank + 0.5) / out_of in one of ``bins`` equal bins; the expected count of a bin sums, over the
    pairs, the share of that pair's possible ranks that fall in it, so small ``out_of`` (2 or 3 IIS rows)
    is no bias. Pearson's chi-square over the bins with some expectation, df = those bins - 1.

    >>> t = uniform_rank_test([(r, 4) for r in range(4)] * 10)
    >>> t["chi2"], t["p"], t["observed"]
    (0.0, 1.0, [10, 10, 10, 10])
    >>> uniform_rank_test([(3, 4)] * 20)["p"] < 1e-6      # always the last one
    True
    """
    ranks = [(int(r), int(m)) for r, m in ranks]
    if not ranks:
        raise ValueError("uniform_rank_test needs at least one (rank, out_of) pair")
    bad = [(r, m) for r, m in ranks if not 0 <= r < m]
    if bad:
        raise ValueError(f"ranks must satisfy 0 <= rank < out_of, got {bad[:3]}")

    def bin_of(r: int, m: int) -> int:
        return min(bins - 1, int((r + 0.5) / m * bins))

    observed, expected = [0] * bins, [0.0] * bins
    for r, m in ranks:
        observed[bin_of(r, m)] += 1
        for q in range(m):
            expected[bin_of(q, m)] += 1.0 / m
    used = [k for k in range(bins) if expected[k] > 0]
    chi2 = sum((observed[k] - expected[k]) ** 2 / expected[k] for k in used)
    df = len(used) - 1
    return {"n": len(ranks), "observed": observed, "expected": [round(e, 2) for e in expected],
            "chi2": round(chi2, 4), "df": df, "p": chi2_sf(chi2, df) if df >= 1 else 1.0}
