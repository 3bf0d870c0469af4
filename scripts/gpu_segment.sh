#!/usr/bin/env bash
# One training segment on a lent GPU machine: resume training/emoji-s from its committed state,
# stop before the machine's 10-minute limit, and copy the new state (7 files, each under 16 MiB)
# and the log to $OUT. Needs data/emoji64.npz (carry it). Test it first on the CPU with
#   MINUTES=0.5 BATCH=8 COMPILE= OUT=/tmp/out bash scripts/gpu_segment.sh
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${MINUTES:-7}
BATCH=${BATCH:-256}
COMPILE=${COMPILE---compile}
python -m lego.train run --run-dir training/emoji-s --data data/emoji64.npz --batch "$BATCH" $COMPILE \
  --max-minutes "$MINUTES" --save-minutes 1000 --max-images 1e9 --quiet
mkdir -p "$OUT/state"
cp training/emoji-s/state/* "$OUT/state/"
cp training/emoji-s/log.jsonl "$OUT/"
ls -la "$OUT/state"
