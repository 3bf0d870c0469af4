"""The classroom experiment: which brick can be dropped late, measured before anything is concluded."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .estimate import Speed, estimate
from .model import LegoModel
from .request import parse_request
from .runs import RunCache, RunRecord, run_to_end
from .schedule import BrickSchedule, drop_late


@dataclass(frozen=True)
class LessonRow:
    brick: str
    saving: float  # share of the all-bricks FLOPs avoided
    pixel_difference: float  # mean absolute difference to the all-bricks image, 0-255
    image: np.ndarray


def late_drop_lesson(model: LegoModel, label: int | None, seed: int, speed: Speed, precision: str = "auto",
                     cache: RunCache | None = None) -> tuple[np.ndarray, list[LessonRow]]:
    """The classroom experiment: every brick, then each brick in turn off for the last 40% of the steps."""
    config = model.config
    name = None if label is None else config.label_space().describe(label)

    def one(schedule: BrickSchedule) -> RunRecord:
        request = parse_request(config, name, seed, 18, 2.0, "heun", 1, config.image_size, config.image_size,
                                schedule)
        return run_to_end(model, request, estimate(config, request, speed), precision, cache=cache)

    reference = one(BrickSchedule.all_on(config.num_bricks))
    rows = []
    for k in range(config.num_bricks):
        record = one(drop_late(config, k))
        diff = float(np.abs(record.images[0].astype(int) - reference.images[0].astype(int)).mean())
        rows.append(LessonRow(config.brick_name(k), record.estimate.cost.saving, diff, record.images[0]))
    return reference.images[0], rows


# Below this difference in mean pixel change (out of 255) two bricks count as tied: about the spread
# of the same comparison over a few seeds on the bundled model.
LESSON_TIE = 0.5


def lesson_verdict(rows: list[LessonRow], guess: int) -> str:
    """What the classroom experiment says about the learner's guess: every sentence from the measured rows."""
    order = sorted(range(len(rows)), key=lambda i: rows[i].pixel_difference)
    best, most = order[0], order[-1]
    tied = [i for i in order if rows[i].pixel_difference - rows[best].pixel_difference < LESSON_TIE]
    table = "\n".join(["| brick off for the last 40% | FLOPs saved | mean pixel change |", "|---|---|---|"]
                      + [f"| {r.brick} | {r.saving:.0%} | {r.pixel_difference:.1f} / 255 |" for r in rows])
    names = " and ".join(rows[i].brick for i in tied)
    if guess in tied:
        verdict = "You were right" if len(tied) == 1 else f"A tie you share: {names} changed the image least"
    else:
        verdict = f"Not this time: {names} changed the image least" + (" (a tie)" if len(tied) > 1 else "")
    moral = (f"In this run, switching {rows[most].brick} off late changed the image most "
             f"({rows[most].pixel_difference:.1f} / 255) and {names} least "
             f"({rows[best].pixel_difference:.1f} / 255); differences under {LESSON_TIE} / 255 count as a tie. "
             "Try another category or seed, or the same brick off for the *first* 40% in the Generate tab.")
    return (f"{verdict}. Dropping {rows[guess].brick} late saved {rows[guess].saving:.0%} of the FLOPs and changed "
            f"the image by {rows[guess].pixel_difference:.1f} / 255 on average.\n\n{table}\n\n{moral}")
