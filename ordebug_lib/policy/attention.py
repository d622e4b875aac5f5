"""Attention backends for training: the cuDNN SDPA backward is turned off on CUDA.

PyTorch ≥ 2.11 picks cuDNN first for ``scaled_dot_product_attention`` on H100/H200. Its backward returns NaN
in the query gradient when three things hold (pytorch/pytorch#196678, ``docs/references.md``):

=====================================  ==================================================================
condition                              how our training meets it
=====================================  ==================================================================
an explicit ``attn_mask``              transformers passes one whenever a batch is padded (left-padded
                                       prompts, right-padded completions: every GRPO micro-batch)
``seq_len % 128 == 64``                the padded length of about one micro-batch in 128
a query row's logsumexp < ln(FLT_MAX)  a prompt's pad positions attend to nothing (logsumexp −inf)
  below zero (≈ −88.7)
=====================================  ==================================================================

It matches what E3 v2 (e3v2a, step 20) and E4 v2 (e4v2a, the first generation of every seed-1 arm) met on the
H200: every parameter's gradient non-finite, every micro-batch loss finite (``reports/runs.md``). The forward
is correct, so generation and log-probs are unaffected; the memory-efficient and math backends are clean on the
same inputs. ``training_attention()`` disables the cuDNN backend process-wide (a process-global switch of
torch, like ``allow_tf32``) before a trainer is built, and says what it did; on a CPU it changes nothing.
``benchmarks/sdpa_cudnn_probe.py`` runs our own case on the GPU with the backend on and off: a ``small``
policy's bf16 backward on left-padded batches of padded length 4160 (≡ 64 mod 128) and 4096. Measured on the H200
(torch 2.11.0+cu130, cuDNN 9.19; ``reports/partial/21_ordebug_dgro.gpu_v2.e4v2b/sdpa_probe.json``): backend on,
81 of 90 gradients non-finite at 4160 with a finite loss and none at 4096; backend off, none. E4 v2's next try
(e4v2b) then trained all nine arms 16 steps without a non-finite update.

>>> training_attention(cuda=False)
{'sdpa_cudnn': 'not used (no CUDA)'}
"""
from __future__ import annotations


def training_attention(cuda: bool | None = None) -> dict:
    """Turn the cuDNN SDPA backend off when CUDA is present (``cuda``: None asks torch); returns what it did."""
    import torch

    if cuda is None:
        cuda = torch.cuda.is_available()
    if not cuda:
        return {"sdpa_cudnn": "not used (no CUDA)"}
    was = torch.backends.cuda.cudnn_sdp_enabled()
    torch.backends.cuda.enable_cudnn_sdp(False)
    return {"sdpa_cudnn": "disabled (pytorch#196678)" if was else "already disabled"}
