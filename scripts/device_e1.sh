# E1 v2 (notebook 10) on the GPU machine: start it in the background, poll it, bring its files back.
# Copy to the ignored ./.device-e1.sh and carry it with .whl and .device-prelude.sh (../shared/device/README.md):
#   E1_PROFILE=gpu_1024 E1_ID=<run id> ORDEBUG_GIT_COMMIT=<commit> ORDEBUG_GIT_DIRTY=0 bash .device-e1.sh start
#   E1_ID=<run id> bash .device-e1.sh poll 500; E1_ID=<run id> bash .device-e1.sh fetch   # every call within ~30 s
# The machine goes back ~30 s after a command ends, taking the background run with it: poll back to back, and
# fetch in the same command as each poll so that what finished comes back even if the next call is too late.
# start | poll SECONDS | fetch : E1 v2 on the device in the background (setsid), polled back to back
set -u
RUN=runs/10_countdown_grpo_vs_drgrpo/${E1_PROFILE:-gpu_1024}/${E1_ID:-e1v2b}
case "$1" in
start)
  . ./.device-prelude.sh || exit 1
  python -m ipykernel install --user --name ordebug >/dev/null 2>&1
  nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv
  mkdir -p /tmp/e1
  setsid nohup python -m ordebug_lib.run 10_countdown_grpo_vs_drgrpo --profile ${E1_PROFILE:-gpu_1024} \
      --run-id ${E1_ID:-e1v2b} > /tmp/e1/run.log 2>&1 < /dev/null &
  echo started $!; sleep 20; tail -5 /tmp/e1/run.log ;;
poll)
  end=$((SECONDS + $2))
  while [ $SECONDS -lt $end ]; do
    if ! pgrep -f "ordebug_lib.run 10_countdown" >/dev/null; then echo "runner exited"; break; fi
    sleep 10
  done
  date; tail -c 1500 /tmp/e1/run.log; echo; ls $RUN 2>/dev/null; ls $RUN/arms 2>/dev/null | head -30
  nvidia-smi --query-compute-apps=pid,used_memory --format=csv
  for f in $RUN/arms/*/train.log $RUN/arms/*/*.log; do [ -f "$f" ] && { echo "== $f"; tail -c 300 "$f"; }; done 2>/dev/null | tail -40
  mkdir -p $OUT; cp /tmp/e1/run.log $OUT/ 2>/dev/null ;;
fetch)
  mkdir -p $OUT
  cp /tmp/e1/run.log $OUT/
  tar czf $OUT/e1run.tgz --exclude='*.safetensors' --exclude='*.pt' --exclude='*.bin' --exclude='*.pth' \
      --exclude='checkpoint-*' --exclude='*.arrow' $RUN
  ls -la $OUT ;;
esac
