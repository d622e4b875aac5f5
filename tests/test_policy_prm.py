"""The OR-Debug PRM (issue 22, items 2 and 3): examples that hold the policy's own tokens, a plain training loop
that chooses its step on val, AUC / bootstrap CI / calibration / first-error F1 against hand-computed values,
best-of-N reranking, best-of-1 = sampling once, and the solver-checked upper bound.

Stored episodes come from the real evaluation path: ``evaluate_lm`` of the tiny preset, scripted (``scripted``)
to send a repair or a harmful DROP after GET_IIS, on eight instances split 4 / 2 / 2 into train / val / test."""
import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from ordebug_lib.ordebug.prm_labels import label_episodes
from ordebug_lib.ordebug.saboteur import make_instance
from ordebug_lib.policy.generation import SamplingConfig, render_prompts
from ordebug_lib.policy.loader import load_policy
from ordebug_lib.policy.ordebug_episodes import episode_env_config, evaluate_lm, run_lm_episodes
from ordebug_lib.policy.prm import (PRMTrainConfig, action_token_ids, auc_bootstrap_ci, auc_roc, bce,
                                    best_of_n_episodes, build_prm, calibration, evaluate_prm, evaluate_scores,
                                    evaluation_labels, examples_by_split, first_error_detection, labels_by_split, load_prm,
                                    paired_compare, pick_best, prm_context, rerank_best_of_n, split_examples,
                                    stored_conversations, target_of, train_prm)
from ordebug_lib.policy.scripted import scripted
from ordebug_lib.selection import SelectionError

SPLITS = {("A", 0): "train", ("C", 0): "train", ("D", 0): "train", ("H", 0): "train",
          ("A", 1): "val", ("H", 1): "val", ("C", 1): "test", ("D", 1): "test"}
MAX_TURNS = 4


def harmful_drop(inst) -> str:
    """DROP of a row that is right in the original: progress -1 (broke_correct)."""
    row = next(c for c in inst.original.constrs if c not in inst.root_cause and c in inst.sabotaged.constrs)
    return f"DROP {row}"


def submit(inst) -> str:
    return "SUBMIT " + " ".join(inst.root_cause)


SCRIPTS = {"good": lambda inst: ["GET_IIS", inst.true_repair[0], submit(inst)],
           "bad": lambda inst: ["GET_IIS", harmful_drop(inst), submit(inst)]}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # 2 shared cores: two BLAS threads fighting a busy neighbour are ~30x slower here (as test_policy_engine)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def policy():
    return load_policy("tiny", seed=0)


@pytest.fixture(scope="module")
def world(policy, tmp_path_factory):
    """Stored scripted episodes of both scripts on every split, the prompts the policy was given, and examples."""
    model, tok = policy
    insts = []
    for (et, seed), split in SPLITS.items():
        inst = make_instance("production_planning", et, "easy", seed=seed)
        assert len(inst.true_repair) == 1
        inst.meta["split"] = split
        insts.append(inst)
    db = tmp_path_factory.mktemp("prm") / "results.sqlite"
    prompts, lm_episodes = {}, {}

    def capture(module, args, kwargs, output):  # every prefill: the policy's prompts, padding stripped
        ids, mask = kwargs["input_ids"], kwargs["attention_mask"]
        if ids.shape[1] > 1:
            calls.append([row[m.bool()].tolist() for row, m in zip(ids, mask)])

    for name, script in SCRIPTS.items():
        calls = []
        handle = model.register_forward_hook(capture, with_kwargs=True)
        try:
            with scripted(model, tok, lambda turn, row: f"<action>{script(insts[row])[turn]}</action>"):
                _, eps = evaluate_lm(model, tok, insts, db, name, max_turns=MAX_TURNS, batch_size=len(insts),
                                     sampling=SamplingConfig(max_new_tokens=48))
        finally:
            handle.remove()
        assert len(calls) == 3  # every episode: GET_IIS, the edit, SUBMIT, in lockstep
        for b, inst in enumerate(insts):
            prompts[(name, inst.id)] = [calls[t][b] for t in range(3)]
        lm_episodes.update({(name, ep.instance_id): ep for ep in eps})
    by_id = {i.id: i for i in insts}
    examples = {s: split_examples(db, by_id, s, tok) for s in ("train", "val", "test")}
    return dict(insts=insts, by_id=by_id, db=db, prompts=prompts, lm_episodes=lm_episodes, examples=examples)


@pytest.fixture(scope="module")
def trained(world, tmp_path_factory):
    out = tmp_path_factory.mktemp("prm_out")
    prm = build_prm("tiny", seed=1)
    train = world["examples"]["train"]
    before = bce(prm.logits([e.input_ids for e in train]), np.array([e.target for e in train]))
    config = PRMTrainConfig(max_steps=8, learning_rate=2e-3, batch_size=6, eval_steps=4, seed=0)
    result = train_prm(train, config, out, val_examples=world["examples"]["val"], prm=prm)
    return result, before, out


# -- examples ------------------------------------------------------------------------------------------------------
def test_every_example_fits_the_prms_context_its_context_trimmed_as_the_evaluation_trims(world, policy):
    """Contexts are fitted to the policy's prompt budget, but context + action must also fit the PRM: with the
    policy's 4048 and an action of ~58 tokens a test example reached 4106 of 4096 (run e8a). With ``max_length``
    each context leaves out old turns (fit_context, as the policy's prompt) until it fits with its action."""
    _, tok = policy
    full = world["examples"]["test"]
    longest = max(len(e.input_ids) for e in full)
    limit = longest - 1  # one token short for the longest example(s)
    fitted = split_examples(world["db"], world["by_id"], "test", tok, max_length=limit)
    assert [(e.episode_id, e.step) for e in fitted] == [(e.episode_id, e.step) for e in full]  # none dropped
    assert max(len(e.input_ids) for e in fitted) <= limit
    for a, b in zip(full, fitted):
        assert b.action_ids == a.action_ids
        if len(a.input_ids) <= limit:
            assert b.context_ids == a.context_ids and b.trimmed == a.trimmed
        else:  # the first observation plus the latest turns that fit, as fit_context keeps them
            assert b.trimmed and b.context_ids[:10] == a.context_ids[:10] and len(b.context_ids) < len(a.context_ids)
    ctx, trimmed = prm_context(tok, [{"role": "user", "content": "x"}], 3072, 5, max_length=4096)
    assert ctx == render_prompts(tok, [[{"role": "user", "content": "x"}]])[0] and not trimmed


def test_examples_built_in_worker_processes_are_the_serial_ones_in_the_same_order(world, policy):
    """examples_by_split(workers=2), one pool for the three splits: whole instances per part, parts balanced by
    steps, the same examples back in the same order as split_examples builds them in this process."""
    from ordebug_lib.ordebug.results import load_results
    from ordebug_lib.policy.prm import _instance_parts

    _, tok = policy
    rows = load_results(world["db"])
    rows = rows[rows["split"] == "train"]
    parts = _instance_parts(rows, 2)
    assert len(parts) == 4 and sorted(i for p in parts for i in p["instance_id"].unique()) == sorted(
        rows["instance_id"].unique())  # 4 train instances, each in exactly one part (min(4 x 2, 4))
    assert sum(len(p) for p in parts) == len(rows)
    assert len(_instance_parts(rows, 1)) == 1
    assert examples_by_split(world["db"], world["by_id"], ("train", "val", "test"), tok, workers=2) == world["examples"]
    with pytest.raises(ValueError, match="split must be one of"):
        split_examples(world["db"], world["by_id"], "holdout", tok)
    with pytest.raises(ValueError, match="workers must be >= 1"):
        split_examples(world["db"], world["by_id"], "train", tok, workers=0)


def test_examples_hold_exactly_the_policys_tokens(world, policy):
    _, tok = policy
    ex = [e for s in ("train", "val", "test") for e in world["examples"][s]]
    assert len(ex) == 2 * 3 * len(world["insts"])  # two scripts, three steps, every instance
    convs = stored_conversations(world["db"], world["by_id"])
    for e in ex:
        name = e.episode_id.split("/")[0]
        ep = world["lm_episodes"][(name, e.instance_id)]
        assert convs[e.episode_id] == ep.messages  # the replayed chat is the one the policy held
        # the context is the prompt the policy's forward pass received, token for token
        assert e.context_ids == world["prompts"][(name, e.instance_id)][e.step - 1]
        assert e.context_ids == render_prompts(tok, [ep.messages[:2 * e.step - 1]])[0] and not e.trimmed
        want = f"<action>{SCRIPTS[name](world['by_id'][e.instance_id])[e.step - 1]}</action>"
        assert e.action_text == want
        assert e.action_ids == tok(want, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        if e.step < 3:  # the policy reads this very example at the start of its next prompt
            nxt = world["prompts"][(name, e.instance_id)][e.step]
            assert nxt[:len(e.input_ids)] == e.input_ids
    # targets: the repair is progress (+1), the harmful DROP harm (-1), GET_IIS and SUBMIT nothing (0)
    by_step = {(e.episode_id.split("/")[0], e.step): set() for e in ex}
    for e in ex:
        by_step[(e.episode_id.split("/")[0], e.step)].add((e.progress, e.target))
    assert by_step[("good", 2)] == {(1, 1)} and by_step[("bad", 2)] == {(-1, 0)}
    assert by_step[("good", 1)] == by_step[("bad", 3)] == {(0, 0)}
    assert [target_of(p) for p in (1, 0, -1)] == [1, 0, 0]
    assert {e.split for e in world["examples"]["test"]} == {"test"}


def test_evaluation_labels_are_label_episodes_and_also_reach_test(world):
    db, by_id = world["db"], world["by_id"]
    for split in ("train", "val"):
        pd.testing.assert_frame_equal(evaluation_labels(db, by_id, split), label_episodes(db, by_id, split))
    with pytest.raises(ValueError, match="refuses the test split"):
        label_episodes(db, by_id, "test")
    test = evaluation_labels(db, by_id, "test")
    assert set(test["instance_id"]) == {i.id for i in world["insts"] if i.meta["split"] == "test"}
    assert sorted(test["progress"]) == sorted([0, 1, 0, 0, -1, 0] * 2)


def test_labels_built_in_worker_processes_are_label_episodes_and_examples_built_on_them_the_same(world, policy):
    db, by_id, tok = world["db"], world["by_id"], policy.tokenizer
    made = labels_by_split(db, by_id, ("train", "val", "test"), workers=2)
    for split in ("train", "val"):
        pd.testing.assert_frame_equal(made[split], label_episodes(db, by_id, split))
    pd.testing.assert_frame_equal(made["test"], evaluation_labels(db, by_id, "test"))
    given = examples_by_split(db, by_id, ("train", "val", "test"), tok, workers=2,
                              labels={"train": made["train"], "val": made["val"]})
    assert given == world["examples"]  # test labelled there, train and val taken as given
    short = {"train": made["train"].iloc[1:]}  # a missing step is refused, not silently skipped
    with pytest.raises(ValueError, match="not one row per stored step"):
        examples_by_split(db, by_id, ("train",), tok, labels=short)
    with pytest.raises(ValueError, match="not one row per stored step"):
        examples_by_split(db, by_id, ("val",), tok, labels={"val": made["train"]})


def test_a_split_without_stored_episodes_is_refused_naming_the_stored_ones(world, policy, tmp_path):
    import shutil
    import sqlite3

    from ordebug_lib.ordebug.results import TABLE

    db = tmp_path / "no_val.sqlite"
    shutil.copy(world["db"], db)
    with sqlite3.connect(db) as conn:
        conn.execute(f"DELETE FROM {TABLE} WHERE split = 'val'")
    by_id, tok = world["by_id"], policy.tokenizer
    message = r"no stored episode of split 'val' in .*; stored splits: \{'train': 8, 'test': 4\}"
    for call in (lambda: label_episodes(db, by_id, "val"), lambda: evaluation_labels(db, by_id, "val"),
                 lambda: examples_by_split(db, by_id, ("train", "val"), tok)):
        with pytest.raises(ValueError, match=message):
            call()
    with pytest.raises(ValueError, match="for policy 'good'; stored splits"):
        evaluation_labels(db, by_id, "val", policy="good")


# -- the model and training ----------------------------------------------------------------------------------------
def test_scores_do_not_depend_on_batching(world):
    prm = build_prm("tiny", seed=3)
    seqs = [e.input_ids for e in world["examples"]["val"]]
    assert len({len(s) for s in seqs}) > 1  # rows of different lengths share padded batches
    batched = prm.logits(seqs, batch_size=8)
    single = np.array([prm.logits([s])[0] for s in seqs])
    assert np.allclose(batched, single, atol=1e-4) and np.all((prm(seqs) > 0) & (prm(seqs) < 1))


def test_training_lowers_the_loss_and_keeps_the_step_chosen_on_val(world, trained):
    result, before, out = trained
    train = world["examples"]["train"]
    after = bce(result.prm.logits([e.input_ids for e in train]), np.array([e.target for e in train]))
    assert after < before - 0.05
    curve = json.loads((out / "training_curve.json").read_text())
    assert [v["step"] for v in curve["val"]] == [0, 4, 8] and len(curve["train"]) == 8
    best = min(curve["val"], key=lambda v: v["loss"])
    assert curve["best_step"] == result.best_step == best["step"]
    # the PRM holds the chosen step's weights: its val loss is the chosen one, and the saved model reloads them
    val = world["examples"]["val"]
    z = result.prm.logits([e.input_ids for e in val])
    assert bce(z, np.array([e.target for e in val])) == pytest.approx(best["loss"], abs=1e-5)
    assert np.allclose(load_prm(out / "model").logits([e.input_ids for e in val]), z, atol=1e-5)


def test_a_harm_head_learns_harm_beside_progress(world, tmp_path):
    """``harm_head``: a second logit trained on progress −1, logged on val, saved and loaded with the PRM, and
    scored by ``evaluate_prm``; a PRM without it refuses harm, and heads must match the config."""
    ex = world["examples"]
    train = ex["train"]
    harm_y = np.array([int(e.progress < 0) for e in train])
    assert 0 < harm_y.sum() < len(harm_y)  # the 'bad' script's harmful DROP
    prm = build_prm("tiny", seed=1, harm_head=True)
    assert prm.heads == ("progress", "harm")
    before = bce(prm.logits([e.input_ids for e in train], head="harm"), harm_y)
    config = PRMTrainConfig(max_steps=8, learning_rate=2e-3, batch_size=6, eval_steps=4, seed=0, harm_head=True)
    result = train_prm(train, config, tmp_path, val_examples=ex["val"], prm=prm)
    after = bce(result.prm.logits([e.input_ids for e in train], head="harm"), harm_y)
    assert after < before - 0.05
    assert all({"harm_loss", "harm_auc"} <= set(v) for v in result.val_curve)
    back = load_prm(tmp_path / "model")
    seqs = [e.input_ids for e in ex["test"]]
    assert back.heads == ("progress", "harm") and np.allclose(back.all_logits(seqs), prm.all_logits(seqs), atol=1e-5)
    with pytest.raises(ValueError, match="asked for harm_head=False"):  # never a silently re-initialised head
        build_prm(tmp_path / "model", harm_head=False)
    ev = evaluate_prm(prm, ex["test"], n_boot=20)
    assert np.allclose(ev["frame"]["harm"], prm.harm(seqs)) and np.allclose(ev["frame"]["score"], prm(seqs))
    assert ev["harm"]["first_harm"]["n_episodes"] == ev["n_episodes"] and 0 <= ev["harm"]["auc"] <= 1
    plain = build_prm("tiny", seed=1)
    with pytest.raises(ValueError, match="train it with harm_head"):
        plain.harm(seqs[:1])
    with pytest.raises(ValueError, match="harm_head"):
        train_prm(train, config, val_examples=ex["val"], prm=plain)
    assert "harm" not in evaluate_prm(plain, ex["test"], n_boot=20)["frame"]


def test_the_step_is_chosen_on_val_and_patience_stops(world):
    # val targets flipped: what lowers the training loss raises the val loss, so step 0 must be kept
    flipped = [dataclasses.replace(e, progress=0 if e.progress > 0 else 1) for e in world["examples"]["val"]]
    prm = build_prm("tiny", seed=1)
    seqs = [e.input_ids for e in flipped]
    start = prm.logits(seqs)
    result = train_prm(world["examples"]["train"], PRMTrainConfig(max_steps=12, learning_rate=2e-3, batch_size=6,
                                                                  eval_steps=4, patience=1),
                       val_examples=flipped, prm=prm)
    assert result.val_curve[1]["loss"] > result.val_curve[0]["loss"]
    assert result.best_step == 0 and result.stopped_early and [v["step"] for v in result.val_curve] == [0, 4]
    assert len(result.train_curve) == 4 and np.allclose(prm.logits(seqs), start, atol=1e-6)


def test_training_refuses_test_examples_and_choosing_off_val(world):
    ex = world["examples"]
    with pytest.raises(ValueError, match="train-split examples only"):
        train_prm(ex["train"] + ex["test"], PRMTrainConfig(max_steps=1), val_examples=ex["val"])
    with pytest.raises(SelectionError, match="chosen on the test split"):
        train_prm(ex["train"], PRMTrainConfig(max_steps=1), val_examples=ex["test"])


def test_a_policy_checkpoint_gives_its_backbone_to_the_prm(policy, tmp_path):
    model, tok = policy
    policy_dir = load_policy("tiny", seed=0).save(tmp_path / "policy")
    prm = build_prm(policy_dir)
    assert prm.model.config.num_labels == 1 and prm.model.config.pad_token_id == tok.pad_token_id
    assert prm.heads == ("progress",) and build_prm(policy_dir, harm_head=True).heads == ("progress", "harm")
    for name, p in model.model.named_parameters():
        assert np.array_equal(p.detach().numpy(), prm.model.model.get_parameter(name).detach().numpy()), name
    with pytest.raises(FileNotFoundError, match="never downloads"):
        build_prm("Qwen/Qwen3-0.6B")


# -- metrics on fixed scores ---------------------------------------------------------------------------------------
def test_auc_and_its_episode_bootstrap():
    y = [1, 1, 0, 0]
    assert auc_roc([0.9, 0.8, 0.3, 0.1], y) == 1.0 and auc_roc([0.5] * 4, y) == 0.5
    assert auc_roc([0.1, 0.3, 0.8, 0.9], y) == 0.0
    assert auc_roc([0.8, 0.4, 0.4, 0.2], y) == 0.875  # pairs: 1, 1, a tie 1/2, 1 -> 3.5 / 4
    assert np.isnan(auc_roc([0.2, 0.4], [1, 1]))
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(40), 5)
    t = rng.integers(0, 2, 200)
    s = np.clip(0.3 * t + rng.normal(0.35, 0.25, 200), 0, 1)
    point = auc_roc(s, t)
    low, high, used = auc_bootstrap_ci(s, t, groups, n_boot=300)
    assert low < point < high and used == 300 and 0.5 < point < 1.0
    assert auc_bootstrap_ci([0.9, 0.8, 0.3, 0.1], y, [0, 0, 1, 1], n_boot=50)[:2] == (1.0, 1.0)
    # one episode: every resample is that episode, so the interval is the point (resampling steps would spread)
    lo1, hi1, _ = auc_bootstrap_ci(s[:20], t[:20], [0] * 20, n_boot=50)
    assert lo1 == hi1 == auc_roc(s[:20], t[:20])


def test_calibration_bins_and_ece():
    table, ece = calibration([0.25] * 4 + [0.75] * 4, [1, 0, 0, 0, 1, 1, 1, 0], n_bins=2)
    assert ece == 0.0 and table["n"].tolist() == [4, 4]
    table, ece = calibration([0.9] * 4, [1, 0, 1, 0], n_bins=10)
    assert ece == pytest.approx(0.4) and table["n"].tolist() == [0] * 9 + [4]
    # 1.0 falls in the last bin; two bins of different size weigh by their counts: (2·0.1 + 1·1.0) / 3
    table, ece = calibration([0.1, 0.1, 1.0], [0, 0, 0], n_bins=5)
    assert table["n"].tolist() == [2, 0, 0, 0, 1] and ece == pytest.approx((2 * 0.1 + 1.0) / 3)


def test_first_error_detection_by_hand():
    rows = [("e1", [0, 1, 1], [0.3, 0.8, 0.9]),   # true 1, predicted 1: TP
            ("e2", [1, 1, -1], [0.9, 0.4, 0.2]),  # true 3, predicted 2: FP and FN
            ("e3", [1, 1], [0.9, 0.8]),           # no error, none predicted
            ("e4", [1, 0], [0.7, 0.6])]           # true 2, none predicted: FN
    frame = pd.DataFrame([{"episode_id": e, "step": k, "progress": p, "score": s}
                          for e, prog, sc in rows for k, (p, s) in enumerate(zip(prog, sc), 1)])
    fe = first_error_detection(frame)
    assert (fe["tp"], fe["fp"], fe["fn"]) == (1, 1, 2) and fe["f1"] == pytest.approx(2 / 5)
    assert fe["accuracy_with_error"] == pytest.approx(1 / 3) and fe["accuracy_without_error"] == 1.0
    assert fe["processbench_f1"] == pytest.approx(0.5) and fe["exact_match"] == 0.5
    assert fe["per_episode"] == {"e1": (1, 1), "e2": (3, 2), "e3": (None, None), "e4": (2, None)}
    harm = first_error_detection(frame, error_at=-1)  # only harm is an error: e2 step 3
    assert (harm["tp"], harm["fp"], harm["fn"], harm["f1"]) == (0, 2, 1, 0.0)
    out = evaluate_scores(frame, n_boot=20)
    assert out["first_error"]["f1"] == fe["f1"] and out["n_episodes"] == 4 and out["n_steps"] == 10
    assert out["auc_by_policy"] == {}  # no policy column
    two = frame.assign(policy=["a"] * 5 + ["b"] * 5)  # a: e1, e2; b: e3, e4
    by = evaluate_scores(two, n_boot=20)["auc_by_policy"]
    assert by["a"]["n_steps"] == 5 and by["a"]["positive_rate"] == pytest.approx(0.8)
    assert by["a"]["auc"] == auc_roc([0.3, 0.8, 0.9, 0.9, 0.4], [0, 1, 1, 1, 1])
    assert by["b"]["auc"] == auc_roc([0.2, 0.9, 0.8, 0.7, 0.6], [0, 1, 1, 1, 0])
    one_class = frame.assign(policy=["a"] * 3 + ["b"] * 7, progress=[1, 1, 1] + list(frame["progress"][3:]))
    assert math.isnan(evaluate_scores(one_class, n_boot=20)["auc_by_policy"]["a"]["auc"])
    # a harm head's P(harm) flags a step at >= threshold; only e2's step 3 is harm, found there, so one TP
    q = frame.assign(harm=[0.1, 0.2, 0.1, 0.1, 0.3, 0.7, 0.2, 0.1, 0.1, 0.8])  # e4 step 2 flagged: no harm there
    fh = first_error_detection(q, error_at=-1, score="harm")
    assert fh["per_episode"] == {"e1": (None, None), "e2": (3, 3), "e3": (None, None), "e4": (None, 2)}
    assert (fh["tp"], fh["fp"], fh["fn"]) == (1, 1, 0) and fh["f1"] == pytest.approx(2 / 3)
    assert fh["accuracy_with_error"] == 1.0 and fh["accuracy_without_error"] == pytest.approx(2 / 3)
    assert fh["processbench_f1"] == pytest.approx(0.8)
    h = evaluate_scores(q, n_boot=20)["harm"]
    assert h["harm_rate"] == pytest.approx(0.1) and h["auc"] == pytest.approx(8 / 9)  # 0.7 beats 8 of the 9 others
    assert h["first_harm"]["f1"] == fh["f1"] and "harm" not in evaluate_scores(frame, n_boot=20)
    with pytest.raises(ValueError, match="score must be"):
        first_error_detection(q, score="target")


def test_evaluate_prm_on_the_test_split(world, trained):
    result, _, _ = trained
    test = world["examples"]["test"]
    out = evaluate_prm(result.prm, test, n_boot=100)
    assert out["n_steps"] == len(test) and out["n_episodes"] == 4 and out["positive_rate"] == pytest.approx(2 / 12)
    assert out["auc"] == auc_roc(out["frame"]["score"], out["frame"]["target"])
    lo, hi = out["auc_ci"]
    assert lo <= out["auc"] <= hi and 0 <= out["ece"] <= 1
    # a scorer that knows the answer: AUC 1, and every first error (step 1: GET_IIS is no progress) is found
    oracle = {tuple(e.input_ids): float(e.target) for e in test}
    perfect = evaluate_prm(lambda seqs: [oracle[tuple(s)] for s in seqs], test, n_boot=50)
    assert perfect["auc"] == 1.0 and perfect["auc_ci"] == (1.0, 1.0) and perfect["ece"] == 0.0
    assert perfect["first_error"]["f1"] == 1.0


# -- best-of-N -----------------------------------------------------------------------------------------------------
def test_rerank_picks_the_highest_score_earliest_on_ties():
    seen = []

    def scorer(seqs):
        seen.extend(map(tuple, seqs))
        return [sum(s) / 100 for s in seqs]

    got = rerank_best_of_n(scorer, [([1, 2], [[5], [9], [3]]), ([7], [[4, 4], [8], [2, 6]])])
    assert [g[0] for g in got] == [1, 0] and got[0][1] == [0.08, 0.12, 0.06]  # 15 vs 15 vs 15: a tie, the first
    assert seen == [(1, 2, 5), (1, 2, 9), (1, 2, 3), (7, 4, 4), (7, 8), (7, 2, 6)]
    assert pick_best([0.1, 0.7, 0.7]) == 1
    seen.clear()  # a repeated candidate (in its state or another's) is scored once, and gets that score
    got = rerank_best_of_n(scorer, [([1], [[5], [5], [2]]), ([1], [[2], [9]])])
    assert seen == [(1, 5), (1, 2), (1, 9)]
    assert got == [(0, [0.06, 0.06, 0.03]), (1, [0.03, 0.1])]


def test_best_of_one_is_sampling_once(policy, world):
    model, tok = policy
    insts = world["insts"][:2]
    config = episode_env_config(max_turns=3)
    sampling = SamplingConfig(max_new_tokens=8, temperature=1.0, seed=5)
    plain = run_lm_episodes(model, tok, insts, config, sampling)
    best = best_of_n_episodes(model, tok, lambda seqs: [0.5] * len(seqs), insts, 1, sampling, config)
    assert [e.messages for e in best.episodes] == [e.messages for e in plain]
    assert [e.output_tokens for e in best.episodes] == [e.output_tokens for e in plain]
    assert best.rows["steps"].tolist() == [e.outcome.steps for e in plain] == [3, 3]
    other = run_lm_episodes(model, tok, insts, config, SamplingConfig(max_new_tokens=8, temperature=1.0, seed=6))
    assert [e.messages for e in other] != [e.messages for e in plain]  # the seed matters: the match is no accident
    with pytest.raises(ValueError, match="needs sampling"):
        best_of_n_episodes(model, tok, None, insts, 2, SamplingConfig(), config, chooser="solver")


def test_the_static_engine_gives_greedy_episodes_and_best_of_one_the_generate_engines(policy, world, monkeypatch):
    """``engine='static'`` reaches generation in ``run_lm_episodes`` and ``best_of_n_episodes`` (one engine per
    turn, spied), and on CPU fp32 its greedy episodes are ``model.generate``'s (tests/test_policy_engine.py)."""
    from ordebug_lib.policy import generation

    model, tok = policy
    insts = world["insts"][:2]
    config = episode_env_config(max_turns=3)
    greedy = SamplingConfig(max_new_tokens=8)
    made = []

    def spy(name, *args, **kwargs):
        made.append(name)
        return real_make_engine(name, *args, **kwargs)

    real_make_engine = generation.make_engine
    plain = run_lm_episodes(model, tok, insts, config, greedy)
    assert made == []
    monkeypatch.setattr(generation, "make_engine", spy)
    static = run_lm_episodes(model, tok, insts, config, greedy, engine="static")
    assert made == ["static"] * 3  # one engine per turn of the 3-turn budget
    best = best_of_n_episodes(model, tok, None, insts, 1, greedy, config, chooser="first", engine="static")
    assert made == ["static"] * 6
    assert [e.messages for e in static] == [e.messages for e in plain] == [e.messages for e in best.episodes]
    assert [e.output_tokens for e in static] == [e.output_tokens for e in plain]
    with pytest.raises(ValueError, match="engine must be one of"):
        run_lm_episodes(model, tok, insts, config, greedy, engine="vllm")


def test_the_solver_upper_bound_is_at_least_best_of_n(policy, world):
    model, tok = policy
    insts = [world["by_id"][i.id] for i in world["insts"][:3]]
    n = 3

    def candidates(inst, turn):  # sample 0 harm, 1 a diagnostic, 2 the repair; later SUBMIT first
        if turn == 0:
            return [harmful_drop(inst), "GET_IIS", inst.true_repair[0]]
        return [submit(inst), harmful_drop(inst), "GET_IIS"]

    def script(turn, row):
        return f"<action>{candidates(insts[row // n], turn)[row % n]}</action>"

    def likes_drop(seqs):  # an adversarial PRM: it reads the last assistant turn and scores DROP highest
        texts = [tok.decode(s).rsplit("assistant\n", 1)[-1] for s in seqs]
        return [1.0 if "DROP" in t else 0.0 for t in texts]

    sampling = SamplingConfig(max_new_tokens=48, temperature=1.0)
    config = episode_env_config(max_turns=MAX_TURNS)
    with scripted(model, tok, script):
        solver = best_of_n_episodes(model, tok, None, insts, n, sampling, config, chooser="solver")
    with scripted(model, tok, script):
        prm = best_of_n_episodes(model, tok, likes_drop, insts, n, sampling, config, chooser="prm")
    for res in (solver, prm):
        assert (res.steps["best_progress"] >= res.steps["chosen_progress"]).all()
    s0, p0 = solver.steps[solver.steps["step"] == 1], prm.steps[prm.steps["step"] == 1]
    assert s0["chosen"].tolist() == [2] * 3 and s0["chosen_progress"].tolist() == [1] * 3
    assert p0["chosen"].tolist() == [0] * 3 and p0["chosen_progress"].tolist() == [-1] * 3
    drops = [[float("DROP" in c) for c in candidates(inst, 0)] for inst in insts]  # D's repair is a DROP too
    assert p0["scores"].tolist() == drops and (p0["best_progress"] == 1).all()
    assert solver.rows["faithful"].tolist() == [True] * 3 and solver.rows["steps"].tolist() == [2] * 3
    assert solver.rows["diagnosis_recall"].tolist() == [1.0] * 3 and not prm.rows["faithful"].any()
    assert solver.steps["chosen_progress"].sum() > prm.steps["chosen_progress"].sum()
    cmp = paired_compare(solver.rows, prm.rows).set_index("metric")
    assert cmp.loc["faithful_recovery", "diff"] == 1.0 and cmp.loc["DA", "a"] == 1.0 and cmp.loc["RR@5", "n"] == 3
    with pytest.raises(ValueError, match="different instances"):
        paired_compare(solver.rows, prm.rows.iloc[:2])
    # the real PRM in the loop (one episode, so the script's rows stay that episode's candidates)
    prm_model = build_prm("tiny", seed=2)
    with scripted(model, tok, lambda turn, row: f"<action>{candidates(insts[0], turn)[row]}</action>"):
        real = best_of_n_episodes(model, tok, prm_model, insts[:1], n, sampling, config)
    first = real.steps.iloc[0]
    ctx = render_prompts(tok, [real.episodes[0].messages[:1]])[0]
    want = prm_model([ctx + action_token_ids(tok, t) for t in first["texts"]])
    assert np.allclose(first["scores"], want, atol=1e-5) and first["chosen"] == int(np.argmax(want))


def test_the_head_reads_the_last_position_even_when_an_action_holds_the_pad_token():
    """A sampled action may hold the pad token (the tiny warm start's rollouts did): the head still reads each
    sequence's last position, as transformers' pooling does for a sequence without one."""
    prm = build_prm("tiny", seed=0)
    pad = prm.tokenizer.pad_token_id
    seq, with_pad = [5, 6, 7, 8, 9], [5, pad, 7, 8]
    with torch.no_grad():
        hf = prm.model(input_ids=torch.tensor([seq])).logits[0, 0].item()
        last = prm.model.model(input_ids=torch.tensor([with_pad])).last_hidden_state[0, -1]
        by_hand = prm.model.score(last)[0].item()
        got = prm.forward_logits([with_pad, seq])  # padded to one width: positions stay those of each row
    assert got[1].item() == pytest.approx(hf, abs=1e-5)
    assert got[0].item() == pytest.approx(by_hand, abs=1e-5)
    with pytest.raises(ValueError, match="empty sequence"):
        prm.forward_logits([[]])
