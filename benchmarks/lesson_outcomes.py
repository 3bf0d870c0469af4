"""The Lesson tab's experiment on a checkpoint, for every class of one label level (every category, or every
emoji of a model labelled by emoji): which brick changed the image least and most when dropped for the last 40%
of the steps, the same brick dropped for the first 40%, and every brick with fewer steps at about the same FLOPs
(the honest baseline).

    python benchmarks/lesson_outcomes.py [--checkpoint DIR] [--level top|finest] [--precision auto] [--seed 0]
                                         [--out assets/benchmarks/lesson_outcomes.json]

Runs through ``lego.lesson`` exactly as the app does (same steps, sampler, guidance, seed and precision), so a
class sees these numbers on screen; pixel changes are mean absolute differences to the all-bricks image, 0-255,
and differences under lego.visuals.TIE count as ties.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lego import machine, results  # noqa: E402
from lego.checkpoint import ALL_EMOJI_CHECKPOINT, load_checkpoint  # noqa: E402
from lego.lesson import (LESSON_GUIDANCE, LESSON_METHOD, LESSON_STEPS, Lesson, LessonRow,  # noqa: E402
                         least_and_most, run_lesson)
from lego.schedule import SKIP_SHARE  # noqa: E402
from lego.serving import Served  # noqa: E402
from lego.visuals import TIE, compared  # noqa: E402


def outcome(lesson: Lesson) -> dict:
    """One category's lesson as numbers, with the bricks tied for the least and the most late change."""
    def row(r: LessonRow) -> dict:
        return {"saving": round(r.saving, 4), "pixel_change": r.pixel_difference, "steps": r.steps}

    least, most = least_and_most(lesson.late)
    return {
        "category": lesson.category,
        "least_late": [lesson.names[i] for i in least],  # more than one: a tie
        "most_late": [lesson.names[i] for i in most],  # none: every brick tied
        "bricks": [{"brick": n, "late": row(x), "early": row(e), "fewer_steps": row(f),
                    "late_vs_early": compared(x.pixel_difference, e.pixel_difference),
                    "late_vs_fewer_steps": compared(x.pixel_difference, f.pixel_difference)}
                   for n, x, e, f in zip(lesson.names, lesson.late, lesson.early, lesson.fewer)],
    }


def summary(outcomes: list[dict]) -> dict:
    """Per brick, over all lessons: how often it changed the image least and most when dropped late, and how
    its late drop compared with its early drop and with fewer steps (what a class would see, class by class)."""
    names = [b["brick"] for b in outcomes[0]["bricks"]]
    out = {}
    for k, name in enumerate(names):
        bricks = [o["bricks"][k] for o in outcomes]
        out[name] = {"least_late": sum(name in o["least_late"] for o in outcomes),
                     "most_late": sum(name in o["most_late"] for o in outcomes),
                     **{key: {word: sum(b[key] == word for b in bricks)
                              for word in ("less than", "about as much as", "more than")}
                        for key in ("late_vs_early", "late_vs_fewer_steps")}}
    return out


def table(outcomes: list[dict]) -> str:
    """The outcomes as a Markdown table: one row per category, the three numbers per brick as late / early /
    fewer steps."""
    names = [b["brick"] for b in outcomes[0]["bricks"]]
    lines = ["| category | least late | most late | " + " | ".join(f"{n}: late / early / fewer" for n in names) + " |",
             "|---" * (3 + len(names)) + "|"]
    for o in outcomes:
        cells = [f"{b['late']['pixel_change']:.2f} / {b['early']['pixel_change']:.2f} / "
                 f"{b['fewer_steps']['pixel_change']:.2f} ({b['fewer_steps']['steps']} steps)" for b in o["bricks"]]
        lines.append(f"| {o['category']} | {', '.join(o['least_late'])} | {', '.join(o['most_late']) or 'tie'} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--checkpoint", default=str(ALL_EMOJI_CHECKPOINT), help="the model to run the lessons on")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                        help="sampling precision (auto: bf16 where this machine runs it fast)")
    parser.add_argument("--level", default="top", choices=["top", "finest"],
                        help="lessons for every class of the top level (categories) or of the finest (emoji)")
    parser.add_argument("--seed", type=int, default=0, help="the seed of every lesson")
    parser.add_argument("--out", default=str(results.RESULTS_DIR / "lesson_outcomes.json"),
                        help="the JSON the outcomes are written to")
    args = parser.parse_args(argv)
    model = load_checkpoint(args.checkpoint)
    served = Served.of(args.checkpoint, model, args.precision)
    space = model.config.label_space()
    start = time.perf_counter()
    outcomes = []
    level = 0 if args.level == "top" else space.depth - 1
    for label in range(space.offset(level), space.offset(level) + space.sizes[level]):
        outcomes.append(outcome(run_lesson(served, label, args.seed)))
        print(f"{outcomes[-1]['category']}: least {outcomes[-1]['least_late']}, most {outcomes[-1]['most_late']} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    print(table(outcomes))
    totals = summary(outcomes)
    for name, row in totals.items():
        print(f"{name}: least late in {row['least_late']}/{len(outcomes)}, most in {row['most_late']}; late vs early "
              f"{row['late_vs_early']}; late vs fewer steps {row['late_vs_fewer_steps']}")
    report = {
        "command": "python benchmarks/lesson_outcomes.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine.describe(),
        "checkpoint": Path(args.checkpoint).name, "fingerprint": served.fingerprint, "precision": served.precision,
        "level": args.level,
        "lesson": {"seed": args.seed, "steps": LESSON_STEPS, "sampler": LESSON_METHOD, "guidance": LESSON_GUIDANCE,
                   "share_dropped": SKIP_SHARE, "tie": TIE},
        "seconds": round(time.perf_counter() - start, 1),
        "summary": totals,
        "outcomes": outcomes,
    }
    results.write(report, args.out)
    return report


if __name__ == "__main__":
    main()
