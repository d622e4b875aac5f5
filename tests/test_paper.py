"""The paper from the committed results (experiments/paper.py, notebook 90_paper)."""
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

from ordebug_lib.experiments.paper import WAITING, check_tables, figure_index, render_figures

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


def test_every_published_figure_is_drawn_again_from_the_committed_files(tmp_path):
    names = render_figures(tmp_path, ROOT / "reports")
    assert all((tmp_path / "figures" / f"{n}.png").stat().st_size > 0 for n in names)
    index = figure_index(names, ROOT / "figures", ROOT / "reports").set_index("figure")
    published = index[index["published"]]
    assert len(published) >= 32 and index["published"].all()  # each one drawn is a published figure, by name
    # the only ones not drawn are those whose data is still to come, and the index says so
    missing = published[~published["drawn again"]]
    assert set(missing.index) <= set(WAITING), missing
    assert all(why == WAITING[n] for n, why in missing["why not"].items())
    assert published["drawn again"].sum() >= len(published) - len(WAITING)
    if not (ROOT / "reports" / "ordebug_benchmark_instances.csv").exists():  # until 02's next publication
        assert list(missing.index) == ["ordebug_iis_size"] and "ordebug_benchmark_instances.csv" in missing["why not"].iloc[0]
    assert published.loc["sft_ordebug_learning_curve", "drawn from"].startswith("sft_ordebug_curve.csv")


def _copy(tmp_path, *names):
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / "reports" / name, tmp_path / name)


def test_a_committed_file_lacking_a_column_its_figure_needs_is_refused(tmp_path):
    # a missing column would leave a panel of plot_step_curves empty: refused, not drawn
    _copy(tmp_path, "countdown_grpo_vs_drgrpo_curves.csv")
    pd.read_csv(tmp_path / "countdown_grpo_vs_drgrpo_curves.csv").drop(columns="entropy").to_csv(
        tmp_path / "countdown_grpo_vs_drgrpo_curves.csv", index=False)
    with pytest.raises(ValueError, match=r"countdown_grpo_vs_drgrpo_curves.csv lacks the column\(s\) \['entropy'\]"):
        render_figures(tmp_path / "out", tmp_path)
    (tmp_path / "countdown_grpo_vs_drgrpo_curves.csv").unlink()
    _copy(tmp_path, "ordebug_baseline_ladder_by_type.csv")
    pd.read_csv(tmp_path / "ordebug_baseline_ladder_by_type.csv").drop(columns="faithful_recovery").to_csv(
        tmp_path / "ordebug_baseline_ladder_by_type.csv", index=False)
    with pytest.raises(ValueError, match="faithful_recovery"):
        render_figures(tmp_path / "out", tmp_path)


def test_a_figure_whose_files_are_missing_is_listed_with_them_and_sft_curves_need_their_run(tmp_path):
    _copy(tmp_path, "ordebug_baseline_ladder_paired.csv", "sft_ordebug_curve.csv", "sft_ordebug_eval.csv",
          "sft_ordebug_actions.csv")
    # the SFT curve is drawn with what its run recorded (model, records, pretraining): without that run, refused
    with pytest.raises(ValueError, match="0 runs .* recorded that curve"):
        render_figures(tmp_path / "out", tmp_path)
    _copy(tmp_path, "provenance/04_ordebug_sft.gpu_slack_lm.metrics.json")
    names = render_figures(tmp_path / "out", tmp_path)
    assert names == ["sft_ordebug_learning_curve"]
    index = figure_index(names, ROOT / "figures", tmp_path).set_index("figure")
    assert index.loc["ordebug_ladder_paired", "why not"] == "missing reports/ordebug_leak_detectors.csv"
    assert index.loc["ordebug_iis_size", "why not"] == WAITING["ordebug_iis_size"]
    assert not index.loc["ordebug_ladder_paired", "drawn again"] and index.loc["sft_ordebug_learning_curve", "drawn again"]


def test_the_01_weights_come_from_the_run_that_wrote_the_committed_table():
    import json

    from ordebug_lib.experiments.normalization import weights_from_metrics

    committed = pd.read_csv(ROOT / "reports" / "token_weights.csv")
    metrics = json.loads((ROOT / "reports" / "provenance" / "01_normalization_math.metrics.json").read_text())
    table = weights_from_metrics(metrics, committed)
    assert len(table) == 3 * 4 * metrics["batch_size"]  # every length of every budget and loss type
    metrics["weights"]["512"]["dapo_token_weight"] *= 1.01  # another run's numbers
    with pytest.raises(ValueError, match="not the run of the committed token weights"):
        weights_from_metrics(metrics, committed)


def test_notebook_90_renders_the_paper(tmp_path):
    run = run_smoke("90_paper", tmp_path)
    text = (run / "reports" / "paper_index.md").read_text()
    n = len(check_tables(ROOT / "reports"))
    assert f"{n} of {n} committed tables reproduce" in text
    published = len(list((ROOT / "figures").glob("*.png")))
    waiting = [] if (ROOT / "reports" / "ordebug_benchmark_instances.csv").exists() else ["ordebug_iis_size"]
    assert f"{published - len(waiting)} of {published} published figures were drawn again" in text
    assert all(WAITING[n] in text for n in waiting)  # said plainly in the paper's index
    shutil.rmtree(run)
