"""The error-type registry (``saboteur.ERROR_TYPES``, issue 18 item 2): one table that the saboteur, the
dataset builder's default, the warm start's ``bench_error_types``, the run pre-flight and the profiles
("all") read, and moving every type into it changed no benchmark.

``tests/data/error_types_before.json`` holds two small builds made at commit ec5eb55, before the registry,
with the nine letters of that time spelled out (``BEFORE_LETTERS``): the sha256 of ``index.jsonl``, of
``manifest.json`` (without ``build_seconds``) and each instance's id, split, seeds and fingerprints. They stay
the builds of those letters when a type is added (a new type is a new cell; the others do not move).
"""
from __future__ import annotations

import hashlib
import json
import re
import string
from pathlib import Path

import pytest

from ordebug_lib.ordebug import error_search, instance, saboteur
from ordebug_lib.ordebug.dataset import build_benchmark, load_benchmark, read_index
from ordebug_lib.ordebug.saboteur import ALL_TYPES, ERROR_TYPES, ErrorType, error_type_letters

ROOT = Path(__file__).resolve().parents[1]
BEFORE = json.loads((Path(__file__).parent / "data" / "error_types_before.json").read_text())
LETTERS = "".join(ERROR_TYPES)
BEFORE_LETTERS = BEFORE["letters"]


def snapshot(d: Path) -> dict:
    """What the fixture records of a build (as the capture script at ec5eb55 wrote it)."""
    manifest = json.loads((d / "manifest.json").read_text())
    manifest.pop("build_seconds")
    rows = [{k: r[k] for k in ("id", "family", "error_type", "difficulty", "split", "seed", "fingerprint")}
            | {k: r["meta"][k] for k in ("canonical_fingerprint", "canonical_original_fingerprint", "base_seed")}
            for r in read_index(d)]
    return {"index_sha256": hashlib.sha256((d / "index.jsonl").read_bytes()).hexdigest(),
            "manifest_sha256": hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest(),
            "rows": rows}


def expected(i: int) -> dict:
    return {k: BEFORE["builds"][i][k] for k in ("index_sha256", "manifest_sha256", "rows")}


def build(out: Path, i: int, **kw) -> Path:
    """Fixture build ``i``'s parameters (``error_types`` as given: default, "all" or letters)."""
    b = dict(BEFORE["builds"][i]["build"])
    b["difficulties"] = tuple(b["difficulties"])
    return build_benchmark(out, **b, **kw, progress=False)


# (a) the registry is the set of types the saboteur injects, and each one injects
def test_registry_is_exactly_what_the_saboteur_injects():
    searchers = {n.removeprefix("search_") for n in vars(error_search) if n.startswith("search_")}
    assert searchers == set(ERROR_TYPES)  # no search function outside the registry, no entry without one
    for t, e in ERROR_TYPES.items():
        assert e.search is getattr(error_search, f"search_{t}") and e.kinds and e.name and e.description
    assert list(instance.ERROR_TYPES) == list(ERROR_TYPES)  # the description view reads the registry
    assert dict(instance.ERROR_TYPES) == {t: e.description for t, e in ERROR_TYPES.items()}
    with pytest.raises(ValueError, match="unknown error type"):
        saboteur.make_instance("diet", "Z", "easy", seed=0)


def test_each_registered_type_injects_a_valid_instance(tmp_path):
    assert set(BEFORE_LETTERS) <= set(ERROR_TYPES)  # no type of before was lost
    d = build(tmp_path / "b", 0, error_types=ALL_TYPES)
    insts = {i.error_type: i for i in load_benchmark(d)}
    assert list(insts) == list(ERROR_TYPES)
    for t, inst in insts.items():
        kinds = {e["kind"] for e in inst.meta["errors"]}
        assert kinds <= ERROR_TYPES[t].kinds, t
        assert len(inst.meta["errors"]) == saboteur.n_errors_for(t, inst.difficulty), t
        assert saboteur.validate(inst) == [], t


def test_letters_and_all():
    assert error_type_letters() == error_type_letters(ALL_TYPES) == LETTERS
    assert error_type_letters("HAH") == "HAH" and error_type_letters(["C", "D"]) == "CD"
    for bad in ("AZ", "ALL", "a", ["AB"]):
        with pytest.raises(ValueError, match=f"unknown error type .*known: {LETTERS} \\(or 'all'"):
            error_type_letters(bad)


# (b) no behaviour change
@pytest.mark.parametrize("i", [0, 1], ids=["semantic_easy", "random_easy_medium"])
def test_builds_are_those_made_before_the_registry(tmp_path, i):
    d = build(tmp_path / "b", i, error_types=BEFORE_LETTERS)
    assert snapshot(d) == expected(i)  # 9 / 18 instances: ids, splits, seeds, fingerprints, index and manifest


# (c) "all" (and the default) is the registry's letters spelled out
def test_all_and_the_default_are_the_explicit_letters(tmp_path):
    builds = {"letters": build(tmp_path / "letters", 0, error_types=LETTERS),
              "all": build(tmp_path / "all", 0, error_types=ALL_TYPES), "default": build(tmp_path / "default", 0)}
    snaps = {k: snapshot(d) for k, d in builds.items()}
    assert snaps["all"] == snaps["letters"] == snaps["default"]
    if LETTERS == BEFORE_LETTERS:
        assert snaps["all"] == expected(0)
    d = builds["all"]
    assert json.loads((d / "manifest.json").read_text())["error_types"] == LETTERS
    before = (d / "manifest.json").read_bytes()
    assert build_benchmark(d, 1, error_types=LETTERS, difficulties=("easy",), seed=0, progress=False) == d
    assert (d / "manifest.json").read_bytes() == before  # the other spelling is the same finished build


def test_warm_start_config_and_preflight_read_the_registry():
    from ordebug_lib.policy.ordebug_sft import OrdebugSFTConfig
    from ordebug_lib.run import RunError, notebook_path, preflight

    assert OrdebugSFTConfig().bench_error_types == LETTERS
    assert OrdebugSFTConfig(bench_error_types="all") == OrdebugSFTConfig(bench_error_types=LETTERS)
    assert OrdebugSFTConfig(bench_error_types="AFH").bench_error_types == "AFH"
    with pytest.raises(ValueError, match="unknown error type 'Z'"):
        OrdebugSFTConfig(bench_error_types="AZ")
    for stem, name, params in (("02_ordebug_benchmark", "error_types", lambda v: {"error_types": v}),
                               ("04_ordebug_sft", "warm_start_config.bench_error_types",
                                lambda v: {"warm_start_config": {"bench_error_types": v}})):
        preflight(notebook_path(stem), params("all"))
        preflight(notebook_path(stem), params("ACH"))
        with pytest.raises(RunError, match=rf"unknown error type\(s\) \['Z'\] in {re.escape(name)}; known: {LETTERS}"):
            preflight(notebook_path(stem), params("AZ"))


def test_no_letter_string_outside_the_registry():
    """Package, profiles and notebooks say "all" (or name a subset): none spells out every type."""
    files = [*ROOT.glob("ordebug_lib/**/*.py"), *ROOT.glob("params/**/*.yaml"), *ROOT.glob("notebooks/*.ipynb")]
    assert files
    assert [str(f.relative_to(ROOT)) for f in files if LETTERS in f.read_text(encoding="utf-8")] == []


# (d) a new type is one registry entry plus its function
def search_rhs_typo(s: saboteur.Search) -> list[saboteur.Error]:
    """A throwaway type: one right-hand-side typo (x10 or /10) in a row binding at x*."""
    return error_search._first_single(s, saboteur.rhs_errors(s.base))


def test_a_new_type_needs_one_entry_and_its_function(tmp_path, monkeypatch):
    without = snapshot(build(tmp_path / "without", 0, error_types=ALL_TYPES))["rows"]
    new = next(c for c in string.ascii_uppercase if c not in ERROR_TYPES)  # the next free letter
    monkeypatch.setitem(ERROR_TYPES, new, ErrorType("rhs typo", "right-hand side changed x10 or /10",
                                                     search_rhs_typo, frozenset({"rhs"})))
    d = build_benchmark(tmp_path / "new", 2, error_types=new, difficulties=("easy",), progress=False)
    insts = list(load_benchmark(d))
    assert [i.error_type for i in insts] == [new, new]
    assert all(saboteur.validate(i) == [] and {e["kind"] for e in i.meta["errors"]} == {"rhs"} for i in insts)
    # "all" now has the new type last; the cells before it are those of the build without it
    a = build(tmp_path / "all", 0, error_types=ALL_TYPES)
    assert json.loads((a / "manifest.json").read_text())["error_types"] == LETTERS + new
    rows = snapshot(a)["rows"]
    assert rows[:-1] == without and rows[-1]["error_type"] == new
    from ordebug_lib.policy.ordebug_sft import OrdebugSFTConfig
    from ordebug_lib.run import notebook_path, preflight

    assert new in instance.ERROR_TYPES and OrdebugSFTConfig().bench_error_types == LETTERS + new
    preflight(notebook_path("02_ordebug_benchmark"), {"error_types": new})
    monkeypatch.undo()
    assert new not in ERROR_TYPES and new not in instance.ERROR_TYPES
