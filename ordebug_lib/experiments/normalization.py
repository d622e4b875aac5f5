"""The figures of notebook ``01_normalization_math``: who gets the gradient under each loss aggregation, and the
advantages each estimator gives the same reward groups.

The notebook computes the numbers with the package's own functions (``losses.weights_by_length``,
``advantages.advantages_by_method``); the figures read them as tables, so that they can be drawn again from
what a run recorded:

========================  ========================================================  ============================
figure                    table (one row per)                                       columns
========================  ========================================================  ============================
token_weight_figure       completion of one batch, per L_max and loss type          L_max, loss_type, length,
                                                                                    token_weight, alpha (hybrid)
sequence_weight_figure    the same                                                  L_max, loss_type, length,
                                                                                    sequence_weight (L_i · w_i)
advantages_figure         reward group and estimator (``reports/advantages.csv``)   group, method, a1..aG,
                                                                                    kept_by_dynamic_sampling;
                                                                                    beside it each group's rewards
========================  ========================================================  ============================

Lines and bars come in the tables' row order (the notebook's: ``losses.LOSS_TYPES``, ``advantages.METHODS``).
The committed ``reports/token_weights.csv`` holds only each batch's shortest and longest completion, so
``weights_from_metrics`` rebuilds the whole weight table from the run's ``metrics.json`` (every length's
weight, recorded by the notebook) and checks it against that CSV; ``rewards_from_metrics`` gives the reward
groups, which ``advantages.csv`` does not hold.
"""
from __future__ import annotations

from typing import Mapping, Sequence

COLORS = {"grpo": "tab:blue", "dr_grpo": "tab:red", "dapo": "tab:green", "hybrid": "tab:purple", "krpo": "tab:orange",
          "dgro": "tab:brown"}


def _weight_panels(weights, column: str):
    import matplotlib.pyplot as plt
    import numpy as np

    budgets = list(dict.fromkeys(weights["L_max"]))
    fig, axes = plt.subplots(1, len(budgets), figsize=(4.2 * len(budgets), 3.6), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, L_max in zip(axes, budgets):
        for loss_type in dict.fromkeys(weights["loss_type"]):
            d = weights[(weights.L_max == L_max) & (weights.loss_type == loss_type)]
            ax.plot(d.length, d[column], marker="o", ms=3, label=loss_type, color=COLORS[loss_type],
                    ls="--" if loss_type == "hybrid" else "-")
    return fig, axes, budgets


def token_weight_figure(weights, batch_size: int):
    """Per-token gradient weight against the completion's length, one panel per L_max (log-log); the hybrid's
    α (``alpha`` of its rows) in each panel's title."""
    fig, axes, budgets = _weight_panels(weights, "token_weight")
    for ax, L_max in zip(axes, budgets):
        alpha = weights.loc[(weights.L_max == L_max) & (weights.loss_type == "hybrid"), "alpha"].iloc[0]
        ax.set(xscale="log", yscale="log", xlabel="completion length L_i (tokens)",
               title=f"L_max = {L_max}, α = {alpha:.2f}")
    axes[0].set_ylabel("gradient weight per token")
    axes[0].legend()
    fig.suptitle(f"Per-token gradient weight in one batch of B = {batch_size} completions")
    fig.tight_layout()
    return fig


def sequence_weight_figure(weights):
    """Total weight of each completion (L_i · w_i) against its length, one panel per L_max."""
    fig, axes, budgets = _weight_panels(weights, "sequence_weight")
    for ax, L_max in zip(axes, budgets):
        ax.set(xlabel="completion length L_i (tokens)", title=f"L_max = {L_max}")
    axes[0].set_ylabel("total weight of the completion (L_i · w_i)")
    axes[0].legend()
    fig.suptitle("How much of the batch's gradient each completion carries")
    fig.tight_layout()
    return fig


def advantages_figure(advantages, rewards: Mapping[str, Sequence[float]]):
    """One panel per reward group: each completion's advantage under every estimator, the group's rewards
    (``rewards[group]``, in generation order) under the bars; a group dynamic sampling drops says so."""
    import matplotlib.pyplot as plt
    import numpy as np

    groups, methods = list(dict.fromkeys(advantages["group"])), list(dict.fromkeys(advantages["method"]))
    G = sum(1 for c in advantages.columns if c[0] == "a" and c[1:].isdigit())
    by = advantages.set_index(["group", "method"])
    n = len(groups)
    cols = 3
    fig, axes = plt.subplots(int(np.ceil(n / cols)), cols, figsize=(4.6 * cols, 3.2 * np.ceil(n / cols)), sharey=True)
    x = np.arange(G)
    width = 0.8 / len(methods)
    for ax, name in zip(axes.flat, groups):
        r, kept = rewards[name], bool(by.loc[(name, methods[0]), "kept_by_dynamic_sampling"])
        for k, method in enumerate(methods):
            ax.bar(x + (k - (len(methods) - 1) / 2) * width, by.loc[(name, method), [f"a{i + 1}" for i in range(G)]]
                   .to_numpy(dtype=float), width, label=method, color=COLORS[method])
        ax.axhline(0, color="black", lw=0.6)
        ax.set_xticks(x, [f"{v:g}" for v in r], fontsize=8)
        ax.set_title(name + ("" if kept else "  [dropped by dynamic sampling]"), fontsize=9)
        ax.set_xlabel("reward of each completion (generation order)", fontsize=8)
    for ax in axes.flat[n:]:
        ax.axis("off")
    axes.flat[0].set_ylabel("advantage")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(f"Advantages of the same reward groups (G = {G})")
    fig.tight_layout()
    return fig



def weights_from_metrics(metrics: Mapping, committed=None):
    """The weight table (columns of ``token_weight_figure``) from a run's ``metrics.json``: per L_max (in
    ``committed``'s order, else ascending) and loss type (``committed``'s order, else the notebook's) each
    length's weight, a scalar for DR-GRPO and DAPO (the same for every token). With ``committed`` (the run's
    ``token_weights.csv``), every row of it must be in the table, same weights: else ValueError."""
    import pandas as pd

    budgets = ([int(b) for b in dict.fromkeys(committed["L_max"])] if committed is not None
               else sorted(int(k) for k in metrics["weights"]))
    loss_types = (list(dict.fromkeys(committed["loss_type"])) if committed is not None
                  else ["grpo", "dr_grpo", "dapo", "hybrid"])
    rows = []
    for L_max in budgets:
        w = metrics["weights"][str(L_max)]
        for loss_type in loss_types:
            weights = w[f"{loss_type}_token_weight"]
            for i, L in enumerate(w["lengths"]):
                wi = weights[i] if isinstance(weights, list) else weights
                rows.append({"L_max": L_max, "loss_type": loss_type, "length": int(L), "token_weight": wi,
                             "sequence_weight": wi * L, "alpha": w["hybrid_alpha"] if loss_type == "hybrid" else None})
    table = pd.DataFrame(rows)
    if committed is not None:
        both = committed.merge(table, on=["L_max", "loss_type", "length"], how="left", suffixes=("", "_metrics"))
        bad = both[~(both["token_weight"].sub(both["token_weight_metrics"]).abs() <= 1e-12 * both["token_weight"].abs())
                   | ~(both["sequence_weight"].sub(both["sequence_weight_metrics"]).abs()
                       <= 1e-12 * both["sequence_weight"].abs())]
        if len(bad):
            raise ValueError(f"the metrics are not the run of the committed token weights: {len(bad)} rows differ, "
                             f"first {bad.iloc[0][['L_max', 'loss_type', 'length']].to_dict()}")
    return table


def rewards_from_metrics(metrics: Mapping) -> dict:
    """Each reward group's rewards, in generation order, from a run's ``metrics.json``."""
    return {name: a["rewards"] for name, a in metrics["advantages"].items()}


__all__ = ["COLORS", "advantages_figure", "rewards_from_metrics", "sequence_weight_figure", "token_weight_figure",
           "weights_from_metrics"]
