"""Run a parameterised notebook headless with Papermill, with checked parameters and provenance.

Usage::

    python -m ordebug_lib.run NOTEBOOK [--profile P] [-p KEY VALUE ...]
    python -m ordebug_lib.run --all [--profile P]
    python -m ordebug_lib.run NOTEBOOK --profile gpu --publish   # copy figures/reports into the repo

Parameters come from ``params/<notebook>/<profile>.yaml``, then ``-p`` overrides (values are parsed
as YAML, with ``1e-4`` a float: ``-p steps 10`` is an int, ``-p lens "[128, 256]"`` a list). Every key must be a name in the
notebook's cell tagged ``parameters``; Papermill only warns about unknown keys, we refuse them.
The runner always passes ``run_dir``. A notebook declares the files it must produce in its metadata
(``metadata.ordebug.artifacts``, glob patterns relative to the run directory); a missing one fails the run.
"""
from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import os
import secrets
import shutil
import sys
import time
from pathlib import Path

import nbformat

from . import provenance
from .yamlio import load_yaml

ROOT = Path(__file__).resolve().parents[1]
KERNEL_NAME = "ordebug"  # registered by `make kernel`; pinned so runs never pick up a stray kernel
PUBLISH_PROFILE = "gpu"  # only published profiles (gpu, gpu_<variant>) write into the committed figures/ reports/


class RunError(RuntimeError):
    """A run could not start or did not finish cleanly; the message says why."""


def notebook_path(name: str, root: Path = ROOT) -> Path:
    stem = Path(name).stem
    path = root / "notebooks" / f"{stem}.ipynb"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in (root / "notebooks").glob("*.ipynb")))
        raise RunError(f"no notebook {stem!r} in {root / 'notebooks'}; known: {known}")
    return path


def list_notebooks(root: Path = ROOT) -> list[str]:
    return sorted(p.stem for p in (root / "notebooks").glob("[0-9]*.ipynb"))


def load_params(stem: str, profile: str, root: Path = ROOT) -> dict:
    path = root / "params" / stem / f"{profile}.yaml"
    if not path.exists():
        have = sorted(p.stem for p in (root / "params" / stem).glob("*.yaml"))
        raise RunError(f"no parameters for {stem} profile {profile!r} ({path}); profiles: {have or 'none'}")
    data = load_yaml(path.read_text()) or {}
    if not isinstance(data, dict):
        raise RunError(f"{path} must hold a mapping of parameter names to values")
    return data


def notebook_parameters(path: Path) -> dict:
    """Names and defaults of the notebook's ``parameters`` cell (via papermill.inspect_notebook)."""
    import papermill

    params = papermill.inspect_notebook(str(path))
    if not params:
        raise RunError(f"{path.name} has no cell tagged 'parameters'")
    return params


def validate_params(params: dict, declared: dict, nb_name: str) -> None:
    unknown = sorted(set(params) - set(declared))
    if unknown:
        valid = ", ".join(sorted(declared))
        raise RunError(f"unknown parameter(s) {unknown} for notebook {nb_name}; valid parameters: {valid}")


def declared_artifacts(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return list(nb.metadata.get("ordebug", {}).get("artifacts", []))


def check_kernel(name: str = KERNEL_NAME) -> None:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        raise RunError(
            f"Jupyter kernel {name!r} is not registered; run `make kernel` "
            f"(or: {sys.executable} -m ipykernel install --sys-prefix --name {name})"
        ) from None


def parse_overrides(pairs: list[list[str]] | None) -> dict:
    return {k: load_yaml(v) for k, v in (pairs or [])}


def new_run_id() -> str:
    return dt.datetime.now().strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def run_notebook(
    name: str,
    profile: str = "default",
    overrides: dict | None = None,
    run_id: str | None = None,
    cell_timeout: int = 3600,
    publish: bool = False,
    root: Path = ROOT,
    runs_root: Path | None = None,
    resume: bool = False,
) -> Path:
    """Execute one notebook; return its run directory. Raises RunError on any failure.

    ``resume`` re-executes the notebook in an existing run directory (``run_id`` required) that was
    started with exactly the same parameters (its ``params.json``): work the notebook stored there is
    reused where it skips it (experiment arms with a matching ``done.json``, stored evaluation rows), so
    a run cut by a command's time limit can finish in a second command. Every attempt's start and
    commit are listed in ``attempts`` of the provenance."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    if publish and not (profile == PUBLISH_PROFILE or profile.startswith(PUBLISH_PROFILE + "_")):
        raise RunError(f"--publish is only for the {PUBLISH_PROFILE!r} profile and its variants "
                       f"{PUBLISH_PROFILE}_<name> (got {profile!r})")
    nb_path = notebook_path(name, root)
    stem = nb_path.stem
    params = load_params(stem, profile, root)
    params.update(overrides or {})
    declared = notebook_parameters(nb_path)
    validate_params(params, declared, stem)
    if "run_dir" not in declared:
        raise RunError(f"{stem}: the parameters cell must define run_dir")
    check_kernel()

    if resume and not run_id:
        raise RunError("--resume needs the --run-id of the run to resume")
    run_dir = (runs_root or root / "runs") / stem / profile / (run_id or new_run_id())
    params["run_dir"] = str(run_dir.resolve())
    params_json = json.dumps(params, indent=2, default=str)
    attempts = []
    if run_dir.exists():
        if not resume:
            raise RunError(f"run directory {run_dir} exists; choose another --run-id (runs are never overwritten) "
                           "or --resume it")
        stored = run_dir / "params.json"
        if not stored.exists():
            raise RunError(f"cannot resume {run_dir}: it has no params.json (not started by this runner)")
        before, now = json.loads(stored.read_text()), json.loads(params_json)
        if before != now:
            diff = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
            raise RunError(f"cannot resume {run_dir}: it was started with other parameters ({', '.join(diff)})")
        attempts = json.loads((run_dir / "attempts.json").read_text())
    elif resume:
        raise RunError(f"nothing to resume: {run_dir} does not exist")
    else:
        run_dir.mkdir(parents=True)
        (run_dir / "params.json").write_text(params_json + "\n")
    out_nb = run_dir / f"{stem}.ipynb"

    record = {"notebook": stem, "profile": profile, "parameters": params, **provenance.collect(root)}
    start = time.time()
    record["start"] = dt.datetime.now(dt.timezone.utc).isoformat()
    attempts.append({"start": record["start"], "git": record.get("git")})
    (run_dir / "attempts.json").write_text(json.dumps(attempts, indent=2, default=str) + "\n")
    record["attempts"] = attempts
    error = None
    try:
        papermill.execute_notebook(
            str(nb_path), str(out_nb), parameters=params, kernel_name=KERNEL_NAME,
            execution_timeout=cell_timeout, progress_bar=True, cwd=str(root),
            report_mode=False, log_output=False,
        )
    except PapermillExecutionError as e:
        error = f"{stem} failed in cell {e.cell_index} (execution count {e.exec_count}): {e.ename}: {e.evalue}"
    record["end"] = dt.datetime.now(dt.timezone.utc).isoformat()
    record["wall_time_s"] = round(time.time() - start, 3)

    if error is None:
        missing = [a for a in declared_artifacts(nb_path) if not glob.glob(str(run_dir / a))]
        if missing:
            error = f"{stem} finished but did not write declared artifact(s) {missing} in {run_dir}"
    record["status"] = "failed" if error else "ok"
    record["error"] = error
    (run_dir / "provenance.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    if error:
        raise RunError(f"{error}\n  executed notebook: {out_nb}")
    if publish:
        publish_run(run_dir, stem, root)
    return run_dir


def publish_run(run_dir: Path, stem: str, root: Path = ROOT) -> None:
    """Copy a gpu run's figures and reports into the committed folders, with its provenance."""
    for sub in ("figures", "reports"):
        for f in sorted((run_dir / sub).glob("*")):
            dest = root / sub / f.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dest)
    prov_dir = root / "reports" / "provenance"
    prov_dir.mkdir(parents=True, exist_ok=True)
    profile = run_dir.parent.name
    tag = stem if profile == PUBLISH_PROFILE else f"{stem}.{profile}"
    shutil.copy2(run_dir / "provenance.json", prov_dir / f"{tag}.json")
    if (run_dir / "metrics.json").exists():
        shutil.copy2(run_dir / "metrics.json", prov_dir / f"{tag}.metrics.json")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ordebug_lib.run", description=__doc__.split("\n\n")[0])
    ap.add_argument("notebook", nargs="?", help="notebook name, e.g. 00_environment_check")
    ap.add_argument("--profile", default=os.environ.get("PROFILE", "default"))
    ap.add_argument("-p", "--param", nargs=2, action="append", metavar=("KEY", "VALUE"))
    ap.add_argument("--all", action="store_true", help="run every notebook that has this profile")
    ap.add_argument("--publish", action="store_true", help="copy figures/reports into the repo (gpu only)")
    ap.add_argument("--cell-timeout", type=int, default=3600, help="seconds per cell")
    ap.add_argument("--run-id")
    ap.add_argument("--resume", action="store_true",
                    help="finish the run --run-id, started with the same parameters (e.g. cut by a time limit)")
    ap.add_argument("--root", type=Path, default=ROOT, help="project folder holding notebooks/ and params/")
    args = ap.parse_args(argv)
    root = args.root.resolve()
    if bool(args.notebook) == args.all:
        ap.error("give a NOTEBOOK or --all (not both)")
    names = [n for n in list_notebooks(root) if (root / "params" / n / f"{args.profile}.yaml").exists()] if args.all \
        else [args.notebook]
    if args.all and not names:
        ap.error(f"no notebook has a {args.profile!r} profile")
    try:
        overrides = parse_overrides(args.param)
        for n in names:
            print(f"== {n} [{args.profile}]", flush=True)
            rd = run_notebook(n, args.profile, overrides, args.run_id, args.cell_timeout, args.publish, root=root,
                              resume=args.resume)
            print(f"   ok -> {rd}", flush=True)
    except RunError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
