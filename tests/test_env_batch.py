"""env_batch: ProcessEnvs gives exactly what SerialEnvs gives, fails fast and clearly, make_envs validates.

Equality is exact on everything but the wall-clock fields ``EpisodeOutcome.wall_time`` and
``StepRecord.wall_time`` (seconds measured, which no two runs share): ``strip_wall_time`` zeroes those.
"""
import contextlib
import gc
import os
import signal
import time

import pytest

from ordebug_handmade import blend_type, production_flip, production_two, staffing_bound
from ordebug_lib.ordebug import env_batch
from ordebug_lib.ordebug.env import EnvConfig
from ordebug_lib.ordebug.env_batch import ProcessEnvs, SerialEnvs, make_envs, strip_wall_time
from ordebug_lib.ordebug.saboteur import make_instance

CONFIG = EnvConfig(max_turns=4)


@contextlib.contextmanager
def deadline(seconds: int):
    """Fail the test instead of hanging it (no pytest-timeout here)."""
    def boom(signum, frame):
        raise TimeoutError(f"no answer within {seconds} s: the parent hung")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def gone(pids, within: float = 5.0) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if not any(alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def instances():
    return [production_flip(), staffing_bound(), blend_type(), production_two(),
            make_instance("diet", "A", "easy", seed=1), make_instance("knapsack", "H", "easy", seed=1),
            production_flip("hand-A-production-2")]


# per row, the action of each turn (max_turns = 4); row 3 and row 6 are truncated after turn 2
SCRIPTS = [
    ["GET_IIS", "DROP cap_assembly", "SUBMIT cap_assembly"],                  # an edit, then SUBMIT
    ["this is not an action", "SET_RHS cover_night 8", "SUBMIT cover_night"],  # malformed, SET_RHS edit
    ["CHECK_SLACK", "INSPECT liters", "GET_IIS", "RESET"],                     # runs out of steps
    ["GET_IIS", "FLIP_SENSE cap_assembly", "GET_IIS"],                         # truncated
    ["GET_IIS", "<action>DROP max_protein</action>", "DROP nope", "GET_IIS"],  # runs out of steps
    ["SET_BOUNDS select_park 0 1", "SUBMIT select_park.ub"],
    ["", "GET_IIS\nDROP cap_paint", "GET_IIS", "GET_IIS"],                     # truncated
]
TRUNCATED_AFTER_TURN_2 = [6, 3]


def play(envs) -> dict:
    """The scripted run; every answer the batch gives, in order."""
    rec = {"reset": envs.reset(), "done0": envs.done(), "turns": [], "done": [], "truncate": None}
    turn = 0
    while not all(envs.done()):
        live = [i for i, d in enumerate(envs.done()) if not d]
        if turn % 2:
            live.reverse()  # rows out of order: replies must still come back in the order asked
        rec["turns"].append((live, envs.step(live, [SCRIPTS[i][turn] for i in live])))
        rec["done"].append(envs.done())
        turn += 1
        if turn == 1:
            rec["trajectories_mid"] = strip_wall_time_all(envs.trajectories())
        if turn == 2:
            rec["truncate"] = envs.truncate(TRUNCATED_AFTER_TURN_2, "context full (test)")
    rec["outcomes"] = [strip_wall_time(o) for o in envs.outcomes()]
    rec["trajectories"] = strip_wall_time_all(envs.trajectories())
    return rec


def strip_wall_time_all(trajs):
    return [strip_wall_time(t) for t in trajs]


@pytest.fixture(scope="module")
def serial_run(instances):
    with SerialEnvs(instances, CONFIG) as envs:
        return play(envs)


def test_the_script_covers_what_it_should(serial_run):
    by_row = serial_run["outcomes"]
    assert [o.submitted for o in by_row] == [True, True, False, False, False, True, False]
    assert [o.truncated for o in by_row] == [False, False, True, True, True, False, True]
    assert [o.steps for o in by_row] == [3, 3, 4, 2, 4, 2, 2]
    assert by_row[1].trajectory[0].error is not None  # the malformed action
    assert by_row[1].trajectory[1].changed == ["cover_night"] and by_row[5].feasible_end
    assert serial_run["truncate"] == [by_row[6].rewards["composite"], by_row[3].rewards["composite"]]
    assert all(isinstance(x, float) for _, res in serial_run["turns"] for _, x, _, _ in res)


@pytest.mark.parametrize("workers", [2, 3])
def test_process_envs_equal_serial_envs(instances, serial_run, workers):
    with deadline(60), ProcessEnvs(instances, CONFIG, workers=workers) as envs:
        assert envs.workers == workers and len(envs) == len(instances)
        run = play(envs)
    for key in serial_run:
        assert run[key] == serial_run[key], key
    assert run == serial_run


def test_wall_time_is_the_only_field_left_out(serial_run):
    o = serial_run["outcomes"][0]
    assert o.wall_time == 0.0 and all(s.wall_time == 0.0 for s in o.trajectory)
    assert env_batch.WALL_FIELDS == ("EpisodeOutcome.wall_time", "StepRecord.wall_time")


# -- bad input, the same for both classes ------------------------------------------------------------
@pytest.fixture(params=["serial", "process"])
def batch(request, instances):
    three = instances[:3]
    envs = SerialEnvs(three, CONFIG) if request.param == "serial" else ProcessEnvs(three, CONFIG, workers=2)
    with deadline(30):
        yield envs
    envs.close()


def test_bad_input_raises_clearly(batch):
    with pytest.raises(RuntimeError, match="reset"):
        batch.step([0], ["GET_IIS"])
    assert batch.done() == [False] * 3
    batch.reset()
    with pytest.raises(IndexError, match="row 3 is out of range"):
        batch.step([0, 3], ["GET_IIS", "GET_IIS"])
    with pytest.raises(IndexError, match="row -1"):
        batch.truncate([-1], "x")
    with pytest.raises(ValueError, match="2 rows and 1 texts"):
        batch.step([0, 1], ["GET_IIS"])
    with pytest.raises(ValueError, match="more than once"):
        batch.step([1, 1], ["GET_IIS", "GET_IIS"])
    with pytest.raises(TypeError, match="an action is a string"):
        batch.step([0], [None])
    with pytest.raises(TypeError, match="row"):
        batch.step(["0"], ["GET_IIS"])
    assert batch.step([], []) == []
    obs, reward, terminated, truncated = batch.step([1], ["SUBMIT night_staff.ub"])[0]
    assert terminated and not truncated and batch.done() == [False, True, False]
    with pytest.raises(RuntimeError, match=r"rows \[1\] are done"):
        batch.step([0, 1], ["GET_IIS", "GET_IIS"])
    with pytest.raises(RuntimeError, match="done"):
        batch.truncate([1], "again")
    with pytest.raises(RuntimeError, match=r"rows \[0, 2\] are still running"):
        batch.outcomes()
    assert [len(t) for t in batch.trajectories()] == [0, 1, 0]  # nothing above reached an env
    batch.truncate([0, 2], "end")
    assert len(batch.outcomes()) == 3
    batch.close()
    batch.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        batch.reset()


def test_construction_errors_are_the_envs_own(instances):
    with pytest.raises(ValueError, match="max_turns"):
        SerialEnvs(instances[:2], EnvConfig(max_turns=0))
    with pytest.raises(ValueError, match="max_turns"):
        ProcessEnvs(instances[:2], EnvConfig(max_turns=0), workers=2)  # raised before any worker starts
    with pytest.raises(ValueError, match="workers >= 1"):
        ProcessEnvs(instances[:2], CONFIG, workers=0)
    with pytest.raises(ValueError, match="timeout"):
        ProcessEnvs(instances[:2], CONFIG, workers=2, timeout=0)


# -- failing workers -----------------------------------------------------------------------------------
def test_a_killed_worker_raises_quickly_and_closes_the_rest(instances):
    envs = ProcessEnvs(instances[:4], CONFIG, workers=2)
    pids = envs.pids
    envs.reset()
    os.kill(pids[0], signal.SIGKILL)
    t0 = time.monotonic()
    with deadline(20), pytest.raises(RuntimeError, match=r"env worker 0 .*killed by signal 9 \(SIGKILL\)"):
        envs.step([1, 0], ["GET_IIS", "GET_IIS"])
    assert time.monotonic() - t0 < 10
    assert gone(pids)
    with pytest.raises(RuntimeError, match="closed"):
        envs.step([1], ["GET_IIS"])
    envs.close()


def test_a_worker_that_raises_names_itself_and_the_exception(instances):
    envs = ProcessEnvs(instances[:4], CONFIG, workers=2)
    pids = envs.pids
    envs.reset()
    # outcome() of a running episode raises inside the env; the parent's checks normally stop this call
    match = r"env worker 1 .*raised RuntimeError: outcome\(\) is available"
    with deadline(20), pytest.raises(RuntimeError, match=match):
        envs._call({1: ("outcomes", None)})
    assert gone(pids)
    with pytest.raises(RuntimeError, match="env worker 0 .*raised ValueError: unknown command 'boom'"):
        e2 = ProcessEnvs(instances[:2], CONFIG, workers=2)
        try:
            e2._call({0: ("boom", None)})
        finally:
            e2.close()


def test_a_silent_worker_times_out(instances):
    envs = ProcessEnvs(instances[:2], CONFIG, workers=2, timeout=5.0)
    envs.reset()
    os.kill(envs.pids[1], signal.SIGSTOP)  # alive but never answers
    with deadline(20), pytest.raises(RuntimeError, match=r"env worker 1 .*did not answer 'step' within 5.0 s"):
        envs.step([0, 1], ["GET_IIS", "GET_IIS"])
    envs.close()


def test_close_runs_from_exit_and_del(instances):
    with ProcessEnvs(instances[:2], CONFIG, workers=2) as envs:
        pids = envs.pids
        assert all(alive(p) for p in pids)
    assert gone(pids)
    envs = ProcessEnvs(instances[:2], CONFIG, workers=2)
    pids = envs.pids
    del envs
    gc.collect()
    assert gone(pids)


# -- make_envs -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [1.5, "2", True, None])
def test_make_envs_wants_an_int(instances, bad):
    with pytest.raises(TypeError, match="workers must be an int"):
        make_envs(instances[:2], CONFIG, bad)


def test_make_envs_picks_the_class(instances, monkeypatch):
    with pytest.raises(ValueError, match="workers must be >= 0"):
        make_envs(instances[:2], CONFIG, -1)
    assert type(make_envs(instances[:3], CONFIG, 1)) is SerialEnvs
    assert type(make_envs(instances[:1], CONFIG, 4)) is SerialEnvs  # never more workers than envs
    assert type(make_envs([], CONFIG, 4)) is SerialEnvs
    with make_envs(instances[:3], CONFIG, 5) as envs:
        assert type(envs) is ProcessEnvs and envs.workers == 3
    monkeypatch.setattr(env_batch.os, "cpu_count", lambda: 1)
    assert type(make_envs(instances[:3], CONFIG, 0)) is SerialEnvs
    monkeypatch.setattr(env_batch.os, "cpu_count", lambda: 2)
    with make_envs(instances[:3], CONFIG, 0) as envs:
        assert type(envs) is ProcessEnvs and envs.workers == 2
