"""The OR-Debug RL experiment runner (experiments/rl_experiment.py): its checks, without training anything.
Notebooks 20-23 run it end to end in their smoke tests."""
import json

import pytest

from ordebug_lib.experiments.rl_experiment import COMMON, RLExperiment, given_warm_start, trained_warm_start


def params(**over):
    p = {k: None for k in COMMON}
    p.update({"run_dir": "runs/x", "device": "cpu", "seed": 0, "max_turns": 6, "require_warm_start": False, **over})
    return p


def test_from_params_takes_the_common_and_the_optional_parameters_only():
    exp = RLExperiment.from_params({**params(dgro={"dgro": {}}), "unrelated": 1, "pd": object()}, slug="s")
    assert set(exp.params) == set(COMMON) | {"dgro"} and str(exp.run_dir) == "runs/x" and exp.device == "cpu"
    bad = params()
    del bad["baselines"]
    with pytest.raises(ValueError, match=r"does not define the parameters \['baselines'\]"):
        RLExperiment.from_params(bad, slug="s")


def test_a_given_warm_start_needs_its_benchmark_a_model_and_the_same_episode_budget(tmp_path):
    model = tmp_path / "sft" / "model"
    with pytest.raises(ValueError, match="needs benchmark_dir"):
        given_warm_start(model, None, 6)
    with pytest.raises(FileNotFoundError, match="no saved model"):
        given_warm_start(model, tmp_path / "bench", 6)
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    ws = given_warm_start(model, tmp_path / "bench", 6)
    assert ws.given and ws.record is None and ws.benchmark == tmp_path / "bench"
    (model.parent / "metrics.json").write_text(json.dumps({"data": {"n": 3}, "sft": {"best_step": 2}}))
    # 03_sft's flat record, from before the rename
    (model.parent / "provenance.json").write_text(json.dumps({"parameters": {"max_steps": 20}}))
    with pytest.raises(ValueError, match="trained with max_turns=20, not 6"):
        given_warm_start(model, tmp_path / "bench", 6)
    ws = given_warm_start(model, tmp_path / "bench", 20)
    (model.parent / "provenance.json").write_text(json.dumps({"parameters": {"warm_start_config": {"max_turns": 8}}}))
    with pytest.raises(ValueError, match="trained with max_turns=8, not 20"):  # 04_ordebug_sft
        given_warm_start(model, tmp_path / "bench", 20)
    assert ws.record["data"] == {"n": 3} and ws.record["source_run"] == str(model.parent)


def test_warm_start_refusals_come_before_any_training(tmp_path):
    exp = RLExperiment(params(run_dir=tmp_path, require_warm_start=True), slug="s")
    with pytest.raises(ValueError, match="this profile needs -p warm_start"):
        exp.warm_start()
    with pytest.raises(ValueError, match="must equal max_turns=20"):
        trained_warm_start({"model": "tiny", "max_turns": 6}, 20, tmp_path, "cpu")
    with pytest.raises(RuntimeError, match="warm_start\\(\\) and ladder\\(\\) first"):
        RLExperiment(params(run_dir=tmp_path), slug="s").run_arms()
