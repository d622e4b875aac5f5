"""Where notebooks put what they produce, so the runner can check it and publish it.

A run directory looks like::

    runs/<notebook>/<profile>/<run_id>/
        <notebook>.ipynb      executed notebook (written by the runner)
        provenance.json       params, commit, device, versions, wall time (runner)
        metrics.json          headline numbers (notebook)
        figures/*.png|pdf     figures (notebook, via save_figure)
        reports/*.md|csv      report tables and the data they are built from (notebook)

Only the ``gpu`` profile is published into the committed ``figures/`` and ``reports/`` folders
(``python -m ordebug_lib.run NB --profile gpu --publish``); every other profile stays in its run folder.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping


def _dir(run_dir: str | Path, sub: str | None = None) -> Path:
    p = Path(run_dir) / sub if sub else Path(run_dir)
    p.mkdir(parents=True, exist_ok=True)
    return p


def _jsonable(x: Any) -> Any:
    """Convert numpy/torch scalars and containers to plain JSON; reject NaN/inf loudly."""
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "item") and callable(x.item) and getattr(x, "ndim", 0) == 0:
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        raise ValueError(f"refusing to write non-finite metric value {x!r}")
    return x


def write_metrics(run_dir: str | Path, metrics: Mapping[str, Any], name: str = "metrics.json") -> Path:
    """Write ``metrics`` as pretty JSON into the run directory (non-finite values raise)."""
    path = _dir(run_dir) / name
    path.write_text(json.dumps(_jsonable(metrics), indent=2, sort_keys=True) + "\n")
    return path


def save_figure(fig, run_dir: str | Path, name: str, formats: tuple[str, ...] = ("png", "pdf")) -> list[Path]:
    """Save a matplotlib figure as ``figures/<name>.<fmt>`` for every format (PNG and PDF by default)."""
    out = []
    for fmt in formats:
        path = _dir(run_dir, "figures") / f"{name}.{fmt}"
        fig.savefig(path, dpi=150, bbox_inches="tight")
        out.append(path)
    return out


def write_table(df, run_dir: str | Path, name: str, caption: str | None = None, floatfmt: str = ".4g") -> Path:
    """Write a pandas DataFrame as ``reports/<name>.md`` (markdown) and ``reports/<name>.csv`` (data)."""
    rep = _dir(run_dir, "reports")
    df.to_csv(rep / f"{name}.csv", index=False)
    md = df.to_markdown(index=False, floatfmt=floatfmt)
    if caption:
        md = f"{caption}\n\n{md}"
    path = rep / f"{name}.md"
    path.write_text(md + "\n")
    return path
