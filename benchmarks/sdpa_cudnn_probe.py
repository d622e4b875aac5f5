"""Does the cuDNN SDPA backward make our gradients non-finite? (``ordebug_lib/policy/attention.py``)

Usage (the GPU check; seconds)::

    .venv/bin/python benchmarks/sdpa_cudnn_probe.py --device cuda --out $OUT/sdpa_probe.json
    .venv/bin/python benchmarks/sdpa_cudnn_probe.py --device cpu --preset tiny --lengths 192 256 --out /tmp/p.json

Two cases, each with the cuDNN backend enabled and disabled (``torch.backends.cuda.enable_cudnn_sdp``):

- ``policy``: a fresh ``--preset`` policy (seed 0) under bf16 autocast, one forward and backward of a
  left-padded batch of random tokens per padded length in ``--lengths`` (4160 ≡ 64 mod 128, 4096 ≡ 0), the
  loss being the mean next-token log-likelihood over real tokens, as a GRPO micro-batch is; reported: the
  parameters whose gradient holds a NaN/inf and whether the loss was finite.
- ``torch_only``: pytorch/pytorch#196678's own shape (L = 704, every logit ≈ −120, a causal boolean mask);
  reported: the non-finite entries of the query gradient.

Each row also names the torch and cuDNN versions and the GPU, so that a later torch can be checked again.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def policy_case(model, length: int, pads: list[int], device: str, bf16: bool) -> dict:
    import torch

    g = torch.Generator().manual_seed(length)
    vocab = model.config.vocab_size
    ids = torch.randint(4, vocab, (len(pads), length), generator=g)
    mask = torch.ones(len(pads), length, dtype=torch.long)
    for i, p in enumerate(pads):
        ids[i, :p], mask[i, :p] = model.config.pad_token_id, 0  # left padding, as TRL lays out prompts
    ids, mask = ids.to(device), mask.to(device)
    model.zero_grad(set_to_none=True)
    with torch.autocast(device_type="cuda" if device.startswith("cuda") else "cpu", dtype=torch.bfloat16,
                        enabled=bf16):
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()  # (B, T-1, V)
    logp = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None])[..., 0]  # (B, T-1)
    keep = mask[:, 1:].bool()
    loss = -(logp * keep).sum() / keep.sum()
    loss.backward()
    bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    return {"case": "policy", "length": length, "length_mod_128": length % 128, "pads": pads,
            "loss_finite": bool(torch.isfinite(loss).item()), "nonfinite_parameters": len(bad),
            "parameters": sum(1 for _ in model.parameters()), "first_nonfinite": bad[:3]}


def torch_only_case(device: str) -> dict:
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    L, D = 704, 64
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    q = torch.randn(1, 1, L, D, device=device, dtype=dtype) * 0.1
    k = torch.randn(1, 1, L, D, device=device, dtype=dtype) * 0.1
    v = torch.randn(1, 1, L, D, device=device, dtype=dtype)
    q[..., 0], k[..., 0] = 1.0, -120 * math.sqrt(D)  # every logit ≈ −120: each row's logsumexp < ln(FLT_MAX)
    q.requires_grad_()
    mask = torch.ones(L, L, dtype=torch.bool, device=device).tril()[None, None]
    F.scaled_dot_product_attention(q, k, v, attn_mask=mask).backward(torch.randn(1, 1, L, D, device=device, dtype=dtype))
    return {"case": "torch_only", "length": L, "nonfinite_grad_q": int((~torch.isfinite(q.grad)).sum().item()),
            "grad_q_entries": q.grad.numel()}


def main(argv=None) -> list[dict]:
    import torch

    from ordebug_lib.policy.loader import load_policy

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--preset", default="small")
    ap.add_argument("--lengths", type=int, nargs="+", default=[4160, 4096])
    ap.add_argument("--pads", type=int, nargs="+", default=[0, 37, 300, 1201], help="left pad per row")
    ap.add_argument("--no-bf16", action="store_true")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("--device cuda but torch sees no CUDA device; use --device cpu")
    model, _ = load_policy(a.preset, seed=0)
    model.to(a.device)
    env = {"torch": torch.__version__, "cudnn": torch.backends.cudnn.version(),
           "gpu": torch.cuda.get_device_name(0) if a.device.startswith("cuda") else "cpu", "preset": a.preset}
    rows = []
    for cudnn in (True, False):
        if a.device.startswith("cuda"):
            torch.backends.cuda.enable_cudnn_sdp(cudnn)
        elif cudnn:
            continue  # no cuDNN on a CPU: one pass, the switch unused
        for length in a.lengths:
            r = policy_case(model, length, [p for p in a.pads if p < length], a.device, not a.no_bf16)
            rows.append({**env, "cudnn_sdp": cudnn and a.device.startswith("cuda"), **r})
            print(json.dumps(rows[-1]), flush=True)
        rows.append({**env, "cudnn_sdp": cudnn and a.device.startswith("cuda"), **torch_only_case(a.device)})
        print(json.dumps(rows[-1]), flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
