"""Build, write and read an OR-Debug benchmark (the on-disk format is in docs/ordebug_benchmark.md).

    out_dir/
      manifest.json                  build parameters, counts per split and cell, skipped families, timing
      index.jsonl                    one line per instance: Instance.index_row() + split + MPS paths
      models/<id>.original.mps       the feasible model (Gurobi MPS)
      models/<id>.sabotaged.mps      the infeasible model given to the agent

Splits are disjoint by construction: a base model's split is a function of its identity
(family, size, base seed), fixed before any sabotage, and each instance is made only from base seeds
of its own split. A fingerprint guard also refuses an instance whose original or sabotaged model
(names ignored) already appears in another split.

    >>> import tempfile
    >>> d = build_benchmark(tempfile.mkdtemp(), 1, error_types="D", difficulties=("easy",), progress=False)
    >>> [inst.error_type for inst in load_benchmark(d)]
    ['D']
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from itertools import chain, count
from pathlib import Path
from typing import Iterable, Iterator

from tqdm import tqdm

from ..files import write_atomic
from . import families as fam_lib
from .difficulty import DIFFICULTY
from .error_types import ALL_TYPES, error_type_letters
from .instance import DIFFICULTIES, Instance
from .model import ModelError
from .saboteur import GenerationError, derive_seed, make_instance
from .solver import read_model, write_model

SPLITS = ("train", "val", "test")
FORMAT_VERSION = 2  # 2: rows and columns in a per-instance random order, root row kinds balanced per family
ATTEMPTS_PER_SLOT = 4  # base models tried for one instance before its family is set aside for that cell
QUOTA_Z = 1.0  # a root kind is over quota beyond this many binomial SEs above its family's pooled rate


def split_of(family: str, size: int, base_seed: int, fractions: tuple[float, ...], salt: int) -> str:
    """The split of a base model: a uniform hash of its identity cut at the cumulative fractions.

    >>> split_of("diet", 1, 7, (1.0, 0.0, 0.0), salt=0)
    'train'
    """
    u = int(hashlib.sha256(f"{salt}|{family}|{size}|{base_seed}".encode()).hexdigest()[:15], 16) / 16 ** 15
    edge = 0.0
    for name, frac in zip(SPLITS, fractions):
        edge += frac
        if u < edge:
            return name
    return SPLITS[len(fractions) - 1]


def allocate_splits(n_cells: int, n_per_cell: int, fractions: tuple[float, ...]) -> list[list[str]]:
    """Split labels for every slot of every cell, so each cell gets n_per_cell slots and the running
    totals follow the fractions (cumulative rounding: small cells still feed val and test overall).

    >>> allocate_splits(3, 4, (0.5, 0.25, 0.25))
    [['train', 'train', 'val', 'test'], ['train', 'train', 'val', 'test'], ['train', 'train', 'val', 'test']]
    """
    out, given = [], [0] * len(fractions)
    for c in range(n_cells):
        total = (c + 1) * n_per_cell
        want = [round(f * total) for f in fractions]
        want[0] += total - sum(want)  # rounding remainder to the first split
        cell = []
        for i, name in enumerate(SPLITS[:len(fractions)]):
            k = max(0, min(want[i] - given[i], n_per_cell - len(cell)))
            cell += [name] * k
            given[i] += k
        given[0] += n_per_cell - len(cell)
        cell += [SPLITS[0]] * (n_per_cell - len(cell))
        out.append(cell)
    return out


def seeds_in_split(family: str, size: int, split: str, fractions, salt: int, stream: str) -> Iterator[int]:
    """Base seeds of one split, in a fixed pseudo-random order (``stream`` keeps cells apart)."""
    for k in count():
        s = derive_seed("bench", salt, stream, family, size, k)
        if split_of(family, size, s, fractions, salt) == split:
            yield s


def _check_fractions(fractions: tuple[float, ...]) -> tuple[float, ...]:
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != len(SPLITS) or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"split_fractions must be {len(SPLITS)} non-negative numbers summing to 1 "
                         f"(train, val, test), got {fractions}")
    return fractions


def build_benchmark(out_dir: str | Path, n_per_cell: int, error_types: str | Iterable[str] = ALL_TYPES,
                    difficulties: Iterable[str] = DIFFICULTIES, families: Iterable[str] | None = None,
                    naming: str = "semantic", seed: int = 0,
                    split_fractions: tuple[float, ...] = (0.7, 0.15, 0.15), progress: bool = True) -> Path:
    """Generate ``n_per_cell`` validated instances per (error type, difficulty) cell, families in
    rotation, and write them to ``out_dir``. Returns the path. ``error_types``: letters of
    ``saboteur.ERROR_TYPES`` (cells in their order), or ``"all"`` for every registered type in registry
    order (the manifest records the letters, so both spellings are one build).

    A family that cannot make a cell's instances (e.g. type D rows of production planning always
    conflict with a single bound, so never reach the IIS size of "hard") is set aside for that cell
    after ``ATTEMPTS_PER_SLOT`` failed base models; the manifest lists it with the reason.

    Writing order: ``.building.json`` (these parameters) first, then the models, ``index.jsonl`` and
    ``manifest.json`` last, each of the two atomically (``files.write_atomic``); the marker goes once the
    manifest is there. So a build killed at any point leaves no manifest, and ``read_index`` /
    ``load_benchmark`` refuse the directory. Resuming is calling ``build_benchmark`` again on it:

    - a finished build (``manifest.json``) with the same parameters and format version is returned as it
      is (not rebuilt); with others it is refused (FileExistsError naming them);
    - an unfinished build (``.building.json``, no manifest) is started again from scratch: its index,
      its models and temporary files are removed first. The build is a seeded function of its
      parameters, so the result equals that of a build that was never interrupted;
    - benchmark files without either (``index.jsonl``, ``models/*.mps``) are refused (FileExistsError):
      nothing says this code wrote them, so nothing is deleted.
    """
    out = Path(out_dir)
    types = list(error_type_letters(error_types))
    levels = list(difficulties)
    fams = list(families) if families is not None else list(fam_lib.FAMILIES)
    for d in levels:
        if d not in DIFFICULTY:
            raise ValueError(f"unknown difficulty {d!r}; known: {', '.join(DIFFICULTIES)}")
    for f in fams:
        fam_lib.family_module(f)
    if n_per_cell < 1:
        raise ValueError(f"n_per_cell must be at least 1, got {n_per_cell}")
    fractions = _check_fractions(split_fractions)
    params = {"format_version": FORMAT_VERSION, "n_per_cell": n_per_cell, "error_types": "".join(types),
              "difficulties": levels, "families": fams, "naming": naming, "seed": seed,
              "split_fractions": list(fractions)}
    if _finished_build(out, params):
        return out
    _start_build(out, params)

    start = time.perf_counter()
    (out / "models").mkdir(parents=True, exist_ok=True)
    cells = [(t, d) for t in types for d in levels]
    plan = allocate_splits(len(cells), n_per_cell, fractions)
    builder = _Builder(out, fams, naming, seed, fractions)
    with tqdm(total=len(cells) * n_per_cell, desc="OR-Debug benchmark", disable=not progress) as bar:
        for ci, ((t, d), splits) in enumerate(zip(cells, plan)):
            for j, split in enumerate(splits):
                builder.add(t, d, split, first_family=(ci + j) % len(fams))
                bar.update(1)
    builder.write_index()
    manifest = {
        "format_version": FORMAT_VERSION, "n_per_cell": n_per_cell, "error_types": "".join(types),
        "difficulties": levels, "families": fams, "naming": naming, "seed": seed,
        "split_fractions": list(fractions), "n_instances": len(builder.rows),
        "splits": {s: sum(r["split"] == s for r in builder.rows) for s in SPLITS},
        "cells": {f"{t}/{d}": {s: sum(r["split"] == s and r["error_type"] == t and r["difficulty"] == d
                                      for r in builder.rows) for s in SPLITS} for t, d in cells},
        "families_set_aside": builder.set_aside, "failed_base_models": builder.failures,
        "fingerprint_collisions_skipped": builder.collisions,
        "root_kinds": {f: {"roots_in_iis": t.roots, "iis_appearances": t.appearances} for f, t in builder.kinds.items()},
        "quota_rejections": builder.quota_rejections, "quota_overruns": builder.quota_overruns,
        "difficulty": {k: vars(v) for k, v in DIFFICULTY.items()},
        "build_seconds": round(time.perf_counter() - start, 2),
    }
    write_atomic(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    (out / BUILDING).unlink()  # after the manifest: a kill in between leaves a finished build and a stale marker
    return out


class KindTally:
    """Which row kinds of one family were roots, against how often they appear in an IIS.

    An agent that never reads a number can still learn, per (family, row kind), how often an IIS row of
    that kind was the root, and blame the IIS row of the likeliest kind (the ``kind_prior`` baseline).
    That says nothing when every kind's rate, roots in the IIS per IIS appearance, is the same. The
    builder steers towards it: each new instance of the family tries the kinds with the largest deficit
    (expected roots at the pooled rate minus actual roots) first as its target (``Search.root_kinds``).

    >>> t = KindTally(("cap", "demand"))
    >>> t.preference()                         # nothing seen yet: the family's order
    ('cap', 'demand')
    >>> t.add(["c1", "d1", "d2", "x.ub"], ["cap", "demand", "demand"], root_cause=["d1"])
    >>> t.preference()                         # demand was the root at rate 1/2, cap at 0/1
    ('cap', 'demand')
    """

    def __init__(self, kinds: tuple[str, ...]):
        self.kinds = kinds
        self.roots = dict.fromkeys(kinds, 0)  # root rows that were in the IIS
        self.appearances = dict.fromkeys(kinds, 0)  # IIS rows

    def add(self, iis: list[str], iis_row_kinds: list[str], root_cause: list[str]) -> None:
        """One instance: its IIS tokens (rows first, as ``IIS.tokens``), the kinds of those rows, its roots."""
        kind_of = dict(zip(iis, iis_row_kinds))
        for k in iis_row_kinds:
            self.appearances[k] += 1
        for r in root_cause:
            if r in kind_of:
                self.roots[kind_of[r]] += 1

    def excess(self, iis: list[str], iis_row_kinds: list[str], root_cause: list[str], z: float = QUOTA_Z) -> float:
        """How far the instance would push its roots' kinds above the family's pooled rate: the largest,
        over its root rows in the IIS, of rate - pooled - z * binomial SE (both counted with the
        instance); <= 0 is within quota. A root outside the IIS, or a bound, no agent picks by kind.

        >>> t = KindTally(("cap", "demand"))
        >>> for _ in range(20):
        ...     t.add(["c1", "d1", "d2"], ["cap", "demand", "demand"], root_cause=["d1"])
        >>> round(t.excess(["c1", "d1"], ["cap", "demand"], ["c1"]), 3)   # cap: 1 of 21, pooled 21 of 62
        -0.394
        >>> round(t.excess(["c1", "d1"], ["cap", "demand"], ["d1"]), 3)   # demand: 21 of 41: over quota
        0.1
        """
        kind_of = dict(zip(iis, iis_row_kinds))
        roots = [kind_of[r] for r in root_cause if r in kind_of]
        if not roots:
            return float("-inf")
        total_r = sum(self.roots.values()) + len(roots)
        total_a = sum(self.appearances.values()) + len(iis_row_kinds)
        pooled = total_r / total_a
        worst = float("-inf")
        for k in set(roots):
            n = self.appearances[k] + iis_row_kinds.count(k)
            rate = (self.roots[k] + roots.count(k)) / n
            worst = max(worst, rate - pooled - z * math.sqrt(pooled * (1 - pooled) / n))
        return worst

    def preference(self) -> tuple[str, ...]:
        total_a, total_r = sum(self.appearances.values()), sum(self.roots.values())
        if total_a == 0:
            return self.kinds
        deficit = {k: self.appearances[k] * (total_r + 1) / total_a - self.roots[k] for k in self.kinds}
        return tuple(sorted(self.kinds, key=lambda k: -deficit[k]))  # stable: ties in family order


class _Builder:
    """Makes instances slot by slot, keeping the splits apart and the seeds unused."""

    def __init__(self, out: Path, fams: list[str], naming: str, seed: int, fractions):
        self.out, self.fams, self.naming, self.seed, self.fractions = out, fams, naming, seed, fractions
        self.rows: list[dict] = []
        self.streams: dict[tuple, Iterator[int]] = {}
        self.split_of_fp: dict[str, str] = {}  # canonical fingerprint (names ignored) -> split
        self.set_aside: dict[str, str] = {}  # "family E/hard" -> reason
        self.failures = 0
        self.collisions = 0
        self.kinds = {f: KindTally(tuple(fam_lib.family_module(f).ROW_KINDS)) for f in fams}
        self.quota_rejections = 0  # instances made and left out because a root kind was over quota
        self.quota_overruns: dict[str, int] = {}  # cell -> instances kept over quota (no family within it)

    def add(self, t: str, d: str, split: str, first_family: int) -> None:
        """One instance of the cell: the first family in rotation whose instance keeps its root kinds
        within quota (``KindTally.excess``); when none does, the one that exceeds it least (counted in
        ``quota_overruns``)."""
        order = self.fams[first_family:] + self.fams[:first_family]
        best: tuple[float, str, Instance] | None = None
        for family in order:
            key = f"{family} {t}/{d}"
            if key in self.set_aside:
                continue
            inst = self._try(family, t, d, split)
            if inst is None:
                continue
            excess = self.kinds[family].excess(inst.meta["iis"], inst.meta["iis_row_kinds"], inst.root_cause)
            if excess <= 0:
                self._accept(family, inst, split)
                return
            self.quota_rejections += 1
            if best is None or excess < best[0]:
                best = (excess, family, inst)
        if best is not None:
            self.quota_overruns[f"{t}/{d}"] = self.quota_overruns.get(f"{t}/{d}", 0) + 1
            self._accept(best[1], best[2], split)
            return
        raise GenerationError(f"build seed {self.seed}: no family among {self.fams} can make a {t}/{d} instance "
                              f"for the {split} split: "
                              + "; ".join(f"{k}: {v}" for k, v in self.set_aside.items() if k.endswith(f" {t}/{d}")))

    def _try(self, family: str, t: str, d: str, split: str) -> Instance | None:
        size = DIFFICULTY[d].size
        key = (family, t, d, split)
        if key not in self.streams:
            self.streams[key] = seeds_in_split(family, size, split, self.fractions, self.seed, f"{t}/{d}")
        stream = self.streams[key]
        first = next(stream)
        # itertools.chain, not a generator with "yield from": closing that would close the shared stream
        seeds = chain([first], stream)
        try:
            inst = make_instance(family, t, d, first, self.naming, max_attempts=ATTEMPTS_PER_SLOT, base_seeds=seeds,
                                 root_kinds=self.kinds[family].preference())
        except GenerationError as e:
            self.failures += ATTEMPTS_PER_SLOT
            self.set_aside[f"{family} {t}/{d}"] = f"instance seed {first}: " + str(e).splitlines()[-1].strip()
            return None
        self.failures += inst.meta["attempt"]
        fps = (inst.meta["canonical_original_fingerprint"], inst.meta["canonical_fingerprint"])
        if any(self.split_of_fp.get(fp, split) != split for fp in fps):
            self.collisions += 1  # an identical model already sits in another split
            return None
        return inst

    def _accept(self, family: str, inst: Instance, split: str) -> None:
        for fp in (inst.meta["canonical_original_fingerprint"], inst.meta["canonical_fingerprint"]):
            self.split_of_fp[fp] = split
        self.kinds[family].add(inst.meta["iis"], inst.meta["iis_row_kinds"], inst.root_cause)
        self._write(inst, split)

    def _write(self, inst: Instance, split: str) -> None:
        inst.meta["split"] = split
        orig_path = Path("models") / f"{inst.id}.original.mps"
        sab_path = Path("models") / f"{inst.id}.sabotaged.mps"
        write_model(inst.original, self.out / orig_path)
        write_model(inst.sabotaged, self.out / sab_path)
        row = inst.index_row()
        row.update(split=split, original_mps=str(orig_path), sabotaged_mps=str(sab_path),
                   original_fingerprint=inst.original.fingerprint(names=False))
        self.rows.append(row)

    def write_index(self) -> None:
        """``index.jsonl``, one row per line, written atomically: a kill leaves the whole index or none."""
        write_atomic(self.out / "index.jsonl", "".join(json.dumps(row, sort_keys=True) + "\n" for row in self.rows))


BUILDING = ".building.json"  # the parameters of a build under way; removed once its manifest is written


def _finished_build(out: Path, params: dict) -> bool:
    """True when ``out`` holds a finished build with ``params`` (see ``build_benchmark``); FileExistsError
    when it holds one with other parameters."""
    if not (out / "manifest.json").exists():
        return False
    manifest = read_manifest(out)
    differ = {k: (manifest.get(k), v) for k, v in params.items() if manifest.get(k) != v}
    if differ:
        shown = ", ".join(f"{k}: {a!r} there, {b!r} asked" for k, (a, b) in differ.items())
        raise FileExistsError(f"{out} holds a benchmark built with other parameters ({shown}); build into "
                              "another directory")
    read_index(out)  # refuses a damaged index
    (out / BUILDING).unlink(missing_ok=True)  # stale: killed between the manifest and its removal
    return True


def _start_build(out: Path, params: dict) -> None:
    """Clear what an unfinished build of this code left in ``out`` and mark a new build under way."""
    models = out / "models"
    leftovers = [out / "index.jsonl"] if (out / "index.jsonl").exists() else []
    leftovers += sorted(models.glob("*.original.mps")) + sorted(models.glob("*.sabotaged.mps")) + sorted(out.glob(".*.tmp"))
    if leftovers and not (out / BUILDING).exists():
        raise FileExistsError(f"{out} holds benchmark files ({leftovers[0].name}, ...) but neither manifest.json nor "
                              f"{BUILDING}: not a build this code started; build into an empty directory")
    for path in leftovers:
        path.unlink()
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / BUILDING, json.dumps(params, indent=2) + "\n")


def check_format(directory: str | Path) -> dict:
    """The manifest of a benchmark this code can read; an older (or newer) format is refused, naming both
    versions (a v1 build lists rows in generator order: its numbers are not comparable with v2's)."""
    manifest = read_manifest(directory)
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelError(f"the benchmark at {directory} has format version {version}; this code reads version "
                         f"{FORMAT_VERSION}. Rebuild it with build_benchmark (notebook 02_ordebug_benchmark)")
    return manifest


def read_index(directory: str | Path, split: str | None = None) -> list[dict]:
    """The index rows (no models), optionally of one split, of a finished benchmark of this format version.

    Refused: a directory without a benchmark (FileNotFoundError), a build that did not finish, an older
    format, and an index that does not parse or does not hold the manifest's ``n_instances`` rows
    (ModelError, saying what to do).
    """
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} or None, got {split!r}")
    directory = Path(directory)
    manifest = check_format(directory)
    path = directory / "index.jsonl"
    if not path.exists():
        raise ModelError(f"the benchmark at {directory} has a manifest.json but no index.jsonl: it is damaged; "
                         "build it again into an empty directory")
    rows = []
    for k, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ModelError(f"{path} line {k} is not valid JSON ({e}): the index is damaged; build the benchmark "
                                 "again into an empty directory") from None
    if len(rows) != manifest.get("n_instances"):
        raise ModelError(f"{path} holds {len(rows)} rows but the manifest says n_instances="
                         f"{manifest.get('n_instances')}: the index is damaged or was edited; build the benchmark again")
    return [r for r in rows if split is None or r["split"] == split]


def read_manifest(directory: str | Path) -> dict:
    """The build parameters and counts (``manifest.json``). The builder writes it last, so a directory
    with benchmark files but no manifest holds a build that did not finish: refused (ModelError) with
    what to do; a directory without any: FileNotFoundError."""
    directory = Path(directory)
    path = directory / "manifest.json"
    if not path.exists():
        if any((directory / p).exists() for p in (BUILDING, "index.jsonl", "models")):
            raise ModelError(f"the benchmark build at {directory} did not finish (no manifest.json, which the builder "
                             f"writes last: it was stopped or killed); run build_benchmark with the same parameters "
                             f"into {directory} again: it starts that build again")
        raise FileNotFoundError(f"no benchmark manifest at {path}")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ModelError(f"{path} is not valid JSON ({e}): the benchmark is damaged; build it again into an empty "
                         "directory") from None
    if not isinstance(manifest, dict):
        raise ModelError(f"{path} does not hold a JSON object: not a benchmark manifest")
    return manifest


def load_benchmark(directory: str | Path, split: str | None = None) -> list[Instance]:
    """Instances read back from disk (models through Gurobi's MPS reader). Raises ModelError when a
    model file does not match the fingerprint recorded at build time."""
    directory = Path(directory)
    out = []
    for row in read_index(directory, split):
        original = read_model(directory / row["original_mps"])
        sabotaged = read_model(directory / row["sabotaged_mps"])
        for model, key in ((original, "original_fingerprint"), (sabotaged, "fingerprint")):
            if model.fingerprint(names=False) != row[key]:
                raise ModelError(f"{row['id']}: a model file does not match the index ({key}); the benchmark "
                                 f"at {directory} is damaged or was edited")
        original.name = sabotaged.name = row["id"]
        out.append(Instance(
            id=row["id"], family=row["family"], error_type=row["error_type"], difficulty=row["difficulty"],
            naming=row["naming"], seed=row["seed"], original=original, sabotaged=sabotaged,
            root_cause=row["root_cause"], true_repair=row["true_repair"],
            original_objective=row["original_objective"], meta=row["meta"],
        ))
    return out


def spread_over_cells(instances: list, n: int | None) -> list:
    """``n`` of ``instances`` taken round-robin over their (error type, difficulty) cells, in their order: the
    k-th instance of every cell before the (k+1)-th of any. A split is written cell by cell, so its first ``n``
    would hold only the first error types. The result keeps the split's order, and a smaller ``n`` picks a
    subset of a larger one's (None or ``n`` ≥ len: all).

    >>> from types import SimpleNamespace as I
    >>> split = [I(id=f"{t}{d}{k}", error_type=t, difficulty=d) for t in "AB" for d in ("easy", "hard") for k in range(3)]
    >>> [i.id for i in spread_over_cells(split, 5)]
    ['Aeasy0', 'Aeasy1', 'Ahard0', 'Beasy0', 'Bhard0']
    >>> [i.id for i in split[:5]]
    ['Aeasy0', 'Aeasy1', 'Aeasy2', 'Ahard0', 'Ahard1']
    """
    if n is None or n >= len(instances):
        return list(instances)
    if n < 0:
        raise ValueError(f"n must be >= 0 or None, got {n}")
    cells: dict[tuple, list[int]] = {}
    for pos, inst in enumerate(instances):
        cells.setdefault((inst.error_type, inst.difficulty), []).append(pos)
    rank = {pos: (k, c) for c, members in enumerate(cells.values()) for k, pos in enumerate(members)}
    order = sorted(rank, key=rank.get)[:n]
    return [instances[pos] for pos in sorted(order)]


def base_model_of(row: dict) -> tuple[str, int, int]:
    """The identity (family, size, base seed) that fixes an index row's split (``split_of``)."""
    return row["family"], DIFFICULTY[row["difficulty"]].size, row["meta"]["base_seed"]


def check_splits_apart(train_dir: str | Path, test_dir: str | Path, train_splits=("train", "val"),
                       test_split: str = "test") -> dict:
    """Check that two builds can be mixed: ``train_dir``'s ``train_splits`` (e.g. of a larger build used for
    demonstrations) share no base model and no model (original or sabotaged, names ignored) with
    ``test_dir``'s ``test_split``. Splits only agree between builds of the same seed and fractions (the
    seed salts ``split_of``), so those must match too. Raises ValueError naming what is shared; returns
    the counts compared.
    """
    a, b = read_manifest(train_dir), read_manifest(test_dir)
    differ = {k: (a[k], b[k]) for k in ("seed", "split_fractions", "naming") if a[k] != b[k]}
    if differ:
        raise ValueError(f"{train_dir} and {test_dir} were built with different {differ}: their splits do not "
                         f"agree, so one's train split may hold the other's test models")
    train = [r for r in read_index(train_dir) if r["split"] in train_splits]
    test = read_index(test_dir, test_split)
    test_ids = {base_model_of(r) for r in test}
    canonical = ("canonical_fingerprint", "canonical_original_fingerprint")  # generator order: v2 rows are shuffled
    test_fps = {r["meta"][k] for r in test for k in canonical}
    shared = sorted({base_model_of(r) for r in train} & test_ids)
    if shared:
        raise ValueError(f"{train_dir} {'/'.join(train_splits)} share {len(shared)} base models with {test_dir} "
                         f"{test_split} split, e.g. {shared[0]}")
    same = [r["id"] for r in train if {r["meta"][k] for k in canonical} & test_fps]
    if same:
        raise ValueError(f"{len(same)} models of {train_dir} {'/'.join(train_splits)} (e.g. {same[0]}) are also in "
                         f"{test_dir} {test_split} split (names ignored)")
    return {"train_rows": len(train), "test_rows": len(test), "shared": 0}


__all__ = ["FORMAT_VERSION", "KindTally", "SPLITS", "allocate_splits", "base_model_of", "build_benchmark",
           "check_format", "check_splits_apart", "load_benchmark",
           "read_index", "read_manifest", "split_of"]
