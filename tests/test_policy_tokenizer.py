"""The project tokenizer: exact round trips, atomic markup that survives decoding, the chat template and
its assistant mask, save/load, and deterministic training."""
import pytest

from ordebug_lib.policy.tokenizer import (
    EOS_TOKEN, IM_START, MARKUP_TOKENS, PAD_TOKEN, TokenizerConfig, project_tokenizer, train_tokenizer,
)

STREAM = ("Goal 14 from [2, 3, 4]\n[2, 3, 4] 3*4=12 -> [2, 12]\n[2, 12] 2+12=14 -> [14] goal\nReached 14\n"
          "<answer>2 + (3 * 4)</answer>")
OBSERVATION = ("OR-Debug. Step 1 of 20 (19 left).\nSolver status: INFEASIBLE (no point satisfies every constraint)\n"
               "  def_hours_assembly: 1 hours_assembly - 2.5 make_valve == 0\n  0 <= make_sprocket <= 14.4\n"
               "IIS of the current model (2 members): min_output_sprocket, make_sprocket.ub")
ODD = "tabs\tand  double  spaces, unicode ×÷− é ü 漢字 🙂, -inf 1e-07 0.30000000000000004\r\n\n end "


@pytest.fixture(scope="module")
def tok():
    return project_tokenizer()


@pytest.mark.parametrize("text", [STREAM, OBSERVATION, ODD, "<action>SUBMIT x_a.ub c_17</action>",
                                  "<think> a </think>" + EOS_TOKEN + PAD_TOKEN, ""])
def test_round_trip_is_exact(tok, text):
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text


def test_vocabulary_and_special_tokens(tok):
    vocab = tok.get_vocab()
    assert 1000 <= len(tok) <= 4096
    assert tok.eos_token == EOS_TOKEN and tok.pad_token == PAD_TOKEN and tok.eos_token_id != tok.pad_token_id
    for t in MARKUP_TOKENS:
        assert tok(t, add_special_tokens=False)["input_ids"] == [vocab[t]]
    # digits are single tokens, as in Qwen3: 944 is three tokens
    assert len(tok("944", add_special_tokens=False)["input_ids"]) == 3
    # a word of the task text is one token
    assert len(tok(" constraint", add_special_tokens=False)["input_ids"]) == 1


def test_decoding_for_rewards_keeps_markup_and_drops_eos_and_padding(tok):
    ids = tok("<answer>1 + 2</answer>", add_special_tokens=False)["input_ids"] + [tok.eos_token_id, tok.pad_token_id]
    assert tok.decode(ids, skip_special_tokens=True) == "<answer>1 + 2</answer>"


def test_chat_template_prompt_prefix_and_assistant_mask(tok):
    msgs = [{"role": "user", "content": "obs 0"}, {"role": "assistant", "content": "<action>GET_IIS</action>"},
            {"role": "user", "content": "obs 1"}, {"role": "assistant", "content": "<action>SUBMIT c1</action>"}]
    text = tok.apply_chat_template(msgs, tokenize=False)
    assert text == (f"{IM_START}user\nobs 0{EOS_TOKEN}{IM_START}assistant\n<action>GET_IIS</action>{EOS_TOKEN}"
                    f"{IM_START}user\nobs 1{EOS_TOKEN}{IM_START}assistant\n<action>SUBMIT c1</action>{EOS_TOKEN}")
    prompt = tok.apply_chat_template(msgs[:3], tokenize=False, add_generation_prompt=True)
    assert text.startswith(prompt)
    prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    assert tok(text, add_special_tokens=False)["input_ids"][: len(prompt_ids)] == prompt_ids
    out = tok.apply_chat_template(msgs, return_assistant_tokens_mask=True, return_dict=True)
    trained = [i for i, m in zip(out["input_ids"], out["assistant_masks"]) if m]
    assert tok.decode(trained) == f"<action>GET_IIS</action>{EOS_TOKEN}<action>SUBMIT c1</action>{EOS_TOKEN}"


def test_save_and_load_give_the_same_tokenizer(tok, tmp_path):
    from transformers import AutoTokenizer

    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path, local_files_only=True)
    assert again.get_vocab() == tok.get_vocab() and again.chat_template == tok.chat_template
    assert again(STREAM)["input_ids"] == tok(STREAM)["input_ids"]
    assert (again.eos_token, again.pad_token) == (tok.eos_token, tok.pad_token)


def test_training_is_deterministic_and_checked():
    texts = [STREAM, OBSERVATION] * 30
    a, b = train_tokenizer(texts, TokenizerConfig(vocab_size=320)), train_tokenizer(texts, TokenizerConfig(vocab_size=320))
    assert a.get_vocab() == b.get_vocab()
    assert len(a) == 320 + len(MARKUP_TOKENS)
    with pytest.raises(ValueError, match="vocab_size must exceed"):
        train_tokenizer(texts, TokenizerConfig(vocab_size=100))


def test_missing_project_tokenizer_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m ordebug_lib.policy.tokenizer"):
        project_tokenizer(tmp_path)


def test_ordebug_corpus_is_drawn_from_the_train_split_only():
    """Every corpus instance's base model is of the train split of the benchmark definition (build seed
    and fractions; by default the project's default build), whatever the tokenizer seed."""
    import inspect

    from ordebug_lib.ordebug.dataset import build_benchmark, split_of
    from ordebug_lib.ordebug.saboteur import DIFFICULTY
    from ordebug_lib.policy.tokenizer import DEFAULT_SPLIT_FRACTIONS, DEFAULT_SPLIT_SALT, corpus_instances

    defaults = inspect.signature(build_benchmark).parameters
    assert (DEFAULT_SPLIT_SALT, DEFAULT_SPLIT_FRACTIONS) == (defaults["seed"].default,
                                                             defaults["split_fractions"].default)
    # the hard cells take most of the full grid's minute; the rule does not depend on the cell
    for salt, fractions in ((DEFAULT_SPLIT_SALT, DEFAULT_SPLIT_FRACTIONS), (3, (0.3, 0.35, 0.35))):
        n = 2 if salt == DEFAULT_SPLIT_SALT else 1
        insts = list(corpus_instances(n, seed=12345, salt=salt, fractions=fractions, error_types="ACDH",
                                      difficulties=("easy", "medium")))
        assert len(insts) >= 25 * n
        for inst in insts:
            size = DIFFICULTY[inst.difficulty].size
            assert inst.meta["size"] == size
            assert split_of(inst.family, size, inst.meta["base_seed"], fractions, salt) == "train", inst.id
        assert len({i.id for i in insts}) == len(insts)  # the stream goes on: no instance twice
    with pytest.raises(ValueError, match="train split"):
        next(corpus_instances(1, seed=0, fractions=(0.0, 0.5, 0.5)))


def test_corpus_note_records_the_split_definition(tmp_path, monkeypatch):
    import ordebug_lib.policy.tokenizer as T

    seen = {}

    def ordebug_corpus(n, seed, salt, fractions):
        seen.update(salt=salt, fractions=fractions)
        return [OBSERVATION] * 20

    monkeypatch.setattr(T, "countdown_corpus", lambda n, seed: [STREAM] * 20)
    monkeypatch.setattr(T, "ordebug_corpus", ordebug_corpus)
    tok = T.build_project_tokenizer(tmp_path, 1, 1, seed=7, config=TokenizerConfig(vocab_size=300))
    assert seen == {"salt": 0, "fractions": (0.7, 0.15, 0.15)}
    note = (tmp_path / "CORPUS.txt").read_text()
    assert "seed=7" in note and "split_salt=0, split_fractions=(0.7, 0.15, 0.15)" in note
    assert f"40 texts, {20 * (len(STREAM) + len(OBSERVATION))} characters; vocabulary {len(tok)}" in note
