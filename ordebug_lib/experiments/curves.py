"""Figures of per-step RL training logs (``training/logging.py`` rows), one line per run."""
from __future__ import annotations

from typing import Sequence


def plot_step_curves(curves, panels: Sequence[tuple[str, str]], by: str = "arm", smooth: int = 1, ncols: int = 2,
                     title: str | None = None):
    """A grid of panels, each one logged key against the optimizer step, one line per ``by`` value.
    ``panels``: (column, y label) pairs; ``smooth``: centred rolling mean over this many steps (1: raw).
    A run that never logged a key is left out of that panel (never drawn as zeros); with no logged step at all
    (no trained arm) each panel says so."""
    import matplotlib.pyplot as plt

    n = len(panels)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.5 * ncols, 3.6 * nrows), squeeze=False)
    for ax, (col, label) in zip(axes.flat, panels):
        for name, g in curves.sort_values("step").groupby(by, sort=False):
            if col not in g or g[col].isna().all():
                continue
            y = g[col].astype(float).rolling(smooth, center=True, min_periods=1).mean()
            ax.plot(g["step"], y, label=str(name), lw=1.4, marker="o" if len(g) < 10 else None)
        ax.set(xlabel="optimizer step", ylabel=label)
        if curves.empty:
            ax.text(0.5, 0.5, "no trained arm in this run", ha="center", va="center", transform=ax.transAxes)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.remove()
    seen = {}
    for ax in list(axes.flat)[:n]:  # every run once, whichever panel drew it
        for h, lbl in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(lbl, h)
    handles, labels = list(seen.values()), list(seen)
    fig.legend(handles, labels, loc="lower center", ncol=min(4, max(1, len(labels))), fontsize=8,
               bbox_to_anchor=(0.5, -0.02 - 0.03 * (len(labels) // 4)))
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig
