"""Run independent experiment arms as subprocesses, several at a time, each with its own log.

A small 25M-parameter policy leaves a GPU mostly idle while HF ``generate`` launches one decoding step
after another, so several RL arms side by side on one GPU finish sooner than one after another; on a
machine with several GPUs arm k gets GPU k mod n. Each job is ``python -m <module> <spec.json>``; its
stdout and stderr go to ``<job dir>/log.txt``. A job counts as done when it wrote ``<job dir>/done.json``;
done jobs are skipped, so an interrupted experiment resumes where it stopped. A failed job raises with
the end of its log (nothing is dropped silently). A running job holds ``<job dir>/running.json`` (host,
pid): a job whose process outlived a killed parent (a command time limit kills the runner, not its
arms) is not started a second time beside itself; the new attempt refuses until it ends.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..files import pid_alive, write_atomic

DONE = "done.json"
RUNNING = "running.json"


@dataclass
class Job:
    """One arm to run: ``python -m module spec_path``, writing into ``dir``."""

    name: str
    module: str
    dir: Path
    spec: dict

    @property
    def spec_path(self) -> Path:
        return self.dir / "spec.json"

    @property
    def done(self) -> bool:
        p = self.dir / DONE
        return p.exists() and json.loads(p.read_text()).get("spec") == self.spec


class JobFailed(RuntimeError):
    pass


def still_running(job: Job) -> int | None:
    """The pid of an earlier attempt's process of ``job`` that is still alive on this host, else None."""
    p = job.dir / RUNNING
    if not p.exists():
        return None
    info = json.loads(p.read_text())
    if info.get("host") == socket.gethostname() and pid_alive(int(info["pid"])):
        return int(info["pid"])
    return None


def _tail(path: Path, n: int = 40) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:])


def gpu_count() -> int:
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def child_threads(parallel: int, cores: int | None = None) -> int:
    """CPU threads per arm (``OMP_NUM_THREADS``, unless the caller's environment sets it): the cores shared
    out, since torch in each arm otherwise starts one thread per core and ``parallel`` arms oversubscribe them.

    >>> child_threads(2, cores=2), child_threads(4, cores=16), child_threads(3, cores=2)
    (1, 4, 1)
    """
    cores = cores or os.cpu_count() or 1
    return max(1, cores // parallel)


def run_jobs(jobs: Sequence[Job], parallel: int = 1, poll_s: float = 0.5, progress: bool = True,
             env: dict | None = None) -> dict[str, float]:
    """Run the jobs that are not done yet, at most ``parallel`` at a time; returns {name: wall seconds}
    of the jobs run now. Raises ``JobFailed`` when a job exits non-zero or exits without its ``done.json``:
    after a failure no job starts, and those already running finish first, so that their results are kept and a
    rerun redoes only what failed (E4 v2's e4v2b lost eight arms' evaluations when one arm's out-of-memory error
    stopped them all)."""
    from tqdm.auto import tqdm

    if parallel < 1:
        raise ValueError(f"parallel must be >= 1, got {parallel}")
    names = [j.name for j in jobs]
    if len(set(names)) != len(names):
        raise ValueError(f"job names must be unique: {names}")
    todo = [j for j in jobs if not j.done]
    busy = {j.name: pid for j in todo if (pid := still_running(j)) is not None}
    if busy:
        raise JobFailed(f"arms still running from an earlier attempt (name: pid): {busy}; wait for them to "
                        "write done.json (then they are skipped) or stop them, and run again")
    n_gpus = gpu_count()
    running: list[tuple[Job, subprocess.Popen, float, object]] = []
    walls: dict[str, float] = {}
    bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc="arms", disable=not progress)
    slot = 0
    failures: list[str] = []
    try:
        while (todo and not failures) or running:
            while todo and not failures and len(running) < parallel:
                job = todo.pop(0)
                job.dir.mkdir(parents=True, exist_ok=True)
                (job.dir / DONE).unlink(missing_ok=True)
                job.spec_path.write_text(json.dumps(job.spec, indent=2))
                # expandable segments: arms sharing a GPU fragment less (an E1 arm at 1024 tokens ran out
                # of memory beside three others with 2 GiB reserved but unallocated)
                child_env = {"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True",
                             "OMP_NUM_THREADS": str(child_threads(parallel)), **os.environ, **(env or {}),
                             "PYTHONUNBUFFERED": "1"}
                if n_gpus > 1:
                    child_env["CUDA_VISIBLE_DEVICES"] = str(slot % n_gpus)
                slot += 1
                log = (job.dir / "log.txt").open("w")
                proc = subprocess.Popen([sys.executable, "-m", job.module, str(job.spec_path)],
                                        stdout=log, stderr=subprocess.STDOUT, env=child_env)
                (job.dir / RUNNING).write_text(json.dumps({"host": socket.gethostname(),
                                                           "pid": proc.pid}))
                running.append((job, proc, time.perf_counter(), log))
            time.sleep(poll_s)
            still = []
            for job, proc, t0, log in running:
                rc = proc.poll()
                if rc is None:
                    still.append((job, proc, t0, log))
                    continue
                log.close()
                (job.dir / RUNNING).unlink(missing_ok=True)
                walls[job.name] = time.perf_counter() - t0
                if rc != 0 or not job.done:
                    why = f"exit code {rc}" if rc != 0 else f"exit 0 without {DONE}"
                    failures.append(f"arm {job.name!r} failed ({why}); end of {job.dir / 'log.txt'}:\n"
                                    f"{_tail(job.dir / 'log.txt')}")
                    continue
                bar.update(1)
                bar.set_postfix_str(f"{job.name} {walls[job.name]:.0f}s")
            running = still
        if failures:
            waiting = f"\n{len(todo)} not started after the failure: {', '.join(j.name for j in todo)}" if todo else ""
            raise JobFailed("\n".join(failures) + waiting)
    finally:
        for job, proc, _, log in running:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()
            (job.dir / RUNNING).unlink(missing_ok=True)
        bar.close()
    return walls


def mark_done(job_dir: str | Path, spec: dict, **summary) -> Path:
    """Called by the job itself when everything it owes is written. Written to a temporary file, then
    renamed: a kill mid-write leaves no done.json (the job reruns), never a torn one that stops a resume."""
    p = Path(job_dir) / DONE
    return write_atomic(p, json.dumps({"spec": spec, **summary}, indent=2, default=str) + "\n")
