"""Quality against compute for brick schedules, and the honest fewer-steps baseline.

    python benchmarks/schedules.py [--checkpoint DIR] [--emoji FILE] [--per-class 10] [--seed-sets 2]
        [--method M --steps N] [--out FILE.json]

Every point is sampled twice with disjoint seeds; the spread between the two sets is reported
next to each emoji-FD so that differences smaller than it are not read as findings. Points:
the top brick's t_break from 0 to 1 (the paper's sweep), each brick off for the whole run and
for the early and the late half, the app's presets, and every brick at fewer steps (the baseline
at matched FLOPs). Sampled with the app's default sampler unless told otherwise; a t_break value or a preset
whose schedule runs the same bricks at every step as an earlier point's is measured once.
Writes the table as JSON and a Plotly figure (FLOPs against emoji-FD) beside it. ``--emoji`` is for a model
trained on the emoji of a list (``lego.train --emoji``): it is asked for those emoji, against their real drawings,
and each row also has how often the judge names the emoji asked for.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lego.checkpoint import ALL_EMOJI_CHECKPOINT, fingerprint, load_checkpoint  # noqa: E402
from lego.data import load, read_emoji_list  # noqa: E402
from lego.flops import schedule_cost  # noqa: E402
from lego.judge import JUDGE_DIR, load_judge  # noqa: E402
from lego.metrics import evaluate  # noqa: E402
from lego import results  # noqa: E402
from lego.results import schedule_figure  # noqa: E402
from lego.request import DEFAULT_METHOD, DEFAULT_STEPS  # noqa: E402
from lego.sampler import METHODS, SamplerSettings  # noqa: E402
from lego.schedule import BrickSchedule, one_brick, presets_for, top_brick_break  # noqa: E402
from lego.serving import shown_source  # noqa: E402

SEED_SET_OFFSET = 100_000


SCOPES = ("full", "short", "quick")


def points(config, steps: int, scope: str) -> list[tuple[str, str, BrickSchedule, int]]:
    """(family, label, schedule, steps) for every point of the sweep. ``short`` takes t_break in
    steps of 0.2, bricks off for the whole run only and three fewer-steps points (half the time)."""
    n = config.num_bricks
    quick = scope == "quick"
    breaks = {"quick": [0.0, 0.5, 1.0], "short": [round(0.2 * i, 1) for i in range(6)],
              "full": [round(0.1 * i, 1) for i in range(11)]}[scope]
    out = []
    for t in breaks:  # at few steps, neighbouring t_break values can give the same mask
        schedule = top_brick_break(config, t)
        if all(schedule.mask(steps) != s.mask(steps) for *_, s, _ in out):
            out.append(("t_break", f"t_break {t:g}", schedule, steps))
    for k in range(n):
        for label, on in (("off", ()), ("off early half", ((0.5, 1.0),)), ("off late half", ((0.0, 0.5),))):
            if scope != "full" and label != "off":
                continue
            out.append(("brick off", f"{config.brick_name(k)} {label}", one_brick(config, k, on, label), steps))
    measured = [schedule.mask(steps) for *_, schedule, _ in out]
    for name, schedule in presets_for(config).items():
        if not quick and schedule.mask(steps) not in measured:  # pg-recipe is t_break 0.4, for one
            out.append(("preset", name, schedule, steps))
    factors = {"quick": (9,), "short": (6, 10, 14), "full": (4, 6, 8, 10, 12, 14)}[scope]
    fewer = sorted({max(2, steps * f // 18) for f in factors})
    out += [("fewer steps", f"all bricks, {s} steps", BrickSchedule.all_on(n), s) for s in fewer]
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--checkpoint", default=str(ALL_EMOJI_CHECKPOINT), help="the model to measure")
    parser.add_argument("--data", default="data/emoji64.npz",
                        help="the emoji data: the real drawings the FD and KID compare with")
    parser.add_argument("--emoji", help="a model trained on the emoji of this list: the real drawings are theirs")
    parser.add_argument("--judge", default=str(JUDGE_DIR), help="the emoji judge that scores the pictures")
    parser.add_argument("--per-class", type=int, default=10, help="requests per category in each seed set")
    parser.add_argument("--seed-sets", type=int, default=2,
                        help="disjoint seed sets per point (their spread is reported)")
    parser.add_argument("--method", default=DEFAULT_METHOD, choices=METHODS, help="the sampler")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS,
                        help="sampling steps of every point but the fewer-steps ones")
    parser.add_argument("--guidance", type=float, default=2.0, help="classifier-free guidance scale (1 = off)")
    parser.add_argument("--scope", choices=SCOPES, default="full", help="how many points (quick: for tests)")
    parser.add_argument("--compile", action="store_true", help="sample with compiled bricks (faster after a warm-up)")
    parser.add_argument("--out", default="assets/benchmarks/schedules.json",
                        help="the JSON the table is written to (the figure beside it)")
    args = parser.parse_args(argv)

    model = load_checkpoint(args.checkpoint)
    judge = load_judge(args.judge)
    data = load(args.data)
    names = read_emoji_list(args.emoji)
    if names:
        data = data.only_emoji(data.emoji_indices(names))
    rows: list[dict] = []
    report = {"what": __doc__.splitlines()[0], "command": "python benchmarks/schedules.py " + " ".join(
        argv if argv is not None else sys.argv[1:]), "checkpoint": shown_source(args.checkpoint),
        "fingerprint": fingerprint(model),
        "emoji": args.emoji, "per_class": args.per_class, "method": args.method, "guidance": args.guidance,
        "seed_sets": args.seed_sets,
        "rows": rows}
    sweep = points(model.config, args.steps, args.scope)
    # a warm-up before the first timed point: a compile and its recompiles for the batch shapes, or in eager mode
    # the first calls' one-off costs, which the first row's time per image once carried (0.27 s against 0.19 s)
    evaluate(model, judge, data, sweep[0][2].to_json(), 2, 2, args.guidance, method=args.method, compiled=args.compile)
    for family, label, schedule, steps in sweep:
        runs = [evaluate(model, judge, data, schedule.to_json(), args.per_class, steps, args.guidance,
                         seed=s * SEED_SET_OFFSET, method=args.method, compiled=args.compile)
                for s in range(args.seed_sets)]
        fds, kids = [r["emoji_fd"] for r in runs], [r["emoji_kid"] for r in runs]
        size = model.config.image_size
        settings = SamplerSettings(steps=steps, guidance=args.guidance, method=args.method)
        cost = schedule_cost(model.config, schedule, settings, size, size, guided=True)
        rows.append({
            "family": family, "label": label, "steps": steps, "schedule": schedule.to_dict(),
            "gflops_per_image": round(cost.total / 1e9, 3), "saving": round(cost.saving, 4),
            "samples": sum(r["samples"] for r in runs),
            "seconds_per_image": round(sum(r["sampling_seconds"] for r in runs) / sum(r["samples"] for r in runs), 3),
            "emoji_fd": round(sum(fds) / len(fds), 3), "emoji_fd_sets": fds,
            "emoji_fd_spread": round(max(fds) - min(fds), 3),
            "emoji_kid": round(sum(kids) / len(kids), 3), "emoji_kid_sets": kids,
            "category_accuracy": round(sum(r["category_accuracy"] for r in runs) / len(runs), 4),
            "accuracy": {level: round(sum(r["accuracy"][level] for r in runs) / len(runs), 4)
                         for level in runs[0]["accuracy"]},
            "floor": runs[0]["emoji_fd_floor"],
        })
        print(json.dumps({k: rows[-1][k] for k in ("label", "gflops_per_image", "emoji_fd", "emoji_fd_spread",
                                                    "emoji_kid", "accuracy")}), flush=True)
        results.write(report, args.out, schedule_figure(rows, named=bool(names)))  # a long sweep can be stopped


if __name__ == "__main__":
    main()
