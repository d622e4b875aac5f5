"""The generation engines (``policy.engine``) against the reference ``model.generate`` path, on CPU.

The policy is the ``tiny`` preset with its weights redrawn at std 0.1 (the preset's own init, std 0.02,
greedily repeats one token forever, which would make every comparison trivial); a forward hook makes it end a
turn with EOS right after any of a fixed set of tokens, so rows stop at different lengths. Both engines see
the same hook, so every comparison is of the same function of the context.
"""
import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from ordebug_lib.ordebug.env import RepairEnv
from ordebug_lib.ordebug.saboteur import make_instance
from ordebug_lib.policy.engine import (ContextDriftError, EngineConfig, MultiTurnGenerateFn, Session, inference,
                                       check_append_only, make_engine, run_engine_episodes)
from ordebug_lib.policy.generation import SamplingConfig, eos_ids, generate_ids, render_prompts
from ordebug_lib.policy.loader import load_policy
from ordebug_lib.training.rollouts import env_config_for, model_generate_fn, observation_ids, run_token_episodes

ROOT = Path(__file__).resolve().parents[1]
TEXTS = ["hi there", "Make 75 from [3, 7, 25, 50]", "diet " * 12, "x", "OR-Debug: the model is infeasible. " * 6,
         "knapsack 1 2 3 4 5 6 7 8 9 10 11 12"]
# a small engine config so that a few hundred tokens already cross buckets (compaction, growth, windows)
SMALL = dict(kv_bucket=64, len_bucket=8, prefill_chunk=48)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # the CI machine has 2 shared cores; two BLAS threads fighting a busy neighbour are 100x slower
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def policy():
    model, tok = load_policy("tiny", seed=0)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.1, generator=g)
    model.eval()
    return model, tok


@contextmanager
def eos_after(model, eos: int, every: int = 17, phase: int = 5):
    """The model emits EOS right after any token t with t % every == phase (its logits otherwise untouched)."""

    def hook(module, args, kwargs, output):
        ids = kwargs.get("input_ids", args[0] if args else None)
        hit = ids[:, -1] % every == phase  # (B,)
        logits = output.logits  # (B, T', V)
        logits[:, -1, eos] = torch.where(hit, torch.full_like(logits[:, -1, eos], 1e4), logits[:, -1, eos])
        return output

    handle = model.register_forward_hook(hook, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()


def prompts_of(tok, texts=TEXTS):
    return render_prompts(tok, [[{"role": "user", "content": t}] for t in texts])


def reference(model, tok, prompts, n):
    return generate_ids(model, prompts, eos_ids(model, tok), tok.pad_token_id, SamplingConfig(max_new_tokens=n))


@pytest.mark.parametrize("config", [dict(), dict(max_batch_size=2, **SMALL), dict(batch_buckets=False, **SMALL),
                                    dict(attention="gqa", **SMALL)])
def test_greedy_static_engine_matches_generate(policy, config):
    model, tok = policy
    prompts = prompts_of(tok)
    assert len({len(p) for p in prompts}) == len(prompts)  # different lengths
    with eos_after(model, tok.eos_token_id):
        ref = reference(model, tok, prompts, 48)
        out = make_engine("static", model, tok, config=EngineConfig(**config))(prompts, 48)
    assert out == ref
    assert any(s for _, s in ref) and not all(s for _, s in ref)  # some rows stop with EOS, some hit the budget
    assert len({len(ids) for ids, _ in ref}) > 2
    # the same ids mean the same rewards: a Countdown reward of the decoded texts agrees row by row
    from ordebug_lib.tasks.countdown import graduated_reward

    texts = [tok.decode(ids, skip_special_tokens=True) for ids, _ in out]
    ref_texts = [tok.decode(ids, skip_special_tokens=True) for ids, _ in ref]
    assert [graduated_reward(t, [3, 7, 25, 50], 75) for t in texts] == \
        [graduated_reward(t, [3, 7, 25, 50], 75) for t in ref_texts]


def test_eos_per_row_and_the_loop_stops_when_all_rows_stopped(policy):
    model, tok = policy
    eos = tok.eos_token_id
    prompts = prompts_of(tok)
    eng = make_engine("static", model, tok, config=EngineConfig(**SMALL))
    with eos_after(model, eos, every=5, phase=1):  # stops early on every row
        out = eng(prompts, 200)
    lengths = [len(ids) for ids, _ in out]
    assert all(s for _, s in out) and max(lengths) < 200
    for ids, _ in out:
        assert ids[-1] == eos and eos not in ids[:-1] and tok.pad_token_id not in ids
    assert eng.stats["decode_steps"] == max(lengths) - 1  # one forward per token after the first; no extra
    # a budget shorter than every stop: nothing stopped, every row exactly the budget
    with eos_after(model, eos, every=5, phase=1):
        short = eng(prompts, 1)
    assert [ids for ids, _ in short] == [ids[:1] for ids, _ in out]
    assert [s for _, s in short] == [len(ids) == 1 for ids, _ in out]


def test_sampling_is_reproducible_for_a_seed(policy):
    model, tok = policy
    prompts = prompts_of(tok)[:4] * 2
    sampling = SamplingConfig(temperature=1.0, top_p=0.9, seed=7)
    a = make_engine("static", model, tok, sampling, EngineConfig(**SMALL))(prompts, 24)
    b = make_engine("static", model, tok, sampling, EngineConfig(**SMALL))(prompts, 24)
    c = make_engine("static", model, tok, SamplingConfig(temperature=1.0, top_p=0.9, seed=8),
                    EngineConfig(**SMALL))(prompts, 24)
    assert a == b and a != c
    assert a[:4] != a[4:]  # copies of one prompt draw different samples
    greedy = make_engine("static", model, tok, config=EngineConfig(**SMALL))(prompts, 24)
    assert a != greedy


def test_greedy_is_batch_invariant(policy):
    """The same prompt alone, among others, or at another place of the batch gives the same ids. (This held
    exactly on CPU fp32 for these prompts; on GPU, bf16 or other kernels it may not: different batch shapes may
    pick different GEMM kernels. benchmarks/rollouts.py --jitter measures it there.)"""
    model, tok = policy
    prompts = prompts_of(tok)
    eng = make_engine("static", model, tok, config=EngineConfig(**SMALL))
    together = eng(prompts, 32)
    alone = [eng([p], 32)[0] for p in prompts]
    shuffled = eng(prompts[::-1] + prompts[:2], 32)
    assert together == alone == shuffled[:len(prompts)][::-1]
    assert shuffled[len(prompts):] == together[:2]


def test_session_extend_decode_free_shrink_equal_full_reprefill(policy):
    """The Session API directly: prefill, extend some rows (others sit out), decode some rows, free rows;
    compaction, growth and shrinking of the cache happen on the way; every decode equals a fresh
    ``model.generate`` on the row's full token history."""
    model, tok = policy
    prompts = prompts_of(tok)
    eng = make_engine("static", model, tok, config=EngineConfig(kv_bucket=32, len_bucket=8, prefill_chunk=16))
    obs = prompts_of(tok, ["observation %d " % i * (i + 1) for i in range(len(prompts))])
    with eos_after(model, tok.eos_token_id), torch.inference_mode():
        s = Session(eng, len(prompts))
        s.start(prompts)
        rows = list(range(len(prompts)))
        for turn in range(4):
            outs = s.decode(rows, 12)
            for r, res in zip(rows, outs):
                full = s.tokens(r)[:len(s.tokens(r)) - len(res[0])]
                assert [res] == reference(model, tok, [full], 12), (turn, r)
            if turn == 1:
                s.free(rows[::2])
                rows = rows[1::2]
                s.maybe_shrink()
            s.extend(rows, [obs[(r + turn) % len(obs)] for r in rows])
    assert eng.stats["compactions"] > 0 and eng.stats["regrows"] > 0 and eng.stats["shrinks"] == 1


@pytest.fixture(scope="module")
def instances():
    return [make_instance("diet", "A", "easy", seed=1), make_instance("knapsack", "A", "easy", seed=1),
            make_instance("production_planning", "B", "easy", seed=2)]


@pytest.mark.slow
@pytest.mark.parametrize("attention", ["model", "gqa"])
def test_multi_turn_engine_gives_the_episodes_of_run_token_episodes(policy, instances, attention):
    model, tok = policy
    cfg = env_config_for(max_turns=4, reward="composite")
    prompts = [observation_ids(tok, RepairEnv(i, cfg).reset()[0]) for i in instances]
    assert max(len(p) for p in prompts) < 700  # first observations of ~530-630 tokens, later ones ~170
    # a context limit that ends some episodes early (as timeouts) while others go on: rows are freed
    limit = 1300
    with eos_after(model, tok.eos_token_id):
        ref = run_token_episodes(model_generate_fn(model, tok, 0.0, 1.0), tok, instances, cfg, 24, limit)
        eng = make_engine("static", model, tok, config=EngineConfig(attention=attention, **SMALL))
        out = run_engine_episodes(eng, tok, instances, cfg, 24, limit)
    assert [asdict(e) for e in out] == [asdict(e) for e in ref]
    steps = [e.steps for e in ref]
    assert len(set(steps)) > 1 and max(steps) > 1  # episodes of different lengths, several turns
    assert any(e.context_truncated for e in ref)
    # the point: the engine prefilled each token once (prompt + completion, minus the last generated one)
    held = sum(len(e.prompt_ids) + len(e.completion_ids) for e in out)
    assert eng.stats["prefill_tokens"] <= held


def test_project_chat_template_is_append_only(policy, instances):
    """The token stream of ``run_token_episodes`` is what the project's chat template renders for the whole
    conversation, and each turn's context starts with exactly the previous context + the generated ids."""
    _, tok = policy
    enc = lambda s: tok(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    eos = tok.eos_token_id
    script = [enc("<action>GET_IIS</action>") + [eos], enc("<action>INSPECT diet"),
              enc("<action>RELAX cap 3</action>") + [eos]]
    calls, outs = [], []

    def scripted(contexts, n):
        calls.append([list(c) for c in contexts])
        outs.append(script[len(calls) - 1])
        return [(script[len(calls) - 1], script[len(calls) - 1][-1] == eos)]

    cfg = env_config_for(max_turns=3, reward="composite")
    (ep,) = run_token_episodes(scripted, tok, instances[:1], cfg, 16, 4096)
    assert len(calls) == 3
    for k in range(1, len(calls)):
        check_append_only(calls[k - 1][0], outs[k - 1], calls[k][0])  # raises if not
    # the same conversation rendered by the template, as text, then tokenised: the same tokens
    env = RepairEnv(instances[0], cfg)
    messages = [{"role": "user", "content": env.reset()[0]}]
    for ids in script[:2]:
        text = tok.decode(ids, skip_special_tokens=True)
        messages += [{"role": "assistant", "content": text}, {"role": "user", "content": env.step(text)[0]}]
    rendered = render_prompts(tok, [messages])[0]
    assert calls[2][0] == rendered


QWEN3_STYLE_TEMPLATE = (  # Qwen3's rule: reasoning of assistant turns before the last user turn is dropped
    "{%- set ns = namespace(last_user=0) -%}"
    "{%- for m in messages -%}{%- if m['role'] == 'user' -%}{%- set ns.last_user = loop.index0 -%}{%- endif -%}"
    "{%- endfor -%}"
    "{%- for m in messages -%}"
    "{{- '<|im_start|>' + m['role'] + '\n' -}}"
    "{%- if m['role'] == 'assistant' and loop.index0 < ns.last_user and '</think>' in m['content'] -%}"
    "{{- m['content'].split('</think>')[-1].lstrip('\n') + '<|im_end|>' -}}"
    "{%- else -%}{{- m['content'] + '<|im_end|>' -}}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\n' -}}{%- endif -%}"
)


def test_a_template_that_strips_past_reasoning_is_refused(policy):
    """A caller that re-renders the chat each turn with a Qwen3-style template: the second context no longer
    starts with the first context + the generated ids, and the multi-turn engine raises rather than decode
    from a cache that does not match; with on_drift='reprefill' it prefills again and matches the reference."""
    model, tok = policy
    qtok = type(tok).from_pretrained(str(ROOT / "ordebug_lib/policy/assets/tokenizer"))
    qtok.chat_template = QWEN3_STYLE_TEMPLATE
    obs = ["OR-Debug: infeasible", "IIS: cap_a, cap_b"]
    answer = "<think>cap_a looks wrong</think><action>RELAX cap_a 3</action>"
    enc = lambda s: qtok(s, add_special_tokens=False)["input_ids"]  # noqa: E731

    def turn_contexts():
        first = render_prompts(qtok, [[{"role": "user", "content": obs[0]}]])[0]
        second = render_prompts(qtok, [[{"role": "user", "content": obs[0]},
                                        {"role": "assistant", "content": answer},
                                        {"role": "user", "content": obs[1]}]])[0]
        return first, second

    first, second = turn_contexts()
    generated = enc(answer) + [qtok.eos_token_id]
    with pytest.raises(ContextDriftError, match="not the previous context"):
        check_append_only(first, generated, second)
    # the project template keeps the reasoning: append-only
    ptok_first = render_prompts(tok, [[{"role": "user", "content": obs[0]}]])[0]
    ptok_second = render_prompts(tok, [[{"role": "user", "content": obs[0]}, {"role": "assistant", "content": answer},
                                        {"role": "user", "content": obs[1]}]])[0]
    assert check_append_only(ptok_first, generated, ptok_second) == ptok_second[len(ptok_first) + len(generated):]

    # the engine: the first turn generates (whatever it generates), the caller re-renders the next context
    for policy_name in ("raise", "reprefill"):
        fn = make_engine("static", model, qtok, config=EngineConfig(on_drift=policy_name, **SMALL)).multi_turn()
        fn([first], 8)
        if policy_name == "raise":
            with pytest.raises(ContextDriftError, match="does not extend any live row"):
                fn([second], 8)
        else:
            assert fn([second], 8) == reference(model, tok, [second], 8) and fn.reprefills == 1
        fn.reset()


def test_multi_turn_fn_keeps_order_and_frees_left_out_rows(policy):
    model, tok = policy
    prompts = prompts_of(tok)[:4]
    fn = make_engine("static", model, tok, config=EngineConfig(**SMALL)).multi_turn()
    assert isinstance(fn, MultiTurnGenerateFn)
    first = fn(prompts, 6)
    tail = prompts_of(tok, ["next"])[0]
    contexts = [prompts[i] + first[i][0] + tail for i in (1, 3)]  # rows 0 and 2 ended
    second = fn(contexts, 6)
    assert second == reference(model, tok, contexts, 6)
    assert fn.session.live() == [1, 3]
    with pytest.raises(ContextDriftError):
        fn([contexts[1], contexts[0]], 6)  # out of order: row 3 cannot be followed by row 1
    fn.reset()


def test_registry_and_config_errors(policy):
    model, tok = policy
    with pytest.raises(KeyError, match="unknown engine"):
        make_engine("vllm", model, tok)
    with pytest.raises(ValueError, match="decode"):
        EngineConfig(decode="fast")
    with pytest.raises(ValueError, match="cuda_graph"):
        make_engine("static", model, tok, config=EngineConfig(decode="cuda_graph"))
    gen = make_engine("generate", model, tok)
    prompts = prompts_of(tok)[:3]
    assert gen(prompts, 5) == reference(model, tok, prompts, 5) and gen.multi_turn() is gen
    with pytest.raises(ValueError, match="max_cache_len"):
        make_engine("static", model, tok, config=EngineConfig(max_cache_len=64, **SMALL))(prompts, 100)


@pytest.mark.slow
def test_benchmark_smoke(tmp_path):
    out = tmp_path / "rollouts.json"
    t0 = time.time()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "rollouts.py"), "--model", "tiny", "--device", "cpu",
         "--batches", "2", "4", "--new-tokens", "16", "--prompt-tokens", "24", "--max-turns", "2",
         "--turn-tokens", "8", "--repeats", "1", "--kv-bucket", "64", "--out", str(out)],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert time.time() - t0 < 60
    res = json.loads(out.read_text())
    assert {r["batch"] for r in res["single_turn"]} == {2, 4} and {r["batch"] for r in res["multi_turn"]} == {2, 4}
    for r in res["single_turn"] + res["multi_turn"]:
        assert r["engine"]["tokens_per_s"] > 0 and r["baseline"]["tokens_per_s"] > 0 and r["ratio"]["tokens_per_s"] > 0
    assert all(r["same_ids"] for r in res["single_turn"])  # greedy: the engine reproduces the baseline


def test_an_fp32_model_generating_under_bf16_autocast_gets_a_bf16_cache(policy):
    """TRL's bf16=True trains an fp32 model under autocast and generates inside it: the cache takes the dtype the
    keys and values are written in (a float32 cache raised "index_copy_(): ... Float and ... BFloat16" on the
    GPU machine), and a cache made outside autocast is not reused inside it."""
    model, tok = policy
    prompts = prompts_of(tok)[:3]
    engine = make_engine("static", model, tok)
    plain = engine(prompts, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert engine.kv_dtype() == torch.bfloat16
        with inference(model):  # a graph captured here must not point into the autocast weight cache
            assert torch.is_autocast_enabled("cpu") and not torch.is_autocast_cache_enabled()
        assert torch.is_autocast_cache_enabled()
        out = engine(prompts, 8)
        assert all(s.dtype == torch.bfloat16 for s in engine._idle.values())
        assert {t.dtype for s in engine._idle.values() for kv in s.layers_kv() for t in kv} == {torch.bfloat16}
    assert [len(ids) for ids, _ in out] == [len(ids) for ids, _ in plain]  # ran to the end, every row
    assert engine.kv_dtype() == torch.float32 and model.dtype == torch.float32
    engine(prompts, 8)
    assert all(s.dtype == torch.float32 for s in engine._idle.values())  # the bf16 caches were dropped


@pytest.mark.parametrize("buckets", [True, False])
def test_single_turn_drops_stopped_rows_mid_decode_and_keeps_the_ids(policy, buckets):
    """A long tail of few rows decodes in a smaller cache (single turn); the ids are model.generate's."""
    model, tok = policy
    prompts = prompts_of(tok, TEXTS * 3)  # rows that stop at different steps (the EOS hook) and some that never do
    with eos_after(model, tok.eos_token_id, every=11, phase=5):
        ref = reference(model, tok, prompts, 64)
        engine = make_engine("static", model, tok, config=EngineConfig(shrink_below=0.75, batch_buckets=buckets, **SMALL))
        out = engine(prompts, 64)
    assert out == ref
    assert engine.stats["shrinks"] >= 1  # the knob acted
    lengths = sorted(len(ids) for ids, _ in ref)
    assert lengths[0] < 16 and lengths[-1] > 32  # stopped early and late: there was a tail to shrink
    off = make_engine("static", model, tok, config=EngineConfig(shrink_below=0.0, batch_buckets=buckets, **SMALL))
    with eos_after(model, tok.eos_token_id, every=11, phase=5):
        assert off(prompts, 64) == ref and off.stats["shrinks"] == 0
