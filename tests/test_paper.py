"""The paper from the committed results (experiments/paper.py, notebook 90_paper)."""
import shutil
import sys
from pathlib import Path

import pandas as pd

from ordebug_lib.experiments.paper import check_tables, figure_index, render_figures

sys.path.insert(0, str(Path(__file__).parent))
from notebook_smoke import run_smoke  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def test_every_committed_table_is_what_its_report_shows():
    tables = check_tables(ROOT / "reports")
    assert len(tables) >= 30 and tables["reproduced"].all(), tables[~tables["reproduced"]]
    assert {"ordebug_dgro_by_error_type.csv", "countdown_grpo_vs_drgrpo.csv"} <= set(tables["table"])


def test_a_stale_csv_or_a_hand_edited_report_does_not_reproduce(tmp_path):
    for name in ("ordebug_dgro.csv", "ordebug_dgro.md", "ordebug_dgro_by_error_type.csv", "ordebug_dgro_by_difficulty.csv",
                 "advantages.csv", "advantages.md"):
        shutil.copy2(ROOT / "reports" / name, tmp_path / name)
    df = pd.read_csv(tmp_path / "ordebug_dgro.csv")
    df.loc[0, "DA"] = df.loc[0, "DA"] + 0.01  # a CSV that moved on without its report
    df.to_csv(tmp_path / "ordebug_dgro.csv", index=False)
    (tmp_path / "advantages.md").write_text((tmp_path / "advantages.md").read_text().replace("|", "¦", 3))
    got = check_tables(tmp_path).set_index("table")["reproduced"]
    assert not got["ordebug_dgro.csv"] and not got["advantages.csv"] and got["ordebug_dgro_by_error_type.csv"]


def test_the_package_plotted_figures_are_drawn_again_from_the_csvs(tmp_path):
    names = render_figures(tmp_path, ROOT / "reports")
    assert {"ordebug_grpo_test_metrics", "ordebug_curriculum_training_curves", "countdown_accuracy_by_budget",
            "countdown_grpo_vs_drgrpo_budgets"} <= set(names)
    assert all((tmp_path / "figures" / f"{n}.png").stat().st_size > 0 for n in names)
    index = figure_index(names, ROOT / "figures")
    assert index.loc[index["drawn again"], "published"].all()  # each one a published figure, by name


def test_notebook_90_renders_the_paper(tmp_path):
    run = run_smoke("90_paper", tmp_path)
    text = (run / "reports" / "paper_index.md").read_text()
    n = len(check_tables(ROOT / "reports"))
    assert f"{n} of {n} committed tables reproduce" in text
    shutil.rmtree(run)
