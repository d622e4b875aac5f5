"""Report what a stopped E1 run (notebook 10) finished: the learning-rate sweep on val and test, beside the
warm start, with each finished arm's stage timings and training trends, from the arms' own files.

    python scripts/e1_partial_report.py RUN_DIR OUT_DIR

Only arms with a ``done.json`` count; the notebook's own report is not written for a run that did not finish,
so this one says plainly which arms are missing. Everything is recomputed from the per-episode rows it writes
(``episodes.csv``), with the package's functions (``experiments/countdown_e1.py``).
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ordebug_lib.experiments.countdown_e1 import (E1Arm, curve_trends, load_arm_results, load_episode_rows,  # noqa: E402
                                                  choose_learning_rates, stage_timings, sweep_finding,
                                                  sweep_table)


def finished_arms(run: Path) -> tuple[list[E1Arm], list[str]]:
    done, missing = [], []
    for d in sorted((run / "arms").iterdir()):
        spec = json.loads((d / "spec.json").read_text())
        (done if (d / "done.json").exists() else missing).append(E1Arm(**spec["arm"]) if (d / "done.json").exists() else d.name)
    return done, missing


def main(run: Path, out: Path) -> None:
    arms, missing = finished_arms(run)
    swept = [a for a in arms if a.learning_rate is not None]
    warm = [a for a in arms if a.kind == "warm_start"]
    episodes = load_episode_rows(run / "arms", swept + warm)
    out.mkdir(parents=True, exist_ok=True)
    episodes.to_csv(out / "episodes.csv", index=False)
    val, test = sweep_table(episodes, "val"), sweep_table(episodes, "test")
    val.to_csv(out / "sweep_val.csv", index=False)
    test.to_csv(out / "sweep_test.csv", index=False)
    summaries, curves = load_arm_results(run / "arms", swept)
    timing, trends = stage_timings(curves), curve_trends(curves)
    timing.to_csv(out / "stage_timings.csv", index=False)
    trends.to_csv(out / "trends.csv", index=False)
    curves.drop(columns=["nonfinite_keys"], errors="ignore").to_csv(out / "curves.csv", index=False)
    prov = json.loads((run / "provenance.json").read_text())
    shutil.copy2(run / "provenance.json", out / "provenance.json")
    ws = json.loads((run / "warm_start" / "warm_start.json").read_text())
    wall = {a.name: json.loads((run / "arms" / a.name / "done.json").read_text())["timings_s"] for a in swept}
    lines = [f"# E1 v2, stopped run `{run.name}`: the learning-rate sweep (what finished)", "",
             f"Run `{prov['notebook']}` profile `{prov['profile']}`, status **{prov['status']}** "
             f"({prov.get('error', '').splitlines()[0][:160] if prov.get('error') else ''}…), device "
             f"{prov['device'].get('gpu_name')}, wall {prov['wall_time_s']:.0f} s. Recomputed from `episodes.csv` "
             f"by `python {Path(__file__).relative_to(ROOT)} RUN_DIR OUT_DIR`. Provenance: `provenance.json`.", "",
             f"- finished arms: {', '.join(a.name for a in arms)}",
             f"- not finished: {', '.join(missing) or 'none'}",
             f"- warm start: `{prov['parameters']['warm_start_config']['model']}`, {ws['data']['n_demos']} streams, "
             f"{prov['parameters']['warm_start_config']['steps']} SFT steps, held-out loss "
             f"{ws['sft']['final_held_out_loss']:.3f} (trained in this run; {ws['timings_s']['total']:.0f} s)",
             f"- RL per arm: {prov['parameters']['grpo']}", "",
             "## Findings (computed)", "",
             f"- {sweep_finding(val, swept[0].seed, choose_learning_rates(summaries))}",
             "- One seed, one budget (512 tokens): the rest of E1 v2 (3 seeds at 256 / 512 / 1024) did not run; see"
             " 'not finished' above.", "",
             "## Sweep on val (where the rate is chosen)", "", val.drop(columns=["kind"]).to_markdown(index=False, floatfmt=".3g"), "",
             "## The same arms on test (for the record; nothing is chosen here)", "",
             test.drop(columns=["kind"]).to_markdown(index=False, floatfmt=".3g"), "",
             "## Stage timings (4 arms shared the GPU)", "", timing.to_markdown(index=False, floatfmt=".3g"), "",
             "## Training trends (first vs last quarter of the steps)", "", trends.to_markdown(index=False, floatfmt=".3g"), "",
             "## Seconds per arm", "", "| arm | train s | test eval s | val eval s |", "|---|---|---|---|"]
    lines += [f"| {k} | {v.get('train_s', 0):.0f} | {v.get('eval_s', 0):.0f} | {v.get('eval_val_s', 0):.0f} |" for k, v in wall.items()]
    (out / "README.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
