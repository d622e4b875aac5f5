"""The moves of issue 18, item 5 (saboteur split, import loops broken, SQL through ``ordebug/results.py``,
baseline evaluation out of ``policy/``) change no behaviour: what they touch gives what it gave before.

``tests/data/moves_keep_behaviour.json`` was written by this file on the code before the first of those
moves (``python tests/test_moves_keep_behaviour.py`` writes it again; do so only for a change that is meant
to change behaviour, in its own commit). It holds, as sha256 digests of their JSON (wall times and
timestamps left out):

- ``instances``: ``saboteur.make_instance`` of every family x error type (easy, seed 0, semantic names;
  medium, seed 1, random names) and of every error type at hard (seed 2, families in rotation): the
  instance's index row (ids, seeds, root cause, true repair, objective, every ``meta`` entry, fingerprint)
  and both models in full, or the ``GenerationError`` a cell raises;
- ``benchmark``: a small ``build_benchmark`` (every type, easy and medium, one per cell): the sha256 of its
  ``index.jsonl`` and of its manifest;
- ``experts`` / ``recoveries``: every expert's transcript, and every kind of recovery demonstration, on
  three instances of that build (messages and outcomes);
- ``baselines``: the rows ``policy.data.parallel_baselines`` stores for every baseline on the build's
  train split (``kind_prior`` fitted there), and the ladder table ``experiments.ladder.ladder_table``
  renders from them;
- ``seeds``: the seed and id functions (``saboteur.derive_seed`` / ``instance_id``,
  ``results.episode_seed``, ``data.chunk_seed``) on fixed arguments, and the first ids of
  ``tokenizer.corpus_instances`` (the tokenizer corpus).

The published tables (``reports/``) are written from committed result files that these moves do not
touch; the ladder table above is the code path that renders them from results rows.

A module split into parts keeps every public name it had, as the same object as in the part it now lives in
(``SPLITS``: ``policy/ordebug_episodes.py`` into ``ordebug_experts``, ``ordebug_recovery`` and ``ordebug_lm_eval``),
so its importers and the digests above read the moved code itself.

The cells are read from the fixture, so a type or family added later is no cell of this test. Keys renamed
since the fixture was written (``RENAMED``: issue 18, item 3, the episode budget ``max_steps`` became
``max_turns``) are digested under their recorded names: a rename moves nothing, and the values must still agree.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

FIXTURE = Path(__file__).parent / "data" / "moves_keep_behaviour.json"
VOLATILE = {"wall_time", "created_at", "build_seconds"}
RENAMED = {"max_turns": "max_steps"}  # new name -> the name the fixture recorded
SPLITS = {  # module split -> {its part: the public names it had that the part now defines}
    "ordebug_lib.policy.ordebug_episodes": {
        "ordebug_lib.policy.ordebug_experts": (
            "EXPERTS", "RECOVERING_EXPERTS", "DiagnoseThenOracle", "Transcript", "action_message", "episode_env_config",
            "expert_transcript", "expert_transcripts", "keep_demo", "kept_demos", "make_expert"),
        "ordebug_lib.policy.ordebug_recovery": (
            "RECOVERY_KINDS", "RECOVERY_PREFIX", "recovery_transcripts", "without_recoveries"),
        "ordebug_lib.policy.ordebug_lm_eval": (
            "CONTEXT_POLICIES", "LMEpisode", "action_profile", "evaluate_lm", "fit_context", "profile_summary",
            "run_lm_episodes", "turn_prompts"),
    },
}


def scrub(x):
    """``x`` without the keys that hold wall times or timestamps, renamed keys under their recorded names (at any
    depth)."""
    if isinstance(x, dict):
        return {RENAMED.get(k, k): scrub(v) for k, v in x.items() if k not in VOLATILE}
    if isinstance(x, (list, tuple)):
        return [scrub(v) for v in x]
    return x


def digest(x) -> str:
    return hashlib.sha256(json.dumps(scrub(x), sort_keys=True, default=repr).encode()).hexdigest()


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- what is recorded -----------------------------------------------------------------------------
def default_cells() -> list[str]:
    """``family/error type/difficulty/naming/seed`` of every recorded ``make_instance`` call."""
    from ordebug_lib.ordebug.families import FAMILIES
    from ordebug_lib.ordebug.instance import ERROR_TYPES

    families, types = list(FAMILIES), list(ERROR_TYPES)
    cells = [f"{f}/{t}/easy/semantic/0" for f in families for t in types]
    cells += [f"{f}/{t}/medium/random/1" for f in families for t in types]
    cells += [f"{families[k % len(families)]}/{t}/hard/semantic/2" for k, t in enumerate(types)]
    return cells


def instance_record(inst) -> dict:
    return {"id": inst.id, "digest": digest({"index_row": inst.index_row(), "original": inst.original.to_dict(),
                                              "sabotaged": inst.sabotaged.to_dict()})}


def instances_snapshot(cells) -> dict:
    from ordebug_lib.ordebug.saboteur import GenerationError, make_instance

    out = {}
    for key in cells:
        family, t, difficulty, naming, seed = key.split("/")
        try:
            out[key] = instance_record(make_instance(family, t, difficulty, int(seed), naming=naming, max_attempts=2))
        except GenerationError as e:
            out[key] = {"error": digest(str(e))}
    return out


BENCHMARK = {"n_per_cell": 1, "error_types": "all", "difficulties": ["easy", "medium"], "seed": 0}
"""The build the fixture records; it stores the letters "all" meant then, so a type added later is no cell."""


def build(out: Path, spec: dict) -> Path:
    from ordebug_lib.ordebug.dataset import build_benchmark

    return build_benchmark(out, spec["n_per_cell"], error_types=spec["error_types"],
                           difficulties=tuple(spec["difficulties"]), seed=spec["seed"], progress=False)


def benchmark_snapshot(d: Path) -> dict:
    manifest = json.loads((d / "manifest.json").read_text())
    return {"index_sha256": file_digest(d / "index.jsonl"), "manifest": digest(manifest)}


def transcript_record(t) -> str:
    return digest({"instance_id": t.instance_id, "policy": t.policy, "messages": t.messages,
                   "outcome": t.outcome.to_dict(), "trained_turns": t.trained_turns})


def episodes_snapshot(insts) -> tuple[dict, dict]:
    from ordebug_lib.policy.ordebug_episodes import EXPERTS, RECOVERY_KINDS, expert_transcript, recovery_transcripts

    experts = {f"{inst.id}/{e}": transcript_record(expert_transcript(inst, e)) for inst in insts for e in EXPERTS}
    recoveries = {}
    for inst in insts:
        kept, counts = recovery_transcripts(inst, RECOVERY_KINDS, n_wrong=2, seed=0)
        recoveries[inst.id] = {"counts": counts, "kept": [transcript_record(t) for t in kept]}
    return experts, recoveries


def baselines_snapshot(train, db: Path, names=None) -> dict:
    """Each baseline's rows and the ladder table, of ``names`` (default: every registered baseline; the test
    passes the ones the fixture recorded, so that registering a new baseline does not read as a move)."""
    from ordebug_lib.experiments.ladder import ladder_table
    from ordebug_lib.ordebug.results import load_results
    from ordebug_lib.policy.data import BASELINES, parallel_baselines

    names = [b for b in BASELINES if names is None or b in names]
    parallel_baselines(names, train, db, seed=0, max_turns=8, workers=1, train=train)
    rows = load_results(db)
    out = {p: digest(g.drop(columns=["wall_time", "created_at"]).to_dict("records"))
           for p, g in rows.groupby("policy")}
    out["ladder_table"] = digest(ladder_table(rows, names).to_csv(index=False))
    return out


def seeds_snapshot() -> dict:
    from ordebug_lib.ordebug.results import episode_seed
    from ordebug_lib.ordebug.saboteur import derive_seed, instance_id
    from ordebug_lib.policy.data import chunk_seed
    from ordebug_lib.policy.tokenizer import corpus_instances

    corpus = corpus_instances(1, seed=0)
    return {
        "derive_seed": [derive_seed("base", 3, 1), derive_seed("sabotage", 0, "H", "easy"), derive_seed(7)],
        "instance_id": [instance_id("diet", "A", "easy", "semantic", 0), instance_id("staffing", "G", "hard", "random", 5)],
        "episode_seed": [episode_seed(0, "diet-0123456789"), episode_seed(3, "model-abc")],
        "chunk_seed": [chunk_seed(0, 0), chunk_seed(12345, 7)],
        "corpus_instances": [instance_record(next(corpus)) for _ in range(3)],
    }


def three(insts) -> list:
    """The instances of the episode records: the build's first of types H, G and I (a bound, a cascade of
    several errors, an ambiguous repair), as far as the build has them."""
    return [next(i for i in insts if i.error_type == t) for t in "HGI" if any(i.error_type == t for i in insts)]


def snapshot(tmp: Path, cells=None) -> dict:
    from ordebug_lib.ordebug.dataset import load_benchmark
    from ordebug_lib.ordebug.saboteur import error_type_letters

    cells = cells if cells is not None else default_cells()
    spec = {**BENCHMARK, "error_types": error_type_letters(BENCHMARK["error_types"])}
    d = build(tmp / "bench", spec)
    insts = load_benchmark(d)
    experts, recoveries = episodes_snapshot(three(insts))
    return {"instances": instances_snapshot(cells), "benchmark_spec": spec,
            "benchmark": benchmark_snapshot(d), "experts": experts, "recoveries": recoveries,
            "baselines": baselines_snapshot([i for i in insts if i.meta["split"] == "train"], tmp / "b.sqlite"),
            "seeds": seeds_snapshot()}


# -- the tests --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def before() -> dict:
    return json.loads(FIXTURE.read_text())


def test_instances_are_those_made_before_the_moves(before):
    now = instances_snapshot(list(before["instances"]))
    changed = sorted(k for k in before["instances"] if now.get(k) != before["instances"][k])
    assert changed == [], f"{len(changed)} of {len(now)} cells changed, e.g. {changed[:5]}"


@pytest.fixture(scope="module")
def build_now(tmp_path_factory, before):
    from ordebug_lib.ordebug.dataset import load_benchmark

    d = build(tmp_path_factory.mktemp("moves") / "bench", before["benchmark_spec"])
    return d, load_benchmark(d)


def test_benchmark_build_is_the_one_made_before(build_now, before):
    assert benchmark_snapshot(build_now[0]) == before["benchmark"]


def test_expert_and_recovery_transcripts_are_those_of_before(build_now, before):
    experts, recoveries = episodes_snapshot(three(build_now[1]))
    assert experts == before["experts"]
    assert recoveries == before["recoveries"]


def test_baseline_rows_and_ladder_are_those_of_before(build_now, before, tmp_path):
    train = [i for i in build_now[1] if i.meta["split"] == "train"]
    recorded = set(before["baselines"]) - {"ladder_table"}
    from ordebug_lib.policy.data import BASELINES

    assert recorded <= set(BASELINES)  # no baseline of before was lost
    assert baselines_snapshot(train, tmp_path / "b.sqlite", recorded) == before["baselines"]


def test_seeds_and_ids_are_those_of_before(before):
    assert seeds_snapshot() == before["seeds"]


@pytest.mark.parametrize("split", sorted(SPLITS))
def test_a_split_module_re_exports_the_objects_of_its_parts(split):
    import importlib

    module, parts = importlib.import_module(split), SPLITS[split]
    names = [n for part_names in parts.values() for n in part_names]
    assert sorted(module.__all__) == sorted(names)  # every public name it had, and no other
    for part, part_names in parts.items():
        home = importlib.import_module(part)
        for name in part_names:
            assert getattr(module, name) is getattr(home, name), f"{split}.{name} is not {part}.{name}"
            assert getattr(getattr(home, name), "__module__", part) in (part, "builtins"), f"{part} only imports {name}"


if __name__ == "__main__":  # write the fixture (on the code before a move; see the module docstring)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        FIXTURE.write_text(json.dumps(snapshot(Path(tmp)), indent=1, sort_keys=True) + "\n")
    print(f"wrote {FIXTURE}")
