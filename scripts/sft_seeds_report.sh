#!/usr/bin/env bash
# Rebuild reports/sft_ordebug_seeds.{md,csv} from the committed 03_sft gpu_ordebug provenance (no GPU needed).
set -euo pipefail
cd "$(dirname "$0")/.."
P=reports/provenance
PY=${PYTHON:-.venv/bin/python}
"$PY" -m ordebug_lib.experiments.sft_seeds \
    $P/03_sft.gpu_ordebug.v1_run1.json=v1 $P/03_sft.gpu_ordebug.v1_run2.json=v1 \
    $P/03_sft.gpu_ordebug.json=v2 $P/03_sft.gpu_ordebug.seed1.json=v2 \
    --out reports/sft_ordebug_seeds.md \
    --note "v1: recovery demos wrong_repair, search_repair, repeat_get_iis, repeat_repair, every mistake kept (commits 2dc3ac0, ef4fed2; both seed 0: the spread is run-to-run, not seed)." \
    --note "v2: v1 + near_miss and rejected_action, and mistakes that leave the model feasible skipped (recovery_observable_only; commits feabd9c, 18c8619, which differ only outside 03_sft)." \
    --note "Every run: small preset (24.4M parameters), 200 train-split instances of the 25-per-cell benchmark (seed 0), 600 SFT steps with the best held-out step kept, greedy evaluation on the same 101 test instances, one H100."
