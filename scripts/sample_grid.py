"""A picture of the bundled model: one row per category, with all bricks and with a preset.

    python scripts/sample_grid.py [--checkpoint DIR] [--per-class 4] [--schedules all pg-recipe] [--out assets]

Each schedule gives one PNG (assets/samples_<schedule>.png); the emoji art the model learnt from
is credited in assets/CREDITS.md.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lego.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint  # noqa: E402
from lego.images import grid, to_pil  # noqa: E402
from lego.sampler import SamplerSettings, sample  # noqa: E402
from lego.schedule import load_schedule  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    parser.add_argument("--per-class", type=int, default=4)
    parser.add_argument("--steps", type=int, default=18)
    parser.add_argument("--guidance", type=float, default=2.5)
    parser.add_argument("--schedules", nargs="+", default=["all", "pg-recipe"])
    parser.add_argument("--out", type=Path, default=Path("assets"))
    args = parser.parse_args()
    model = load_checkpoint(args.checkpoint)
    n = model.config.num_classes
    labels = [c for c in range(n) for _ in range(args.per_class)]
    seeds = list(range(len(labels)))
    args.out.mkdir(parents=True, exist_ok=True)
    for spec in args.schedules:
        schedule = load_schedule(spec, model.config)
        images = sample(model, seeds, labels, SamplerSettings(steps=args.steps, guidance=args.guidance), schedule,
                        precision="auto").images
        path = args.out / f"samples_{schedule.name}.png"
        grid(to_pil(images), columns=args.per_class).save(path)
        print(path)


if __name__ == "__main__":
    main()
