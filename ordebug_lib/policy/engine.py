"""Generation engines behind one interface: ``GenerateFn(contexts, max_new_tokens) -> [(ids, stopped)]``.

``make_engine(name, model, tokenizer, sampling, config)`` returns an engine from ``ENGINES``; an engine is a
``training.rollouts.GenerateFn`` (contexts of token ids in; per context the generated ids cut at the first
EOS, EOS included, and whether it stopped with EOS) and ``engine.multi_turn()`` is a *stateful* GenerateFn
for ``run_token_episodes`` that keeps each episode's KV cache from one turn to the next.

=========  ================================================  =========================================
engine     single turn                                       multi turn (``multi_turn()``)
=========  ================================================  =========================================
generate   ``decoding.generate_ids`` (``model.generate``,    the same function: every turn re-prefills
           dynamic cache): the reference                     the whole growing context
static     transformers ``StaticCache``, length-bucketed     one ``Session`` per batch of episodes:
           batches, prefill + a decode step that runs        each turn prefills only the new tokens
           eagerly, compiled or as a CUDA graph              (the last action's final token + the
                                                             observation) and decodes the next action
=========  ================================================  =========================================

(A future backend, e.g. vLLM, would be one more entry; none exists today.)

Terms (B rows of a batch, S cache slots per row, V vocabulary; shapes in comments)::

    slot       one position of the static cache, shared by all rows: every forward writes the same slots
               [p, p + q) of every row (transformers' StaticLayer keeps one write pointer p for the batch)
    valid      (B, S) bool: the slot holds a real token of that row (left padding, the unused tail of a
               short extension, a row that sat out a step: False); attention only ever reads valid slots
    length     (B,) the row's real token count = the RoPE position of its next token, whatever its slot
    window     the attention reads slots [0, w), w = p rounded up to ``kv_bucket``: decode cost follows
               the context actually held, and a compiled step has one shape per (B, w)
    pending    the last generated token of a row, not yet in the cache: it is fed with the next extension

Layout of a batch of three episodes: prompts (``o``) prefilled left-padded in slots 0-4, then one decode of
up to 4 tokens (``a``; ``.`` an invalid slot). A decode writes a token into the cache only when the row goes
on, so every row's last generated token is *pending*; the next extension feeds it first::

    slot   0 1 2 3 4 | 5 6 7 | 8 ...
    row 0  . o o o o | a a a |       a4 pending     <- write pointer p = 8
    row 1  o o o o o | a . . |       a2 = EOS pending (row 1 stopped at its 2nd token)
    row 2  . . o o o | a a . |       a3 = EOS pending

An extension block is right-aligned the same way (its last column is every extended row's last token, so one
``logits_to_keep=1`` forward gives each row its next-token logits); rows that sit out get invalid slots.

A row's holes never change what it attends to (they are masked), so the only differences from re-prefilling
the context are float rounding: key/value states of generated tokens come from a decode step instead of a
prefill, and attention reduces over a longer, partly masked vector. When the holes add up to a whole
``kv_bucket``, the cache is compacted (each row's valid slots gathered to the right, ``p`` lowered); when it is
full it grows (a larger cache, copied); when most episodes ended it shrinks to the live rows.

Append-only contexts: a multi-turn GenerateFn checks that each new context starts with exactly the tokens its
row holds (its previous context + the ids it generated) and prefills only the rest. The project's ChatML
template and ``run_token_episodes`` never re-tokenise, so this always holds there; a template that rewrites
earlier turns (Qwen3's, which strips past ``<think>`` blocks) breaks it, and the GenerateFn raises
``ContextDriftError`` instead of generating from a cache that no longer matches the context
(``EngineConfig.on_drift='reprefill'`` prefills the full contexts again instead).

Exactness: with fp32 weights the static engine's greedy ids equal ``model.generate``'s on the prompts and
episodes of ``tests/test_policy_engine.py`` (CPU); nothing guarantees it bit for bit (other kernels, other
reduction lengths), and in bf16 greedy paths of the two engines part after near-ties (``benchmarks/rollouts.py``
reports how many rows agree and for how long). Decode attention: with a mask and grouped-query heads,
transformers' sdpa path copies K/V to every query head at every step; ``EngineConfig.attention='gqa'`` (the
CUDA default) attends with the query heads grouped per K/V head instead (``gqa_decode_attention``).

>>> bucket_up(130, 64), bucket_up(128, 64), bucket_up(1, 64)
(192, 128, 64)
>>> check_append_only([1, 2, 3], [4, 5], [1, 2, 3, 4, 5, 9, 9])
[9, 9]
>>> check_append_only([1, 2, 3], [4, 5], [1, 2, 4, 5])
Traceback (most recent call last):
...
ordebug_lib.policy.engine.ContextDriftError: the new context differs from the tokens the row holds at position 2 (held 3, got 4): it is not the previous context + generated ids + new tokens
"""
from __future__ import annotations

from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Sequence

from .decoding import SamplingConfig, eos_ids, generate_ids

DECODE_MODES = ("auto", "eager", "compile", "cuda_graph")
ATTENTIONS = ("auto", "model", "gqa")
GQA_ATTENTION = "ordebug_gqa_decode"
DRIFT_POLICIES = ("raise", "reprefill")
SHRINK_EVERY = 16  # single-turn decode steps between checks for a smaller batch (each check is one host sync)


class ContextDriftError(ValueError):
    """A multi-turn context is not the row's previous context + generated ids + new tokens."""


@dataclass
class EngineConfig:
    """How the ``static`` engine batches, pads and runs the model (the ``generate`` engine ignores it)."""

    max_batch_size: int | None = None
    """Rows per batch of single-turn generation; None: all contexts in one batch (as ``model_generate_fn``).
    Contexts are sorted by length first, so each batch holds contexts of similar lengths."""
    len_bucket: int = 32
    """Prompt and extension widths are padded up to a multiple of this (prefill shapes repeat)."""
    batch_buckets: bool = True
    """Pad a batch to the next power of two with dead rows, so decode shapes repeat across batches."""
    kv_bucket: int = 256
    """Attention reads the first ``window`` cache slots, ``window`` = slots in use rounded up to a multiple of
    this; it is also the cache-size granularity and the hole size that triggers a compaction."""
    max_cache_len: int | None = None
    """Most cache slots per row (None: 2 × the model's ``max_position_embeddings``, holes included)."""
    prefill_chunk: int = 512
    """Prefill / extension tokens per forward: bounds the (B, 1, q, window) mask and the activations."""
    decode: str = "auto"
    """Decode step: 'eager'; 'compile' (``torch.compile(mode='reduce-overhead')``); 'cuda_graph' (one graph
    captured per (batch, window)); 'auto': 'cuda_graph' on CUDA, 'eager' elsewhere."""
    shrink_below: float = 0.5
    """When the live rows fall below this fraction of the batch, the cache is re-packed to fewer rows: in
    multi-turn before the next turn, in single turn during decoding (every ``SHRINK_EVERY`` steps, stopped rows
    dropped) so that a few long completions do not keep the whole batch decoding (0: never)."""
    on_drift: str = "raise"
    """Multi-turn: a context that does not extend its row's tokens raises ``ContextDriftError`` ('raise') or
    makes the engine prefill every context of that call from scratch ('reprefill')."""
    idle_slabs: int = 2
    """Caches (with their CUDA graphs) kept for reuse after a batch ends; older ones are freed."""
    attention: str = "auto"
    """Attention of the engine's forwards: 'model' (the model's own, e.g. sdpa: with a mask and grouped-query
    heads it first copies K/V to every query head, a full pass over the window per layer and step); 'gqa'
    (decode steps attend with the query heads grouped per K/V head, reading the cache once; prefill keeps the
    model's own); 'auto': 'gqa' on CUDA, 'model' elsewhere."""

    def __post_init__(self):
        if self.decode not in DECODE_MODES:
            raise ValueError(f"decode must be one of {DECODE_MODES}, got {self.decode!r}")
        if self.attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}, got {self.attention!r}")
        if self.on_drift not in DRIFT_POLICIES:
            raise ValueError(f"on_drift must be one of {DRIFT_POLICIES}, got {self.on_drift!r}")
        for name in ("len_bucket", "kv_bucket", "prefill_chunk"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_batch_size is not None and self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1 or None, got {self.max_batch_size}")


def bucket_up(n: int, bucket: int) -> int:
    """The smallest positive multiple of ``bucket`` that is >= ``n``."""
    return max(bucket, -(-n // bucket) * bucket)


def batch_bucket(n: int) -> int:
    """The next power of two >= ``n`` (the padded batch size).

    >>> [batch_bucket(n) for n in (1, 3, 4, 5, 100)]
    [1, 4, 4, 8, 128]
    """
    return 1 << max(0, (n - 1).bit_length())


def check_append_only(held: Sequence[int], generated: Sequence[int], context: Sequence[int]) -> list[int]:
    """The new tokens of ``context`` after ``held`` (a row's previous context) + ``generated``; raises
    ``ContextDriftError`` if ``context`` does not start with exactly those tokens (see the module docstring)."""
    prefix = list(held) + list(generated)
    return _suffix_after(prefix, context)


def _suffix_after(prefix: list[int], context: Sequence[int]) -> list[int]:
    context = list(context)
    if context[:len(prefix)] == prefix:
        return context[len(prefix):]
    k = next((i for i, (a, b) in enumerate(zip(prefix, context)) if a != b), min(len(prefix), len(context)))
    got = context[k] if k < len(context) else "end of context"
    raise ContextDriftError(
        f"the new context differs from the tokens the row holds at position {k} (held {prefix[k]}, got {got}): "
        "it is not the previous context + generated ids + new tokens")


def top_p_filter(logits, top_p: float):
    """``logits`` (B, V) with the tokens outside the nucleus of mass ``top_p`` set to -inf (the most likely
    token always stays), as transformers' ``TopPLogitsWarper``: the smallest set of most likely tokens whose
    probabilities sum to at least ``top_p``.

    >>> import torch
    >>> logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]])  # probabilities 0.64, 0.24, 0.09, 0.03
    >>> top_p_filter(logits, 0.6).isinf().tolist()
    [[False, True, True, True]]
    >>> top_p_filter(logits, 0.85).isinf().tolist()
    [[False, False, True, True]]
    """
    import torch

    if top_p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, descending=False, dim=-1)  # (B, V) ascending
    cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)  # (B, V)
    remove = cum <= (1 - top_p)
    remove[..., -1] = False  # keep the most likely token
    return logits.masked_fill(remove.scatter(-1, order, remove), float("-inf"))


class Sampler:
    """Next tokens from (B, V) float32 logits: argmax when ``temperature == 0``, else a draw from
    softmax(logits / temperature) restricted to the top-``top_p`` nucleus, from a seeded ``torch.Generator``."""

    def __init__(self, temperature: float, top_p: float, seed: int, device):
        import torch

        if temperature < 0 or not 0 < top_p <= 1:
            raise ValueError(f"need temperature >= 0 and 0 < top_p <= 1, got {temperature}, {top_p}")
        self.temperature, self.top_p = float(temperature), float(top_p)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)

    def reseed(self, seed: int) -> None:
        self.generator.manual_seed(seed)

    def __call__(self, logits):
        import torch

        if self.temperature == 0:
            return logits.argmax(dim=-1)  # (B,)
        probs = top_p_filter(logits / self.temperature, self.top_p).softmax(dim=-1)  # (B, V)
        return torch.multinomial(probs, 1, generator=self.generator).squeeze(-1)  # (B,)


# -- the generate engine (reference) -----------------------------------------------------------------
class GenerateEngine:
    """``model.generate`` with the dynamic cache (``decoding.generate_ids``), one call per batch; the
    multi-turn function is the same (every turn re-prefills). Sampling is seeded once per engine, through
    torch's global RNG (which ``generate`` uses)."""

    name = "generate"

    def __init__(self, model, tokenizer, sampling: SamplingConfig | None = None, config: EngineConfig | None = None):
        import torch

        self.model, self.tokenizer = model, tokenizer
        self.sampling = sampling or SamplingConfig()
        self.config = config or EngineConfig()
        self.eos = eos_ids(model, tokenizer)
        if self.sampling.temperature > 0:
            torch.manual_seed(self.sampling.seed)

    def __call__(self, contexts: list[list[int]], max_new_tokens: int) -> list[tuple[list[int], bool]]:
        size = self.config.max_batch_size or len(contexts)
        cfg = SamplingConfig(max_new_tokens=max_new_tokens, temperature=self.sampling.temperature,
                             top_p=self.sampling.top_p, batch_size=size, seed=self.sampling.seed)
        out = []
        for start in range(0, len(contexts), size):
            out += generate_ids(self.model, contexts[start:start + size], self.eos, self.tokenizer.pad_token_id, cfg)
        return out

    def multi_turn(self) -> Callable[[list[list[int]], int], list[tuple[list[int], bool]]]:
        return self


# -- the static engine ---------------------------------------------------------------------------------
def gqa_decode_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """Attention for one query position with grouped-query heads, without repeating K/V per query head.

    query (B, H, 1, D), key / value (B, H_kv, w, D), ``attention_mask`` (B, 1, 1, w) bool (True: attend).
    Query head h uses K/V head h // (H / H_kv), as transformers' ``repeat_kv``. Longer queries (prefill) go
    to the model's sdpa. Returns (B, 1, H, D) and no weights, like the transformers attention functions.
    """
    import torch

    if query.shape[2] != 1 or attention_mask is None or attention_mask.dtype != torch.bool:
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    B, H, _, D = query.shape
    kv = key.shape[1]
    scale = scaling if scaling is not None else D ** -0.5
    q = query.reshape(B, kv, H // kv, D)  # (B, H_kv, G, D)
    scores = torch.matmul(q, key.transpose(-1, -2)).float() * scale  # (B, H_kv, G, w)
    scores = scores.masked_fill(~attention_mask.reshape(B, 1, 1, -1), float("-inf"))
    probs = scores.softmax(dim=-1).to(value.dtype)  # (B, H_kv, G, w)
    out = torch.matmul(probs, value)  # (B, H_kv, G, D)
    return out.reshape(B, 1, H, D), None


def _register_gqa_attention() -> None:
    from transformers import AttentionInterface

    AttentionInterface.register(GQA_ATTENTION, gqa_decode_attention)


@contextmanager
def _attention(config, name: str | None):
    """``config._attn_implementation`` set to ``name`` for the duration (None: unchanged)."""
    if name is None:
        yield
        return
    old = config._attn_implementation
    config._attn_implementation = name
    try:
        yield
    finally:
        config._attn_implementation = old


def _static_cache_class():
    from transformers import StaticCache

    class WindowStaticCache(StaticCache):
        """transformers' ``StaticCache`` whose ``update`` returns only the first ``window`` slots, so the
        attention reads the part of the cache in use (``window`` is set before every forward)."""

        window: int = 0

        def update(self, key_states, value_states, layer_idx, *args, **kwargs):
            # under autocast an fp32 Qwen3 writes bf16 values but fp32 keys (its k RMSNorm multiplies by an
            # fp32 weight): store both in the cache's dtype, the one attention reads them in under autocast
            dtype = self.layers[layer_idx].keys.dtype
            keys, values = super().update(key_states.to(dtype), value_states.to(dtype), layer_idx, *args, **kwargs)
            return keys[:, :, :self.window], values[:, :, :self.window]  # (B, H_kv, w, D)

    return WindowStaticCache


def _cache_kwarg(model) -> str:
    """'cache' where the model's forward takes it (transformers >= 5.2x renamed it), else 'past_key_values'."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # a PEFT wrapper forwards kwargs
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


class _Slab:
    """One static cache of ``rows`` × ``slots`` with the decode step's input buffers and its CUDA graphs."""

    def __init__(self, engine: "StaticEngine", rows: int, slots: int):
        import torch

        self.rows, self.slots = rows, slots
        dev = engine.device
        self.cache = _static_cache_class()(config=engine.text_config, max_cache_len=slots)
        self.dtype = engine.kv_dtype()
        self.cache.early_initialization(rows, engine.kv_heads, engine.head_dim, self.dtype, dev)
        self.valid = torch.zeros(rows, slots, dtype=torch.bool, device=dev)  # (B, S)
        self.ids = torch.zeros(rows, 1, dtype=torch.long, device=dev)  # (B, 1) decode input
        self.pos = torch.zeros(rows, 1, dtype=torch.long, device=dev)  # (B, 1) decode positions
        self.graphs: dict[int, tuple] = {}  # window -> (CUDAGraph, logits output (B, V))
        self.graph_pool = None  # one memory pool for this slab's graphs (they are replayed one at a time)

    def set_pointer(self, p: int) -> None:
        for layer in self.cache.layers:
            layer.cumulative_length.fill_(p)

    def layers_kv(self):
        for layer in self.cache.layers:
            yield layer.keys, layer.values  # (B, H_kv, S, D) each


class StaticEngine:
    """The fast engine: see the module docstring. Holds the model, the EOS ids, the sampler and a small pool
    of idle caches (with their CUDA graphs) reused by later batches of the same padded batch size."""

    name = "static"

    def __init__(self, model, tokenizer, sampling: SamplingConfig | None = None, config: EngineConfig | None = None):
        import torch

        self.model, self.tokenizer = model, tokenizer
        self.sampling = sampling or SamplingConfig()
        self.config = config or EngineConfig()
        param = next(model.parameters())
        self.device, self.dtype = param.device, param.dtype
        cfg = model.config
        self.text_config = cfg.get_text_config(decoder=True) if hasattr(cfg, "get_text_config") else cfg
        tc = self.text_config
        self.kv_heads = tc.num_key_value_heads
        self.head_dim = getattr(tc, "head_dim", None) or tc.hidden_size // tc.num_attention_heads
        if getattr(tc, "sliding_window", None) and "sliding_attention" in (getattr(tc, "layer_types", None) or []):
            raise NotImplementedError("the static engine supports full-attention models only (no sliding window)")
        self.max_slots = self.config.max_cache_len or 2 * tc.max_position_embeddings
        self.pad_id = tokenizer.pad_token_id
        if self.pad_id is None:
            raise ValueError("the tokenizer has no pad token (load_policy sets one)")
        self.eos = eos_ids(model, tokenizer)
        self.eos_t = torch.tensor(self.eos, dtype=torch.long, device=self.device)
        self.sampler = Sampler(self.sampling.temperature, self.sampling.top_p, self.sampling.seed, self.device)
        mode = self.config.decode
        if mode == "auto":
            mode = "cuda_graph" if self.device.type == "cuda" else "eager"
        if mode == "cuda_graph" and self.device.type != "cuda":
            raise ValueError("decode='cuda_graph' needs the model on a CUDA device")
        self.decode_mode = mode
        self.cache_kwarg = _cache_kwarg(model)
        attention = self.config.attention
        if attention == "auto":
            attention = "gqa" if self.device.type == "cuda" else "model"
        self.attention = attention
        if attention == "gqa":
            _register_gqa_attention()
        # the config the attention layers read (``model.config``, through a PEFT wrapper too)
        self._attn_config = self.text_config
        self._idle: OrderedDict[tuple[int, int], _Slab] = OrderedDict()
        self._compiled = None
        self.stats = {"decode_steps": 0, "prefill_tokens": 0, "graphs_captured": 0, "compactions": 0,
                      "regrows": 0, "shrinks": 0}

    def reseed(self, seed: int) -> None:
        self.sampler.reseed(seed)

    def kv_dtype(self):
        """The dtype the model writes keys and values in here and now: under autocast (TRL's ``bf16=True``
        trains an fp32 model that way, and generates inside it) the autocast dtype, else the weights'."""
        import torch

        kind = self.device.type
        if torch.is_autocast_enabled(kind):
            return torch.get_autocast_dtype(kind)
        return self.dtype

    # -- caches --------------------------------------------------------------------------------------
    def take_slab(self, rows: int, slots: int) -> _Slab:
        """An idle cache of ``rows`` rows with at least ``slots`` slots, or a new one."""
        dtype = self.kv_dtype()
        for k in [k for k, slab in self._idle.items() if slab.dtype != dtype]:
            del self._idle[k]  # made under another autocast setting: its cache and graphs do not fit
        fits = [k for k in self._idle if k[0] == rows and slots <= k[1] <= 2 * slots]
        if fits:
            return self._idle.pop(min(fits, key=lambda k: k[1]))
        if slots > self.max_slots:
            raise ValueError(f"a batch needs {slots} cache slots per row, more than max_cache_len={self.max_slots}")
        return _Slab(self, rows, slots)

    def give_slab(self, slab: _Slab) -> None:
        self._idle.pop((slab.rows, slab.slots), None)
        self._idle[(slab.rows, slab.slots)] = slab
        while len(self._idle) > self.config.idle_slabs:
            self._idle.popitem(last=False)

    def release(self) -> None:
        """Free every idle cache and CUDA graph."""
        self._idle.clear()

    # -- forwards ------------------------------------------------------------------------------------
    def forward(self, slab: _Slab, ids, pos, mask, window: int):
        """One model forward writing ``ids`` (B, q) at the slab's pointer; logits (B, V) float32 of the last
        position."""
        slab.cache.window = window
        name = GQA_ATTENTION if self.attention == "gqa" and ids.shape[1] == 1 else None
        with _attention(self._attn_config, name):
            out = self.model(input_ids=ids, position_ids=pos, attention_mask=mask, use_cache=True,
                             logits_to_keep=1, **{self.cache_kwarg: slab.cache})
        return out.logits[:, -1, :].float()  # (B, V)

    def decode_step(self, slab: _Slab, window: int):
        """The decode forward on the slab's buffers (``ids``, ``pos``, ``valid``); logits (B, V) float32."""
        import torch

        mask = slab.valid[:, None, None, :window]  # (B, 1, 1, w), a view of the static buffer
        if self.decode_mode == "eager":
            return self.forward(slab, slab.ids, slab.pos, mask, window)
        if self.decode_mode == "compile":
            if self._compiled is None:
                self._compiled = torch.compile(self.forward, mode="reduce-overhead", dynamic=False)
            torch.compiler.cudagraph_mark_step_begin()
            return self._compiled(slab, slab.ids, slab.pos, mask, window).clone()
        if window not in slab.graphs:
            self._capture(slab, window)
        graph, logits = slab.graphs[window]
        graph.replay()
        return logits

    def _capture(self, slab: _Slab, window: int) -> None:
        import torch

        p = int(slab.cache.layers[0].cumulative_length)
        mask = slab.valid[:, None, None, :window]
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):  # warm-up outside the graph (lazy inits, cuBLAS handles)
            for _ in range(2):
                self.forward(slab, slab.ids, slab.pos, mask, window)
                slab.set_pointer(p)
        torch.cuda.current_stream(self.device).wait_stream(side)
        if slab.graph_pool is None:
            slab.graph_pool = torch.cuda.graph_pool_handle()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=slab.graph_pool):
            logits = self.forward(slab, slab.ids, slab.pos, mask, window)
        slab.set_pointer(p)  # capture records the pointer's increment without running it; be safe
        slab.graphs[window] = (graph, logits)
        self.stats["graphs_captured"] += 1

    # -- GenerateFn ----------------------------------------------------------------------------------
    def __call__(self, contexts: list[list[int]], max_new_tokens: int) -> list[tuple[list[int], bool]]:
        """Single turn: length-sorted batches of ``max_batch_size``, each one session (prefill + decode)."""
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        if not contexts or any(len(c) == 0 for c in contexts):
            raise ValueError("every context needs at least one token")
        with inference(self.model):
            return self._generate(contexts, max_new_tokens)

    def _generate(self, contexts: list[list[int]], max_new_tokens: int) -> list[tuple[list[int], bool]]:
        order = sorted(range(len(contexts)), key=lambda i: len(contexts[i]))
        size = self.config.max_batch_size or len(contexts)
        widest = bucket_up(max(len(c) for c in contexts), self.config.len_bucket)
        slots = bucket_up(widest + max_new_tokens, self.config.kv_bucket)  # one size for every batch of the call
        out: list = [None] * len(contexts)
        for start in range(0, len(order), size):
            idx = order[start:start + size]
            session = Session(self, len(idx), slots=slots)
            session.start([contexts[i] for i in idx])
            for i, res in zip(idx, session.decode(list(range(len(idx))), max_new_tokens, drop_stopped=True)):
                out[i] = res
            session.close()
        return out

    def multi_turn(self) -> "MultiTurnGenerateFn":
        """A stateful GenerateFn for ``run_token_episodes`` (one per batch of episodes)."""
        return MultiTurnGenerateFn(self)


class Session:
    """Rows (episodes) that share one static KV cache across turns.

    ``start(prompts)`` prefills the prompts; ``extend(rows, new_ids)`` appends tokens to some rows (prefill of
    those tokens only); ``decode(rows, max_new_tokens)`` generates for some rows and returns per row
    (ids cut at EOS, stopped); ``free(rows)`` ends rows; ``close()`` hands the cache back to the engine.
    Row r's tokens so far are ``tokens(r)``: the prompt, every extension and every generated id.
    """

    def __init__(self, engine: StaticEngine, n_rows: int, slots: int | None = None):
        self.engine, self.n_rows = engine, n_rows
        self.cfg = engine.config
        self.phys_rows = batch_bucket(n_rows) if self.cfg.batch_buckets else n_rows
        self.initial_slots = slots
        self.slab: _Slab | None = None
        self.history: list[list[int]] = [[] for _ in range(n_rows)]
        self.pending: list[list[int]] = [[] for _ in range(n_rows)]  # generated, not yet in the cache
        self.phys: list[int | None] = list(range(n_rows))  # row -> row of the cache (None: freed)
        self.fresh = [False] * n_rows  # last_logits hold the row's next-token logits
        self.p = 0  # write pointer (slots used, holes included)

    # -- bookkeeping ---------------------------------------------------------------------------------
    def tokens(self, row: int) -> list[int]:
        return self.history[row]

    def live(self) -> list[int]:
        return [r for r in range(self.n_rows) if self.phys[r] is not None]

    def _window(self, upto: int) -> int:
        return min(bucket_up(upto, self.cfg.kv_bucket), self.slab.slots)

    # -- start / extend ------------------------------------------------------------------------------
    def start(self, prompts: Sequence[Sequence[int]]) -> None:
        """Prefill one prompt per row (every row of the session)."""
        import torch

        if len(prompts) != self.n_rows or any(len(p) == 0 for p in prompts):
            raise ValueError(f"start needs {self.n_rows} non-empty prompts")
        width = bucket_up(max(len(p) for p in prompts), self.cfg.len_bucket)
        slots = self.initial_slots or bucket_up(width + self.cfg.kv_bucket, self.cfg.kv_bucket)
        self.slab = self.engine.take_slab(self.phys_rows, max(slots, bucket_up(width, self.cfg.kv_bucket)))
        dev = self.engine.device
        self.slab.valid.zero_()
        self.slab.set_pointer(0)
        self.p = 0
        self.lengths = torch.zeros(self.phys_rows, dtype=torch.long, device=dev)  # (B,)
        vocab = self.engine.model.get_output_embeddings().weight.shape[0]
        self.last_logits = torch.zeros(self.phys_rows, vocab, dtype=torch.float32, device=dev)  # (B, V)
        blocks = [list(p) for p in prompts] + [[self.engine.pad_id]] * (self.phys_rows - self.n_rows)  # dead rows
        for r, p in enumerate(prompts):
            self.history[r] = list(p)
        self._feed(blocks)
        for r in range(self.n_rows):
            self.fresh[r] = True

    def extend(self, rows: Sequence[int], new_ids: Sequence[Sequence[int]]) -> None:
        """Append ``new_ids[k]`` to row ``rows[k]`` (after its pending generated token): one prefill of the
        new tokens of all these rows together."""
        if len(rows) != len(new_ids):
            raise ValueError("extend needs one list of new ids per row")
        blocks: list[list[int]] = [[] for _ in range(self.slab.rows)]
        fed = []
        for r, ids in zip(rows, new_ids):
            if self.phys[r] is None:
                raise ValueError(f"row {r} was freed")
            block = self.pending[r] + list(ids)
            if not block:
                continue
            blocks[self.phys[r]] = block
            self.history[r] += list(ids)
            self.pending[r] = []
            fed.append(r)
        if not fed:
            return
        self._maybe_compact(max(len(b) for b in blocks))
        self._feed(blocks)
        for r in fed:
            self.fresh[r] = True

    def _feed(self, blocks: list[list[int]]) -> None:
        """Prefill ``blocks[b]`` (tokens of cache row b, maybe none) right-aligned in new slots [p, p + m)."""
        import torch

        m = bucket_up(max(len(b) for b in blocks), self.cfg.len_bucket)
        self._ensure_slots(self.p + m)
        slab, eng, dev = self.slab, self.engine, self.engine.device
        B = slab.rows
        ids = torch.full((B, m), eng.pad_id, dtype=torch.long)  # (B, m)
        pos = torch.zeros((B, m), dtype=torch.long)  # (B, m)
        new_valid = torch.zeros((B, m), dtype=torch.bool)  # (B, m)
        lengths = self.lengths.tolist()
        counts = torch.zeros(B, dtype=torch.long)
        for b, block in enumerate(blocks):
            if block:
                n = len(block)
                ids[b, m - n:] = torch.tensor(block, dtype=torch.long)
                pos[b, m - n:] = torch.arange(lengths[b], lengths[b] + n)
                new_valid[b, m - n:] = True
                counts[b] = n
        ids, pos, new_valid = ids.to(dev), pos.to(dev), new_valid.to(dev)
        fed = counts.to(dev) > 0  # (B,)
        slab.valid[:, self.p:self.p + m] = new_valid
        slots = torch.arange(slab.slots, device=dev)  # (S,)
        for c0 in range(0, m, self.cfg.prefill_chunk):
            c1 = min(m, c0 + self.cfg.prefill_chunk)
            w = self._window(self.p + c1)
            q_slots = torch.arange(self.p + c0, self.p + c1, device=dev)  # (q,)
            causal = slots[None, :w] <= q_slots[:, None]  # (q, w)
            # a padding query sees its own slot too, so no softmax row is empty (an empty one would be NaN,
            # and its NaN key/value would then leak through the zero attention weights of other rows)
            diag = slots[None, :w] == q_slots[:, None]  # (q, w)
            mask = (slab.valid[:, None, None, :w] & causal[None, None]) | diag[None, None]  # (B, 1, q, w)
            logits = eng.forward(slab, ids[:, c0:c1], pos[:, c0:c1], mask, w)  # (B, V)
        self.last_logits = torch.where(fed[:, None], logits, self.last_logits)
        self.lengths += counts.to(dev)
        self.p += m
        eng.stats["prefill_tokens"] += int(counts.sum())

    # -- decode --------------------------------------------------------------------------------------
    def decode(self, rows: Sequence[int], max_new_tokens: int, drop_stopped: bool = False
               ) -> list[tuple[list[int], bool]]:
        """Generate up to ``max_new_tokens`` for each of ``rows`` (all in lockstep; a row stops at its first
        EOS, the loop when every row stopped); per row (ids, stopped with EOS).

        ``drop_stopped`` (single turn: a row that stopped is finished): every ``SHRINK_EVERY`` steps, when fewer
        than ``shrink_below`` of the cache's rows still decode, the stopped rows are freed and the rest re-packed
        into a smaller cache, so the long tail of a few long completions decodes at a small batch's cost."""
        import torch

        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        rows = list(rows)
        stale = [r for r in rows if not self.fresh[r]]
        if stale:
            self.extend(stale, [[] for _ in stale])  # feed their pending tokens first
        eng, dev = self.engine, self.engine.device
        self._maybe_compact(0, reserve=max_new_tokens)
        self._ensure_slots(self.p + max_new_tokens)
        slab = self.slab
        B = slab.rows
        active = torch.zeros(B, dtype=torch.bool, device=dev)  # (B,)
        active[[self.phys[r] for r in rows]] = True
        out = torch.full((B, max_new_tokens), eng.pad_id, dtype=torch.long, device=dev)  # (B, L)
        n_gen = torch.zeros(B, dtype=torch.long, device=dev)  # (B,)
        logits = self.last_logits
        steps = 0
        finished: dict[int, list[int]] = {}  # row -> ids, for rows dropped before the end (drop_stopped)
        for t in range(max_new_tokens):
            tok = torch.where(active, eng.sampler(logits), eng.pad_id)  # (B,)
            out[:, t] = tok
            n_gen += active
            steps = t + 1
            cont = active & ~torch.isin(tok, eng.eos_t)  # (B,) rows that go on
            if t == max_new_tokens - 1 or not bool(cont.any()):
                break
            if drop_stopped and (t + 1) % SHRINK_EVERY == 0 and self.cfg.shrink_below > 0:
                going = cont.tolist()
                live = [r for r in rows if self.phys[r] is not None and going[self.phys[r]]]
                target = batch_bucket(len(live)) if self.cfg.batch_buckets else len(live)
                if len(live) < self.cfg.shrink_below * B and target < B:
                    done_rows = [r for r in rows if self.phys[r] is not None and not going[self.phys[r]]]
                    got = out[:, :steps].tolist()
                    n_now = n_gen.tolist()
                    for r in done_rows:
                        finished[r] = got[self.phys[r]][:n_now[self.phys[r]]]
                    self.free(done_rows)
                    self.last_logits = logits
                    idx = self._repack(live, target)
                    pad = torch.arange(target, device=dev) >= len(live)  # (B',) the dead padding rows
                    logits, out, n_gen = self.last_logits, out.index_select(0, idx), n_gen.index_select(0, idx)
                    cont, tok = cont.index_select(0, idx) & ~pad, tok.index_select(0, idx)
                    slab, B = self.slab, target
            slab.ids[:, 0] = tok
            slab.pos[:, 0] = self.lengths
            slab.valid[:, self.p] = cont
            step_logits = eng.decode_step(slab, self._window(self.p + 1))  # (B, V)
            logits = torch.where(cont[:, None], step_logits, logits)
            self.lengths += cont
            self.p += 1
            active = cont
            eng.stats["decode_steps"] += 1
        self.last_logits = logits
        out_l, n_l = out[:, :steps].tolist(), n_gen.tolist()
        results = []
        for r in rows:
            if r in finished:
                ids = finished[r]
            else:
                b = self.phys[r]
                ids = out_l[b][:n_l[b]]
            results.append((ids, ids[-1] in eng.eos))
            self.history[r] += ids
            self.pending[r] = [ids[-1]]  # the last token is not in the cache yet
            self.fresh[r] = False
        return results

    # -- rows that end, holes, capacity ----------------------------------------------------------------
    def free(self, rows: Sequence[int]) -> None:
        """End ``rows``: they are never extended or decoded again (their slots stay until a shrink)."""
        for r in rows:
            self.phys[r] = None

    def maybe_shrink(self) -> None:
        """Re-pack the cache to the live rows when they are fewer than ``shrink_below`` of its rows."""
        live = self.live()
        if not live or self.cfg.shrink_below <= 0:
            return
        target = batch_bucket(len(live)) if self.cfg.batch_buckets else len(live)
        if len(live) >= self.cfg.shrink_below * self.slab.rows or target >= self.slab.rows:
            return
        self._repack(live, target)

    def _repack(self, live: list[int], target: int):
        """Move the rows ``live`` into a new cache of ``target`` rows (their order kept; the rest are dead
        padding rows, copies of a live row that are never decoded); returns the (target,) gather index."""
        import torch

        keep = [self.phys[r] for r in live]
        keep += [keep[0]] * (target - len(keep))  # dead padding rows: copies of a live row, never decoded
        idx = torch.tensor(keep, dtype=torch.long, device=self.engine.device)
        old = self.slab
        new = self.engine.take_slab(target, old.slots)
        for (k_old, v_old), (k_new, v_new) in zip(old.layers_kv(), new.layers_kv()):
            k_new.copy_(k_old.index_select(0, idx))
            v_new.copy_(v_old.index_select(0, idx))
        new.valid.copy_(old.valid.index_select(0, idx))
        new.set_pointer(self.p)
        self.lengths = self.lengths.index_select(0, idx)
        self.last_logits = self.last_logits.index_select(0, idx)
        for k, r in enumerate(live):
            self.phys[r] = k
        self.engine.give_slab(old)
        self.slab = new
        self.engine.stats["shrinks"] += 1
        return idx

    def _maybe_compact(self, incoming: int, reserve: int = 0) -> None:
        """Gather every row's valid slots to the right of [0, W) when that frees at least one ``kv_bucket``
        of slots, or when ``incoming`` + ``reserve`` new slots would not fit otherwise."""
        import torch

        slab = self.slab
        width = int(slab.valid[:, :self.p].sum(dim=1).max()) if self.p else 0
        need = self.p + bucket_up(incoming, self.cfg.len_bucket) * (incoming > 0) + reserve
        if self.p - width < self.cfg.kv_bucket and need <= slab.slots:
            return
        if width == self.p:
            return
        S = slab.slots
        # stable sort of valid (False < True): each row's holes first, then its valid slots in order
        order = torch.sort(slab.valid.to(torch.int8), dim=1, stable=True).indices  # (B, S)
        idx = order[:, S - width:]  # (B, W): row b's valid slots, right-aligned (holes before them)
        for keys, values in slab.layers_kv():
            B, H, _, D = keys.shape
            gather = idx[:, None, :, None].expand(B, H, width, D)
            keys[:, :, :width].copy_(keys.gather(2, gather))
            values[:, :, :width].copy_(values.gather(2, gather))
        new_valid = slab.valid.gather(1, idx)  # (B, W)
        slab.valid.zero_()
        slab.valid[:, :width] = new_valid
        self.p = width
        slab.set_pointer(width)
        self.engine.stats["compactions"] += 1

    def _ensure_slots(self, need: int) -> None:
        """Grow the cache (a larger one, the used slots copied) when ``need`` slots would not fit."""
        if need <= self.slab.slots:
            return
        old = self.slab
        slots = bucket_up(max(need, old.slots + old.slots // 2), self.cfg.kv_bucket)
        slots = max(need, min(slots, self.engine.max_slots))
        new = self.engine.take_slab(old.rows, slots)
        for (k_old, v_old), (k_new, v_new) in zip(old.layers_kv(), new.layers_kv()):
            k_new[:, :, :self.p].copy_(k_old[:, :, :self.p])
            v_new[:, :, :self.p].copy_(v_old[:, :, :self.p])
        new.valid.zero_()
        new.valid[:, :self.p] = old.valid[:, :self.p]
        new.set_pointer(self.p)
        self.engine.give_slab(old)
        self.slab = new
        self.engine.stats["regrows"] += 1

    def close(self) -> None:
        """Hand the cache back to the engine (for the next batch); the session cannot be used after."""
        if self.slab is not None:
            self.engine.give_slab(self.slab)
            self.slab = None


class MultiTurnGenerateFn:
    """A GenerateFn that keeps a ``Session`` across calls (the turns of ``run_token_episodes``).

    The first call starts a session with its contexts. A later call must pass, *in the same order*, contexts
    of a subset of the rows (episodes that ended are left out: they are freed), each starting with exactly the
    tokens its row holds (previous context + generated ids); only the rest is prefilled. Otherwise
    ``ContextDriftError`` (``on_drift='raise'``) or a new session from the full contexts (``'reprefill'``).
    ``reset()`` forgets the session (a new batch of episodes).
    """

    def __init__(self, engine: StaticEngine):
        self.engine = engine
        self.session: Session | None = None
        self.calls = 0
        self.reprefills = 0

    def reset(self) -> None:
        if self.session is not None:
            self.session.close()
        self.session = None

    def _match(self, contexts: list[list[int]]) -> tuple[list[int], list[list[int]]]:
        s = self.session
        live = s.live()
        rows, suffixes = [], []
        k = 0
        for j, c in enumerate(contexts):
            while k < len(live):
                r = live[k]
                k += 1
                h = s.history[r]
                if len(c) >= len(h) and c[:len(h)] == h:
                    rows.append(r)
                    suffixes.append(c[len(h):])
                    break
            else:
                # report against the row this context should have been: the next one in order
                r = live[min(len(rows), len(live) - 1)] if live else None
                detail = ""
                if r is not None:
                    try:
                        _suffix_after(s.history[r], c)
                    except ContextDriftError as e:
                        detail = f" ({e})"
                raise ContextDriftError(
                    f"context {j} of this turn does not extend any live row of the session{detail}; the chat "
                    "template or the caller changed earlier tokens, so the kept KV cache would not match it")
        return rows, suffixes

    def __call__(self, contexts: list[list[int]], max_new_tokens: int) -> list[tuple[list[int], bool]]:
        with inference(self.engine.model):
            return self._turn(contexts, max_new_tokens)

    def _turn(self, contexts: list[list[int]], max_new_tokens: int) -> list[tuple[list[int], bool]]:
        self.calls += 1
        if self.session is not None:
            try:
                rows, suffixes = self._match(contexts)
            except ContextDriftError:
                if self.engine.config.on_drift == "raise":
                    raise
                self.reprefills += 1
                self.reset()
            else:
                s = self.session
                keep = set(rows)
                s.free([r for r in s.live() if r not in keep])
                s.maybe_shrink()
                s.extend(rows, suffixes)
                return s.decode(rows, max_new_tokens)
        if not contexts or any(len(c) == 0 for c in contexts):
            raise ValueError("every context needs at least one token")
        self.session = Session(self.engine, len(contexts))
        self.session.start(contexts)
        return self.session.decode(list(range(len(contexts))), max_new_tokens)


# -- registry ------------------------------------------------------------------------------------------
ENGINES: dict[str, type] = {"generate": GenerateEngine, "static": StaticEngine}


def make_engine(name: str, model, tokenizer, sampling: SamplingConfig | None = None,
                config: EngineConfig | None = None):
    """The engine ``ENGINES[name]`` over ``model`` (put in eval mode by the caller or here, see ``generate``)."""
    if name not in ENGINES:
        raise KeyError(f"unknown engine {name!r}; engines: {', '.join(ENGINES)}")
    return ENGINES[name](model, tokenizer, sampling, config)


def run_engine_episodes(engine, tokenizer, instances, env_config, max_new_tokens: int, max_context_tokens: int):
    """``training.rollouts.run_token_episodes`` with ``engine.multi_turn()``: the same ``TokenEpisode``s, with
    the persistent KV cache for the ``static`` engine."""
    from ..training.rollouts import run_token_episodes

    fn = engine.multi_turn()
    try:
        return run_token_episodes(fn, tokenizer, instances, env_config, max_new_tokens, max_context_tokens)
    finally:
        if hasattr(fn, "reset"):
            fn.reset()


@contextmanager
def inference(model):
    """The model in eval mode under ``torch.inference_mode`` (its training mode restored after). Under autocast
    (TRL's ``bf16=True`` generates inside it) the autocast weight cache is off: a CUDA graph captured with it on
    would keep pointers to cast weights that are freed when the caller's autocast region ends."""
    import contextlib

    import torch

    was_training = model.training
    model.eval()
    kind = next(model.parameters()).device.type
    autocast = (torch.autocast(kind, dtype=torch.get_autocast_dtype(kind), cache_enabled=False)
                if torch.is_autocast_enabled(kind) else contextlib.nullcontext())
    try:
        with torch.inference_mode(), autocast:
            yield
    finally:
        model.train(was_training)
