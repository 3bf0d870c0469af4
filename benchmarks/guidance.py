"""How strongly to guide: the judge's scores at several guidance scales, each over a few seed sets, with the
app's default sampler. Guidance trades variety for likeness: a picture more often named as what was asked
for, drawn in fewer ways (the kernel distance to real drawings rises).

    python benchmarks/guidance.py [--checkpoint DIR] [--emoji FILE] [--scales 1 2 3] [--seed-sets 2]
                                  [--guide LOW-HIGH] [--out FILE]

Each scale is judged on the same requests and seeds (180 by default), so the scales differ only in guidance;
the spread (max - min) over the seed sets is what the seed alone moves a figure.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lego import machine, results  # noqa: E402
from lego.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint  # noqa: E402
from lego.data import load, read_emoji_list  # noqa: E402
from lego.judge import JUDGE_DIR, load_judge  # noqa: E402
from lego.metrics import evaluate  # noqa: E402
from lego.request import DEFAULT_METHOD, DEFAULT_STEPS, parse_interval  # noqa: E402
from lego.sampler import SamplerSettings  # noqa: E402

FIGURES = ("emoji", "subcategory", "category", "emoji_kid", "judge_confidence", "copies")


def figures(result: dict) -> dict:
    """The figures of one evaluation that a guidance scale moves."""
    levels = result["accuracy"]
    return {**{level: levels[level] for level in ("emoji", "subcategory", "category") if level in levels},
            "emoji_kid": result["emoji_kid"], "judge_confidence": result["judge_confidence"]["generated"],
            "copies": result["copies"], "seed": result["seed"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="the model to measure")
    parser.add_argument("--emoji", help="the model's emoji list (lego.train --emoji): real drawings of those only")
    parser.add_argument("--data", default="data/emoji64.npz",
                        help="the emoji data: the real drawings the KID compares with")
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 1.5, 2.0, 3.0, 4.5],
                        help="guidance scales to compare (1 = off)")
    parser.add_argument("--seed-sets", type=int, default=2, help="seed sets per scale (their spread is the seed's own)")
    parser.add_argument("--per-category", type=int, default=20, help="requests per category in each seed set")
    parser.add_argument("--guide", type=parse_interval, metavar="LOW-HIGH",
                        help="guide only the steps whose sigma is in (LOW, HIGH] (None: every step)")
    parser.add_argument("--out", default="assets/benchmarks/guidance.json", help="the JSON the figures are written to")
    args = parser.parse_args(argv)

    model = load_checkpoint(args.checkpoint).eval()
    judge, data = load_judge(JUDGE_DIR), load(args.data)
    names = read_emoji_list(args.emoji)
    if names:
        data = data.only_emoji(data.emoji_indices(names))
    rows = []
    for scale in args.scales:
        sets = [figures(evaluate(model, judge, data, "all", args.per_category, DEFAULT_STEPS, scale, seed=1000 * k,
                                 method=DEFAULT_METHOD, guidance_interval=args.guide))
                for k in range(args.seed_sets)]
        row = {"guidance": scale, "seed_sets": sets}
        for figure in FIGURES:
            values = [s[figure] for s in sets if figure in s]
            if values:
                row[figure] = {"mean": round(statistics.mean(values), 4), "min": min(values), "max": max(values)}
        rows.append(row)
        print(f"guidance {scale:g}: " + ", ".join(f"{f} {row[f]['mean']:.4g}" for f in FIGURES if f in row),
              flush=True)
    results.write({"command": "python benchmarks/guidance.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                   "checkpoint": str(Path(args.checkpoint).resolve().relative_to(ROOT)),
                   "sampler": DEFAULT_METHOD, "steps": DEFAULT_STEPS, "per_category": args.per_category,
                   "guidance_interval": args.guide,
                   "guided_steps": sum(SamplerSettings(DEFAULT_STEPS, DEFAULT_METHOD,
                                                       guidance_interval=args.guide).guided_steps()),
                   "machine": machine.describe(), "rows": rows}, args.out)


if __name__ == "__main__":
    main()
