"""Provenance recorded next to every result: what ran, where, with which code and versions."""
from __future__ import annotations

import importlib.metadata as md
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

TRACKED_PACKAGES = ("torch", "transformers", "trl", "peft", "gurobipy", "papermill", "accelerate", "datasets")


def git_state(repo: str | Path = ".") -> dict:
    """Commit hash and dirty flag of the checkout.

    ``ORDEBUG_GIT_COMMIT`` / ``ORDEBUG_GIT_DIRTY``, when set, win and are recorded with ``"source": "env"``:
    a copy of the tree on a remote GPU machine may carry no ``.git`` or a stale one (one did: it reported
    the session's first commit, dirty, for runs of a later, clean commit), so whoever launches the run
    states the commit. Otherwise git is asked; neither available: ``None`` values.
    """
    if os.environ.get("ORDEBUG_GIT_COMMIT"):
        return {"commit": os.environ["ORDEBUG_GIT_COMMIT"],
                "dirty": os.environ.get("ORDEBUG_GIT_DIRTY", "unknown") == "1", "source": "env"}

    def _git(*args):
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)

    head = _git("rev-parse", "HEAD")
    if head.returncode != 0:
        return {"commit": None, "dirty": None}
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


def package_versions(names=TRACKED_PACKAGES) -> dict:
    out = {"python": platform.python_version()}
    for n in names:
        try:
            out[n] = md.version(n)
        except md.PackageNotFoundError:
            out[n] = None
    return out


def device_info() -> dict:
    """CPU or GPU name; imports torch lazily so this stays cheap where torch is absent."""
    info = {"cpu": platform.processor() or platform.machine()}
    try:
        import torch
    except ImportError:
        info["device"] = "cpu"
        return info
    if torch.cuda.is_available():
        info["device"] = "cuda"
        info["gpu_name"] = torch.cuda.get_device_name(0)
        info["gpu_count"] = torch.cuda.device_count()
        info["cuda"] = torch.version.cuda
    else:
        info["device"] = "cpu"
    info["torch_threads"] = torch.get_num_threads()
    return info


def collect(repo: str | Path = ".") -> dict:
    return {
        "git": git_state(repo),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "argv": sys.argv,
        "device": device_info(),
        "versions": package_versions(),
    }
