"""Record what the arms of a stopped E1 run (notebook 10) trained, when it stopped before their evaluations:
per-step curves, stage timings, training trends and skipped non-finite updates, from the arms' own logs.

    python scripts/e1_training_record.py [TAG=]RUN_DIR ... OUT_DIR

Every arm with a ``metrics.jsonl`` counts, finished or not (``steps`` says how far it got); its held-out
accuracy is listed only where its ``eval.json`` exists, and nothing is compared with a warm start the run did not
evaluate. TAG (default: the run directory's name) names each run when several are recorded together.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ordebug_lib.experiments.countdown_e1 import E1Arm, arm_curve_rows, curve_trends, stage_timings  # noqa: E402


def arm_curves(run: Path, tag: str):
    import pandas as pd

    rows, evals = [], []
    for d in sorted((run / "arms").iterdir()):
        arm = E1Arm(**json.loads((d / "spec.json").read_text())["arm"])
        if not arm.trains or not (d / "metrics.jsonl").exists():
            continue
        rows += [{"run": tag, **r} for r in arm_curve_rows(d, arm)]
        if (d / "eval.json").exists():
            e = json.loads((d / "eval.json").read_text())
            evals.append({"run": tag, "arm": arm.name, **{k: e[k] for k in ("n", "accuracy", "val_n", "val_accuracy",
                                                                          "mean_output_tokens") if k in e}})
    return pd.DataFrame(rows), pd.DataFrame(evals)


def record(runs: dict[str, Path], out: Path) -> dict:
    import pandas as pd

    frames = [arm_curves(run, tag) for tag, run in runs.items()]
    curves = pd.concat([c for c, _ in frames], ignore_index=True)
    evals = pd.concat([e for _, e in frames], ignore_index=True)
    out.mkdir(parents=True, exist_ok=True)
    curves["nonfinite"] = curves["nonfinite_keys"].map(lambda k: ",".join(k) if isinstance(k, list) else "")
    curves.drop(columns=["nonfinite_keys"]).to_csv(out / "curves.csv", index=False)
    tables = tables_from(curves)
    for name, t in tables.items():
        t.to_csv(out / f"{name}.csv", index=False)
    evals.to_csv(out / "evals.csv", index=False)
    return {"curves": curves, "evals": evals, **tables}


def tables_from(curves) -> dict:
    """The per-run tables, recomputed from ``curves.csv`` alone (the committed record's test does this)."""
    import pandas as pd

    timing = pd.concat([stage_timings(g).assign(run=tag) for tag, g in curves.groupby("run", sort=True)])
    trends = pd.concat([curve_trends(g).assign(run=tag) for tag, g in curves.groupby("run", sort=True)])
    bad = curves[curves["nonfinite"].fillna("") != ""]
    first_bad = (bad.groupby(["run", "arm"])["step"].min().rename("first non-finite step").reset_index()
                 if len(bad) else pd.DataFrame(columns=["run", "arm", "first non-finite step"]))
    return {"stage_timings": timing.reset_index(drop=True), "trends": trends.reset_index(drop=True),
            "nonfinite": first_bad}


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    *specs, out = sys.argv[1:]
    runs = dict(s.split("=", 1) if "=" in s else (Path(s).name, s) for s in specs)
    record({k: Path(v) for k, v in runs.items()}, Path(out))
