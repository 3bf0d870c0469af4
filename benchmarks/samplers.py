"""Which sampler the app should use by default: the judge's scores for Heun-18 and DPM-Solver++(2M)
at several step counts, each over a few seed sets, beside the time of one default request.

    python benchmarks/samplers.py [--checkpoint DIR] [--seed-sets 3] [--per-category 20] [--out FILE]

A sampler *matches* Heun-18 when, for category accuracy and emoji-KID (the judge's unbiased
distance to real drawings), its mean over the seed sets is no worse than Heun-18's mean by more
than the spread (max - min) of Heun-18's own seed sets: a difference the seed alone makes is no
difference. The fastest matching sampler is the recommended default. Times are measured in the
same run, one request (1 image, guided) at a time, as the app runs them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bricks_cpu import default_request  # noqa: E402
from lego import machine, results  # noqa: E402
from lego.checkpoint import ALL_EMOJI_CHECKPOINT, load_checkpoint  # noqa: E402
from lego.data import load  # noqa: E402
from lego.judge import JUDGE_DIR, load_judge  # noqa: E402
from lego.metrics import evaluate  # noqa: E402
from lego.precision import resolve_precision  # noqa: E402
from lego.sampler import SamplerSettings  # noqa: E402

REFERENCE = ("heun", 18)
CANDIDATES = [REFERENCE, ("dpm++2m", 8), ("dpm++2m", 10), ("dpm++2m", 12), ("dpm++2m", 15)]
GUIDANCE = 2.0
# (metric, +1 when higher is better)
SCORES = (("category_accuracy", 1), ("emoji_kid", -1))


def verdicts(rows: list[dict]) -> dict:
    """Each candidate against the reference, metric by metric, and the fastest that matches."""
    reference = next(r for r in rows if (r["sampler"], r["steps"]) == REFERENCE)
    for row in rows:
        row["matches_reference"] = True
        for metric, sign in SCORES:
            spread = reference[metric]["max"] - reference[metric]["min"]
            worse_by = sign * (reference[metric]["mean"] - row[metric]["mean"])
            row[f"{metric}_worse_by"] = round(worse_by, 4)
            row["matches_reference"] &= worse_by <= spread
        row["seconds_over_reference"] = round(row["request_seconds"] / reference["request_seconds"], 3)
    matching = [r for r in rows if r["matches_reference"]]
    best = min(matching, key=lambda r: r["request_seconds"])
    return {"recommended": {"sampler": best["sampler"], "steps": best["steps"]},
            "tolerance": {m: round(reference[m]["max"] - reference[m]["min"], 4) for m, _ in SCORES}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--checkpoint", default=str(ALL_EMOJI_CHECKPOINT), help="the model to measure")
    parser.add_argument("--data", default="data/emoji64.npz",
                        help="the emoji data: the real drawings the KID compares with")
    parser.add_argument("--seed-sets", type=int, default=3,
                        help="seed sets per sampler (their spread is the tolerance)")
    parser.add_argument("--per-category", type=int, default=20, help="requests per category in each seed set")
    parser.add_argument("--repeats", type=int, default=5, help="timed requests per sampler")
    parser.add_argument("--out", default="assets/benchmarks/samplers.json", help="the JSON the figures are written to")
    args = parser.parse_args(argv)

    model = load_checkpoint(args.checkpoint).eval()
    judge, data = load_judge(JUDGE_DIR), load(args.data)
    precision = resolve_precision("auto", torch.device("cpu"))
    rows = []
    for method, steps in CANDIDATES:
        row = {"sampler": method, "steps": steps,
               "evaluations": sum(SamplerSettings(steps=steps, method=method).evaluations_per_step()),
               "request_seconds": default_request(model, precision, args.repeats, SamplerSettings(
                   steps=steps, method=method, guidance=GUIDANCE), limit=1.0)["seconds"], "seed_sets": []}
        for k in range(args.seed_sets):
            result = evaluate(model, judge, data, "all", args.per_category, steps, GUIDANCE, seed=1000 * k,
                              precision=precision, method=method)
            row["seed_sets"].append({key: result[key] for key in ("seed", "samples", "category_accuracy",
                                                                  "emoji_fd", "emoji_kid")})
            print(f"{method} {steps} seed set {k}: accuracy {result['category_accuracy']:.1%}, "
                  f"KID {result['emoji_kid']}, FD {result['emoji_fd']}", flush=True)
        for metric in ("category_accuracy", "emoji_kid", "emoji_fd"):
            values = [s[metric] for s in row["seed_sets"]]
            row[metric] = {"mean": round(statistics.mean(values), 4), "min": min(values), "max": max(values)}
        rows.append(row)
        print(f"{method} {steps}: {row['request_seconds']} s per request", flush=True)
    report = {"command": "python benchmarks/samplers.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "checkpoint": str(Path(args.checkpoint).resolve().relative_to(ROOT)), "precision": precision,
              "guidance": GUIDANCE, "per_category": args.per_category, "machine": machine.describe(),
              "rule": __doc__.split("\n\n")[2].replace("\n", " "), "rows": rows}
    report.update(verdicts(rows))
    print("recommended:", report["recommended"], flush=True)
    results.write(report, args.out)


if __name__ == "__main__":
    main()
