#!/usr/bin/env bash
# Pack a run's saved state into one xz archive (about 80% of its size), to move it to the machine
# that runs the next segment: STATE_ARCHIVE=... bash scripts/train_segment.sh unpacks it there.
#
#   RUN=training/emoji-s-labels ARCHIVE=state.tar.xz bash scripts/pack_state.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-training/emoji-s-labels}
ARCHIVE=${ARCHIVE:-state.tar.xz}
python -c "
import sys, tarfile
with tarfile.open(sys.argv[2], 'w:xz', preset=6) as t:
    t.add(sys.argv[1] + '/state', arcname='state')
" "$RUN" "$ARCHIVE"
du -sh "$ARCHIVE"
