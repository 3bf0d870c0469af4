"""Old data against new at equal compute, small enough for a CPU: do more styles and finer labels help?

    python -m lego.data build --size 32 --out data/emoji32.npz
    python benchmarks/labels_cpu.py [--data data/emoji32.npz] [--images 80000] [--out assets/benchmarks/labels_cpu.json]

A CPU cannot train 1,904 emoji in minutes, so both runs see the same small set: ``--per-category``
emoji of every category (chosen at random among those drawn by noto, fluent-emoji-flat and the
held-out twemoji, and by at least ``--min-styles`` training styles). Two runs of one 32x32 LEGO stack
(calib-32), same seed, batch, learning rate and number of training images:
- ``old``: two styles (``--old-styles``: noto, fluent-emoji-flat), labelled by the 9 categories
  only: the situation of the first bundled model;
- ``new``: every training style, labelled at three levels (category, sub-category, emoji).
The judge (images enlarged to its 64x64) scores both against the held-out style's drawings of
the same emoji: category accuracy, emoji-KID/FD, and its confidence that it sees one particular
emoji; the new run also asked for each emoji by name. Each run writes a contact sheet (one row
per category; the new run's cells are captioned with the emoji asked for).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lego import results  # noqa: E402
from lego.data import load, manifest_path, read_manifest  # noqa: E402
from lego.judge import JUDGE_DIR, load_judge  # noqa: E402
from lego.metrics import contact_sheet, evaluate  # noqa: E402
from lego.train import Trainer, TrainSettings  # noqa: E402


def subset(data_path: str, out: Path, per_category: int, old_styles: list[str], min_styles: int,
           seed: int = 0) -> list[int]:
    """Write the images of a few emoji per category (every style, the held-out one included) to ``out``;
    returns the emoji's class indices."""
    data, manifest = load(data_path), read_manifest(data_path)
    styles = [data.style_names.index(s) for s in old_styles]
    held = data.style_names.index(next(s["name"] for s in manifest["styles"] if s["held_out"]))
    rng = np.random.default_rng(seed)
    chosen = []
    for category in range(data.space.sizes[0]):
        pool = []
        for emoji in data.space.members(category, data.space.depth - 1):
            drawn = set(data.style[data.labels[:, -1] == emoji].tolist())
            if {*styles, held} <= drawn and len(drawn - {held}) >= min_styles:
                pool.append(emoji)
        chosen += [int(e) for e in rng.choice(pool, min(per_category, len(pool)), replace=False)]
    keep = np.isin(data.labels[:, -1], chosen)
    np.savez_compressed(out, images=data.images[keep], labels=data.labels[keep], style=data.style[keep],
                        held_out=data.held_out[keep])
    manifest["images"] = [r for r, k in zip(manifest["images"], keep) if k]
    manifest_path(out).write_text(json.dumps(manifest))
    return chosen


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data", default="data/emoji32.npz",
                        help="the 32x32 emoji data (python -m lego.data build --size 32)")
    parser.add_argument("--arch", default="calib-32", help="the architecture both runs train")
    parser.add_argument("--old-styles", default="noto,fluent-emoji-flat", help="the old run's styles")
    parser.add_argument("--per-category", type=int, default=6, help="emoji per category in the small set")
    parser.add_argument("--min-styles", type=int, default=5, help="training styles that must draw a chosen emoji")
    parser.add_argument("--images", type=int, default=80_000, help="training images per run")
    parser.add_argument("--batch", type=int, default=64, help="training batch size")
    parser.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    parser.add_argument("--samples", type=int, default=16, help="generated images per category and run")
    parser.add_argument("--work", default="/tmp/lego-labels-cpu", help="where the subset and the runs' states go")
    parser.add_argument("--sheets", default="assets/labels_cpu", help="contact sheets PREFIX_old.png, PREFIX_new.png")
    parser.add_argument("--out", default="assets/benchmarks/labels_cpu.json",
                        help="the JSON the figures are written to")
    args = parser.parse_args(argv)

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    small = work / "subset.npz"
    chosen = subset(args.data, small, args.per_category, args.old_styles.split(","), args.min_styles)
    judge, data = load_judge(JUDGE_DIR), load(small)
    categories = set(np.unique(data.categories).tolist())
    report = {"what": __doc__.splitlines()[0], "command": "python benchmarks/labels_cpu.py " + " ".join(
        argv if argv is not None else sys.argv[1:]), "arch": args.arch, "images": args.images, "batch": args.batch,
        "lr": args.lr, "emoji": [data.space.names[e] for e in chosen], "runs": {}}
    runs = {"old": {"styles": args.old_styles, "label_levels": 1}, "new": {}}
    for name, extra in runs.items():
        settings = TrainSettings(arch=args.arch, data=str(small), batch=args.batch, lr=args.lr, warmup_images=5_000,
                                 ema_halflife_images=10_000, **extra)
        trainer = Trainer(settings, work / name)
        start = time.perf_counter()
        trainer.fit(max_images=args.images, save_minutes=1e9, quiet=True)
        seconds = time.perf_counter() - start
        space = trainer.ema.config.label_space()
        run = {"settings": extra or "every training style, three label levels",
               "train_images": int(len(trainer.labels)), "label_levels": list(space.sizes),
               "train_seconds": round(seconds, 1), "evaluations": {}}
        levels = {"category": categories} if space.depth == 1 else {"category": categories, "emoji": set(chosen)}
        for level, classes in levels.items():
            result = evaluate(trainer.ema, judge, data, per_category=args.samples, level=level, precision="fp32",
                              classes=classes)
            if level == ("emoji" if space.depth > 1 else "category"):
                contact_sheet(result["_images"], result["requests"], result["_categories"], 8,
                              Path(f"{args.sheets}_{name}.png"))
            for internal in ("_images", "_categories", "requests"):
                result.pop(internal)
            run["evaluations"][level] = result
            print(name, level, result["accuracy"], "KID", result["emoji_kid"], "confidence",
                  result["judge_confidence"]["generated"], flush=True)
        report["runs"][name] = run
        results.write(report, args.out)


if __name__ == "__main__":
    main()
