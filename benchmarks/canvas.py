"""Beyond the training size: seams, cost and growth of each canvas option.

    python benchmarks/canvas.py [--checkpoint DIR] [--seeds 4] [--steps 12] [--coords repeat squeeze]
                                [--out assets/benchmarks/canvas.json] [--pictures assets/canvas] [--no-cost]

Seam score: the mean absolute jump between neighbouring pixels across tile borders (multiples
of the training size), divided by the same statistic between neighbours inside tiles; 1.0
means this statistic cannot see the seams. Cost: wall time, FLOPs and peak resident memory
(each size in a fresh process) against canvas area, with the fitted growth exponent
(time ~ area^k). Crop accuracy: the emoji judge on every training-size crop, against
its accuracy on as many single training-size images. Seams and crop accuracy are measured for
each coordinate mode asked for; the cost does not depend on it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lego import machine, results  # noqa: E402
from lego.canvas import COORDS, Canvas  # noqa: E402
from lego.checkpoint import ALL_EMOJI_CHECKPOINT, load_checkpoint  # noqa: E402
from lego.flops import schedule_cost  # noqa: E402
from lego.images import grid, to_uint8  # noqa: E402
from lego.judge import JUDGE_DIR, load_judge, predict, to_tensor  # noqa: E402
from lego.sampler import SamplerSettings, sample  # noqa: E402
from lego.schedule import BrickSchedule  # noqa: E402
from lego.serving import shown_source  # noqa: E402
from memory import PeakRss  # noqa: E402

OPTIONS = {
    "tiles": Canvas("tiles"),
    "overlap": Canvas("overlap"),
    "overlap+shift": Canvas("overlap", shift=True),
    "global": Canvas("global"),
}
SEAM_SIZES = [(64, 256), (192, 192)]
COST_SIZES = [(64, 64), (128, 128), (192, 192), (256, 256)]


def seam_score(images: np.ndarray, tile: int) -> float:
    """images: (N, H, W, 3) uint8. Border jumps over interior jumps, both directions."""
    x = images.astype(np.float64)
    dx = np.abs(np.diff(x, axis=2)).mean(axis=(0, 1, 3))  # per column boundary
    dy = np.abs(np.diff(x, axis=1)).mean(axis=(0, 2, 3))  # per row boundary
    border = [dx[k - 1] for k in range(tile, x.shape[2], tile)] + [dy[k - 1] for k in range(tile, x.shape[1], tile)]
    inside = [v for i, v in enumerate(dx) if (i + 1) % tile] + [v for i, v in enumerate(dy) if (i + 1) % tile]
    return float(np.mean(border) / max(np.mean(inside), 1e-9))


def crops(images: np.ndarray, tile: int) -> np.ndarray:
    n, h, w, c = images.shape
    return images.reshape(n, h // tile, tile, w // tile, tile, c).transpose(0, 1, 3, 2, 4, 5).reshape(-1, tile, tile, c)


def measure_one(checkpoint: str, option: str, height: int, width: int, steps: int) -> dict:
    """Time and the rise of resident memory while one image is sampled, in a fresh process."""
    model = load_checkpoint(checkpoint)
    settings = SamplerSettings(steps=steps, guidance=2.0)
    sample(model, [0], [0], SamplerSettings(steps=1, guidance=2.0), height=64, width=64,
           precision="auto")  # warm-up: builds the inference copy the timed run uses
    with PeakRss() as memory:
        start = time.perf_counter()
        sample(model, [0], [0], settings, height=height, width=width, canvas=OPTIONS[option], precision="auto")
        seconds = time.perf_counter() - start
    cost = schedule_cost(model.config, BrickSchedule.all_on(model.config.num_bricks), settings, height, width, True,
                         canvas=OPTIONS[option])
    return {"seconds": round(seconds, 3), "gflops": round(cost.total / 1e9, 2),
            "peak_rss_rise_mib": memory.rise_mib}


def fit_exponent(areas: list[int], values: list[float]) -> float:
    return float(np.polyfit(np.log(areas), np.log(values), 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--checkpoint", default=str(ALL_EMOJI_CHECKPOINT), help="the model to measure")
    parser.add_argument("--seeds", type=int, default=4, help="pictures per canvas option and size for seams and crops")
    parser.add_argument("--steps", type=int, default=12,
                        help="Heun steps per picture for seams and crops (the cost always takes 4)")
    parser.add_argument("--class-index", type=int, default=3, help="the category of the walls (3: Food & Drink)")
    parser.add_argument("--out", default="assets/benchmarks/canvas.json",
                        help="the JSON the figures are written to (the cost figure beside it)")
    parser.add_argument("--coords", nargs="+", choices=COORDS, default=["repeat", "squeeze"],
                        help="coordinate modes to measure seams and crop accuracy for")
    parser.add_argument("--pictures", help="also write PREFIX_COORDS_WxH.png: the first seed's image, one per option")
    parser.add_argument("--no-cost", action="store_true",
                        help="seams and crop accuracy only (the cost depends on the architecture, not the weights)")
    parser.add_argument("--measure", nargs=4, metavar=("OPTION", "HEIGHT", "WIDTH", "STEPS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        option, h, w, steps = args.measure
        print(json.dumps(measure_one(args.checkpoint, option, int(h), int(w), int(steps))))
        return

    torch.set_grad_enabled(False)
    model = load_checkpoint(args.checkpoint)
    tile = model.config.image_size
    judge = load_judge(JUDGE_DIR)
    settings = SamplerSettings(steps=args.steps, guidance=2.0)

    def category_accuracy(images: np.ndarray) -> float:
        predicted = predict(judge, to_tensor(crops(images, tile)))[:, 0]  # the category level
        return round(float((predicted == args.class_index).float().mean()), 3)

    singles = args.seeds * 9  # as many training-size images as there are crops of the 192x192 canvases
    single_accuracy = category_accuracy(to_uint8(sample(model, list(range(singles)), [args.class_index] * singles,
                                                       settings, precision="auto").images))
    print("single images", single_accuracy, flush=True)
    seams: dict = {}
    firsts: dict[str, list[Image.Image]] = {}
    for coords in args.coords:
        for name, canvas in OPTIONS.items():
            for height, width in SEAM_SIZES:
                images = to_uint8(sample(model, list(range(args.seeds)), [args.class_index] * args.seeds, settings,
                                         height=height, width=width, canvas=replace(canvas, coords=coords),
                                         precision="auto").images)
                firsts.setdefault(f"{coords}_{width}x{height}", []).append(Image.fromarray(images[0]))
                row = {"seam_score": round(seam_score(images, tile), 3), "crop_accuracy": category_accuracy(images)}
                seams.setdefault(coords, {}).setdefault(name, {})[f"{width}x{height}"] = row
                print(coords, name, width, height, row, flush=True)
    if args.pictures:
        for key, pictures in firsts.items():
            wide = pictures[0].width > pictures[0].height  # wide strips stacked, squares side by side
            grid(pictures, columns=1 if wide else len(pictures), pad=6).save(f"{args.pictures}_{key}.png")
    costs: dict = {}
    for name in OPTIONS if not args.no_cost else ():
        rows = []
        for height, width in COST_SIZES:
            done = subprocess.run([sys.executable, __file__, "--checkpoint", args.checkpoint, "--measure", name,
                                   str(height), str(width), "4"], capture_output=True, text=True, timeout=900)
            if done.returncode != 0:
                raise SystemExit(done.stderr[-2000:])
            rows.append({"size": f"{width}x{height}", "area": height * width, **json.loads(done.stdout)})
            print(name, rows[-1], flush=True)
        areas = [r["area"] for r in rows]
        costs[name] = {"rows": rows,
                       "time_exponent": round(fit_exponent(areas[1:], [r["seconds"] for r in rows[1:]]), 2),
                       "flops_exponent": round(fit_exponent(areas[1:], [r["gflops"] for r in rows[1:]]), 2)}
    report = {
        "what": __doc__.splitlines()[0], "command": "python benchmarks/canvas.py " + " ".join(sys.argv[1:]),
        "checkpoint": shown_source(args.checkpoint), "steps": args.steps, "seeds": args.seeds,
        "class_index": args.class_index,
        "machine": machine.describe(),
        "options": list(OPTIONS), "coords": args.coords, "seams": seams, "cost": costs,
        "single_image_accuracy": {"images": singles, "accuracy": single_accuracy},
        "note": "exponents are fitted on the sizes above the training size (time for 4 Heun steps, guided)",
    }
    results.write(report, args.out, figure(costs) if costs else None)


def figure(costs: dict):
    """Time against canvas area per option, log-log (the slope is the growth exponent)."""
    import plotly.graph_objects as go

    fig = go.Figure([go.Scatter(x=[r["area"] for r in c["rows"]], y=[r["seconds"] for r in c["rows"]],
                                mode="lines+markers", name=f"{name} (k={c['time_exponent']})")
                     for name, c in costs.items()])
    fig.update_layout(title="Time against canvas area", xaxis_type="log", yaxis_type="log",
                      xaxis_title="pixels", yaxis_title="seconds (4 guided Heun steps)", template="plotly_white",
                      height=450, **results.PHONE_LAYOUT)
    return fig


if __name__ == "__main__":
    main()
