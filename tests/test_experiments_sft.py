"""The SFT notebooks' runner (experiments/sft_experiment.py): the nested warm_start_config shape and its checks, the
settings a run hands its code, and the split of notebook 03_sft into 03_countdown_sft and 04_ordebug_sft: each of
03_sft's profiles (and its parameters cell, with either task) has a profile of the new notebooks that runs with
exactly the settings it ran with. Those were recorded, before the split, in tests/data/sft_profiles_before.json
(at commit fe3c696, where 03_sft's cells ran ``experiments.sft_experiment.from_03_sft`` on their flat parameters:
``settings(from_03_sft(...))`` of 03_sft's parameters cell merged with each params/03_sft profile, whose smoke runs
were unchanged by that commit). Publishing a new notebook's run archives 03_sft's files with 03_sft's provenance."""
import dataclasses
import json
from pathlib import Path

import pytest

from ordebug_lib.experiments.sft_experiment import (CountdownSFTRun, OrdebugSFTRun, countdown_run, ordebug_run,
                                                    settings, trained_max_turns)
from ordebug_lib.ordebug.error_types import error_type_letters
from ordebug_lib.policy.countdown_sft import CountdownSFTConfig
from ordebug_lib.policy.ordebug_sft import OrdebugSFTConfig, run_sft_config
from ordebug_lib.policy.sft import SFTRunConfig
from ordebug_lib.run import ROOT, RunError, check_config_fields, load_params, notebook_path, parameter_cell

RENAMED = {"max_steps": "max_turns", "dagger_max_turn": "dagger_max_turns"}
"""OrdebugSFTConfig fields renamed since the fixture was recorded (issue 18: turn budgets are spelled max_turns; the
fixture's optimizer steps, ``sft.max_steps``, keep their name)."""


def renamed(entry: dict) -> dict:
    config = entry["settings"]["config"]
    entry["settings"]["config"] = {RENAMED.get(k, k): v for k, v in config.items()}
    return entry


BEFORE = {k: renamed(v) for k, v in
          json.loads((Path(__file__).parent / "data" / "sft_profiles_before.json").read_text()).items()}


def cell_defaults(stem: str) -> dict:
    return {k: v for k, (v, _) in parameter_cell(notebook_path(stem)).items()}


def normalised(s: dict) -> dict:
    """``settings`` with the benchmark's error types as "all" when they are every registered type (the fixture's
    spelling, so that a new type in the registry does not read as a changed profile)."""
    s = json.loads(json.dumps(s))
    if s["config"].get("bench_error_types") == error_type_letters("all"):
        s["config"]["bench_error_types"] = "all"
    return s


def assert_same_fields(got: dict, want: dict, where: str = "") -> None:
    """Field by field, types included (1 is not 1.0, a list is not a string)."""
    assert sorted(got) == sorted(want), (where, sorted(set(got) ^ set(want)))
    for k in want:
        if isinstance(want[k], dict) and isinstance(got[k], dict):
            assert_same_fields(got[k], want[k], f"{where}.{k}")
        else:
            assert json.dumps(got[k]) == json.dumps(want[k]), (f"{where}.{k}", got[k], want[k])


def run_of(now: str):
    """The run of a profile of the new notebooks (``<notebook>/<profile>``; ``<notebook>/(parameters cell)``: none),
    as the notebook builds it: its parameters cell under the profile's parameters."""
    stem, profile = now.split("/")
    params = cell_defaults(stem) if profile.startswith("(") else {**cell_defaults(stem), **load_params(stem, profile)}
    return (countdown_run if stem == "03_countdown_sft" else ordebug_run)(params)


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_each_03_sft_profile_runs_as_before_in_its_new_notebook(name):
    """Field by field, types included: the config (CountdownSFTConfig / OrdebugSFTConfig with its sft), the
    SFTRunConfig SFT runs with, the evaluation's sampling, instances, baselines and flags, the device."""
    assert_same_fields(normalised(settings(run_of(BEFORE[name]["now"]))), BEFORE[name]["settings"], name)


def test_every_new_profile_is_one_of_03_sft_and_the_check_can_fail():
    now = {e["now"] for e in BEFORE.values()}
    profiles = {f"{stem}/{p.stem}" for stem in ("03_countdown_sft", "04_ordebug_sft")
                for p in (ROOT / "params" / stem).glob("*.yaml")}
    assert profiles | {"03_countdown_sft/(parameters cell)", "04_ordebug_sft/(parameters cell)"} == now
    assert not (ROOT / "params" / "03_sft").exists() and not (ROOT / "notebooks" / "03_sft.ipynb").exists()
    run = run_of("04_ordebug_sft/gpu")
    moved = dataclasses.replace(run, config=dataclasses.replace(run.config, dagger_batch_size=100))
    with pytest.raises(AssertionError, match="dagger_batch_size"):
        assert_same_fields(normalised(settings(moved)), BEFORE["03_sft/gpu_ordebug"]["settings"])
    with pytest.raises(AssertionError):  # a type counts: 1e-3 is not 1
        assert_same_fields({"a": 1}, {"a": 1.0})


# -- the nested shape -------------------------------------------------------------------------------------------------
COUNTDOWN = {"run_dir": "r", "seed": 0, "n_eval": 12, "max_new_tokens": 64, "eval_batch_size": 16, "temperature": 0.0,
             "eval_before": True, "save_model": False, "device": "auto",
             "warm_start_config": {"model": "tiny", "n_demos": 48, "n_val": 16, "num_numbers": [3],
                                   "stream_max_nodes": [4, 8], "steps": 16, "learning_rate": 0.005, "batch_size": 4,
                                   "warmup_steps": 2, "max_length": 512, "logging_steps": 2}}
ORDEBUG = {"run_dir": "r", "seed": 0, "benchmark_dir": None, "train_benchmark_dir": None, "n_eval": 4,
           "baselines": ["random", "greedy", "last_iis_row", "kind_prior", "search", "oracle"], "max_new_tokens": 24,
           "max_prompt_tokens": 2048, "eval_batch_size": 4, "temperature": 0.0, "eval_before": False,
           "save_model": True, "device": "auto",
           "warm_start_config": {"model": "tiny", "workers": 2, "n_train": 12, "n_val": 2, "bench_n_per_cell": 3,
                                 "bench_error_types": "all", "bench_difficulties": ["easy"],
                                 "experts": ["oracle_iis", "search"],
                                 "recovery": ["wrong_repair", "search_repair", "repeat_get_iis", "repeat_repair",
                                              "near_miss", "rejected_action"],
                                 "recovery_n_wrong": 1, "max_turns": 8, "dagger_rounds": 1, "dagger_steps": 3,
                                 "dagger_max_turns": 3, "dagger_batch_size": 4, "dagger_max_new_tokens": 24,
                                 "dagger_max_prompt_tokens": 2048,
                                 "sft": {"max_steps": 6, "learning_rate": 0.005, "batch_size": 2, "warmup_steps": 1,
                                         "max_length": 2048, "logging_steps": 1, "eval_steps": 3,
                                         "eval_batch_size": 4, "keep_best": True}}}


def test_the_nested_shape_runs_what_the_flat_parameters_ran():
    """03_sft's smoke profiles, written out in the nested shape without the parameters cells, give the same settings."""
    assert_same_fields(normalised(settings(countdown_run(COUNTDOWN))), BEFORE["03_sft/smoke"]["settings"])
    assert_same_fields(normalised(settings(ordebug_run(ORDEBUG))), BEFORE["03_sft/smoke_ordebug"]["settings"])


def test_the_seed_parameter_seeds_the_whole_run():
    run = ordebug_run({**ORDEBUG, "seed": 3})
    assert isinstance(run, OrdebugSFTRun)
    assert (run.config.seed, run.config.sft.seed, run.sampling.seed) == (3, 3, 3)
    same = {**ORDEBUG, "seed": 3, "warm_start_config": {**ORDEBUG["warm_start_config"], "seed": 3}}
    assert ordebug_run(same) == run  # repeating it is allowed
    for config in ({**ORDEBUG["warm_start_config"], "seed": 1},
                   {**ORDEBUG["warm_start_config"], "sft": {**ORDEBUG["warm_start_config"]["sft"], "seed": 1}}):
        with pytest.raises(ValueError, match="seed=1 differs from seed=3"):
            ordebug_run({**ORDEBUG, "seed": 3, "warm_start_config": config})
    run = countdown_run({**COUNTDOWN, "seed": 2})
    assert isinstance(run, CountdownSFTRun) and (run.config.seed, run.config.run_config().seed, run.sampling.seed) == (2, 2, 2)
    with pytest.raises(ValueError, match="warm_start_config seed=0 differs from seed=2"):
        countdown_run({**COUNTDOWN, "seed": 2, "warm_start_config": {**COUNTDOWN["warm_start_config"], "seed": 0}})


def test_an_absent_sft_mapping_keeps_the_warm_start_defaults():
    run = ordebug_run({**ORDEBUG, "seed": 1, "warm_start_config": {"model": "tiny"}})
    assert run.config.sft == dataclasses.replace(OrdebugSFTConfig().sft, seed=1)


def test_the_benchmark_paths_are_run_parameters():
    run = ordebug_run({**ORDEBUG, "benchmark_dir": "b25", "train_benchmark_dir": "b100"})
    assert (run.config.benchmark_dir, run.config.train_benchmark_dir) == ("b25", "b100")
    ws = {**ORDEBUG["warm_start_config"], "benchmark_dir": "elsewhere"}
    assert ordebug_run({**ORDEBUG, "warm_start_config": ws}).config.benchmark_dir == "elsewhere"
    with pytest.raises(ValueError, match="benchmark_dir='elsewhere' differs from benchmark_dir='b25'"):
        ordebug_run({**ORDEBUG, "benchmark_dir": "b25", "warm_start_config": ws})


def test_unknown_fields_are_refused():
    with pytest.raises(ValueError, match=r"unknown OrdebugSFTConfig field\(s\) \['steps'\]"):
        ordebug_run({**ORDEBUG, "warm_start_config": {"steps": 3}})
    with pytest.raises(ValueError, match=r"unknown SFTRunConfig field\(s\) \['steps'\]"):
        ordebug_run({**ORDEBUG, "warm_start_config": {"sft": {"steps": 3}}})
    with pytest.raises(ValueError, match=r"unknown CountdownSFTConfig field\(s\) \['max_steps'\]"):
        countdown_run({**COUNTDOWN, "warm_start_config": {"max_steps": 3}})


def test_the_countdown_warm_start_trains_as_before():
    """``CountdownSFTConfig.run_config`` at its new fields' defaults is the SFTRunConfig countdown_warm_start built
    before they existed (E1's warm starts are unchanged)."""
    c = CountdownSFTConfig(model="tiny", steps=60, learning_rate=0.003, batch_size=8, warmup_steps=5, max_length=768,
                           logging_steps=5, eval_steps=20, bf16=False, seed=4, workers=3)
    assert c.run_config() == SFTRunConfig(max_steps=60, learning_rate=0.003, warmup_steps=5, batch_size=8,
                                          max_length=768, logging_steps=5, eval_steps=20, bf16=False, seed=4)
    assert CountdownSFTConfig(eval_steps=0).run_config().eval_steps is None


def test_sft_tokenises_in_the_workers_unless_told_otherwise():
    assert run_sft_config(OrdebugSFTConfig(workers=1)).dataset_num_proc is None
    assert run_sft_config(OrdebugSFTConfig(workers=4)).dataset_num_proc == 4
    config = OrdebugSFTConfig(workers=4, sft=SFTRunConfig(dataset_num_proc=2))
    assert run_sft_config(config).dataset_num_proc == 2


def test_the_episode_budget_a_warm_start_was_trained_with():
    """RL notebooks check a given warm start against it (its observations name it): 04_ordebug_sft's nested
    parameters, 03_sft's flat ones (every run published so far), or nothing recorded. Runs before the rename
    (issue 18) recorded it as max_steps; their provenance reads the same."""
    assert trained_max_turns({"warm_start_config": {"max_turns": 8}, "seed": 0}) == 8
    assert trained_max_turns({"warm_start_config": {"max_steps": 8, "sft": {"max_steps": 600}}}) == 8  # before
    assert trained_max_turns({"warm_start_config": {"model": "tiny"}}) == OrdebugSFTConfig().max_turns == 20
    assert trained_max_turns({"task": "ordebug", "max_steps": 12}) == 12  # 03_sft
    assert trained_max_turns({}) is None
    prov = json.loads((ROOT / "reports" / "provenance" / "03_sft.gpu_ordebug.json").read_text())
    assert trained_max_turns(prov["parameters"]) == 20


def test_a_config_inside_a_parameter_is_checked_like_the_parameters():
    """Types against the dataclass defaults (None where its type allows), the runner's ranges by name, the path in
    the message; unknown fields are the dataclass's to refuse."""
    check_config_fields("nb", "ws", OrdebugSFTConfig, {"n_val": None, "experts": ["slack"], "pretrain_learning_rate": 1e-3,
                                                      "bogus": 1})
    check_config_fields("nb", "ws.sft", SFTRunConfig, {"max_steps": 3, "learning_rate": 1, "eval_steps": None})
    for config, message in (({"max_turns": "two"}, "ws.max_turns must be an integer like its default 20, got 'two'"),
                            ({"per_turn": 1}, "ws.per_turn must be a boolean"),
                            ({"max_turns": None}, "ws.max_turns must not be null"),
                            ({"max_turns": 0}, "ws.max_turns must be ≥ 1, got 0"),
                            ({"pretrain_learning_rate": 0}, "ws.pretrain_learning_rate must be > 0"),
                            ([1], "ws must be a mapping of OrdebugSFTConfig fields")):
        with pytest.raises(RunError, match=message):
            check_config_fields("nb", "ws", OrdebugSFTConfig, config)
    with pytest.raises(RunError, match=r"ws.num_numbers must be a non-empty list of integers ≥ 2"):
        check_config_fields("nb", "ws", CountdownSFTConfig, {"num_numbers": [1]})


def test_a_first_publication_archives_03_sfts_files_with_03_sfts_provenance(tmp_path):
    """04_ordebug_sft's gpu run replaces the sft_ordebug_* files 03_sft's gpu_ordebug run published before archives
    existed: they go to 03_sft.gpu_ordebug.legacy beside that run's provenance, and 03_sft's provenance stays."""
    from ordebug_lib.run import FORMER_OWNERS, former_owner, publish_run

    assert former_owner("04_ordebug_sft") == "03_sft.gpu_ordebug" and former_owner("03_countdown_sft") == "03_sft"
    assert former_owner("20_ordebug_sft_vs_grpo") is None
    assert all((ROOT / "reports" / "provenance" / f"{tag}.json").exists() for tag in FORMER_OWNERS.values())
    prov_dir = tmp_path / "reports" / "provenance"
    prov_dir.mkdir(parents=True)
    (tmp_path / "reports" / "sft_ordebug_eval.md").write_text("03_sft\n")
    (prov_dir / "03_sft.gpu_ordebug.json").write_text('{"notebook": "03_sft", "profile": "gpu_ordebug"}')
    assert former_owner("04_ordebug_sft", tmp_path) == "03_sft.gpu_ordebug"
    assert former_owner("03_countdown_sft", tmp_path) is None  # nothing of 03_sft's gpu run to archive there
    run = tmp_path / "runs" / "04_ordebug_sft" / "gpu" / "r1"
    (run / "reports").mkdir(parents=True)
    (run / "reports" / "sft_ordebug_eval.md").write_text("04\n")
    (run / "provenance.json").write_text(json.dumps({"notebook": "04_ordebug_sft", "profile": "gpu",
                                                     "parameters": {"seed": 0, "run_dir": str(run)}}))
    archive = publish_run(run, "04_ordebug_sft", root=tmp_path, replaces=former_owner("04_ordebug_sft", tmp_path))
    legacy = tmp_path / "reports" / "published" / "03_sft.gpu_ordebug.legacy"
    assert (legacy / "reports" / "sft_ordebug_eval.md").read_text() == "03_sft\n"
    assert json.loads((legacy / "provenance.json").read_text())["notebook"] == "03_sft"
    assert (archive / "reports" / "sft_ordebug_eval.md").read_text() == "04\n" == \
        (tmp_path / "reports" / "sft_ordebug_eval.md").read_text()
    assert (prov_dir / "03_sft.gpu_ordebug.json").exists() and (prov_dir / "04_ordebug_sft.json").exists()
