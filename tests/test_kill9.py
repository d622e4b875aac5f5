"""kill -9 anywhere, lose nothing: SIGKILL the benchmark builder, an evaluation, an experiment's arm runner and
the notebook runner at several points, rerun the documented resume command, and compare with a run that was
never interrupted.

Resume commands: the builder, ``build_benchmark`` again on the same directory (an unfinished build is
started again, a finished one is reused); an evaluation, ``results.evaluate`` again on the same database;
arms, ``jobs.run_jobs`` again (arms with ``done.json`` are skipped); the runner,
``python -m ordebug_lib.run NB --profile P --run-id ID --resume``.

Kills are SIGKILL of the whole process tree: the process group of a child started with
``start_new_session=True`` and every descendant found before the kill (the Jupyter kernel runs in a
session of its own). Points that a timer cannot hit reliably (inside an index write, between the index and
the manifest) are hit by a child that SIGKILLs itself there.
"""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ordebug_lib.ordebug.dataset import BUILDING, build_benchmark, load_benchmark, read_index, read_manifest
from ordebug_lib.ordebug.model import ModelError

psutil = pytest.importorskip("psutil")

ROOT = Path(__file__).resolve().parents[1]
BUILD = dict(n_per_cell=2, error_types="ABCDEFGHI", difficulties=("easy",), seed=0, split_fractions=(0.5, 0.0, 0.5))
VOLATILE = ("wall_time", "created_at")  # per-episode wall clock and insertion time: never equal between runs


# -- killing -------------------------------------------------------------------------------------------
def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the child's process group and every descendant (some live in sessions of their own)."""
    try:
        kids = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        kids = []
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # start_new_session: the group id is the child's pid
    except ProcessLookupError:
        pass
    for k in kids:
        try:
            k.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    proc.wait()
    psutil.wait_procs(kids, timeout=10)


def run_until(cmd: list[str], trigger, log: Path, timeout: float = 180, cwd: Path = ROOT, env=None) -> bool:
    """Run ``cmd`` and kill its tree as soon as ``trigger(elapsed_seconds)`` is true: True if it was killed,
    False if it ended first (then its exit status must be 0)."""
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, **(env or {})})
        t0 = time.monotonic()
        try:
            while proc.poll() is None:
                elapsed = time.monotonic() - t0
                if elapsed > timeout:
                    raise AssertionError(f"{cmd} still running after {timeout} s")
                if trigger(elapsed):
                    kill_tree(proc)
                    return True
                time.sleep(0.01)
        finally:
            if proc.poll() is None:
                kill_tree(proc)
    assert proc.returncode == 0, log.read_text()[-3000:]
    return False


def python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def db_rows(db: Path, policy: str | None = None) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=0.1) as conn:
            q, args = "SELECT COUNT(*) FROM episodes", ()
            if policy is not None:
                q, args = q + " WHERE policy = ?", (policy,)
            return conn.execute(q, args).fetchone()[0]
    except sqlite3.OperationalError:  # no table yet, or locked by the writer this instant
        return 0


def table(db: Path) -> list[tuple]:
    """Every stored episode, volatile columns left out, in key order; also checks the database."""
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        cols = [r[1] for r in conn.execute("PRAGMA table_info(episodes)") if r[1] not in VOLATILE]
        rows = conn.execute(f"SELECT {', '.join(cols)} FROM episodes ORDER BY policy, seed, instance_id").fetchall()
    keys = [(r[cols.index("policy")], r[cols.index("instance_id")], r[cols.index("seed")]) for r in rows]
    assert len(keys) == len(set(keys)), "an episode stored twice"
    for r in rows:  # no partial row: every outcome column of a finished episode is there
        for c in ("steps", "final_status", "failure_class", "reward_composite", "trajectory_json"):
            assert r[cols.index(c)] is not None, (c, r[:3])
    t = cols.index("trajectory_json")  # its steps carry their own wall clock too
    return [r[:t] + (json.dumps([{k: v for k, v in step.items() if k not in VOLATILE}
                                 for step in json.loads(r[t])], sort_keys=True),) + r[t + 1:] for r in rows]


# -- (c) the benchmark builder -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted build (18 instances) and its index and manifest."""
    d = build_benchmark(tmp_path_factory.mktemp("ref") / "bench", progress=False, **BUILD)
    return d, read_index(d), read_manifest(d)


BUILDER = """
import os, signal, sys
from ordebug_lib.ordebug import dataset
point, out = sys.argv[1], sys.argv[2]
def die():
    os.kill(os.getpid(), signal.SIGKILL)
if point.startswith("model"):  # after the k-th model file
    k, real, n = int(point[5:]), dataset.write_model, [0]
    def write_model(model, path):
        real(model, path)
        n[0] += 1
        if n[0] == k:
            die()
    dataset.write_model = write_model
else:
    real_atomic = dataset.write_atomic
    def write_atomic(path, text):
        if point == "mid_index" and path.name == "index.jsonl":  # half of the temporary file written
            with open(path.with_name(f".{path.name}.{os.getpid()}.tmp"), "w") as fh:
                fh.write(text[: len(text) // 2])
            die()
        if point == "before_manifest" and path.name == "manifest.json":
            die()
        real_atomic(path, text)
        if point == "after_manifest" and path.name == "manifest.json":
            die()
    dataset.write_atomic = write_atomic
dataset.build_benchmark(out, progress=False, **%r)
""" % (BUILD,)


@pytest.mark.parametrize("point", ["started", "model1", "model17", "mid_index", "before_manifest", "after_manifest"])
def test_a_killed_build_is_refused_then_resumed_to_the_uninterrupted_result(point, reference, tmp_path):
    ref_dir, ref_rows, ref_manifest = reference
    out = tmp_path / "bench"
    if point == "started":  # killed from outside as soon as the build has marked itself under way
        assert run_until(python(BUILDER) + ["none", str(out)], lambda t: (out / BUILDING).exists(), tmp_path / "log.txt")
    else:  # the child kills itself at that point
        _run_to_death(python(BUILDER) + [point, str(out)], tmp_path / "log.txt")
    if point != "after_manifest":  # no manifest: refused by every reader, with what to do
        for read in (read_index, load_benchmark, read_manifest):
            with pytest.raises(ModelError, match="did not finish.*run build_benchmark with the same parameters"):
                read(out)
    else:  # the manifest is the last file: the build is complete, a stale marker is harmless
        assert (out / BUILDING).exists() and read_index(out) == ref_rows
    # the documented resume: build again into the same directory
    assert build_benchmark(out, progress=False, **BUILD) == out
    assert read_index(out) == ref_rows
    manifest = read_manifest(out)
    assert {k: v for k, v in manifest.items() if k != "build_seconds"} == \
        {k: v for k, v in ref_manifest.items() if k != "build_seconds"}
    assert sorted(p.name for p in out.iterdir()) == ["index.jsonl", "manifest.json", "models"]  # no marker, no tmp
    assert sorted(p.name for p in (out / "models").iterdir()) == sorted(
        Path(r[k]).name for r in ref_rows for k in ("original_mps", "sabotaged_mps"))
    assert [i.id for i in load_benchmark(out)] == [r["id"] for r in ref_rows]


def _run_to_death(cmd, log: Path) -> None:
    """Run a child that kills itself; it must die of SIGKILL."""
    with open(log, "w") as fh:
        rc = subprocess.run(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, timeout=180).returncode
    assert rc == -signal.SIGKILL, log.read_text()[-3000:]


def test_a_finished_build_is_reused_and_other_parameters_or_foreign_files_are_refused(reference, tmp_path):
    ref_dir, ref_rows, _ = reference
    before = (ref_dir / "index.jsonl").stat().st_mtime_ns
    assert build_benchmark(ref_dir, progress=False, **BUILD) == ref_dir  # reused, not rebuilt
    assert (ref_dir / "index.jsonl").stat().st_mtime_ns == before
    with pytest.raises(FileExistsError, match="other parameters.*seed: 0 there, 1 asked"):
        build_benchmark(ref_dir, progress=False, **{**BUILD, "seed": 1})
    foreign = tmp_path / "foreign"
    (foreign / "models").mkdir(parents=True)
    (foreign / "models" / "x.original.mps").write_text("not ours")
    with pytest.raises(FileExistsError, match="not a build this code started"):
        build_benchmark(foreign, progress=False, **BUILD)
    assert (foreign / "models" / "x.original.mps").read_text() == "not ours"  # nothing deleted
    # a manifest whose index lost rows (edited, or written by a non-atomic writer) does not load
    damaged = tmp_path / "damaged"
    shutil.copytree(ref_dir, damaged)
    lines = (damaged / "index.jsonl").read_text().splitlines()
    (damaged / "index.jsonl").write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])
    with pytest.raises(ModelError, match="line .* is not valid JSON"):
        read_index(damaged)
    (damaged / "index.jsonl").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(ModelError, match=f"holds {len(lines) - 1} rows but the manifest says n_instances={len(lines)}"):
        load_benchmark(damaged)


# -- (b) an evaluation ---------------------------------------------------------------------------------
EVALUATE = """
import sys, time
from ordebug_lib.ordebug.baselines import GreedyIISDropPolicy, SearchRepairPolicy
from ordebug_lib.ordebug.dataset import load_benchmark
from ordebug_lib.ordebug.results import evaluate
bench, db, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])
def slowed(cls):  # the same baseline, slower per action, so that a kill lands mid-evaluation
    class Slow(cls):
        def act(self, observation, info):
            time.sleep(delay)
            return super().act(observation, info)
    return Slow
instances = load_benchmark(bench)
for name, cls in (("greedy", GreedyIISDropPolicy), ("search", SearchRepairPolicy)):
    evaluate(slowed(cls)(), instances, db, name, seed=0, max_turns=12, progress=False)
"""


def evaluate_both(bench: Path, db: Path) -> None:
    from ordebug_lib.ordebug.baselines import GreedyIISDropPolicy, SearchRepairPolicy
    from ordebug_lib.ordebug.results import evaluate

    instances = load_benchmark(bench)
    for name, policy in (("greedy", GreedyIISDropPolicy()), ("search", SearchRepairPolicy())):
        df = evaluate(policy, instances, db, name, seed=0, max_turns=12, progress=False)
        assert sorted(df["instance_id"]) == sorted(i.id for i in instances)


@pytest.fixture(scope="module")
def reference_db(reference, tmp_path_factory):
    db = tmp_path_factory.mktemp("refdb") / "results.sqlite"
    evaluate_both(reference[0], db)
    return table(db)


@pytest.mark.parametrize("when", ["first_row", "mid_greedy", "mid_search"])
def test_a_killed_evaluation_resumes_with_every_episode_once(when, reference, reference_db, tmp_path):
    n = len(reference[1])
    db = tmp_path / "results.sqlite"
    trigger = {"first_row": lambda t: db_rows(db) >= 1, "mid_greedy": lambda t: db_rows(db, "greedy") >= n // 2,
               "mid_search": lambda t: db_rows(db, "search") >= n // 2}[when]
    killed = run_until(python(EVALUATE) + [str(reference[0]), str(db), "0.01"], trigger, tmp_path / "log.txt")
    assert killed
    stored = table(db)  # what the killed run committed: whole rows, once each, equal to the reference's
    assert 1 <= len(stored) < len(reference_db) and set(stored) <= set(reference_db)
    evaluate_both(reference[0], db)  # the documented resume: evaluate again on the same database
    assert table(db) == reference_db


# -- (d) an experiment's arms --------------------------------------------------------------------------
SLOW_ARM = """
import json, sys, time
from pathlib import Path
from ordebug_lib.experiments.jobs import mark_done
spec_path = Path(sys.argv[1])
spec = json.loads(spec_path.read_text())
with open(spec_path.parent.parent / "starts.txt", "a") as fh:
    fh.write(spec["name"] + "\\n")
(spec_path.parent / "partial.txt").write_text("half of the arm's work")
time.sleep(spec["seconds"])
mark_done(spec_path.parent, spec, value=spec["value"] * 2)
"""

RUN_JOBS = """
import json, sys
from pathlib import Path
from ordebug_lib.experiments.jobs import Job, run_jobs
root = Path(sys.argv[1])
jobs = [Job(f"a{i}", "slow_arm", root / f"a{i}", {"name": f"a{i}", "value": i, "seconds": 0.6}) for i in range(3)]
run_jobs(jobs, parallel=1, progress=False, poll_s=0.05, env={"PYTHONPATH": sys.argv[2]})
"""


def test_a_killed_experiment_skips_finished_arms_and_reruns_the_killed_one(tmp_path):
    from ordebug_lib.experiments.jobs import Job, run_jobs

    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "slow_arm.py").write_text(textwrap.dedent(SLOW_ARM))
    pythonpath = os.pathsep.join([str(mods), str(ROOT)])
    arms = tmp_path / "arms"
    # kill the experiment (runner and arm) in the middle of the second arm's work
    killed = run_until(python(RUN_JOBS) + [str(arms), pythonpath], lambda t: (arms / "a1" / "partial.txt").exists(),
                       tmp_path / "log.txt")
    assert killed and (arms / "a0" / "done.json").exists() and not (arms / "a1" / "done.json").exists()
    jobs = [Job(f"a{i}", "slow_arm", arms / f"a{i}", {"name": f"a{i}", "value": i, "seconds": 0.6}) for i in range(3)]
    walls = run_jobs(jobs, parallel=1, progress=False, poll_s=0.05, env={"PYTHONPATH": pythonpath})
    assert set(walls) == {"a1", "a2"}  # a0 was done: skipped
    assert (arms / "starts.txt").read_text().split() == ["a0", "a1", "a1", "a2"]
    for i, job in enumerate(jobs):
        assert job.done and json.loads((job.dir / "done.json").read_text())["value"] == 2 * i
        assert not (job.dir / "running.json").exists()


# -- (a) the notebook runner ---------------------------------------------------------------------------
NB = "02_ordebug_benchmark"
RUNS = ROOT / "runs" / NB / "smoke"


def runner(*args) -> list[str]:
    return [sys.executable, "-m", "ordebug_lib.run", NB, "--profile", "smoke", *args]


@pytest.fixture(scope="module")
def run_ids():
    made = []
    yield made
    for rid in made:
        shutil.rmtree(RUNS / rid, ignore_errors=True)


def new_id(run_ids, tag: str) -> str:
    rid = f"kill9-{tag}-{os.getpid()}-{int(time.time() * 1000) % 10**8}"
    run_ids.append(rid)
    return rid


def run_outputs(run_dir: Path) -> dict:
    """What a run produced that must not depend on interruptions: tables, index, episodes, the ladder."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {"reports": {p.name: p.read_text() for p in sorted((run_dir / "reports").iterdir())},
            "index": read_index(run_dir / "benchmark"), "episodes": table(run_dir / "results.sqlite"),
            "metrics": {k: v for k, v in metrics.items() if k not in ("build_seconds", "eval_seconds")}}


@pytest.fixture(scope="module")
def reference_run(run_ids, tmp_path_factory):
    rid = new_id(run_ids, "ref")
    log = tmp_path_factory.mktemp("refrun") / "log.txt"
    assert not run_until(runner("--run-id", rid), lambda t: False, log)
    return run_outputs(RUNS / rid)


@pytest.mark.parametrize("when", ["startup", "building", "evaluating"])
def test_a_killed_notebook_run_resumes_to_the_uninterrupted_tables(when, run_ids, reference_run, tmp_path):
    rid = new_id(run_ids, when)
    run_dir = RUNS / rid
    trigger = {
        "startup": lambda t: t > 1.0,  # importing, checking, starting the kernel
        "building": lambda t: any((run_dir / "benchmark" / "models").glob("*.mps"))
        if (run_dir / "benchmark" / "models").is_dir() else False,
        "evaluating": lambda t: db_rows(run_dir / "results.sqlite") >= 3,
    }[when]
    assert run_until(runner("--run-id", rid), trigger, tmp_path / "log.txt")
    resume = subprocess.run(runner("--run-id", rid, "--resume"), cwd=ROOT, capture_output=True, text=True, timeout=300)
    if not run_dir.exists():  # killed before the run had a directory: nothing to resume, start it again
        assert resume.returncode == 1 and "nothing to resume" in resume.stderr and "Traceback" not in resume.stderr
        resume = subprocess.run(runner("--run-id", rid), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert resume.returncode == 0, resume.stderr[-3000:]
    assert run_outputs(run_dir) == reference_run
    prov = json.loads((run_dir / "provenance.json").read_text())
    assert prov["status"] == "ok" and len(prov["attempts"]) in (1, 2) and not (run_dir / "running.json").exists()
    if when != "startup":
        assert len(prov["attempts"]) == 2


def test_resume_is_refused_while_the_runner_of_the_run_is_alive(run_ids, tmp_path):
    import socket

    rid = new_id(run_ids, "alive")
    run_dir = RUNS / rid
    assert run_until(runner("--run-id", rid), lambda t: (run_dir / "running.json").exists(), tmp_path / "log.txt")
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run_dir / "running.json").write_text(json.dumps({"host": socket.gethostname(), "pid": other.pid}))
        r = subprocess.run(runner("--run-id", rid, "--resume"), cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert r.returncode == 1 and f"still running (runner pid {other.pid})" in r.stderr
        assert "Traceback" not in r.stderr
    finally:
        other.kill()
        other.wait()
