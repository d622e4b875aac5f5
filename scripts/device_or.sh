# An OR-Debug RL notebook on the GPU machine (OR_NB, OR_PROFILE; default E3 v2: 20_ordebug_sft_vs_grpo gpu_v2), after
# its warm start (04_ordebug_sft gpu_slack_lm) on the same format-2 benchmark: start both in the background, poll,
# bring the files back; first, benchmarks/sdpa_cudnn_probe.py checks the cuDNN attention bug (policy/attention.py). The benchmarks are built here on the CPU (a seeded function of their parameters) and carried as one archive:
#   python -c "from ordebug_lib.ordebug.dataset import build_benchmark as b; \
#       b('runs/bench/v2_od40', 40, seed=0, split_fractions=(0.5, 0.15, 0.35)); b('runs/bench/v2_od100', 100, seed=0, split_fractions=(0.5, 0.15, 0.35))"
#   tar czf runs/bench/v2.tgz -C runs/bench v2_od40 v2_od100
# Copy to the ignored ./.device-or.sh; carry it with .whl, .device-prelude.sh and runs/bench/v2.tgz:
# Every call takes the same OR_ID (and OR_NB, OR_PROFILE if not E3 v2's):
#   OR_ID=<run id> ORDEBUG_GIT_COMMIT=<commit> ORDEBUG_GIT_DIRTY=0 bash .device-or.sh start && OR_ID=<id> bash .device-or.sh poll 500
#   OR_ID=<id> bash .device-or.sh poll 540; OR_ID=<id> bash .device-or.sh fetch      # every call within ~30 s of the last
# The machine goes back ~30 s after a command ends, taking the background run with it (scripts/device_e1.sh).
set -u
ID=${OR_ID:-e3v2}
NB=${OR_NB:-20_ordebug_sft_vs_grpo}
PROFILE=${OR_PROFILE:-gpu_v2}
WS=runs/04_ordebug_sft/gpu_slack_lm/$ID-ws
RUN=runs/$NB/$PROFILE/$ID
case "$1" in
start)
  . ./.device-prelude.sh || exit 1
  python -m ipykernel install --user --name ordebug >/dev/null 2>&1
  nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv
  tar xzf runs/bench/v2.tgz -C runs/bench || exit 1
  ls runs/bench/v2_od40/manifest.json runs/bench/v2_od100/manifest.json || exit 1
  mkdir -p /tmp/or $OUT
  timeout 180 python benchmarks/sdpa_cudnn_probe.py --device cuda --out $OUT/sdpa_probe.json 2>&1 | tail -8
  cp $OUT/sdpa_probe.json /tmp/or/ 2>/dev/null
  cat > /tmp/or/chain.sh <<CHAIN
set -e
export PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True  # many processes share the GPU: return freed blocks
python -m ordebug_lib.run 04_ordebug_sft --profile gpu_slack_lm --run-id $ID-ws -p benchmark_dir runs/bench/v2_od40 \
    -p train_benchmark_dir runs/bench/v2_od100 -p n_eval 32 -p baselines "[random, greedy]"
python -m ordebug_lib.run $NB --profile $PROFILE --run-id $ID -p warm_start $WS/model \
    -p benchmark_dir runs/bench/v2_od40
CHAIN
  setsid nohup nvidia-smi --query-gpu=timestamp,memory.used,utilization.gpu --format=csv -l 15 > /tmp/or/gpu.csv 2>&1 < /dev/null &
  setsid nohup bash /tmp/or/chain.sh > /tmp/or/run.log 2>&1 < /dev/null &
  echo started $!; sleep 20; tail -5 /tmp/or/run.log ;;
poll)
  end=$((SECONDS + $2))
  while [ $SECONDS -lt $end ]; do
    if ! pgrep -f "/tmp/or/chain.sh" >/dev/null; then echo "chain exited"; break; fi
    sleep 10
  done
  date; tail -c 2000 /tmp/or/run.log; echo; ls $WS $RUN $RUN/arms 2>/dev/null | head -40
  nvidia-smi --query-compute-apps=pid,used_memory --format=csv
  for f in $RUN/arms/*/log.txt; do [ -f "$f" ] && { echo "== $f"; tail -c 400 "$f"; }; done 2>/dev/null | tail -40
  mkdir -p $OUT; cp /tmp/or/run.log /tmp/or/gpu.csv /tmp/or/sdpa_probe.json $OUT/ 2>/dev/null
  tar czf $OUT/partial.tgz --exclude='*.safetensors' --exclude='*.pt' --exclude='*.bin' --exclude='*.pth' \
      --exclude='checkpoint-*' --exclude='*.arrow' --exclude='model' --exclude='warm_start_model' $WS $RUN 2>/dev/null ;;
fetch)
  mkdir -p $OUT
  cp /tmp/or/run.log /tmp/or/gpu.csv /tmp/or/sdpa_probe.json $OUT/
  tar czf $OUT/or_run.tgz --exclude='*.safetensors' --exclude='*.pt' --exclude='*.bin' --exclude='*.pth' \
      --exclude='checkpoint-*' --exclude='*.arrow' --exclude='model' $WS $RUN
  ls -la $OUT ;;
esac
