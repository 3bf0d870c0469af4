#!/usr/bin/env bash
# One segment of a long training run, for time-limited machines (a scheduler's
# wall-clock limit, a spot or preemptible instance, a notebook session): resume RUN from its saved
# state, stop before MINUTES have passed, and copy the new state and the log to SAVE_TO. A RUN without
# a state starts from SAVE_TO's, so SAVE_TO may be a disk that outlives the machine (a mounted bucket,
# a network share, a notebook's drive) and every segment may run on a new machine.
#
#   MINUTES=50 SAVE_TO=/mnt/shared/lego-state bash scripts/train_segment.sh
#   MINUTES=0.5 BATCH=8 COMPILE= SAVE_TO=/tmp/segment bash scripts/train_segment.sh   # a dry run on a CPU
#
# RUN (default training/emoji-s-labels), DATA (default data/emoji64.npz, built by python -m lego.data
# build), BATCH (256), COMPILE (--compile; empty to skip), SAVE_MINUTES (10: how often the state is saved
# within the segment) and EXTRA (more lego.train options) set the run. A first segment starts from the
# bundled weights, its new labels learning at ten times the base rate and its timestep embedder kept:
# EXTRA="--init checkpoints/lego-emoji-s --label-lr-scale 10 --time-lr-scale 0".
# STATE_ARCHIVE, when set and present, is a state packed by scripts/pack_state.sh: it is unpacked
# into RUN first (one compressed file is easier to move than a folder).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-training/emoji-s-labels}
DATA=${DATA:-data/emoji64.npz}
MINUTES=${MINUTES:-50}
BATCH=${BATCH:-256}
COMPILE=${COMPILE---compile}
: "${SAVE_TO:?set SAVE_TO to the folder the new state is copied to}"
if [ -n "${STATE_ARCHIVE:-}" ] && [ -f "$STATE_ARCHIVE" ]; then
  python -c "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2], filter='data')" "$STATE_ARCHIVE" "$RUN"
elif [ ! -f "$RUN/state/trainer.json" ] && [ -f "$SAVE_TO/state/trainer.json" ]; then
  echo "resuming from the state in $SAVE_TO"
  mkdir -p "$RUN"
  cp -r "$SAVE_TO/state" "$RUN/"
  if [ -f "$SAVE_TO/log.jsonl" ]; then cp "$SAVE_TO/log.jsonl" "$RUN/"; fi
fi
status=0
python -m lego.train run --run-dir "$RUN" --data "$DATA" --batch "$BATCH" $COMPILE \
  --max-minutes "$MINUTES" --save-minutes "${SAVE_MINUTES:-10}" --max-images 1e9 --quiet ${EXTRA:-} || status=$?
# 3: the run diverged and RUN/state is its last save from before; 130: stopped, the state saved. Both are copied.
case $status in 0|3|130) ;; *) exit "$status" ;; esac
if [ ! -f "$RUN/state/trainer.json" ]; then exit "$status"; fi
# the new state replaces the old one whole (a state may have fewer shards than the last), the old one
# removed only once the new one is fully copied
mkdir -p "$SAVE_TO"
rm -rf "$SAVE_TO/state.new"
cp -r "$RUN/state" "$SAVE_TO/state.new"
rm -rf "$SAVE_TO/state"
mv "$SAVE_TO/state.new" "$SAVE_TO/state"
cp "$RUN"/log.jsonl "$SAVE_TO/"
ls -la "$SAVE_TO/state"
exit "$status"
