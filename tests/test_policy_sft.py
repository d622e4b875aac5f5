"""SFT with TRL's SFTTrainer: the loss covers only what the policy writes (the Countdown stream; the
OR-Debug actions, never the observations), and a few dozen steps lower the held-out loss of a tiny model."""
import math

import pytest

from ordebug_lib.ordebug.saboteur import make_instance
from ordebug_lib.policy.loader import load_policy
from ordebug_lib.policy.ordebug_episodes import expert_transcript
from ordebug_lib.policy.sft import (
    SFTRunConfig, countdown_records, fit_records, make_trainer, messages_records, record_length, run_sft,
    text_records, trained_token_texts,
)
from ordebug_lib.policy.tokenizer import EOS_TOKEN
from ordebug_lib.tasks.countdown import make_splits


@pytest.fixture(scope="module")
def countdown_data():
    train, test = make_splits(48, 16, seed=0, num_numbers=3)
    train_recs, traces = countdown_records(train, seed=0, max_nodes=4)  # ~230-token records: fast on a CPU
    test_recs, _ = countdown_records(test, seed=1, max_nodes=4)
    return train_recs, test_recs, traces


def test_countdown_sft_lowers_the_held_out_loss(countdown_data):
    train_recs, test_recs, _ = countdown_data
    model, tok = load_policy("tiny", seed=0)
    cfg = SFTRunConfig(max_steps=20, learning_rate=5e-3, batch_size=4, max_length=512, logging_steps=4,
                       warmup_steps=2, eval_batch_size=16)
    res = run_sft(model, tok, train_recs, cfg, eval_records=test_recs)
    before, after = res.initial_eval_loss, res.final_eval_loss
    print(f"held-out completion loss {before:.3f} -> {after:.3f}; train curve {res.train_curve}")
    assert abs(before - math.log(len(tok))) < 1.0  # a fresh model is near-uniform over the vocabulary
    assert after < 0.55 * before  # measured: 7.24 -> 3.27
    assert res.train_curve[0][0] == 1 and res.train_curve[-1][0] == 20
    assert res.train_curve[-1][1] < 0.55 * res.train_curve[0][1]
    assert [s for s, _ in res.eval_curve] == [0, 20]


def test_countdown_loss_covers_the_completion_only(countdown_data):
    train_recs, _, traces = countdown_data
    model, tok = load_policy("tiny", seed=0)
    trainer = make_trainer(model, tok, train_recs[:4], SFTRunConfig(max_steps=1, max_length=512))
    covered, context = trained_token_texts(trainer, 0)
    assert covered == traces[0].text + EOS_TOKEN
    assert context.endswith("<|im_start|>assistant\n") and train_recs[0]["prompt"][0]["content"] in context


def test_ordebug_loss_covers_the_actions_only_and_training_lowers_it():
    insts = [make_instance("production_planning", "H", "easy", seed=0),
             make_instance("production_planning", "H", "easy", seed=1)]
    transcripts = [expert_transcript(i, "oracle_iis") for i in insts]
    assert all(t.success for t in transcripts)
    msgs = transcripts[0].messages
    assert msgs[-1]["content"] == f"<action>SUBMIT {' '.join(insts[0].root_cause)}</action>"
    records = messages_records([t.messages for t in transcripts])
    model, tok = load_policy("tiny", seed=0)
    kept, lengths = fit_records(tok, records, 2048)
    assert len(kept) == 2, lengths
    cfg = SFTRunConfig(max_steps=6, learning_rate=5e-3, batch_size=1, max_length=2048, logging_steps=1)
    trainer = make_trainer(model, tok, kept, cfg)
    covered, context = trained_token_texts(trainer, 0)
    assert covered == "".join(m["content"] + EOS_TOKEN for m in msgs if m["role"] == "assistant")
    for m in msgs:
        if m["role"] == "user":
            assert m["content"] in context and m["content"] not in covered
    trainer.train()
    curve = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    print("OR-Debug assistant-only loss curve", curve)
    assert curve[-1] < 0.7 * curve[0]


def test_records_are_checked():
    model, tok = load_policy("tiny", seed=0)
    with pytest.raises(ValueError, match="end with an assistant turn"):
        messages_records([[{"role": "user", "content": "x"}]])
    rec = {"prompt": [{"role": "user", "content": "x" * 50}], "completion": [{"role": "assistant", "content": "y"}]}
    with pytest.raises(ValueError, match="exceed max_length"):
        make_trainer(model, tok, [rec], SFTRunConfig(max_length=8))
    with pytest.raises(ValueError, match="all be prompt/completion, all messages or all text"):
        make_trainer(model, tok, [rec, {"messages": rec["prompt"] + rec["completion"]}], SFTRunConfig())


def test_keep_best_ends_with_the_best_held_out_step_not_the_last():
    # a constant, large learning rate on 8 streams: the held-out loss plateaus and wobbles, so the last
    # step is not the best one (seeded, CPU, the tokenizer of 1555 tokens: measured best step 30 of 40,
    # 3.4794 vs 3.4854 at step 40; at 2e-2 the loss still fell at step 40)
    train, test = make_splits(8, 8, seed=0, num_numbers=3)
    recs, _ = countdown_records(train, seed=0, max_nodes=4)
    val, _ = countdown_records(test, seed=1, max_nodes=4)
    model, tok = load_policy("tiny", seed=0)
    cfg = SFTRunConfig(max_steps=40, learning_rate=2e-1, lr_scheduler_type="constant", batch_size=4,
                       max_length=512, logging_steps=5, eval_steps=5, eval_batch_size=8, keep_best=True)
    res = run_sft(model, tok, recs, cfg, eval_records=val)
    steps, losses = zip(*res.eval_curve)
    assert steps == tuple(range(0, 41, 5))
    best = min(res.eval_curve, key=lambda p: p[1])
    assert (res.best_step, res.best_eval_loss) == best
    assert res.best_step != 40 and losses[-1] > res.best_eval_loss  # the last step is worse ...
    now = res.trainer.evaluate()["eval_loss"]
    assert abs(now - res.best_eval_loss) < 1e-5, (now, res.eval_curve)  # ... and the model is the best step's


def test_keep_best_needs_a_held_out_loss(countdown_data):
    train_recs, _, _ = countdown_data
    model, tok = load_policy("tiny", seed=0)
    with pytest.raises(ValueError, match="keep_best needs eval_records and eval_steps"):
        run_sft(model, tok, train_recs[:4], SFTRunConfig(max_steps=1, keep_best=True, eval_steps=1))


def test_text_records_train_on_every_token_of_the_transcript():
    # the language-modelling phase before SFT: observations are trained on too, once, with one EOS per turn
    inst = make_instance("production_planning", "H", "easy", seed=0)
    msgs = expert_transcript(inst, "slack").messages
    model, tok = load_policy("tiny", seed=0)
    (rec,) = text_records(tok, [msgs])
    assert rec["text"] == tok.apply_chat_template(msgs, tokenize=False)
    assert record_length(tok, rec) == len(tok(rec["text"], add_special_tokens=False)["input_ids"])
    trainer = make_trainer(model, tok, [rec], SFTRunConfig(max_length=4096, batch_size=1))
    covered, context = trained_token_texts(trainer, 0)
    assert context == "" and covered == rec["text"]
    assert covered.count(EOS_TOKEN) == rec["text"].count(EOS_TOKEN) == len(msgs)
    for m in msgs:
        assert m["content"] in covered
    with pytest.raises(ValueError, match="all be prompt/completion, all messages or all text"):
        make_trainer(model, tok, [rec, {"messages": msgs}], SFTRunConfig(max_length=4096))
