"""`python -m ordebug_lib.ordebug debug MODEL`: all 23 Netlib infeasible LPs in-process, two real subprocesses."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ordebug_lib.ordebug.__main__ import CliError, debug_model, format_report, main
from ordebug_lib.ordebug.solver import write_model
from ordebug_handmade import production_flip

ROOT = Path(__file__).resolve().parents[1]
NETLIB = ROOT.parent / "shared" / "data" / "netlib-infeasible"
NETLIB_FILES = sorted(NETLIB.glob("*.mps"))
VERDICTS = {"repaired", "repaired, no SUBMIT before the step limit", "timeout", "not repaired"}


def test_the_netlib_set_is_there():
    assert len(NETLIB_FILES) == 23


@pytest.mark.parametrize("path", NETLIB_FILES, ids=lambda p: p.stem)
def test_greedy_on_every_netlib_model_ends_cleanly(path):
    report = debug_model(path, "greedy", max_turns=4)
    assert report["initial_status"] == "INFEASIBLE" and report["verdict"] in VERDICTS
    assert 1 <= report["steps"] <= 4 and len(report["trajectory"]) == report["steps"]
    if report["verdict"] == "timeout":  # e.g. IIS of 100+ rows: the budget ends the episode, no crash
        assert not report["submitted"] and report["steps"] == 4
    assert report["feasible_end"] == (report["final_status"] == "OPTIMAL")
    json.dumps(report)
    assert report["model"] in format_report(report)


@pytest.mark.parametrize("name", ["galenet", "itest6", "woodinfe", "bgprtr", "forest6", "mondou2"])
def test_search_on_small_and_license_limited_netlib_models(name):
    report = debug_model(NETLIB / f"{name}.mps", "search", max_turns=6)
    assert report["verdict"] in VERDICTS
    actions = [s["action"] for s in report["trajectory"]]
    assert actions[:2] == ["GET_IIS", "CHECK_SLACK"]
    if name == "mondou2":  # feasRelax of mondou2 exceeds the license: told so, not crashed
        assert report["trajectory"][1]["result"].startswith("CHECK_SLACK is not available")


def test_cli_errors_are_clear(tmp_path, capsys):
    feasible = write_model(production_flip().original, tmp_path / "ok.lp")
    with pytest.raises(CliError, match="ok.lp is OPTIMAL, not INFEASIBLE: there is nothing to debug"):
        debug_model(feasible, "greedy")
    big = tmp_path / "big.lp"
    terms = " + ".join(f"x{i}" for i in range(2001))
    big.write_text(f"Minimize\n obj: {terms}\nSubject To\n c0: x0 >= 1\nEnd\n")
    with pytest.raises(CliError, match="2001 variables .* at most 2000"):
        debug_model(big, "search")
    with pytest.raises(CliError, match="no such file"):
        debug_model(tmp_path / "missing.mps", "greedy")
    with pytest.raises(CliError, match="unknown agent"):
        debug_model(feasible, "psychic")
    assert main(["debug", str(feasible)]) == 2
    assert "error: " in capsys.readouterr().err


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "ordebug_lib.ordebug", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_subprocess_json_report():
    proc = run_cli("debug", str(NETLIB / "bgprtr.mps"), "--agent", "search", "--max-turns", "8", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["model"] == "bgprtr" and report["agent"] == "search" and report["verdict"] == "repaired"
    assert report["trajectory"][-1]["action"].startswith("SUBMIT")


def test_subprocess_text_report_and_timeout():
    proc = run_cli("debug", str(NETLIB / "qual.mps"), "--agent", "greedy", "--max-turns", "3")
    assert proc.returncode == 0, proc.stderr
    assert "Model qual: 464 variables, 323 constraints, status INFEASIBLE" in proc.stdout
    assert "Outcome: timeout; final status INFEASIBLE" in proc.stdout


def test_search_that_finds_no_improving_repair_submits_what_it_changed():
    # mondou2: after its first repair no candidate lowers the remaining violation (measured: step 7),
    # so the search gives up and SUBMITs the rows it changed instead of looping to the step limit.
    report = debug_model(NETLIB / "mondou2.mps", "search", max_turns=20)
    assert report["submitted"] and report["steps"] < 20
    assert report["final_status"] == "INFEASIBLE" and report["verdict"] == "not repaired"
    assert report["diagnosis"]


def test_slack_agent_on_netlib_models(capsys):
    # bgprtr: CHECK_SLACK names two lower bounds; moving them by the amounts read makes it OPTIMAL
    report = debug_model(NETLIB / "bgprtr.mps", "slack", max_turns=6)
    assert [s["action"].split()[0] for s in report["trajectory"]] == ["CHECK_SLACK", "RELAX", "RELAX", "SUBMIT"]
    assert report["final_status"] == "OPTIMAL" and report["diagnosis"] == ["NDT1.lb", "N1T2.lb"]
    # bgetam's relaxation exceeds the license: the slack agent says it cannot act, the CLI exits 2
    assert main(["debug", str(NETLIB / "bgetam.mps"), "--agent", "slack"]) == 2
    assert "CHECK_SLACK is not available for this model" in capsys.readouterr().err


# -- files that are not a debuggable model: exit 2, one "error:" line, no traceback ---------------------
BAD_FILES = {  # name -> (contents, or None for a directory; words the error line must hold)
    "corrupt.mps": ("NAME bad\nROWS\n N obj\n L c1\nCOLUMNS\n x obj 1 c1 zz\nRHS\nENDATA\n",
                    "Gurobi cannot read corrupt.mps: MPS read error at line 6"),
    "syntax.lp": ("Minimize\n obj: x +* y\nSubject To\n c: x >= \nEnd\n", "Gurobi cannot read syntax.lp"),
    "junk.mps": (bytes(range(256)) * 8, "Gurobi cannot read junk.mps: MPS read error at line"),
    "empty.mps": ("", "empty.mps is empty"),
    "empty.lp": ("", "empty.lp is empty"),  # Gurobi itself would read it as a model with nothing in it
    "a_directory.mps": (None, "a_directory.mps is a directory, not a model file"),
    "missing.mps": ("<not created>", "no such file"),
}


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_cli_bad_file_exits_2_with_one_error_line(name, tmp_path, capsys):
    contents, words = BAD_FILES[name]
    path = tmp_path / name
    if contents is None:
        path.mkdir()
    elif isinstance(contents, bytes):
        path.write_bytes(contents)
    elif contents != "<not created>":
        path.write_text(contents)
    assert main(["debug", str(path)]) == 2
    captured = capsys.readouterr()
    assert words in one_error_line(captured.err) and captured.out == ""


def test_cli_corrupt_file_in_a_real_process_has_no_traceback(tmp_path):
    path = tmp_path / "corrupt.mps"
    path.write_text(BAD_FILES["corrupt.mps"][0])
    proc = run_cli("debug", str(path))
    assert proc.returncode == 2 and proc.stdout == ""
    assert BAD_FILES["corrupt.mps"][1] in one_error_line(proc.stderr)


def test_cli_unreadable_file(tmp_path, capsys):
    # chmod 000 stops every user but root; as root the CLI runs as nobody (setpriv) on a file in a
    # directory nobody can enter, or the test is skipped: root would read the file and find it OPTIMAL
    import os
    import shutil
    import tempfile

    if os.geteuid() != 0:
        path = tmp_path / "locked.lp"
        write_model(production_flip().sabotaged, path).chmod(0)
        assert main(["debug", str(path)]) == 2
        assert "cannot read locked.lp: Permission denied" in one_error_line(capsys.readouterr().err)
        return
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: chmod 000 does not stop root from reading")
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable]
    probe = subprocess.run([*as_nobody, "-c", "import gurobipy, ordebug_lib.ordebug.__main__"], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    if probe.returncode != 0:
        pytest.skip(f"running as root and the package cannot run as nobody here: {probe.stderr[-200:]}")
    folder = Path(tempfile.mkdtemp(prefix="ordebug-cli-"))  # tmp_path's parents are 0700: nobody cannot enter
    try:
        folder.chmod(0o755)
        path = write_model(production_flip().sabotaged, folder / "locked.lp")
        path.chmod(0)
        proc = subprocess.run([*as_nobody, "-m", "ordebug_lib.ordebug", "debug", str(path)],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2
        assert "cannot read locked.lp: Permission denied" in one_error_line(proc.stderr)
    finally:
        shutil.rmtree(folder)


def test_cli_bad_arguments_are_usage_errors(capsys):
    for argv in (["--max-turns", "0"], ["--time-limit", "-1"], ["--time-limit", "nan"]):
        with pytest.raises(SystemExit) as stop:
            main(["debug", str(NETLIB / "itest2.mps"), *argv])
        assert stop.value.code == 2 and "must be > 0" in capsys.readouterr().err
