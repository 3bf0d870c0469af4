#!/usr/bin/env bash
# One training segment on a lent GPU machine: resume a run from its committed state, stop before
# the machine's 10-minute limit, and copy the new state (7 files, each under 16 MiB) and the log
# to $OUT. Needs data/emoji64.npz (carry it). Test it first on the CPU with
#   MINUTES=0.5 BATCH=8 COMPILE= OUT=/tmp/out bash scripts/gpu_segment.sh
# RUN picks the run (default training/emoji-s); EXTRA adds options, e.g. a collage fine-tune:
#   RUN=training/emoji-s-wall EXTRA="--init checkpoints/lego-emoji-s --collage 1 --lr 1e-4"
# The state (59 MB) and the data (9 MB) together exceed what a run may carry (64 MiB), so the
# state may travel as gpu_in/state.tar.xz (49 MB; made by scripts/pack_state.sh, which also moves
# the tracked copies aside): when that file exists it is unpacked into $RUN first.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-training/emoji-s}
MINUTES=${MINUTES:-7}
BATCH=${BATCH:-256}
COMPILE=${COMPILE---compile}
if [ -f gpu_in/state.tar.xz ]; then
  python -c "import sys, tarfile; tarfile.open('gpu_in/state.tar.xz').extractall(sys.argv[1], filter='data')" "$RUN"
fi
python -m lego.train run --run-dir "$RUN" --data data/emoji64.npz --batch "$BATCH" $COMPILE \
  --max-minutes "$MINUTES" --save-minutes 1000 --max-images 1e9 --quiet ${EXTRA:-}
mkdir -p "$OUT/state"
cp "$RUN"/state/* "$OUT/state/"
cp "$RUN"/log.jsonl "$OUT/"
ls -la "$OUT/state"
