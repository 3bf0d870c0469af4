"""How far the app's time estimate is from the measured time, for the default request at 64x64 and
192x192 on every canvas option, as the app serves them (frames kept for Look inside, no cache).

    python benchmarks/estimates.py [--checkpoint DIR] [--repeats 3] [--out assets/benchmarks/estimates.json]

Each case is estimated the way the app does just before it runs (from the speed measured at
load, corrected by the runs the server has done so far), then run; the cases are interleaved
over the repeats so that a machine that slows down touches them all alike. Error = estimate /
measured - 1; the target is within ±30%.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lego.canvas import Canvas  # noqa: E402
from lego.checkpoint import ALL_EMOJI_CHECKPOINT, load_checkpoint  # noqa: E402
from lego.estimate import estimate  # noqa: E402
from lego.request import parse_request  # noqa: E402
from lego.runs import run  # noqa: E402
from lego.schedule import BrickSchedule  # noqa: E402
from lego.serving import Served, shown_source  # noqa: E402

CASES = [(64, "tiles"), (192, "tiles"), (192, "overlap"), (192, "global")]
TARGET = 0.30


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--checkpoint", default=str(ALL_EMOJI_CHECKPOINT), help="the model to serve and time")
    parser.add_argument("--repeats", type=int, default=3, help="runs of every case (medians)")
    parser.add_argument("--steps", type=int, default=18, help="Heun steps per request")
    parser.add_argument("--out", default=str(ROOT / "assets/benchmarks/estimates.json"),
                        help="the JSON the figures are written to")
    args = parser.parse_args(argv)

    served = Served.of("bench", load_checkpoint(args.checkpoint), "auto")
    config = served.config
    label = config.label_space().choices()[0]
    at_load = served.speed.describe()
    rows: dict[str, dict] = {f"{size}x{size} {mode}": {"estimated": [], "measured": []} for size, mode in CASES}
    for _ in range(args.repeats):
        for size, mode in CASES:
            request = parse_request(config, label, 0, args.steps, 2.0, "heun", 1, size, size,
                                    BrickSchedule.all_on(config.num_bricks), Canvas(mode))
            est = estimate(config, request, served.speed)
            start = time.perf_counter()
            *_, record = run(served.model, request, est, served.precision)  # as the app runs it: frames kept
            seconds = time.perf_counter() - start
            served.observe(record)
            row = rows[f"{size}x{size} {mode}"]
            row["estimated"].append(est.seconds)
            row["measured"].append(seconds)
            print(f"  {size}x{size} {mode}: estimated {est.seconds:.2f} s, measured {seconds:.2f} s", flush=True)
    table = []
    for name, row in rows.items():
        est, measured = statistics.median(row["estimated"]), statistics.median(row["measured"])
        table.append({"case": name, "estimated_s": round(est, 3), "measured_s": round(measured, 3),
                      "error": round(est / measured - 1, 3), "within_target": abs(est / measured - 1) <= TARGET})
        print(f"{name:>16}: estimated {est:6.2f} s, measured {measured:6.2f} s, error {est / measured - 1:+.0%}")
    report = {"command": "python benchmarks/estimates.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "model": shown_source(args.checkpoint), "steps": args.steps, "repeats": args.repeats,
              "precision": served.precision, "speed_at_load": at_load, "scale_at_end": round(served.speed.scale, 3),
              "target": TARGET, "rows": table}
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
