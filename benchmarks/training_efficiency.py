"""LEGO against a plain DiT at equal training compute, and what brick dropout costs.

    python benchmarks/training_efficiency.py [--images 40000] [--milestones 4] [--per-class 20]
        [--out assets/benchmarks/training_efficiency.json]

Three runs with the same seed, data, batch, learning rate, EMA and images seen:
- ``lego``: compare-lego trained with our recipe (brick dropout 0.5);
- ``lego, no brick dropout``: the same network, every brick trained at every step (the paper's recipe);
- ``dit``: compare-dit, one full-image brick whose depth matches LEGO's FLOPs per evaluation.
At each milestone the EMA weights are scored with every brick on (Heun, 18 steps, guidance 2):
emoji-FD and category accuracy; at the last one a second seed set gives the spread. Training
seconds are measured on this machine; small enough for a CPU, so this tests the paper's claim
only at the very start of training.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lego.config import ARCHITECTURES  # noqa: E402
from lego.data import load  # noqa: E402
from lego.flops import evaluation_flops  # noqa: E402
from lego.judge import JUDGE_DIR, load_judge  # noqa: E402
from lego.metrics import evaluate  # noqa: E402
from lego import results  # noqa: E402
from lego.results import training_figure  # noqa: E402
from lego.train import Trainer, TrainSettings  # noqa: E402

SECOND_SEED_SET = 100_000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--lego", default="compare-lego", choices=sorted(ARCHITECTURES),
                        help="the LEGO architecture, trained with and without brick dropout")
    parser.add_argument("--dit", default="compare-dit", choices=sorted(ARCHITECTURES),
                        help="the plain DiT architecture")
    parser.add_argument("--data", default="data/emoji64.npz", help="the emoji data to train on and score against")
    parser.add_argument("--images", type=int, default=40_000, help="training images per run")
    parser.add_argument("--milestones", type=int, default=4, help="evaluations per run, evenly spaced")
    parser.add_argument("--batch", type=int, default=32, help="training batch size")
    parser.add_argument("--lr", type=float, default=5e-4, help="learning rate")
    parser.add_argument("--per-class", type=int, default=20, help="requests per category at each milestone")
    parser.add_argument("--work", default="/tmp/lego-training-efficiency", help="where the runs' states go")
    parser.add_argument("--out", default="assets/benchmarks/training_efficiency.json",
                        help="the JSON the figures are written to (the figure beside it)")
    args = parser.parse_args(argv)

    judge = load_judge(JUDGE_DIR)
    data = load(args.data)
    runs = [("lego", args.lego, 0.5), ("lego, no brick dropout", args.lego, 0.0), ("dit", args.dit, 0.0)]
    milestones = [round(args.images * (k + 1) / args.milestones) for k in range(args.milestones)]
    report = {"what": __doc__.splitlines()[0], "command": "python benchmarks/training_efficiency.py " + " ".join(
        argv if argv is not None else sys.argv[1:]), "images": args.images, "batch": args.batch, "lr": args.lr,
        "per_class": args.per_class, "runs": []}
    for name, arch, dropout in runs:
        config = ARCHITECTURES[arch]
        settings = TrainSettings(arch=arch, data=args.data, batch=args.batch, lr=args.lr,
                                 warmup_images=min(2_000, args.images // 4), brick_dropout=dropout, seed=0)
        trainer = Trainer(settings, Path(args.work) / name.replace(" ", "-").replace(",", ""))
        gflops = evaluation_flops(config, config.image_size, config.image_size).total / 1e9
        run = {"name": name, "arch": arch, "brick_dropout": dropout, "bricks": len(config.bricks),
               "gflops_per_evaluation": round(gflops, 3), "points": []}
        seconds = 0.0
        for images in milestones:
            start = time.perf_counter()
            trainer.fit(images, save_minutes=float("inf"), quiet=True)
            seconds += time.perf_counter() - start
            result = evaluate(trainer.ema, judge, data, "all", args.per_class, seed=0)
            point = {"images": trainer.progress.images, "train_seconds": round(seconds, 2),
                     "emoji_fd": result["emoji_fd"], "category_accuracy": result["category_accuracy"]}
            run["points"].append(point)
            print(json.dumps({"run": name, **point}), flush=True)
        again = evaluate(trainer.ema, judge, data, "all", args.per_class, seed=SECOND_SEED_SET)
        run["final_emoji_fd_sets"] = [run["points"][-1]["emoji_fd"], again["emoji_fd"]]
        run["final_emoji_fd_spread"] = round(abs(again["emoji_fd"] - run["points"][-1]["emoji_fd"]), 3)
        run["emoji_fd_floor"] = result["emoji_fd_floor"]
        report["runs"].append(run)
    results.write(report, args.out, training_figure(report))


if __name__ == "__main__":
    main()
