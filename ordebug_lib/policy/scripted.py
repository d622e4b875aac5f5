"""Make a real causal LM emit scripted text, for testing generation and evaluation loops exactly.

``scripted(model, tokenizer, script)`` hooks the model's forward pass so that, in the n-th ``generate``
call (a "turn", counted from 0), row b emits the tokens of ``script(turn, b)`` followed by EOS, greedily.
Everything else (chat rendering, left padding, the KV cache, ``generate``'s stopping, decoding) is the
real code path; only the logits of the last position are overwritten.

    >>> with scripted(model, tok, lambda turn, row: "<answer>1 + 2</answer>"):   # doctest: +SKIP
    ...     gens = generate_chats(model, tok, [[{"role": "user", "content": "hi"}]])
    >>> gens[0].text                                                              # doctest: +SKIP
    '<answer>1 + 2</answer>'
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable


@contextmanager
def scripted(model, tokenizer, script: Callable[[int, int], str], eos_id: int | None = None):
    """Context manager; ``script(turn, row) -> text`` (see the module docstring). A new turn starts at
    every forward call with more than one input position (the prefill of a ``generate`` call)."""
    eos = tokenizer.eos_token_id if eos_id is None else eos_id
    state = {"turn": -1, "step": 0, "cache": {}}

    def ids_for(turn: int, row: int) -> list[int]:
        key = (turn, row)
        if key not in state["cache"]:
            state["cache"][key] = tokenizer(script(turn, row), add_special_tokens=False)["input_ids"] + [eos]
        return state["cache"][key]

    def hook(module, args, kwargs, output):
        input_ids = kwargs.get("input_ids", args[0] if args else None)
        if input_ids is None:
            raise RuntimeError("scripted(): the forward call has no input_ids")
        if input_ids.shape[1] > 1:  # prefill: a new generate call
            state["turn"] += 1
            state["step"] = 0
        logits = output.logits  # (B, T', V)
        logits[:, -1, :] = -1e4
        for b in range(logits.shape[0]):
            ids = ids_for(state["turn"], b)
            logits[b, -1, ids[min(state["step"], len(ids) - 1)]] = 1e4
        state["step"] += 1
        return output

    handle = model.register_forward_hook(hook, with_kwargs=True)
    try:
        yield state
    finally:
        handle.remove()
