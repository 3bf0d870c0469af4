"""A picture of the bundled model: one row per category, with all bricks and with a preset.

    python scripts/sample_grid.py [--checkpoint DIR] [--per-class 4] [--schedules all pg-recipe] [--out assets]

Each schedule gives one PNG (assets/samples_<schedule>.png). A model labelled down to single
emoji draws random emoji of each category (the same for every schedule), each captioned with
its name; a model of categories only draws the category. The emoji art the model learnt from is
credited in assets/CREDITS.md.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lego.checkpoint import ALL_EMOJI_CHECKPOINT, load_checkpoint  # noqa: E402
from lego.images import captioned_grid, to_pil  # noqa: E402
from lego.sampler import SamplerSettings, sample  # noqa: E402
from lego.schedule import load_schedule  # noqa: E402


def pick(pool: list[int], k: int, rng: np.random.Generator) -> list[int]:
    return list(rng.choice(pool, k, replace=len(pool) < k))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(ALL_EMOJI_CHECKPOINT))
    parser.add_argument("--per-class", type=int, default=4)
    parser.add_argument("--steps", type=int, default=18)
    parser.add_argument("--guidance", type=float, default=2.5)
    parser.add_argument("--schedules", nargs="+", default=["all", "pg-recipe"])
    parser.add_argument("--out", type=Path, default=Path("assets"))
    args = parser.parse_args()
    model = load_checkpoint(args.checkpoint)
    space = model.config.label_space()
    rng = np.random.default_rng(0)
    finest = space.depth - 1
    labels = [int(i) for c in range(space.sizes[0])
              for i in (pick(space.members(c, finest), args.per_class, rng) if finest else [c] * args.per_class)]
    seeds = list(range(len(labels)))
    args.out.mkdir(parents=True, exist_ok=True)
    for spec in args.schedules:
        schedule = load_schedule(spec, model.config)
        images = sample(model, seeds, labels, SamplerSettings(steps=args.steps, guidance=args.guidance), schedule,
                        precision="auto").images
        path = args.out / f"samples_{schedule.name}.png"
        captions = [space.names[i] for i in labels]
        captioned_grid(to_pil(images), captions, columns=args.per_class).save(path)
        print(path)


if __name__ == "__main__":
    main()
