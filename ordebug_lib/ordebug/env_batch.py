"""Many ``RepairEnv`` episodes stepped together: in this process, or sharded over worker processes.

Terms: a *batch* holds N envs, one per instance, addressed by *row* 0 .. N-1 (the instance's position).
A *turn* is one ``step(rows, texts)`` call: row ``rows[k]`` takes action ``texts[k]``. A *worker* is a
process holding a *shard* of the envs; env i lives in worker ``i % W`` (round robin, so the easy and hard
instances of a sorted list spread over the workers), at position ``i // W`` of its shard.

============  =========================================  ==================================================
class         where the envs live                        what one turn costs
============  =========================================  ==================================================
SerialEnvs    this process, a list of ``RepairEnv``      the sum of its env steps, one after another
ProcessEnvs   W ``spawn``-ed worker processes, env i in  one message to and one reply from each worker that
              worker ``i % W``                           has rows in the turn; the workers step concurrently
============  =========================================  ==================================================

Both have one interface (``reset``, ``step``, ``truncate``, ``done``, ``outcomes``, ``trajectories``,
``close``; a context manager) and give identical results for the same instances and texts: the
observations, rewards, done flags, outcomes and trajectories of ``SerialEnvs`` are those of the
``RepairEnv`` objects themselves, and a worker runs the same ``RepairEnv`` code on a pickled copy of the
instance (Gurobi runs one thread, see ``solver.py``, so its answers do not depend on the process). Only the
wall-clock fields, ``EpisodeOutcome.wall_time`` and ``StepRecord.wall_time`` (``WALL_FIELDS``), differ;
``strip_wall_time`` zeroes them for comparisons. (One caveat, the env's and not this module's: a solve
that runs into ``EnvConfig.solve_time_limit``, a wall-clock limit, can answer differently on a loaded
machine, in either class.) ``info`` dicts are not returned: ``info["model"]`` is a whole model, too big to
ship every turn, and the LM rollouts read only the text. ``make_envs(instances, config, workers)`` picks the
class.

    >>> from ordebug_lib.ordebug.model import LinearModel
    >>> m = LinearModel("toy", "min"); _ = m.add_var("x", ub=5, obj=1)
    >>> _ = m.add_constr("need", {"x": 1}, ">=", 8)
    >>> def play(envs):                 # reset, two turns, a truncate, a last turn
    ...     out = [envs.reset(), envs.step([2, 0], ["SET_BOUNDS x 0 10", "GET_IIS"]),
    ...            envs.step([2], ["SUBMIT x.ub"]), envs.truncate([1], "context full"),
    ...            envs.step([0], ["SUBMIT need"])]
    ...     return out, envs.done(), strip_wall_time(envs.outcomes())
    >>> cfg = EnvConfig(max_turns=3)
    >>> with SerialEnvs([m] * 3, cfg) as serial, ProcessEnvs([m] * 3, cfg, workers=2) as procs:
    ...     a, b = play(serial), play(procs)
    >>> a == b                          # rows 0 and 2 in worker 0, row 1 in worker 1
    True
    >>> steps, done, outcomes = a
    >>> [(r, term, trunc) for _, r, term, trunc in steps[1] + steps[2] + steps[4]], steps[3]
    ([(0.0, False, False), (0.0, False, False), (30.0, True, False), (-50.0, True, False)], [-50.0])
    >>> done, [(o.steps, o.submitted, o.truncated, o.feasible_end) for o in outcomes]
    ([True, True, True], [(2, True, False, False), (0, False, True, False), (2, True, False, True)])
"""
from __future__ import annotations

import dataclasses
import multiprocessing as mp
import operator
import os
import signal
import time
import traceback
from multiprocessing.connection import wait
from typing import Sequence, Union

from .env import EnvConfig, EpisodeOutcome, RepairEnv, StepRecord
from .instance import Instance
from .model import LinearModel

Problem = Union[Instance, LinearModel]  # what RepairEnv takes; the training rollouts pass Instances
StepResult = tuple[str, float, bool, bool]  # (obs, reward, terminated, truncated)
WALL_FIELDS = ("EpisodeOutcome.wall_time", "StepRecord.wall_time")  # seconds measured, not results
MP_CONTEXT = "spawn"  # a fresh interpreter per worker: fork would copy a parent's CUDA / Gurobi state


def strip_wall_time(x):
    """``x`` (an ``EpisodeOutcome``, a ``StepRecord`` or a list of them) with its wall-clock fields set to 0,
    for comparing runs: everything else is a result and must match exactly."""
    if isinstance(x, list):
        return [strip_wall_time(r) for r in x]
    if isinstance(x, EpisodeOutcome):
        return dataclasses.replace(x, wall_time=0.0, trajectory=strip_wall_time(x.trajectory))
    if isinstance(x, StepRecord):
        return dataclasses.replace(x, wall_time=0.0)
    raise TypeError(f"strip_wall_time takes an EpisodeOutcome, a StepRecord or a list, got {type(x).__name__}")


class _Batch:
    """The checks both classes share, so bad input fails the same way (and before any worker sees it)."""

    def __init__(self, n: int):
        self._n = n
        self._done = [False] * n  # kept here from step/truncate replies: done() needs no round trip
        self._started = False
        self._closed = False

    def __len__(self) -> int:
        return self._n

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: modules may already be gone
            pass

    def close(self) -> None:  # overridden; idempotent
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"this {type(self).__name__} is closed")

    def _check_started(self, what: str) -> None:
        self._check_open()
        if not self._started:
            raise RuntimeError(f"call reset() before {what}()")

    def _check_rows(self, rows: Sequence[int], what: str) -> list[int]:
        """Rows as ints: in range, each once, each of a running episode."""
        self._check_started(what)
        if isinstance(rows, (str, bytes)) or not hasattr(rows, "__len__"):
            raise TypeError(f"{what}() takes a sequence of row numbers, got {type(rows).__name__}")
        out = []
        for r in rows:
            try:
                i = operator.index(r)
            except TypeError:
                raise TypeError(f"a row is an int, got {r!r}") from None
            if not 0 <= i < self._n:
                raise IndexError(f"row {i} is out of range: this batch has {self._n} envs (rows 0..{self._n - 1})")
            out.append(i)
        if len(set(out)) != len(out):
            dup = sorted({i for i in out if out.count(i) > 1})
            raise ValueError(f"rows {dup} are given more than once in one {what}() call")
        over = [i for i in out if self._done[i]]
        if over:
            raise RuntimeError(f"rows {over} are done (SUBMIT, step limit or truncate); they take no more actions")
        return out

    def _check_step(self, rows: Sequence[int], texts: Sequence[str]) -> list[int]:
        if isinstance(texts, str) or not hasattr(texts, "__len__"):
            raise TypeError(f"step() takes a sequence of action texts, got {type(texts).__name__}")
        if len(rows) != len(texts):
            raise ValueError(f"step() got {len(rows)} rows and {len(texts)} texts; they must pair up")
        rows = self._check_rows(rows, "step")
        bad = [type(t).__name__ for t in texts if not isinstance(t, str)]
        if bad:
            raise TypeError(f"an action is a string, got {bad[0]}")
        return rows

    def _check_truncate(self, rows: Sequence[int], reason: str) -> list[int]:
        if not isinstance(reason, str):
            raise TypeError(f"reason is a string, got {type(reason).__name__}")
        return self._check_rows(rows, "truncate")

    def _check_outcomes(self) -> None:
        self._check_started("outcomes")
        running = [i for i, d in enumerate(self._done) if not d]
        if running:
            raise RuntimeError(f"outcomes() needs every episode over; rows {running[:10]}"
                               f"{' ...' if len(running) > 10 else ''} are still running")

    def _after_step(self, rows: list[int], results: list[StepResult]) -> list[StepResult]:
        for i, (_, _, terminated, truncated) in zip(rows, results):
            self._done[i] = bool(terminated or truncated)
        return results

    def _after_reset(self) -> None:
        self._done = [False] * self._n
        self._started = True


class SerialEnvs(_Batch):
    """The in-process reference: a list of ``RepairEnv``, stepped one after another."""

    def __init__(self, instances: Sequence[Problem], config: EnvConfig):
        super().__init__(len(instances))
        self.envs = [RepairEnv(p, config) for p in instances]

    def reset(self) -> list[str]:
        self._check_open()
        obs = [env.reset()[0] for env in self.envs]
        self._after_reset()
        return obs

    def step(self, rows: Sequence[int], texts: Sequence[str]) -> list[StepResult]:
        rows = self._check_step(rows, texts)
        return self._after_step(rows, [_step(self.envs[i], t) for i, t in zip(rows, texts)])

    def truncate(self, rows: Sequence[int], reason: str) -> list[float]:
        rows = self._check_truncate(rows, reason)
        out = [float(self.envs[i].truncate(reason)) for i in rows]
        for i in rows:
            self._done[i] = True
        return out

    def done(self) -> list[bool]:
        self._check_open()
        if not self._started:
            return list(self._done)
        return [env.done for env in self.envs]  # the envs' own flags: the reference

    def outcomes(self) -> list[EpisodeOutcome]:
        self._check_outcomes()
        return [env.outcome() for env in self.envs]

    def trajectories(self) -> list[list[StepRecord]]:
        self._check_started("trajectories")
        return [env.trajectory for env in self.envs]

    def close(self) -> None:
        self._closed = True
        self.envs = []


def _step(env: RepairEnv, text: str) -> StepResult:
    obs, reward, terminated, truncated, _ = env.step(text)
    return obs, float(reward), bool(terminated), bool(truncated)


# -- worker processes --------------------------------------------------------------------------------
def _worker_main(conn, index: int) -> None:
    """One worker: build its shard on "init", then answer one command per message until "close" or EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it closes us
    envs: list[RepairEnv] = []
    while True:
        try:
            cmd, arg = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if cmd == "close":
            return
        try:
            if cmd == "init":
                problems, config = arg
                envs = [RepairEnv(p, config) for p in problems]
                reply = ("ok", len(envs))
            else:
                reply = ("ok", _handle(envs, cmd, arg))
        except BaseException as e:  # a bug in an env (step never raises by design): report it; the parent closes all
            reply = ("error", f"{type(e).__name__}: {e}", traceback.format_exc())
        try:
            conn.send(reply)
        except (EOFError, OSError, BrokenPipeError):
            return
        except Exception as e:  # the reply would not pickle
            conn.send(("error", f"{type(e).__name__} sending the reply to {cmd!r}: {e}", traceback.format_exc()))


def _handle(envs: list[RepairEnv], cmd: str, arg):
    if cmd == "reset":
        return [env.reset()[0] for env in envs]
    if cmd == "step":
        return [_step(envs[j], text) for j, text in arg]
    if cmd == "truncate":
        js, reason = arg
        return [float(envs[j].truncate(reason)) for j in js]
    if cmd == "outcomes":
        return [env.outcome() for env in envs]
    if cmd == "trajectories":
        return [env.trajectory for env in envs]
    raise ValueError(f"unknown command {cmd!r}")


def _exit_text(code: int | None) -> str:
    if code is None:
        return "closed its connection"
    if code < 0:
        try:
            return f"was killed by signal {-code} ({signal.Signals(-code).name})"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


class ProcessEnvs(_Batch):
    """The envs sharded over ``workers`` processes (env i in worker ``i % workers``, at most one worker per
    env), started once with the ``spawn`` context and reused for every turn. The instances go to the
    workers once, here; a turn sends each worker with rows in it one message and gathers every reply.

    ``timeout`` (seconds, None: wait as long as it takes) bounds one round trip: a worker still silent by
    then counts as failed. A worker that dies or raises makes the call raise ``RuntimeError`` naming the
    worker and what happened (with the worker's traceback), after closing all workers; the batch is then
    closed. ``close()`` is idempotent and also runs from ``__exit__`` and ``__del__``; the workers are
    daemonic, so they also go when the parent exits, and one whose parent died exits at its next read.

    Why ``spawn``: a forked worker would inherit the parent's CUDA context and Gurobi environment, which
    are not fork-safe; a spawned one starts a fresh interpreter that imports the env code (not torch) and
    the parent's main module. So the usual ``spawn`` rule holds: a script that builds a ProcessEnvs at
    import time needs the ``if __name__ == "__main__":`` guard.
    """

    def __init__(self, instances: Sequence[Problem], config: EnvConfig, workers: int, *,
                 timeout: float | None = None):
        super().__init__(len(instances))
        self._procs: list = []
        self._conns: list = []
        self._closed = True  # until the workers are up (close() from __del__ of a half-built one is a no-op)
        workers = _check_workers(workers)
        if workers < 1:
            raise ValueError(f"ProcessEnvs needs workers >= 1, got {workers}")
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be positive seconds or None, got {timeout!r}")
        problems = list(instances)
        for p in problems:  # the same errors as SerialEnvs (bad config, model beyond the license), raised here
            RepairEnv(p, config)
        self.workers = min(workers, len(problems))
        self.timeout = timeout
        ctx = mp.get_context(MP_CONTEXT)
        self._closed = False
        try:
            for k in range(self.workers):
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=_worker_main, args=(child, k), name=f"ordebug-envs-{k}", daemon=True)
                proc.start()
                child.close()  # the worker holds the other end: its death reads as EOF here
                self._procs.append(proc)
                self._conns.append(parent)
            # all started before any send, so the workers boot concurrently while the shards go out
            self._call({k: ("init", (problems[k::self.workers], config)) for k in range(self.workers)})
        except BaseException:
            self._shutdown(graceful=False)
            raise

    @property
    def pids(self) -> list[int]:
        """Process id of each worker (worker k holds rows k, k + workers, ...)."""
        return [p.pid for p in self._procs]

    def reset(self) -> list[str]:
        self._check_open()
        shards = self._call({k: ("reset", None) for k in range(self.workers)})
        self._after_reset()
        return self._unshard(shards)

    def step(self, rows: Sequence[int], texts: Sequence[str]) -> list[StepResult]:
        rows = self._check_step(rows, texts)
        msgs: dict[int, list] = {}
        for i, text in zip(rows, texts):
            msgs.setdefault(i % self.workers, []).append((i // self.workers, text))
        replies = self._call({k: ("step", m) for k, m in msgs.items()})
        it = {k: iter(r) for k, r in replies.items()}  # each worker answers its rows in the order sent
        return self._after_step(rows, [next(it[i % self.workers]) for i in rows])

    def truncate(self, rows: Sequence[int], reason: str) -> list[float]:
        rows = self._check_truncate(rows, reason)
        msgs: dict[int, list] = {}
        for i in rows:
            msgs.setdefault(i % self.workers, []).append(i // self.workers)
        replies = self._call({k: ("truncate", (js, reason)) for k, js in msgs.items()})
        it = {k: iter(r) for k, r in replies.items()}
        out = [next(it[i % self.workers]) for i in rows]
        for i in rows:
            self._done[i] = True
        return out

    def done(self) -> list[bool]:
        self._check_open()
        return list(self._done)

    def outcomes(self) -> list[EpisodeOutcome]:
        self._check_outcomes()
        return self._unshard(self._call({k: ("outcomes", None) for k in range(self.workers)}))

    def trajectories(self) -> list[list[StepRecord]]:
        self._check_started("trajectories")
        return self._unshard(self._call({k: ("trajectories", None) for k in range(self.workers)}))

    def close(self) -> None:
        self._shutdown(graceful=True)

    # -- plumbing ------------------------------------------------------------------------------------
    def _unshard(self, shards: dict[int, list]) -> list:
        out = [None] * self._n
        for k, items in shards.items():
            out[k::self.workers] = items
        return out

    def _call(self, msgs: dict[int, tuple]) -> dict[int, object]:
        """Send ``msgs[k]`` to worker k (all first, so they work concurrently), then gather every reply."""
        self._check_open()
        for k, msg in msgs.items():
            try:
                self._conns[k].send(msg)
            except (BrokenPipeError, EOFError, OSError) as e:
                self._fail(k, f"{_exit_text(self._exitcode(k))} (sending failed: {e})")
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        replies: dict[int, object] = {}
        waiting = set(msgs)
        while waiting:
            by_obj = {}
            for k in waiting:
                by_obj[self._conns[k]] = k
                by_obj[self._procs[k].sentinel] = k
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready = wait(list(by_obj), timeout=left)
            if not ready:
                k = min(waiting)
                self._fail(k, f"did not answer {msgs[k][0]!r} within {self.timeout} s")
            for k in sorted({by_obj[o] for o in ready}):
                conn = self._conns[k]
                if not conn.poll():  # only the sentinel: dead without a reply (poll is True at EOF too)
                    self._fail(k, f"{_exit_text(self._exitcode(k))} during {msgs[k][0]!r}")
                try:
                    reply = conn.recv()
                except Exception as e:  # EOF, or a reply cut short by the worker's death
                    self._fail(k, f"{_exit_text(self._exitcode(k))} during {msgs[k][0]!r} "
                                  f"({type(e).__name__} reading its reply)")
                if reply[0] == "error":
                    self._fail(k, f"raised {reply[1]} during {msgs[k][0]!r}\n--- worker traceback ---\n{reply[2]}")
                replies[k] = reply[1]
                waiting.discard(k)
        return replies

    def _exitcode(self, k: int) -> int | None:
        self._procs[k].join(timeout=1.0)  # a dead worker's exit status is known within moments
        return self._procs[k].exitcode

    def _fail(self, k: int, what: str):
        pid = self._procs[k].pid
        self._shutdown(graceful=False)
        raise RuntimeError(f"env worker {k} (pid {pid}, rows {k}, {k} + {self.workers}, ...) {what}; "
                           f"all {self.workers} workers are closed")

    def _shutdown(self, graceful: bool) -> None:
        if self._closed and not self._procs:
            return
        self._closed = True
        procs, conns = self._procs, self._conns
        self._procs, self._conns = [], []
        if graceful:
            for conn in conns:
                try:
                    conn.send(("close", None))
                except Exception:
                    pass
        else:  # after a failure the others' state no longer matters
            for proc in procs:
                proc.terminate()
        for proc in procs:  # a graceful worker exits at once; a stopped or stuck one gets SIGKILL
            proc.join(timeout=2.0 if graceful else 0.5)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=1.0)
        for conn in conns:
            conn.close()
        for proc in procs:
            try:
                proc.close()
            except ValueError:  # still running: nothing more we can do
                pass


def _check_workers(workers) -> int:
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise TypeError(f"workers must be an int (0: one per CPU), got {type(workers).__name__} {workers!r}")
    if workers < 0:
        raise ValueError(f"workers must be >= 0 (0: one per CPU), got {workers}")
    return workers


def make_envs(instances: Sequence[Problem], config: EnvConfig, workers: int) -> SerialEnvs | ProcessEnvs:
    """``SerialEnvs`` for ``workers`` <= 1, otherwise ``ProcessEnvs``. ``workers`` is an int >= 0; 0 means
    ``os.cpu_count()``; never more workers than envs (so one instance always runs serially).

    >>> from ordebug_lib.ordebug.model import LinearModel
    >>> m = LinearModel("toy"); _ = m.add_var("x", ub=1); _ = m.add_constr("c", {"x": 1}, ">=", 2)
    >>> type(make_envs([m], EnvConfig(), workers=4)).__name__
    'SerialEnvs'
    """
    workers = _check_workers(workers)
    if workers == 0:
        workers = os.cpu_count() or 1
    workers = min(workers, len(instances))
    if workers <= 1:
        return SerialEnvs(instances, config)
    return ProcessEnvs(instances, config, workers)
