"""A request for a whole category or sub-category, sampled two ways on a model labelled at three levels: the
coarse label alone (what the network was asked in about one training image in 18), and as the app samples it,
one of its emoji per picture picked by the seed (``lego.labels``). The judge names the category, and the
sub-category where asked, of every picture.

    python benchmarks/category_requests.py [--checkpoint DIR] [--emoji FILE] [--per-category 20]
        [--out assets/benchmarks/category_requests_emoji48.json] [--sheet assets/category_requests_emoji48.png]

Same seeds for both ways, with the app's default sampler and guidance. The sheet has one row per category: four
pictures of the label alone, then four drawn as one of its emoji (captioned with the emoji drawn).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lego import machine, results  # noqa: E402
from lego.checkpoint import DEFAULT_CHECKPOINT, fingerprint, load_checkpoint  # noqa: E402
from lego.data import load, read_emoji_list  # noqa: E402
from lego.images import captioned_grid, to_pil  # noqa: E402
from lego.judge import JUDGE_DIR, load_judge  # noqa: E402
from lego.metrics import evaluate  # noqa: E402
from lego.request import DEFAULT_GUIDANCE, DEFAULT_METHOD, DEFAULT_STEPS  # noqa: E402
from lego.serving import shown_source  # noqa: E402

SHEET_COLUMNS = 4  # pictures per way, per category


def sheet(alone: dict, drawn: dict, path: Path) -> Path:
    """One row per category: the label alone, then drawn as its emoji (same seeds, as far as they go)."""
    pictures = {name: to_pil(run["_images"]) for name, run in (("alone", alone), ("drawn", drawn))}
    cells, captions = [], []
    for category in dict.fromkeys(alone["_categories"]):
        rows = [k for k, c in enumerate(alone["_categories"]) if c == category][:SHEET_COLUMNS]
        cells += [pictures["alone"][k] for k in rows] + [pictures["drawn"][k] for k in rows]
        captions += [f"{alone['requests'][k]} alone" for k in rows] + [drawn["drawn"][k] for k in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    captioned_grid(cells, captions, columns=2 * SHEET_COLUMNS).save(path)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="the model to measure")
    parser.add_argument("--data", default="data/emoji64.npz",
                        help="the emoji data: the real drawings the KID compares with")
    parser.add_argument("--emoji", default="training/emoji48.txt",
                        help="the model was trained on the emoji of this list: the real drawings are theirs")
    parser.add_argument("--judge", default=str(JUDGE_DIR), help="the emoji judge that names the pictures")
    parser.add_argument("--per-category", type=int, default=20, help="requests per category, for each level and way")
    parser.add_argument("--out", default="assets/benchmarks/category_requests_emoji48.json",
                        help="the JSON the figures are written to")
    parser.add_argument("--sheet", default="assets/category_requests_emoji48.png",
                        help="the contact sheet PNG to write")
    args = parser.parse_args(argv)

    model, judge, data = load_checkpoint(args.checkpoint), load_judge(args.judge), load(args.data)
    names = read_emoji_list(args.emoji)
    if names:
        data = data.only_emoji(data.emoji_indices(names))
    rows, runs = [], {}
    for level in ("category", "subcategory"):
        for draw in (False, True):
            run = evaluate(model, judge, data, "all", args.per_category, DEFAULT_STEPS, DEFAULT_GUIDANCE,
                           method=DEFAULT_METHOD, level=level, draw=draw)
            runs[level, draw] = run
            rows.append({"level": level, "sampled_as": "one of its emoji" if draw else "the label alone",
                         "samples": run["samples"], "accuracy": run["accuracy"], "emoji_kid": run["emoji_kid"],
                         "emoji_kid_floor": run["emoji_kid_floor"], "seconds_per_image":
                         round(run["sampling_seconds"] / run["samples"], 3)})
            print(rows[-1], flush=True)
    report = {"what": __doc__.splitlines()[0], "command": "python benchmarks/category_requests.py " + " ".join(
        argv if argv is not None else sys.argv[1:]), "checkpoint": shown_source(args.checkpoint),
        "fingerprint": fingerprint(model),
        "emoji": args.emoji, "method": DEFAULT_METHOD, "steps": DEFAULT_STEPS, "guidance": DEFAULT_GUIDANCE,
        "machine": machine.describe(), "rows": rows}
    results.write(report, args.out)
    print(f"wrote {sheet(runs['category', False], runs['category', True], Path(args.sheet))}")


if __name__ == "__main__":
    main()
