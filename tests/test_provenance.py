"""Provenance: the commit a run records."""
import subprocess
from pathlib import Path

from ordebug_lib.provenance import collect, git_state

ROOT = Path(__file__).resolve().parents[1]


def test_git_state_reads_the_checkout(monkeypatch):
    monkeypatch.delenv("ORDEBUG_GIT_COMMIT", raising=False)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert git_state(ROOT)["commit"] == head


def test_a_stated_commit_wins_over_a_stale_git_directory(monkeypatch, tmp_path):
    # a copied tree whose .git is stale: the launcher's statement is what gets recorded
    monkeypatch.setenv("ORDEBUG_GIT_COMMIT", "a" * 40)
    monkeypatch.setenv("ORDEBUG_GIT_DIRTY", "0")
    assert git_state(ROOT) == {"commit": "a" * 40, "dirty": False, "source": "env"}
    monkeypatch.setenv("ORDEBUG_GIT_DIRTY", "1")
    assert collect(ROOT)["git"]["dirty"] is True


def test_no_git_and_no_statement_records_none(monkeypatch, tmp_path):
    monkeypatch.delenv("ORDEBUG_GIT_COMMIT", raising=False)
    assert git_state(tmp_path) == {"commit": None, "dirty": None}
