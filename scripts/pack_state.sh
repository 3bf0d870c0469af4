#!/usr/bin/env bash
# Before a GPU segment: a run may carry at most 64 MiB, and the training state (59 MB) plus the
# data (9 MB) plus the bundled weights (12 MB) do not fit. This packs RUN's state into
# gpu_in/state.tar.xz (about 49 MB) and moves the tracked copies out of the working tree until
#   git checkout -- "$RUN/state" checkpoints/lego-emoji-s/model.safetensors && rm -r gpu_in
# puts them back (do that before copying the segment's new state in).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-training/emoji-s}
mkdir -p gpu_in
python -c "
import sys, tarfile
with tarfile.open('gpu_in/state.tar.xz', 'w:xz', preset=6) as t:
    t.add(sys.argv[1] + '/state', arcname='state')
" "$RUN"
rm "$RUN"/state/* checkpoints/lego-emoji-s/model.safetensors
du -sh gpu_in/state.tar.xz
