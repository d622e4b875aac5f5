"""The notebook runner: parameter validation, failures, artifacts, provenance (run as a subprocess)."""
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args, root=None, timeout=600):
    cmd = [sys.executable, "-m", "ordebug_lib.run", *args]
    if root is not None:
        cmd += ["--root", str(root)]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def make_project(tmp_path, name, body, artifacts=()):
    """A throw-away project with one notebook whose parameters cell is `run_dir` and `x`."""
    nb = new_notebook()
    nb.metadata = {"kernelspec": {"name": "ordebug", "display_name": "Python (ordebug)", "language": "python"},
                   "ordebug": {"artifacts": list(artifacts)}}
    p = new_code_cell('run_dir = "scratch"\nx = 1')
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p, new_code_cell(body)]
    (tmp_path / "notebooks").mkdir()
    nbformat.write(nb, tmp_path / "notebooks" / f"{name}.ipynb")
    (tmp_path / "params" / name).mkdir(parents=True)
    (tmp_path / "params" / name / "smoke.yaml").write_text("x: 2\n")
    return tmp_path


def only_run(tmp_path, name):
    (run,) = (tmp_path / "runs" / name / "smoke").iterdir()
    return run


def test_unknown_parameter_is_an_error_listing_valid_ones():
    r = run_cli("00_environment_check", "--profile", "smoke", "-p", "bogus", "1")
    assert r.returncode == 1
    assert "bogus" in r.stderr and "valid parameters" in r.stderr
    for name in ("matmul_size", "require_cuda", "run_dir", "solver_time_limit"):
        assert name in r.stderr


def test_missing_profile_lists_existing_profiles():
    r = run_cli("00_environment_check", "--profile", "nope")
    assert r.returncode == 1 and "profiles: ['default', 'gpu', 'smoke']" in r.stderr


def test_notebook_that_raises_fails_the_run_with_cell_and_error(tmp_path):
    root = make_project(tmp_path, "boom", 'raise ValueError(f"x was {x}")')
    r = run_cli("boom", "--profile", "smoke", root=root)
    assert r.returncode == 1
    assert "failed in cell" in r.stderr and "ValueError: x was 2" in r.stderr
    prov = json.loads((only_run(root, "boom") / "provenance.json").read_text())
    assert prov["status"] == "failed" and "ValueError" in prov["error"]


def test_missing_declared_artifact_fails_the_run(tmp_path):
    root = make_project(tmp_path, "lazy", "y = x + 1", artifacts=["metrics.json"])
    r = run_cli("lazy", "--profile", "smoke", root=root)
    assert r.returncode == 1 and "did not write declared artifact" in r.stderr and "metrics.json" in r.stderr


def test_overrides_reach_the_notebook_and_publish_is_gpu_only(tmp_path):
    body = ("import json, pathlib\n"
            "pathlib.Path(run_dir).mkdir(parents=True, exist_ok=True)\n"
            "pathlib.Path(run_dir, 'metrics.json').write_text(json.dumps({'x': x}))")
    root = make_project(tmp_path, "echo", body, artifacts=["metrics.json"])
    r = run_cli("echo", "--profile", "smoke", "-p", "x", "[3, 4]", root=root)
    assert r.returncode == 0, r.stderr
    assert json.loads((only_run(root, "echo") / "metrics.json").read_text()) == {"x": [3, 4]}
    r = run_cli("echo", "--profile", "smoke", "--publish", root=root)
    assert r.returncode == 1 and "only for the 'gpu' profile" in r.stderr


@pytest.mark.slow
def test_environment_check_runs_through_the_runner():
    r = run_cli("00_environment_check", "--profile", "smoke")
    assert r.returncode == 0, r.stderr[-2000:]
    run_dir = Path(r.stdout.strip().split("-> ")[-1])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["toy_model"]["status"] == "INFEASIBLE"
    assert sorted(metrics["toy_model"]["iis"]) == ["cap_assembly", "contract_gadget", "contract_widget"]
    assert metrics["gurobi"]["limit"] == 2000 and metrics["gurobi"]["size_limited_license"] is True
    assert metrics["matmul"]["max_abs_err"] < 1e-3
    prov = json.loads((run_dir / "provenance.json").read_text())
    assert prov["status"] == "ok" and prov["profile"] == "smoke"
    assert prov["parameters"]["matmul_size"] == 128 and prov["parameters"]["run_dir"] == str(run_dir)
    assert prov["wall_time_s"] > 0 and prov["device"]["device"] in ("cpu", "cuda")
    for pkg in ("python", "torch", "transformers", "trl", "gurobipy"):
        assert prov["versions"][pkg]
    assert "commit" in prov["git"] and "dirty" in prov["git"]
    assert (run_dir / "00_environment_check.ipynb").exists()


def test_publish_copies_figures_reports_metrics_and_provenance(tmp_path):
    from ordebug_lib.run import publish_run

    run = tmp_path / "runs" / "nb" / "gpu" / "r1"
    (run / "figures").mkdir(parents=True)
    (run / "reports").mkdir()
    (run / "figures" / "f.png").write_bytes(b"png")
    (run / "reports" / "t.md").write_text("| a |\n")
    (run / "provenance.json").write_text('{"status": "ok"}')
    (run / "metrics.json").write_text('{"m": 1}')
    publish_run(run, "nb", root=tmp_path)
    assert (tmp_path / "figures" / "f.png").read_bytes() == b"png"
    assert (tmp_path / "reports" / "t.md").read_text() == "| a |\n"
    assert (tmp_path / "reports" / "provenance" / "nb.json").read_text() == '{"status": "ok"}'
    assert (tmp_path / "reports" / "provenance" / "nb.metrics.json").read_text() == '{"m": 1}'


def test_overrides_read_scientific_notation_as_numbers():
    from ordebug_lib.run import parse_overrides

    got = parse_overrides([["lr", "1e-4"], ["steps", "10"], ["lens", "[128, 256]"], ["name", "e5"]])
    assert got == {"lr": 1e-4, "steps": 10, "lens": [128, 256], "name": "e5"}
    assert isinstance(got["lr"], float) and isinstance(got["steps"], int)


def test_publish_of_a_gpu_variant_keeps_its_profile_in_the_provenance_name(tmp_path):
    from ordebug_lib.run import publish_run

    run = tmp_path / "runs" / "nb" / "gpu_ordebug" / "r1"
    run.mkdir(parents=True)
    (run / "provenance.json").write_text("{}")
    publish_run(run, "nb", root=tmp_path)
    assert (tmp_path / "reports" / "provenance" / "nb.gpu_ordebug.json").exists()


def test_an_existing_run_id_is_refused_not_overwritten(tmp_path):
    root = make_project(tmp_path, "once", "y = 1")
    (root / "runs" / "once" / "smoke" / "r1").mkdir(parents=True)
    r = run_cli("once", "--profile", "smoke", "--run-id", "r1", root=root)
    assert r.returncode == 1 and "exists; choose another --run-id" in r.stderr


def test_resume_reuses_a_run_started_with_the_same_parameters_only(tmp_path):
    body = ("import json, pathlib\n"
            "p = pathlib.Path(run_dir, 'count.txt')\n"
            "n = int(p.read_text()) + 1 if p.exists() else 1\n"
            "p.write_text(str(n))\n"
            "pathlib.Path(run_dir, 'metrics.json').write_text(json.dumps({'x': x, 'attempt': n}))")
    root = make_project(tmp_path, "again", body, artifacts=["metrics.json"])
    r = run_cli("again", "--profile", "smoke", "--resume", root=root)
    assert r.returncode == 1 and "needs the --run-id" in r.stderr
    r = run_cli("again", "--profile", "smoke", "--run-id", "r1", "--resume", root=root)
    assert r.returncode == 1 and "nothing to resume" in r.stderr
    assert run_cli("again", "--profile", "smoke", "--run-id", "r1", root=root).returncode == 0
    r = run_cli("again", "--profile", "smoke", "--run-id", "r1", "-p", "x", "5", "--resume", root=root)
    assert r.returncode == 1 and "other parameters (x)" in r.stderr
    r = run_cli("again", "--profile", "smoke", "--run-id", "r1", "--resume", root=root)
    assert r.returncode == 0, r.stderr
    run = root / "runs" / "again" / "smoke" / "r1"
    assert json.loads((run / "metrics.json").read_text()) == {"x": 2, "attempt": 2}  # the same dir, run twice
    prov = json.loads((run / "provenance.json").read_text())
    assert prov["status"] == "ok" and len(prov["attempts"]) == 2


def _gpu_run(tmp_path, run_id, seed, text, profile="gpu"):
    run = tmp_path / "runs" / "nb" / profile / run_id
    (run / "reports").mkdir(parents=True)
    (run / "figures").mkdir()
    (run / "reports" / "t.md").write_text(text)
    (run / "figures" / "f.png").write_bytes(text.encode())
    prov = {"notebook": "nb", "profile": profile, "parameters": {"seed": seed, "run_dir": str(run)},
            "git": {"commit": "abc1234def", "dirty": False}, "device": {"gpu_name": "H200"}, "wall_time_s": 1.5}
    (run / "provenance.json").write_text(json.dumps(prov))
    return run


def test_a_second_published_run_keeps_the_first_runs_files(tmp_path):
    """Publishing never overwrites another run: each run has its archive, a legacy file is archived before it is
    replaced, the registry lists every archive, and a run is published once."""
    from ordebug_lib.run import RunError, publish_run, registry_rows

    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "t.md").write_text("legacy\n")  # published before archives existed
    first = publish_run(_gpu_run(tmp_path, "r1", 0, "seed 0\n"), "nb", root=tmp_path)
    second = publish_run(_gpu_run(tmp_path, "r2", 1, "seed 1\n"), "nb", root=tmp_path)
    assert (first / "reports" / "t.md").read_text() == "seed 0\n"
    assert (second / "reports" / "t.md").read_text() == "seed 1\n"
    assert (tmp_path / "reports" / "t.md").read_text() == "seed 1\n"  # the committed view: the latest run
    legacy = tmp_path / "reports" / "published" / "nb.legacy"
    assert (legacy / "reports" / "t.md").read_text() == "legacy\n"
    rows = registry_rows(tmp_path)
    assert [(r["archive"], r["seed"]) for r in rows] == [("nb.gpu.r1", 0), ("nb.gpu.r2", 1), ("nb.legacy", "-")]
    assert "| nb.gpu.r2 | nb | gpu | r2 | 1 | abc1234def |" in (tmp_path / "reports" / "runs.md").read_text()
    with pytest.raises(RunError, match="published already"):
        publish_run(tmp_path / "runs" / "nb" / "gpu" / "r1", "nb", root=tmp_path)
    # a third run: what r2 published is in r2's archive, so nothing new goes to a legacy folder
    publish_run(_gpu_run(tmp_path, "r3", 2, "seed 2\n"), "nb", root=tmp_path)
    assert sorted(p.name for p in (tmp_path / "reports" / "published").iterdir()) == \
        ["nb.gpu.r1", "nb.gpu.r2", "nb.gpu.r3", "nb.legacy"]


def test_a_variant_profile_replacing_the_gpu_profiles_files_archives_them_with_their_provenance(tmp_path):
    """E1 v2 (profile gpu_1024) replaces the files E1 v1 (profile gpu) published before archives existed:
    ``replaces`` names v1's tag, so v1's files go to ``nb.legacy`` beside v1's provenance, not v2's."""
    from ordebug_lib.run import RunError, publish_run

    prov_dir = tmp_path / "reports" / "provenance"
    prov_dir.mkdir(parents=True)
    (tmp_path / "reports" / "t.md").write_text("v1\n")
    (prov_dir / "nb.json").write_text('{"run": "v1"}')
    (prov_dir / "nb.metrics.json").write_text('{"m": "v1"}')
    run = _gpu_run(tmp_path, "r1", 0, "v2\n", profile="gpu_1024")
    with pytest.raises(RunError, match="no .*nb.gpu_512.json"):
        publish_run(run, "nb", root=tmp_path, replaces="nb.gpu_512")
    assert not (tmp_path / "reports" / "published").exists()  # refused before anything moved
    archive = publish_run(run, "nb", root=tmp_path, replaces="nb")
    legacy = tmp_path / "reports" / "published" / "nb.legacy"
    assert (legacy / "reports" / "t.md").read_text() == "v1\n"
    assert (legacy / "provenance.json").read_text() == '{"run": "v1"}'
    assert (legacy / "metrics.json").read_text() == '{"m": "v1"}'
    assert (tmp_path / "reports" / "t.md").read_text() == "v2\n" == (archive / "reports" / "t.md").read_text()
    assert (prov_dir / "nb.json").read_text() == '{"run": "v1"}'  # v1's provenance stays; v2 has its own
    assert json.loads((prov_dir / "nb.gpu_1024.json").read_text())["profile"] == "gpu_1024"


def test_publishing_keeps_the_registrys_hand_written_notes(tmp_path):
    """``reports/runs.md``'s ``## Notes`` (what runs measured beyond their tables) survive every rebuild."""
    from ordebug_lib.run import REGISTRY, publish_run, write_registry

    publish_run(_gpu_run(tmp_path, "r1", 0, "seed 0\n"), "nb", root=tmp_path)
    registry = tmp_path / REGISTRY
    notes = "## Notes\n\n### nb gpu\n\n- r1: 1.5 s, of which | nothing | a table would read.\n"
    registry.write_text(registry.read_text() + "\n" + notes)
    publish_run(_gpu_run(tmp_path, "r2", 1, "seed 1\n"), "nb", root=tmp_path)
    text = registry.read_text()
    assert "| nb.gpu.r2 | nb | gpu | r2 | 1 |" in text and text.endswith("\n\n" + notes)
    assert write_registry(tmp_path).read_text() == text


def test_the_committed_registry_lists_every_published_run():
    """``reports/runs.md`` is what ``write_registry`` rebuilds from the committed archives and provenance files,
    and every run's provenance file is in it once."""
    from ordebug_lib.run import REGISTRY, ROOT, registry_rows, write_registry

    committed = (ROOT / REGISTRY).read_text()
    rows = registry_rows(ROOT)
    provs = [p for p in (ROOT / "reports" / "provenance").glob("*.json")
             if not p.name.endswith(".metrics.json") and "notebook" in json.loads(p.read_text())]
    assert len(rows) >= len(provs) > 20
    import tempfile

    with tempfile.TemporaryDirectory() as d:  # rebuild into a copy, never over the committed file
        import shutil

        shutil.copytree(ROOT / "reports", Path(d) / "reports")
        assert write_registry(Path(d)).read_text() == committed
