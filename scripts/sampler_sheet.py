"""The same seeds and classes drawn by each candidate sampler, side by side, to look at before trusting a score.

    python scripts/sampler_sheet.py [--checkpoint DIR] [--seeds 2] [--out assets/samplers_sheet.png]

One row per category; in each row, every seed with each sampler of benchmarks/samplers.py in turn.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from samplers import CANDIDATES, GUIDANCE  # noqa: E402

from lego.checkpoint import ALL_EMOJI_CHECKPOINT, load_checkpoint  # noqa: E402
from lego.images import captioned_grid, to_pil  # noqa: E402
from lego.sampler import SamplerSettings, sample  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(ALL_EMOJI_CHECKPOINT))
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--out", default="assets/samplers_sheet.png")
    args = parser.parse_args()
    model = load_checkpoint(args.checkpoint).eval()
    space = model.config.label_space()
    categories = range(space.sizes[0])
    pictures, captions = [], []
    drawn = {(m, s): to_pil(sample(model, [seed for _ in categories for seed in range(args.seeds)],
                                   [c for c in categories for _ in range(args.seeds)],
                                   SamplerSettings(steps=s, method=m, guidance=GUIDANCE), precision="auto").images)
             for m, s in CANDIDATES}
    for row in range(len(categories)):
        for seed in range(args.seeds):
            for (m, s), images in drawn.items():
                pictures.append(images[row * args.seeds + seed])
                captions.append(f"{'Heun' if m == 'heun' else 'DPM'}-{s} s{seed}")
    sheet = captioned_grid(pictures, captions, columns=args.seeds * len(CANDIDATES))
    sheet.save(args.out)
    print(f"wrote {args.out}: rows {', '.join(space.names[c] for c in categories)}")


if __name__ == "__main__":
    main()
