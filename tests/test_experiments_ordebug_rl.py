"""E3-E5 on OR-Debug (experiments/ordebug_rl.py): the arm definitions are the papers' settings and valid run
configs, shared settings cannot redefine an arm, and notebooks 20 / 21 run end to end on their smoke profiles
(warm start trained in the notebook, arms as processes, test-split evaluation, baselines, tables, findings)."""
import json
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest

from ordebug_lib.experiments.ordebug_rl import (KINDS, LABEL, PER_ARM_FIELDS, OrdebugArm, arm_jobs, make_arms,
                                                warm_start_config)
from ordebug_lib.training.config import GRPORunConfig

sys.path.insert(0, str(Path(__file__).parent))
from notebook_smoke import run_smoke  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def test_arm_fields_are_the_papers_settings_and_valid_configs():
    f = {k: OrdebugArm(k).run_fields() for k in KINDS if k != "sft"}
    assert (f["grpo"]["advantage_method"], f["grpo"]["loss_type"], f["grpo"]["beta"]) == ("grpo", "grpo", 0.04)
    # DGRO (arXiv 2505.12951): its own loss, r − V with V the group mean, no KL to a reference; β₁, β₂ are
    # GRPORunConfig's defaults unless the notebook sets them
    assert (f["dgro"]["advantage_method"], f["dgro"]["loss_type"], f["dgro"]["beta"], f["dgro"]["dgro_beta_1"],
            f["dgro"]["dgro_beta_2"]) == ("dr_grpo", "dgro", 0.0, GRPORunConfig().dgro_beta_1, GRPORunConfig().dgro_beta_2)
    # the seeds' variance-scaled advantage (seeds/000): beta_kl 0.001 is the KL coefficient; beta_reward and the
    # variance floor act on advantages
    assert (f["dgro_seeds"]["advantage_method"], f["dgro_seeds"]["beta"], f["dgro_seeds"]["dgro_beta_reward"],
            f["dgro_seeds"]["dgro_min_variance"]) == ("dgro", 0.001, 2.0, 0.01)
    arms = make_arms(["dgro", "dgro_seeds"], dgro={"dgro": {"dgro_beta_1": 0.5, "dgro_beta_2": 0.2},
                                                   "dgro_seeds": {"beta": 0.0, "dgro_beta_reward": 1.0,
                                                                  "dgro_min_variance": 0.05}})
    paper, seeds = (a.run_fields() for a in arms)
    assert (paper["dgro_beta_1"], paper["dgro_beta_2"]) == (0.5, 0.2)
    assert (seeds["beta"], seeds["dgro_beta_reward"], seeds["dgro_min_variance"]) == (0.0, 1.0, 0.05)
    # the DAPO ablation: each arm differs from the baseline in exactly its own knob(s)
    base = f["baseline"]
    assert base == f["grpo"]
    diff = {k: {n: v for n, v in f[k].items() if base.get(n) != v} for k in ("no_kl", "asym_clip", "dynamic", "token_loss")}
    assert diff == {"no_kl": {"beta": 0.0}, "asym_clip": {"epsilon_high": 0.28}, "dynamic": {"dynamic_sampling": True},
                    "token_loss": {"loss_type": "dapo", "mask_truncated_completions": True}}
    # E8's step-credit arms: GRPO's fields plus their step credit (the PRM's path is a shared setting)
    assert {k: {n: v for n, v in f[k].items() if base.get(n) != v} for k in ("prm_sum", "pure_min", "gigpo")} == \
        {"prm_sum": {"step_credit": "prm_sum"}, "pure_min": {"step_credit": "pure_min"}, "gigpo": {"step_credit": "gigpo"}}
    for fields in f.values():
        assert set(fields) <= set(PER_ARM_FIELDS)
        shared = {"prm_path": "tiny"} if fields.get("step_credit") in ("prm_sum", "pure_min") else {}
        cfg = GRPORunConfig.from_dict({**fields, **shared, "max_turns": 2, "max_new_tokens_per_turn": 8,
                                       "max_completion_length": 16, "reward": "composite", "num_iterations": 2})
        assert cfg.advantage_method == fields["advantage_method"]
    with pytest.raises(ValueError, match="does not train"):
        OrdebugArm("sft").run_fields()
    with pytest.raises(ValueError, match="unknown arm kind"):
        OrdebugArm("ppo")
    with pytest.raises(ValueError, match="unknown DGRO arm"):
        make_arms(["dgro"], dgro={"beta": 1.0})
    with pytest.raises(ValueError, match="now 'dgro_seeds'"):  # the settings' format before issue 21
        make_arms(["dgro"], dgro={"beta_kl": 0.001, "beta_reward": 2.0, "min_variance": 0.01})
    with pytest.raises(ValueError, match="π_src = π_θ"):  # the paper's arm needs a reused generation
        GRPORunConfig.from_dict({**f["dgro"], "num_iterations": 1})


def test_shared_settings_cannot_override_per_arm_fields(tmp_path):
    arms = make_arms(["sft", "grpo", "dgro"])
    assert [a.name for a in arms] == ["grpo-s0", "dgro-s0", "sft-s0"]
    for field in ("advantage_method", "beta", "loss_type", "dgro_beta_reward", "seed", "epsilon_high"):
        with pytest.raises(ValueError, match="set per arm"):
            arm_jobs(arms, tmp_path, tmp_path, tmp_path, {field: 0.0})
    with pytest.raises(ValueError, match="unknown GRPORunConfig"):
        arm_jobs(arms, tmp_path, tmp_path, tmp_path, {"max_stepz": 3})
    with pytest.raises(ValueError, match="π_src = π_θ"):  # DGRO's β₂ acts only on a reused generation
        arm_jobs(arms, tmp_path, tmp_path, tmp_path, {"max_steps": 3, "reward": "composite"})
    jobs = arm_jobs(arms, tmp_path, tmp_path, tmp_path, {"max_steps": 3, "reward": "composite", "num_iterations": 2})
    assert [j.dir for j in jobs] == [tmp_path / a.name for a in arms]
    # the shared settings plus the episode fields of the evaluation (arm_jobs' defaults: 20 steps of 48 tokens)
    want = {"max_steps": 3, "reward": "composite", "num_iterations": 2, "max_turns": 20, "max_new_tokens_per_turn": 48,
            "max_context_tokens": 3584 + 48, "max_completion_length": 20 * 48}
    assert all(j.spec["grpo"] == want and j.spec["context_policy"] == "end" for j in jobs)


def test_warm_start_config_from_a_dict():
    cfg = warm_start_config({"model": "tiny", "bench_difficulties": ["easy"], "sft": {"max_steps": 3}})
    assert cfg.bench_difficulties == ("easy",) and cfg.sft.max_steps == 3
    with pytest.raises(ValueError, match="unknown OrdebugSFTConfig"):
        warm_start_config({"modle": "tiny"})


def _check_run(run, kinds, advantage, rep, figs):
    from ordebug_lib.ordebug.dataset import load_benchmark

    m = json.loads((run / "metrics.json").read_text())
    params = json.loads((run / "provenance.json").read_text())["parameters"]
    test, train = load_benchmark(run / "benchmark", "test"), load_benchmark(run / "benchmark", "train")
    assert m["n_eval"] == len(test) > 0 and m["n_train"] == len(train)
    assert not {i.id for i in test} & {i.id for i in train}
    for kind in kinds:
        d = run / "arms" / f"{kind}-s0"
        with sqlite3.connect(d / "results.sqlite") as conn:  # every arm evaluated every test instance once
            ids = [r[0] for r in conn.execute("SELECT instance_id FROM episodes")]
        assert sorted(ids) == sorted(i.id for i in test)
        if kind == "sft":
            assert not (d / "run_config.json").exists()
            continue
        cfg = json.loads((d / "run_config.json").read_text())
        assert cfg["advantage_method"] == advantage[kind]
        assert cfg["reward"] == params["grpo"]["reward"] and cfg["max_turns"] == params["max_turns"]  # one task
        steps = [json.loads(line)["step"] for line in (d / "metrics.jsonl").read_text().splitlines()]
        assert steps == list(range(1, params["grpo"]["max_steps"] + 1))
    labels = LABEL
    policies = [labels[k] for k in kinds] + [f"baseline: {b}" for b in params["baselines"]]
    assert [r["policy"] for r in m["table"]] == policies
    assert all(r["episodes"] == len(test) for r in m["table"])
    assert {"RR", "RR@5", "RR@10", "RR@15", "RR@20", "faithful_recovery", "DA", "avg_steps"} <= set(m["table"][0])
    types, diffs = {i.error_type for i in test}, {i.difficulty for i in test}
    assert len(m["by_error_type"]) == len(policies) * len(types)
    assert len(m["by_difficulty"]) == len(policies) * len(diffs)
    assert sum(r["episodes"] for r in m["by_error_type"]) == len(policies) * len(test)
    trained = [k for k in kinds if k != "sft"]
    # each trained arm's headline is its paired test against SFT, with a verdict per metric (never a bare "No")
    heads = [s for s in m["findings"] for k in trained if s.startswith(f"{labels[k]} against SFT, paired over {len(test)} instances")]
    assert len(heads) == len(trained) and not any(s.startswith("Does ") for s in m["findings"])
    assert all(s.count("beyond the CI") + s.count("not detected") + s.count("within the seed spread") == 3 for s in heads)
    assert any("zero-std groups" in s for s in m["findings"])
    report = (run / "reports" / f"{rep}.md").read_text()
    assert "## By error type" in report and "## By difficulty" in report and "single RL seed" in report
    for name in figs:
        assert (run / "figures" / f"{name}.png").stat().st_size > 0 and (run / "figures" / f"{name}.pdf").exists()
    assert json.loads((run / "provenance.json").read_text())["status"] == "ok"
    # every policy paired against the warm start, recomputable from the per-episode rows the report commits
    import pandas as pd

    from ordebug_lib.experiments.ordebug_report import paired_to_reference, results_table

    episodes = pd.read_csv(run / "reports" / f"{rep}_episodes.csv")
    assert len(episodes) == len(policies) * len(test) and "trajectory_json" not in episodes
    pd.testing.assert_frame_equal(results_table(episodes), pd.DataFrame(m["table"]), check_dtype=False, check_like=True)
    again = paired_to_reference(episodes)
    assert set(again["policy"]) == set(policies) - {"SFT (no RL)"} and set(again["metric"]) == {"faithful_recovery", "DA", "RR@5"}
    assert again[["policy", "metric", "diff", "mde"]].to_dict("records") == \
        pd.DataFrame(m["paired"])[["policy", "metric", "diff", "mde"]].to_dict("records")
    assert "## Paired against the SFT warm start (test split)" in report
    grpo = next((k for k in ("grpo", "baseline") if k in trained), None)  # every other trained arm against GRPO
    others = [labels[k] for k in trained if k != grpo]
    if grpo and others:
        assert sorted(set(pd.DataFrame(m["paired_grpo"])["policy"])) == sorted(others)
        assert "## Paired against GRPO (test split)" in report
        vs = paired_to_reference(episodes[~episodes["kind"].isin(["sft", *params["baselines"]])], reference=grpo)
        assert vs[["policy", "metric", "diff"]].to_dict("records") == \
            pd.DataFrame(m["paired_grpo"])[["policy", "metric", "diff"]].to_dict("records")
    else:
        assert m["paired_grpo"] is None and "Paired against GRPO" not in report


@pytest.mark.slow
def test_notebook_20_smoke_profile_runs_sft_and_grpo_end_to_end(tmp_path):
    run = run_smoke("20_ordebug_sft_vs_grpo", tmp_path)
    _check_run(run, ["sft", "grpo"], {"grpo": "grpo"}, "ordebug_sft_vs_grpo",
               ["ordebug_grpo_reward_variance", "ordebug_grpo_test_metrics", "ordebug_grpo_breakdown"])
    shutil.rmtree(run)  # kept only when the test fails


@pytest.mark.slow
def test_notebook_21_smoke_profile_runs_sft_grpo_and_dgro_end_to_end(tmp_path):
    run = run_smoke("21_ordebug_dgro", tmp_path)
    _check_run(run, ["sft", "grpo", "dgro", "dgro_seeds"], {"grpo": "grpo", "dgro": "dr_grpo", "dgro_seeds": "dgro"},
               "ordebug_dgro", ["ordebug_dgro_reward_variance", "ordebug_dgro_test_metrics", "ordebug_dgro_breakdown"])
    paper = json.loads((run / "arms" / "dgro-s0" / "run_config.json").read_text())
    assert (paper["loss_type"], paper["beta"]) == ("dgro", 0.0) and paper["num_iterations"] >= 2
    seeds = json.loads((run / "arms" / "dgro_seeds-s0" / "run_config.json").read_text())
    assert (seeds["beta"], seeds["dgro_beta_reward"], seeds["dgro_min_variance"]) == (0.001, 2.0, 0.01)
    knob = json.loads((run / "arms" / "dgro-s0" / "eval.json").read_text())  # β₂'s knob, logged every step (the
    assert knob["knob_metric"] == "ordebug/dgro/sq_log_ratio" and knob["knob_steps_logged"] == 2  # CPU smoke may not move it)
    shutil.rmtree(run)


def test_findings_of_the_published_e3_run_call_a_few_episodes_noise():
    """The committed E3 v1 table (its archive): GRPO's DA 16.2% -> 20.0% on 101 episodes is within two standard
    errors, so GRPO does not 'move past' SFT."""
    import pandas as pd

    from ordebug_lib.experiments.ordebug_report import findings

    root = Path(__file__).resolve().parents[1]
    table = pd.read_csv(root / "reports" / "published" / "20_ordebug_sft_vs_grpo.legacy" / "reports" / "ordebug_sft_vs_grpo.csv")
    found = findings(table, pd.DataFrame(columns=["arm"]), n_eval=101, seeds=[0], reward="composite")
    grpo = next(s for s in found if s.startswith("Does GRPO move past SFT?"))
    assert grpo.startswith("Does GRPO move past SFT? No:") and "DA 16.2% → 20.0% (within noise)" in grpo


def test_the_published_e3_v2_paired_table_is_recomputed_from_its_episodes():
    """E3 v2 (reports/, run e3v2b): the paired table against SFT follows from the committed per-episode rows,
    over 378 instances and 3 RL seeds; GRPO's DA drop is beyond the CI, its faithful recovery change not detected."""
    import pandas as pd

    from ordebug_lib.experiments.ordebug_report import paired_to_reference

    root = Path(__file__).resolve().parents[1] / "reports"
    again = paired_to_reference(pd.read_csv(root / "ordebug_sft_vs_grpo_episodes.csv"))
    committed = pd.read_csv(root / "ordebug_sft_vs_grpo_paired.csv")
    pd.testing.assert_frame_equal(again.reset_index(drop=True), committed, check_dtype=False, atol=1e-9)
    g = committed[committed["policy"] == "GRPO"].set_index("metric")
    assert (g["instances"] == 378).all() and (g["seeds"] == 3).all()
    assert g.loc["DA", "verdict"] == "beyond the CI" and round(g.loc["DA", "diff"], 3) == -0.028
    assert g.loc["faithful_recovery", "verdict"] == "not detected"


def test_the_published_e4_v2_paired_tables_are_recomputed_from_its_episodes():
    """E4 v2 (reports/, run e4v2c): the paired table against SFT follows from the committed per-episode rows (378
    instances, 3 RL seeds per arm), and so does DGRO against GRPO as reports/runs.md states it (each instance's
    value averaged over the seeds of each arm; the verdict weighs both arms' seed spread): DA and RR@5 lower beyond the
    CI, faithful recovery not detected."""
    import pandas as pd

    from ordebug_lib.experiments.ordebug_report import PAIRED, paired_to_reference
    from ordebug_lib.experiments.stats import paired_test, seed_se, verdict

    root = Path(__file__).resolve().parents[1] / "reports"
    episodes = pd.read_csv(root / "ordebug_dgro_episodes.csv")
    committed = pd.read_csv(root / "ordebug_dgro_paired.csv")
    pd.testing.assert_frame_equal(paired_to_reference(episodes).reset_index(drop=True), committed, check_dtype=False, atol=1e-9)
    d = committed[committed["policy"] == "DGRO"].set_index("metric")
    assert (d["instances"] == 378).all() and (d["seeds"] == 3).all()
    assert d.loc["DA", "verdict"] == "beyond the CI" and round(d.loc["DA", "diff"], 3) == -0.078
    vs = paired_to_reference(episodes, reference="grpo")
    vs = vs[vs["policy"] == "DGRO"].set_index("metric")
    assert {m: (round(vs.loc[m, "diff"], 3), round(vs.loc[m, "se"], 3)) for m in PAIRED} == {
        "faithful_recovery": (-0.006, 0.005), "DA": (-0.05, 0.011), "RR@5": (-0.157, 0.016)}
    assert vs["verdict"].to_dict() == {"faithful_recovery": "not detected", "DA": "beyond the CI", "RR@5": "beyond the CI"}
    per = {kind: episodes[episodes["kind"] == kind].groupby("instance_id")[list(PAIRED.values())].mean() for kind in ("dgro", "grpo")}
    by_hand = {m: paired_test(per["dgro"][c], per["grpo"].loc[per["dgro"].index, c]) for m, c in PAIRED.items()}
    seeds = {kind: episodes[episodes["kind"] == kind].groupby("rl_seed")[list(PAIRED.values())].mean() for kind in ("dgro", "grpo")}
    for m, c in PAIRED.items():  # the multi-seed reference: each side averaged over its seeds, both sides' seed spread
        assert vs.loc[m, "diff"] == pytest.approx(by_hand[m]["diff"]) and vs.loc[m, "se"] == pytest.approx(by_hand[m]["se"])
        assert vs.loc[m, "seed se"] == pytest.approx(seed_se(seeds["dgro"][c], seeds["grpo"][c]))
        assert vs.loc[m, "verdict"] == verdict(by_hand[m]["diff"], by_hand[m]["se"], vs.loc[m, "seed se"])


def test_paired_to_reference_refuses_seeds_that_did_not_evaluate_the_same_instances_once():
    """A trained reference's seeds are averaged per instance, so each must hold every instance exactly once: a
    missing instance or a repeated row would weigh some instances by more seeds than others."""
    import pandas as pd

    from ordebug_lib.experiments.ordebug_report import paired_to_reference

    r = pd.DataFrame({"kind": ["sft"] * 2 + ["grpo"] * 4, "label": ["SFT (no RL)"] * 2 + ["GRPO"] * 4,
                      "rl_seed": [0, 0, 0, 0, 1, 1], "instance_id": list("ab") * 3, "faithful": [0, 1, 1, 1, 0, 1]})
    metrics = {"faithful_recovery": "faithful"}
    assert paired_to_reference(r, reference="grpo", metrics=metrics).iloc[0]["diff"] == pytest.approx(-0.25)
    with pytest.raises(ValueError, match="grpo: not every seed evaluated the same instances once"):
        paired_to_reference(r.drop(index=5), reference="grpo", metrics=metrics)
    with pytest.raises(ValueError, match="grpo: not every seed evaluated the same instances once"):
        paired_to_reference(pd.concat([r, r.iloc[[4]]]), reference="grpo", metrics=metrics)
    with pytest.raises(ValueError, match="no episodes of the reference 'dgro'"):
        paired_to_reference(r, reference="dgro", metrics=metrics)


@pytest.mark.slow
def test_notebook_22_smoke_profile_runs_the_dapo_ablation_end_to_end(tmp_path):
    """Every DAPO arm trains with its own knob set (DAPO arXiv 2503.14476 §3.1-3.4), logs what it did and is
    paired against the GRPO baseline; the CPU smoke does not require the knobs to act (require_knobs: false)."""
    run = run_smoke("22_ordebug_dapo_ablation", tmp_path)
    kinds = ["sft", "baseline", "no_kl", "asym_clip", "dynamic", "token_loss"]
    _check_run(run, kinds, {k: "grpo" for k in kinds}, "ordebug_dapo_ablation",
               ["ordebug_dapo_test_metrics", "ordebug_dapo_breakdown", "ordebug_dapo_reward_variance",
                "ordebug_dapo_training_curves"])
    cfg = {k: json.loads((run / "arms" / f"{k}-s0" / "run_config.json").read_text()) for k in kinds[1:]}
    base = cfg["baseline"]
    assert cfg["no_kl"]["beta"] == 0.0 < base["beta"]
    assert cfg["asym_clip"]["epsilon_high"] == 0.28 != base["epsilon_high"]
    assert cfg["dynamic"]["dynamic_sampling"] and not base["dynamic_sampling"]
    assert (cfg["token_loss"]["loss_type"], cfg["token_loss"]["mask_truncated_completions"]) == ("dapo", True)
    assert all(c["num_iterations"] == base["num_iterations"] >= 2 for c in cfg.values())  # one schedule, ratios move
    steps, generations = base["max_steps"], base["max_steps"] // base["num_iterations"]
    for kind, metric, logged in (("asym_clip", "clip_ratio/high_mean", steps),  # every update
                                 ("dynamic", "ordebug/dynamic_sampling/rounds", generations),  # every generation
                                 ("token_loss", "completions/clipped_ratio", generations)):
        knob = json.loads((run / "arms" / f"{kind}-s0" / "eval.json").read_text())
        assert (knob["knob_metric"], knob["knob_steps_logged"]) == (metric, logged)
    shutil.rmtree(run)
