"""Seconds to build E8's PRM examples (``policy.prm.split_examples``) from stored episodes, per split.

Usage::

    xz -dk reports/partial/24_ordebug_prm.gpu_prm.e8b/prm_episodes.sqlite.xz   # e8b's 2,145 episodes
    .venv/bin/python benchmarks/prm_examples.py --db reports/partial/24_ordebug_prm.gpu_prm.e8b/prm_episodes.sqlite \\
        [--benchmark runs/bench/v2_od40] [--workers 1] [--splits train val test] [--out prm_examples.json]

The experiment (``PRMExperiment.train``) builds these examples on the CPU while the GPU idles: every stored
step is replayed through the env (labels and conversations) and its context rendered and tokenised. Time it
against its baseline with ``farm-bench --vs`` (the same script on the older checkout, ``PYTHONPATH`` set to
it); ``--workers`` is passed to ``split_examples`` only when it is not 1, so the script also runs on a
checkout from before the option. ``digest``: a SHA-256 of every example's ids, labels and order, equal
between two runs exactly when they built the same examples. The instances are the benchmark's train, val
and test splits (the benchmark must be the one the episodes were stored on: ``scripts/device_or.sh``
builds ``runs/bench/v2_od40``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--benchmark", default="runs/bench/v2_od40")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--splits", nargs="+", default=["train", "val", "test"])
    ap.add_argument("--max-prompt-tokens", type=int, default=4048)
    ap.add_argument("--max-length", type=int, default=4096, help="the PRM's context (the presets': 4096)")
    ap.add_argument("--out")
    args = ap.parse_args()

    from ordebug_lib.ordebug.dataset import load_benchmark
    from ordebug_lib.policy.prm import split_examples
    from ordebug_lib.policy.tokenizer import project_tokenizer

    by_id = {i.id: i for s in ("train", "val", "test") for i in load_benchmark(args.benchmark, s)}
    tok = project_tokenizer()
    extra = {"workers": args.workers} if args.workers != 1 else {}
    rows, digest = [], hashlib.sha256()
    for split in args.splits:
        t0 = time.perf_counter()
        ex = split_examples(args.db, by_id, split, tok, max_prompt_tokens=args.max_prompt_tokens,
                            max_length=args.max_length, **extra)
        seconds = time.perf_counter() - t0
        for e in ex:
            digest.update(json.dumps([e.episode_id, e.step, e.context_ids, e.action_ids, e.progress,
                                      e.seed_label, e.trimmed]).encode())
        rows.append({"split": split, "examples": len(ex), "seconds": round(seconds, 2),
                     "trimmed": sum(e.trimmed for e in ex)})
        print(f"{split}: {len(ex)} examples in {seconds:.1f} s", flush=True)
    result = {"workers": args.workers, "splits": rows, "seconds": round(sum(r["seconds"] for r in rows), 2),
              "digest": digest.hexdigest()}
    print(json.dumps(result))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
