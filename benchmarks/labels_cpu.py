"""Old data against new at equal compute, small enough for a CPU: do more styles and finer labels help?

    python -m lego.data build --size 32 --out data/emoji32.npz
    python benchmarks/labels_cpu.py [--data data/emoji32.npz] [--images 150000]
        [--out assets/benchmarks/labels_cpu.json]

Two runs of the same 32x32 LEGO stack (calib-32), same seed, batch, learning rate and images seen:
- ``old``: two styles (``--old-styles``: noto, fluent-emoji-flat) labelled by the 9 categories only, the situation
  of the first bundled model;
- ``new``: every training style, labelled at three levels (category, sub-category, emoji).
Both are scored by the judge (images enlarged to its 64x64) against the held-out style at the
category level, and the new one also at the emoji level; each run writes a contact sheet (one row
per category; the new run draws random emoji, captioned). The judge has never seen these images
or the held-out style, so neither run is favoured by it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lego import results  # noqa: E402
from lego.data import load  # noqa: E402
from lego.judge import JUDGE_DIR, load_judge  # noqa: E402
from lego.metrics import contact_sheet, evaluate  # noqa: E402
from lego.train import Trainer, TrainSettings  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/emoji32.npz")
    parser.add_argument("--arch", default="calib-32")
    parser.add_argument("--old-styles", default="noto,fluent-emoji-flat", help="the old run's styles")
    parser.add_argument("--images", type=int, default=150_000, help="training images per run")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--per-category", type=int, default=16)
    parser.add_argument("--work", default="/tmp/lego-labels-cpu", help="where the runs' states go")
    parser.add_argument("--sheets", default="assets/labels_cpu", help="contact sheets PREFIX_old.png, PREFIX_new.png")
    parser.add_argument("--out", default="assets/benchmarks/labels_cpu.json")
    args = parser.parse_args(argv)

    judge, data = load_judge(JUDGE_DIR), load(args.data)
    report = {"what": __doc__.splitlines()[0], "command": "python benchmarks/labels_cpu.py " + " ".join(
        argv if argv is not None else sys.argv[1:]), "arch": args.arch, "images": args.images, "batch": args.batch,
        "lr": args.lr, "per_category": args.per_category, "runs": {}}
    runs = {"old": {"styles": args.old_styles, "label_levels": 1}, "new": {}}
    for name, extra in runs.items():
        settings = TrainSettings(arch=args.arch, data=args.data, batch=args.batch, lr=args.lr, warmup_images=5_000,
                                 ema_halflife_images=20_000, **extra)
        trainer = Trainer(settings, Path(args.work) / name)
        start = time.perf_counter()
        trainer.fit(max_images=args.images, save_minutes=1e9, quiet=True)
        seconds = time.perf_counter() - start
        space = trainer.ema.config.label_space()
        run = {"settings": extra or "every training style, three label levels",
               "train_images": int(len(trainer.labels)),
               "label_levels": list(space.sizes), "train_seconds": round(seconds, 1), "evaluations": {}}
        for level in ("category", "emoji")[:space.depth if space.depth < 3 else 2]:
            result = evaluate(trainer.ema, judge, data, per_category=args.per_category, level=level,
                              precision="fp32")
            if level == ("emoji" if space.depth == 3 else "category"):
                contact_sheet(result["_images"], result["requests"], result["_categories"], 8,
                              Path(f"{args.sheets}_{name}.png"))
            result.pop("_images"), result.pop("_categories"), result.pop("requests")
            run["evaluations"][level] = result
            print(name, level, result["accuracy"], "FD", result["emoji_fd"], "floor", result["emoji_fd_floor"],
                  flush=True)
        report["runs"][name] = run
        results.write(report, args.out)
    print(args.out)


if __name__ == "__main__":
    main()
