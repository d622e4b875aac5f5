"""E9 foundations (issue 23): failure classes, weakness profiles and generated instances, on real evaluations.

One small benchmark (five easy error types of one family, six instances per cell, so each val cell holds
three episodes and a success rate can lie strictly between 0 and 1) is evaluated into a temporary results
database through ``ordebug.results.evaluate``: the search baseline on every split, the random baseline
with two seeds on val, and scripted agents whose episodes have a known failure class.
"""
import copy
import itertools
import sqlite3

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from ordebug_lib.experiments import weakness as W
from ordebug_lib.ordebug.baselines import BasePolicy, RandomPolicy, SearchRepairPolicy, submit_line
from ordebug_lib.ordebug.dataset import build_benchmark, load_benchmark, read_manifest, split_of
from ordebug_lib.ordebug.env import EnvConfig, RepairEnv, run_episode
from ordebug_lib.ordebug.results import evaluate, load_results
from ordebug_lib.ordebug.saboteur import DIFFICULTY, GenerationError, validate


class Script(BasePolicy):
    """Plays fixed action lines, one per step (the last one repeated)."""

    batch_safe = False

    def __init__(self, lines):
        self.lines = list(lines)

    def act(self, observation, info):
        return self.lines[min(info["step"], len(self.lines) - 1)]


def not_root(inst):
    return next(c for c in inst.sabotaged.constrs if c not in inst.root_cause)


# scripted agent -> (lines for an instance, the class its episodes must have, which instances it plays)
SCRIPTS = {
    "timeout": (lambda i: ["GET_IIS"], "timeout", lambda i: True),
    # the right diagnosis, but submitted on the unrepaired (infeasible) model
    "wrong_fix": (lambda i: [submit_line(i.root_cause)], "wrong_fix", lambda i: True),
    "wrong_diagnosis": (lambda i: [*i.true_repair, submit_line([not_root(i)])], "wrong_diagnosis", lambda i: True),
    "partial_diagnosis": (lambda i: [*i.true_repair, submit_line(i.root_cause[:1])], "partial_diagnosis",
                          lambda i: len(i.root_cause) >= 2),
    # the whole root cause and one extra name: precision < 1 is still a success
    "success_extra": (lambda i: [*i.true_repair, submit_line([*i.root_cause, not_root(i)])], None, lambda i: True),
}


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    return build_benchmark(tmp_path_factory.mktemp("bench"), 6, error_types="ACDEH", difficulties=("easy",),
                           families=["diet"], split_fractions=(0.34, 0.5, 0.16), seed=1, progress=False)


@pytest.fixture(scope="module")
def instances(bench):
    return load_benchmark(bench)


@pytest.fixture(scope="module")
def db(tmp_path_factory, instances):
    path = tmp_path_factory.mktemp("results") / "eval.sqlite"
    val = [i for i in instances if i.meta["split"] == "val"]
    evaluate(SearchRepairPolicy(), instances, path, "search", progress=False)
    for seed in (0, 1):
        evaluate(RandomPolicy(), val, path, "random", seed=seed, max_turns=6, progress=False)
    for name, (lines, _, plays) in SCRIPTS.items():
        evaluate(lambda i, lines=lines: Script(lines(i)), [i for i in val if plays(i)], path, f"script_{name}",
                 max_turns=2 if name == "timeout" else 20, progress=False)
    return path


def val_count(db, policy):
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM episodes WHERE policy = ? AND split = 'val'", (policy,)).fetchone()[0]


# -- failure classes -----------------------------------------------------------------------------
def test_scripted_episodes_get_the_class_their_script_makes(db):
    for name, (_, expected, _) in SCRIPTS.items():
        rows = W.collect_episodes(db, f"script_{name}")
        assert len(rows) == val_count(db, f"script_{name}") > 0, name
        assert [r["failure_class"] for r in rows] == [expected] * len(rows), name
    # what the scripts did, as the store recorded it
    for r in W.collect_episodes(db, "script_timeout"):
        assert not r["submitted"] and r["truncated"] and r["steps"] == 2
    for r in W.collect_episodes(db, "script_wrong_fix"):
        assert r["submitted"] and not r["feasible_end"] and r["diagnosis_recall"] == 1.0
    for r in W.collect_episodes(db, "script_partial_diagnosis"):
        assert r["faithful"] and 0 < r["diagnosis_recall"] < 1
    for r in W.collect_episodes(db, "script_success_extra"):
        assert r["faithful"] and r["diagnosis_recall"] == 1.0 and r["diagnosis_precision"] < 1


def test_an_episode_ended_from_outside_is_a_timeout_and_the_oracle_a_success(instances):
    inst = next(i for i in instances if i.meta["split"] == "val")
    env = RepairEnv(inst, EnvConfig(max_turns=10))
    env.reset()
    env.step("GET_IIS")
    env.truncate("context full")
    assert W.failure_class(env.outcome()) == "timeout"
    oracle = run_episode(RepairEnv(inst), Script([*inst.true_repair, submit_line(inst.root_cause)]))
    assert oracle.faithful and W.failure_class(oracle) is None


def test_classes_are_exclusive_and_exhaustive():
    """Every consistent combination of the stored columns matches exactly one rule of the docstring's
    table (written out here independently), and that rule is the class returned."""
    rules = {
        "timeout": lambda s, f, ok, r: not s,
        "wrong_fix": lambda s, f, ok, r: s and not ok,
        "wrong_diagnosis": lambda s, f, ok, r: s and ok and r == 0,
        "partial_diagnosis": lambda s, f, ok, r: s and ok and 0 < r < 1,
        None: lambda s, f, ok, r: s and ok and r == 1,
    }
    seen = set()
    for s, f, ok, r in itertools.product((False, True), (False, True), (False, True), (0.0, 0.25, 1.0)):
        if ok and not f:  # faithful implies feasible at the end
            with pytest.raises(ValueError, match="inconsistent"):
                W.failure_class(dict(submitted=s, feasible_end=f, faithful=ok, diagnosis_recall=r))
            continue
        matching = [cls for cls, rule in rules.items() if rule(s, f, ok, r)]
        assert len(matching) == 1, (s, f, ok, r, matching)
        got = W.failure_class(dict(submitted=s, feasible_end=f, faithful=ok, diagnosis_recall=r))
        assert got == matching[0], (s, f, ok, r)
        seen.add(got)
    assert seen == {*W.FAILURE_CLASSES, None}
    with pytest.raises(ValueError, match="no ground truth"):
        W.failure_class(dict(submitted=True, feasible_end=True, faithful=None, diagnosis_recall=None))


def test_every_stored_episode_has_one_class_matching_the_store(db):
    df = load_results(db)
    assert len(df) > 50
    for row in df.to_dict("records"):
        cls = W.failure_class(row)
        assert cls in W.FAILURE_CLASSES or cls is None
        assert (cls or "success") == row["failure_class"]
    # the search baseline's val episodes cover more than one class, and successes
    classes = {r["failure_class"] for r in W.collect_episodes(db, "search")}
    assert None in classes and len(classes) >= 2


# -- collection and profile ----------------------------------------------------------------------
def test_profile_counts_add_up_to_the_val_episodes(db):
    for policy in ("search", "random"):
        rows = W.collect_episodes(db, policy)
        prof = W.weakness_profile(rows)
        assert list(prof.index.names) == list(W.CELL)
        assert prof["episodes"].sum() == len(rows) == val_count(db, policy)
        per_class = prof[[f"n_{c}" for c in W.FAILURE_CLASSES]].sum(axis=1)
        assert (per_class + prof["successes"] == prof["episodes"]).all()
        assert np.allclose(prof["success_rate"], prof["successes"] / prof["episodes"])
        stored = load_results(db, policy=policy).query("split == 'val'")
        expected = stored.groupby(list(W.CELL)).size()
        assert prof["episodes"].to_dict() == expected.to_dict()
        assert prof["successes"].to_dict() == stored.assign(s=stored["failure_class"] == "success").groupby(
            list(W.CELL))["s"].sum().to_dict()
        failures = W.collect_failures(db, policy)
        assert len(failures) == len(rows) - prof["successes"].sum()
        assert all(r["failure_class"] is not None for r in failures)
    assert val_count(db, "random") == 2 * val_count(db, "search")  # two seeds: episodes, not instances


def test_learnability_peaks_at_half_and_is_zero_for_uniform_cells(db):
    prof = W.weakness_profile(W.collect_episodes(db, "search"))
    p = prof["success_rate"]
    assert np.allclose(prof["learnability"], 4 * p * (1 - p))
    assert ((prof["learnability"] == 0) == ((p == 0) | (p == 1))).all()
    assert (prof["learnability"] > 0).any() and (prof["learnability"] == 0).any()
    smoothed = W.weakness_profile(W.collect_episodes(db, "search"), prior=1.0)
    assert (smoothed["learnability"] > 0).all()  # three episodes per cell: no cell is certain under the prior
    assert W.learnability(1, 2) == 1.0 > W.learnability(1, 3) > W.learnability(1, 10)


def test_test_split_is_refused(db):
    with pytest.raises(ValueError, match="never on test"):
        W.collect_episodes(db, "search", split="test")
    with pytest.raises(ValueError, match="never on test"):
        W.collect_failures(db, "search", split="test")
    with pytest.raises(ValueError, match="never on test"):
        W.weakness_profile(load_results(db, policy="search"))  # its rows include the test split's
    assert (load_results(db, policy="search")["split"] == "test").any()
    with pytest.raises(ValueError, match="policies there"):
        W.collect_episodes(db, "nobody")
    with pytest.raises(ValueError, match="no train episodes"):
        W.collect_episodes(db, "random", split="train")  # random was evaluated on val only


def test_plot_weakness_shows_pooled_rates_and_counts(db):
    import matplotlib.pyplot as plt

    prof = W.weakness_profile(W.collect_episodes(db, "random"))
    ax = W.plot_weakness(prof)
    image = ax.get_images()[0].get_array()
    types = [t.get_text() for t in ax.get_yticklabels()]
    assert types == sorted(prof.index.get_level_values("error_type").unique())
    pooled = prof.groupby(["error_type", "difficulty"])[["episodes", "successes"]].sum()
    for i, t in enumerate(types):
        assert image[i, 0] == pytest.approx(pooled.loc[(t, "easy"), "successes"] / pooled.loc[(t, "easy"), "episodes"])
    texts = sorted(x.get_text() for x in ax.texts)
    assert texts == sorted(f"{r.successes / r.episodes:.2f}\nn={r.episodes}" for r in pooled.itertuples())
    plt.close(ax.figure)


# -- generation ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def profile(db):
    return W.weakness_profile(W.collect_episodes(db, "search"))


def weighted(profile, weights: dict[str, float]):
    """The real profile with its learnability replaced per error type (others 0)."""
    out = profile.copy()
    out["learnability"] = [weights.get(t, 0.0) for t, _, _ in out.index]
    return out


def fps_of(instances):
    return {fp for inst in instances for fp in W.instance_fingerprints(inst)}


def test_generated_instances_are_valid_train_side_and_disjoint_from_val_and_test(bench, profile):
    gen = W.generate_for_cells(profile, 4, seed=0, exclude_fingerprints=[], benchmark=bench)
    assert len(gen) == 4 and isinstance(gen, list)
    held_out = W.split_fingerprints(bench, ("val", "test"))
    assert held_out and not fps_of(gen) & held_out
    manifest = read_manifest(bench)
    positive = {cell for cell, w in profile["learnability"].items() if w > 0}
    for inst in gen:
        assert validate(inst) == []
        assert (inst.error_type, inst.difficulty, inst.family) in positive
        size = DIFFICULTY[inst.difficulty].size
        assert split_of(inst.family, size, inst.meta["base_seed"], tuple(manifest["split_fractions"]),
                        manifest["seed"]) == "train"
        assert inst.meta["split"] == "train" and inst.meta["weakness"]["seed"] == 0
    assert len(fps_of(gen)) == 2 * len(gen)  # no two share a model
    report = gen.report
    assert report["accepted"].sum() == 4
    assert (report.loc[report["learnability"] == 0, "drawn"] == 0).all()


def test_draws_follow_the_learnability_weights(bench, profile):
    prof = weighted(profile, {"A": 1.0, "H": 0.25})
    gen = W.generate_for_cells(prof, 60, seed=3, exclude_fingerprints=[], benchmark=bench)
    report = gen.report.droplevel(["difficulty", "family"])
    assert report["probability"].to_dict() == {"A": 0.8, "C": 0.0, "D": 0.0, "E": 0.0, "H": 0.2}
    assert report.loc[["C", "D", "E"], "drawn"].sum() == 0
    assert {inst.error_type for inst in gen} == {"A", "H"}
    # ~60 draws at p = 0.8: share of A 0.8 (sd 0.05); equal weights would give 0.5
    share = report.loc["A", "drawn"] / report["drawn"].sum()
    assert 0.68 <= share <= 0.92, report
    assert report["accepted"].sum() == 60


def test_generation_is_reproducible_for_a_seed(bench, profile):
    prof = weighted(profile, {"A": 1.0, "D": 0.5, "H": 0.5})
    a = W.generate_for_cells(prof, 5, seed=7, exclude_fingerprints=[], benchmark=bench)
    b = W.generate_for_cells(prof, 5, seed=7, exclude_fingerprints=[], benchmark=bench)
    c = W.generate_for_cells(prof, 5, seed=8, exclude_fingerprints=[], benchmark=bench)
    assert [i.id for i in a] == [i.id for i in b]
    assert [W.instance_fingerprints(i) for i in a] == [W.instance_fingerprints(i) for i in b]
    assert a.report.equals(b.report)
    assert [i.id for i in a] != [i.id for i in c]


def test_an_excluded_fingerprint_is_rejected(bench, profile):
    prof = weighted(profile, {"A": 1.0})
    first = W.generate_for_cells(prof, 3, seed=11, exclude_fingerprints=[], benchmark=bench)
    again = W.generate_for_cells(prof, 3, seed=11, exclude_fingerprints=[W.instance_fingerprints(first[0])[1]],
                                 benchmark=bench)
    assert first[0].id not in {i.id for i in again}
    assert W.instance_fingerprints(first[0])[1] not in fps_of(again)
    assert again.report["rejected_collision"].sum() == 1
    assert [i.id for i in again][:2] == [i.id for i in first][1:]  # the same draws, less the excluded one


def test_val_and_test_models_are_rejected_without_being_passed(bench, profile, instances, monkeypatch):
    """A saboteur that returns the benchmark's own val / test instances: every draw is a collision, though
    exclude_fingerprints is empty, and the call fails saying what it made."""
    held_out = [i for i in instances if i.meta["split"] in ("val", "test")]
    assert {i.meta["split"] for i in held_out} == {"val", "test"}
    pool = itertools.cycle(held_out)
    monkeypatch.setattr(W, "make_instance", lambda *a, **k: copy.deepcopy(next(pool)))
    with pytest.raises(W.WeaknessGenerationError, match="made 0 of 2 instances in 10 draws") as err:
        W.generate_for_cells(profile, 2, seed=0, exclude_fingerprints=[], benchmark=bench)
    assert err.value.report["rejected_collision"].sum() == 10 == err.value.report["drawn"].sum()


def test_invalid_and_duplicate_instances_are_rejected(bench, profile, instances, monkeypatch):
    train = next(i for i in instances if i.meta["split"] == "train")
    monkeypatch.setattr(W, "make_instance", lambda *a, **k: copy.deepcopy(train))
    with pytest.raises(W.WeaknessGenerationError, match="made 1 of 2"):  # the same model every draw
        W.generate_for_cells(profile, 2, seed=0, exclude_fingerprints=[], benchmark=bench)
    monkeypatch.setattr(W, "validate", lambda inst: ["injected problem"])
    with pytest.raises(W.WeaknessGenerationError, match="made 0 of 3 instances in 15 draws") as err:
        W.generate_for_cells(profile, 3, seed=0, exclude_fingerprints=[], benchmark=bench)
    assert err.value.report["rejected_invalid"].sum() == 15


def test_a_cell_that_cannot_be_made_is_set_aside(bench, profile, monkeypatch):
    def fail(*a, **k):
        raise GenerationError("no valid instance\n  base seed 1: nothing fits")

    monkeypatch.setattr(W, "make_instance", fail)
    with pytest.raises(W.WeaknessGenerationError, match="set aside") as err:
        W.generate_for_cells(profile, 2, seed=0, exclude_fingerprints=[], benchmark=bench)
    report = err.value.report
    assert (report.loc[report["learnability"] > 0, "set_aside"] == "base seed 1: nothing fits").all()
    assert report["drawn"].sum() == (report["learnability"] > 0).sum()  # once per cell, then set aside


def test_a_profile_without_learnable_cells_is_refused(bench, profile):
    with pytest.raises(ValueError, match="no cell of the profile has learnability > 0"):
        W.generate_for_cells(weighted(profile, {}), 2, seed=0, exclude_fingerprints=[], benchmark=bench)
    with pytest.raises(ValueError, match="indexed by"):
        W.generate_for_cells(profile.reset_index(), 2, seed=0, exclude_fingerprints=[], benchmark=bench)
