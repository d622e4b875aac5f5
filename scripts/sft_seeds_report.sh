#!/usr/bin/env bash
# Rebuild reports/sft_ordebug_seeds.{md,csv} and figures/sft_ordebug_seeds.{png,pdf} from the committed
# 03_sft provenance (no GPU needed). A run's *.episodes.csv (for the pooled table) comes from its results.sqlite:
#   python -m ordebug_lib.experiments.sft_seeds --export-episodes <run dir>/results.sqlite $P/<name>.episodes.csv
set -euo pipefail
cd "$(dirname "$0")/.."
P=reports/provenance
PY=${PYTHON:-.venv/bin/python}
"$PY" -m ordebug_lib.experiments.sft_seeds \
    $P/03_sft.gpu_ordebug.v1_run1.json=v1 $P/03_sft.gpu_ordebug.v1_run2.json=v1 \
    $P/03_sft.gpu_ordebug.json=v2 $P/03_sft.gpu_ordebug.seed1.json=v2 $P/03_sft.gpu_ordebug.seed2.json=v2 \
    $P/03_sft.gpu_ordebug.n473_seed0.json=v2_n473 $P/03_sft.gpu_ordebug.n473_seed1.json=v2_n473 \
    $P/03_sft.gpu_ordebug_dagger.json=v2_dagger $P/03_sft.gpu_ordebug_dagger.seed1.json=v2_dagger \
    $P/03_sft.gpu_ordebug_dagger.seed2.json=v2_dagger \
    $P/03_sft.gpu_ordebug_slack.json=slack $P/03_sft.gpu_ordebug_slack.seed1.json=slack \
    $P/03_sft.gpu_ordebug_slack.seed2.json=slack $P/03_sft.gpu_ordebug_slack_dagger.json=slack_dagger \
    $P/03_sft.gpu_ordebug_slack_lm.sft_only.json=slack_od100 $P/03_sft.gpu_ordebug_slack_lm.json=slack_lm \
    $P/03_sft.gpu_ordebug_slack_lm.seed1.json=slack_lm $P/03_sft.gpu_ordebug_slack_lm.seed2.json=slack_lm \
    $P/03_sft.gpu_ordebug_slack_lm.seed3.json=slack_lm $P/03_sft.gpu_ordebug_slack_lm.seed4.json=slack_lm \
    --out reports/sft_ordebug_seeds.md --figures . \
    --note "v1: recovery demos wrong_repair, search_repair, repeat_get_iis, repeat_repair, every mistake kept (commits 2dc3ac0, ef4fed2; both seed 0: the spread is run-to-run, not seed)." \
    --note "v2: v1 + near_miss and rejected_action, and mistakes that leave the model feasible skipped (recovery_observable_only; profile gpu_ordebug). Seeds 0 and 1 at feabd9c / 18c8619 (which differ only outside 03_sft); seed 2 at 6eb3424, where the search expert's solves have a work limit (at seed 0 that changes 3454 records to 3450)." \
    --note "v2_n473: v2 on all 473 train-split instances instead of 200 (9270 and 9131 records), same 600 steps, so about one epoch: the best held-out step was the last in both runs (undertrained). Two runs side by side on one H100 (workers 8 each)." \
    --note "v2_dagger: v2 with 400 SFT steps, then one DAgger round (policy/ordebug_dagger.py; profile gpu_ordebug_dagger): greedy rollouts of 8 turns on the 200 train and 32 val instances, every visited state labelled with the expert's continuation, 200 more steps on all records (600 in all). Commit 6eb3424." \
    --note "slack: demonstrations of the slack expert only (baselines.SlackRelaxPolicy: CHECK_SLACK, then each member it names moved by the amount it names, every argument copied from the observation; on these 101 test instances it scores RR@5 0.950, DA 0.251, faithful 0.040) on all 473 train instances, 1872 records, 600 steps; no oracle or recovery demos (profile gpu_ordebug_slack, commit 603bb75). Three seeds side by side on one H200 (workers 5 each)." \
    --note "slack_dagger: slack with 300 SFT steps, then one DAgger round labelled by the slack expert (dagger_expert: slack): greedy rollouts of 4 turns on the 473 train and 32 val instances, 1838 relabelled states kept, 300 more steps on the 4607 records (commit 7e1d310, profile gpu_ordebug_slack_dagger, one H200). The policy writes the grammar (RELAX <name> <number>) but does not copy the name or the amount from the CHECK_SLACK answer (33% of its actions are refused: names it made up)." \
    --note "slack_od100: slack with the demonstrations of the train split of a 100-per-cell build (same seed; no base model shared with the test split, dataset.check_splits_apart): 1873 demos, 7411 records, 700 steps (commit 90091bf, profile gpu_ordebug_slack_lm with pretrain_steps 0, steps 700; three runs side by side on one H200). Four times the data alone does not help: held-out loss 0.61, as with 473 demos." \
    --note "slack_lm: slack_od100's data, but first 500 steps of language modelling on the 1873 whole slack transcripts (every token, observations included; pretrain_steps, lr 1e-3), then 150 SFT steps at lr 1e-4 (commit dfaf3a7, profile gpu_ordebug_slack_lm, alone on one H200, 309 s). The held-out action loss is 0.41 before SFT starts (0.61 after 700 SFT steps from scratch). Seeds 1-4 at 4268d8c (no change to training or evaluation since dfaf3a7), each alone on one H200, 263-337 s; their episodes, and seed 0's, are kept (pooled table). Two runs before it, side by side, with SFT at lr 1e-3 (500 + 400 steps), hit the 10-minute limit; their log shows SFT at 1e-3 undoing the language modelling (held-out action loss 0.42 at its step 0, 0.84 at step 100, 0.51 at step 300), hence the lower SFT rate." \
    --note "Every run: small preset (24.4M parameters), the 25-per-cell benchmark (seed 0), the best held-out step kept, greedy evaluation on the same 101 test instances, one H100 (slack runs: one H200). The random baseline is seeded with the run's seed, so it differs between seeds."
