"""The classroom experiment: which brick can be dropped late, measured before anything is concluded.

One lesson samples the same seed and category with every brick, then each brick off for the last 40%
of the steps, each brick off for the first 40%, and every brick with fewer steps at about each late
drop's cost (the honest baseline). Every sentence shown afterwards is computed from those numbers.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Generator
from dataclasses import dataclass, replace

import numpy as np

from .comparison import matched_steps
from .config import LegoConfig
from .estimate import estimate
from .request import DEFAULT_GUIDANCE, DEFAULT_METHOD, DEFAULT_STEPS, NO_CLASS, PlaygroundError, Request, parse_request
from .runs import RunRecord, run
from .sampler import METHOD_NAMES, StepInfo
from .schedule import SKIP_SHARE, BrickSchedule, drop_early, drop_late
from .serving import Served
from .visuals import TIE, compared, mean_change, px, than, tied

# The app's default sampler, steps and guidance (see lego.request), so a class meets the same pictures in both tabs.
LESSON_METHOD, LESSON_STEPS, LESSON_GUIDANCE = DEFAULT_METHOD, DEFAULT_STEPS, DEFAULT_GUIDANCE
LESSON_SEED = 0  # presenter mode always uses it, so a class sees the prepared (cached) lesson
EVERY_BRICK = "every brick"


@dataclass(frozen=True)
class LessonRow:
    label: str
    saving: float  # share of the all-bricks FLOPs (at the lesson's steps) avoided
    pixel_difference: float  # mean absolute difference to the all-bricks image, 0-255, as shown (2 decimals)
    image: np.ndarray
    steps: int = LESSON_STEPS


@dataclass(frozen=True)
class Lesson:
    """Every measured run of one lesson; ``late``, ``early`` and ``fewer`` have one row per brick."""

    category: str
    seed: int
    names: tuple[str, ...]
    reference: np.ndarray  # every brick, every step
    late: tuple[LessonRow, ...]  # brick k off for the last 40% of the steps
    early: tuple[LessonRow, ...]  # brick k off for the first 40%
    fewer: tuple[LessonRow, ...]  # every brick, with the step count nearest in FLOPs to late[k]

    @property
    def nbytes(self) -> int:
        rows = self.late + self.early + self.fewer
        return self.reference.nbytes + sum(r.image.nbytes for r in rows)


@dataclass(frozen=True)
class LessonProgress:
    """Where a lesson is: run ``run`` of ``runs`` (called ``label``), after ``step`` of its ``steps``."""

    run: int
    runs: int
    label: str
    step: int
    steps: int

    def __str__(self) -> str:
        return f"run {self.run}/{self.runs} ({self.label}), step {self.step}/{self.steps}"


def late_label(name: str) -> str:
    return f"{name} off for the last {SKIP_SHARE:.0%}"


def early_label(name: str) -> str:
    return f"{name} off for the first {SKIP_SHARE:.0%}"


def fewer_label(steps: int) -> str:
    return f"{EVERY_BRICK}, {steps} steps"


def lesson_plan(config: LegoConfig, label: int | None, seed: int) -> dict[str, Request]:
    """Every run of the lesson by its label, in the order they are sampled. Late drops that cost about
    the same share the one fewer-steps run."""
    name = None if label is None else config.label_space().describe(label)
    every = BrickSchedule.all_on(config.num_bricks)

    def request(steps: int, schedule: BrickSchedule) -> Request:
        return parse_request(config, name, seed, steps, LESSON_GUIDANCE, LESSON_METHOD, 1, config.image_size,
                             config.image_size, schedule)

    names = [config.brick_name(k) for k in range(config.num_bricks)]
    plan = {EVERY_BRICK: request(LESSON_STEPS, every)}
    plan |= {late_label(n): request(LESSON_STEPS, drop_late(config, k)) for k, n in enumerate(names)}
    plan |= {early_label(n): request(LESSON_STEPS, drop_early(config, k)) for k, n in enumerate(names)}
    for steps in fewer_steps(config, plan):
        plan[fewer_label(steps)] = replace(plan[EVERY_BRICK], steps=steps, schedule=every)
    return plan


def fewer_steps(config: LegoConfig, requests: dict[str, Request]) -> list[int]:
    """For each brick, the number of all-brick steps that costs about what dropping it late does."""
    return [matched_steps(config, requests[late_label(config.brick_name(k))]) for k in range(config.num_bricks)]


def plan_gflops(config: LegoConfig, plan: dict[str, Request]) -> float:
    """The whole lesson's cost: one limit covers it, and a ZeroGPU Space asks for GPU time from it."""
    return sum(estimate(config, r, 1.0).gflops for r in plan.values())


class LessonCache:
    """Finished lessons by model fingerprint, precision, category and seed. The served model's run cache
    holds every tab's runs, so a class generating images would push out a lesson prepared before class;
    lessons kept here are not. Bounded by the bytes of their pictures."""

    def __init__(self, max_bytes: int = 4 * 2**20) -> None:
        self.max_bytes = max_bytes
        self._lessons: OrderedDict[tuple, Lesson] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(served: Served, label: int | None, seed: int) -> tuple:
        return served.fingerprint, served.precision, label, seed

    def get(self, key: tuple) -> Lesson | None:
        with self._lock:
            if key in self._lessons:
                self._lessons.move_to_end(key)
            return self._lessons.get(key)

    def put(self, key: tuple, lesson: Lesson) -> None:
        with self._lock:
            self._lessons[key] = lesson
            while sum(x.nbytes for x in self._lessons.values()) > self.max_bytes:
                self._lessons.popitem(last=False)

    def __len__(self) -> int:
        return len(self._lessons)


def lesson_steps(served: Served, label: int | None, seed: int = LESSON_SEED,
                 store: LessonCache | None = None) -> Generator[LessonProgress, None, Lesson]:
    """The lesson as a generator: yields a LessonProgress after every sampling step (a caller that stops
    iterating stops sampling there), returns the Lesson. Runs already in the served model's cache, or a
    lesson in ``store``, are replayed without sampling."""
    key = LessonCache.key(served, label, seed)
    if store is not None and (hit := store.get(key)) is not None:
        return hit
    config = served.config
    plan = lesson_plan(config, label, seed)
    estimates = {k: estimate(config, r, served.speed) for k, r in plan.items()}
    total = plan_gflops(config, plan)
    if total > served.limits.max_gflops:
        raise PlaygroundError(f"the lesson runs {len(plan)} variants that need {total:,.0f} GFLOPs together, more "
                              f"than this machine serves per request ({served.limits.max_gflops:,.0f})")
    records: dict[str, RunRecord] = {}
    for i, (name, request) in enumerate(plan.items(), start=1):
        record = served.cache.get(request, served.precision)
        if record is None:
            for item in run(served.model, request, estimates[name], served.precision, keep_frames=False):
                if isinstance(item, StepInfo):
                    yield LessonProgress(i, len(plan), name, item.step + 1, item.steps)
                else:
                    record = item
            served.cache.put(record)
            served.observe(record)
        records[name] = record
    lesson = measure(config, label, seed, records)
    if store is not None:
        store.put(key, lesson)
    return lesson


def run_lesson(served: Served, label: int | None, seed: int = LESSON_SEED, store: LessonCache | None = None) -> Lesson:
    """``lesson_steps`` run to the end."""
    steps = lesson_steps(served, label, seed, store)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def measure(config: LegoConfig, label: int | None, seed: int, records: dict[str, RunRecord]) -> Lesson:
    """Each run's saving and pixel change against the all-bricks run."""
    reference = records[EVERY_BRICK]
    ref_flops = reference.estimate.cost.total

    def row(name: str) -> LessonRow:
        record = records[name]
        diff = mean_change(reference.images[0], record.images[0])
        return LessonRow(name, 1.0 - record.estimate.cost.total / ref_flops, round(diff, 2), record.images[0],
                         record.request.steps)

    names = tuple(config.brick_name(k) for k in range(config.num_bricks))
    fewer = [fewer_label(n) for n in fewer_steps(config, {name: r.request for name, r in records.items()})]
    category = NO_CLASS if label is None else config.label_space().describe_drawn(label, seed)
    return Lesson(category, seed, names, reference.images[0], tuple(row(late_label(n)) for n in names),
                  tuple(row(early_label(n)) for n in names), tuple(row(f) for f in fewer))


# ---- what the numbers say ---------------------------------------------------------------

def brick_sentence(config: LegoConfig, k: int) -> str:
    """One brick in plain words: the region it sees, how it is cut into patches, and what it is for."""
    b, name = config.bricks[k], config.brick_name(k)
    cut = f"cut into {b.patch}x{b.patch}-pixel patches"
    if config.is_global(k):
        return f"**{name}** sees the whole {b.region}x{b.region}-pixel image at once, {cut}: it is for the layout."
    return (f"**{name}** sees one {b.region}x{b.region}-pixel square at a time, {cut}: it is for local detail such as "
            "edges and texture.")


def predict_text(config: LegoConfig) -> str:
    """Stage 1: the bricks explained, then the question, with an argument for each kind of answer: the layout
    argument alone would lead a class to the global brick, which on our models changes the picture most."""
    bricks = "\n".join(f"- {brick_sentence(config, k)}" for k in range(config.num_bricks))
    mask = drop_late(config, config.num_bricks - 1).mask(LESSON_STEPS)
    late = [i + 1 for i, row in enumerate(mask) if not row[-1]]
    layout = " and ".join(f"**{config.brick_name(k)}**" for k in range(config.num_bricks) if config.is_global(k))
    top = f"**{config.brick_name(config.num_bricks - 1)}**"
    return ("The model draws a picture in steps: it starts from pure noise, and at each step it takes some of the "
            f"noise away. It does that with a stack of {config.num_bricks} bricks; each can be switched off for some "
            "of the steps, which saves its work: the arithmetic it would have done, counted in FLOPs (floating-point "
            f"operations).\n\n{bricks}\n\nThe last steps, {late[0]}-{late[-1]} of the {LESSON_STEPS} (about the "
            f"last {SKIP_SHARE:.0%} of the way from noise to picture), refine "
            f"an almost finished image. One argument: its layout is settled by then, so {layout or 'a layout brick'} "
            f"is no longer needed. Another: each brick refines what the one below it made, and the top one, {top}, "
            "hands over the picture. **Which brick can you switch off there and change the picture least?**")


def _least(rows: tuple[LessonRow, ...]) -> list[int]:
    """The rows tied for the smallest pixel change."""
    low = min(r.pixel_difference for r in rows)
    return [i for i, r in enumerate(rows) if tied(r.pixel_difference, low)]


def least_and_most(rows: tuple[LessonRow, ...]) -> tuple[list[int], list[int]]:
    """The rows tied for the smallest change, and those with the largest unless it ties with the smallest
    (then every row is in a tie and none changed the image most)."""
    least = _least(rows)
    high = max(r.pixel_difference for r in rows)
    if tied(high, rows[least[0]].pixel_difference):
        return least, []
    return least, [i for i, r in enumerate(rows) if r.pixel_difference == high]


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def late_verdict(lesson: Lesson, guess: int) -> str:
    """Stage 3: the guess against the measured late drops, with the table they come from."""
    rows = lesson.late
    least = _least(rows)
    names = _and([lesson.names[i] for i in least])
    if guess in least:
        verdict = "You were right" if len(least) == 1 else f"A tie you share: {names} changed the image least"
    else:
        verdict = f"Not this time: {names} changed the image least" + (" (a tie)" if len(least) > 1 else "")
    table = "\n".join([f"| brick off for the last {SKIP_SHARE:.0%} | FLOPs saved | mean pixel change |",
                       "|---|---|---|"]
                      + [f"| {n} | {r.saving:.0%} | {px(r.pixel_difference)} |" for n, r in zip(lesson.names, rows)])
    mine = rows[guess]
    return (f"**{verdict}.** Your brick, {lesson.names[guess]}, off late saved {mine.saving:.0%} of the FLOPs and "
            f"changed the image by {px(mine.pixel_difference)} on average (colour values run from 0 to 255, so 0 "
            f"means no change and 255 black turned white; differences under {TIE} / 255 count as a tie)."
            f"\n\n{table}")


def early_late_verdict(lesson: Lesson, guess: int) -> str:
    """Stage 4: the guessed brick off early vs off late, and the same for every brick."""
    early, late, name = lesson.early[guess], lesson.late[guess], lesson.names[guess]
    table = "\n".join([f"| pixel change, brick off | first {SKIP_SHARE:.0%} | last {SKIP_SHARE:.0%} |", "|---|---|---|"]
                      + [f"| {n} | {px(e.pixel_difference)} | {px(x.pixel_difference)} |"
                         for n, e, x in zip(lesson.names, lesson.early, lesson.late)])
    return (f"**{name}** off for the first {SKIP_SHARE:.0%} (saving {early.saving:.0%}) changed the image by "
            f"**{px(early.pixel_difference)}**; off for the last {SKIP_SHARE:.0%} (saving {late.saving:.0%}), by "
            f"**{px(late.pixel_difference)}**. In this run, dropping it late changed the image "
            f"{than(late.pixel_difference, early.pixel_difference)} dropping it early. But a change is how far the "
            "picture moved, not whether it got worse (a slightly shifted outline moves many pixels): which picture "
            "would you keep?\n\n"
            f"{table}\n\n"
            f"{_tally(lesson, lesson.early, 'dropping it early')}")


def cost_verdict(lesson: Lesson, guess: int) -> str:
    """Stage 5: the guessed brick off late against every brick with fewer steps at the nearest cost."""
    late, fewer, name = lesson.late[guess], lesson.fewer[guess], lesson.names[guess]
    table = "\n".join([f"| brick | off for the last {SKIP_SHARE:.0%} | every brick, fewer steps |", "|---|---|---|"]
                      + [f"| {n} | {x.saving:.0%} saved, {px(x.pixel_difference)} | {f.steps} steps: {f.saving:.0%} "
                         f"saved, {px(f.pixel_difference)} |"
                         for n, x, f in zip(lesson.names, lesson.late, lesson.fewer)])
    return (f"**{name}** off late saved {late.saving:.0%} of the FLOPs and changed the image by "
            f"**{px(late.pixel_difference)}**. Every brick with {fewer.steps} instead of {LESSON_STEPS} steps, the "
            f"nearest cost, saved {fewer.saving:.0%} and changed it by **{px(fewer.pixel_difference)}**. In this run, "
            f"dropping {name} late changed the image {than(late.pixel_difference, fewer.pixel_difference)} simply "
            f"taking fewer steps.\n\n{table}\n\n"
            f"{_tally(lesson, lesson.fewer, 'taking fewer steps instead')}")


def _tally(lesson: Lesson, other: tuple[LessonRow, ...], what: str) -> str:
    """Across every brick, by name: for which dropping it late changed the image less than ``what``, more, or as
    much."""
    words = [compared(x.pixel_difference, o.pixel_difference) for x, o in zip(lesson.late, other)]
    groups = [(w, [n for n, v in zip(lesson.names, words) if v == w])
              for w in ("less than", "more than", "about as much as") if w in words]
    (word, names), rest = groups[0], groups[1:]
    short = {"less than": "less", "more than": "more", "about as much as": "about as much (a tie)"}
    return (f"Dropping the brick late changed the image {word} {what} for {_and(names)}"
            + "".join(f"; {short[w]} for {_and(g)}" for w, g in rest) + ".")


def recipe_sentence(lesson: Lesson) -> str:
    """This run against the paper's recipe, which a class will ask about when the top brick changed the most:
    a pixel change is distance from one picture, the paper judged quality over many."""
    top = len(lesson.names) - 1
    name = lesson.names[top]
    if top in _least(lesson.late):
        return f"That agrees with the paper's recipe (the pg-recipe preset), which drops the top brick, {name}, late."
    return (f"The paper's recipe (the pg-recipe preset) drops the top brick, {name}, late all the same: on the "
            "paper's ImageNet models, judged over 50,000 pictures, that saved time at no loss of quality for the last "
            "30% of the steps, and lost some for the last 50% (FID, a distance to real pictures where lower is "
            "better: 2.24 with every brick, 2.05 and 3.10; this lesson drops 40%, between the two). A pixel change "
            "says how far one picture moved, not whether it got worse: look at the pictures and judge which you "
            "would rather have.")


def trade_sentence(lesson: Lesson) -> str:
    """What the brick that changed the picture least saved, against the top brick that the paper drops: a class
    that saw the top brick change the picture most should also see whether the least change cost a saving."""
    late, top = lesson.late, len(lesson.names) - 1
    least = _least(late)
    if top in least:
        return ""
    k = max(least, key=lambda i: late[i].saving)
    mine, theirs = late[k], late[top]
    if mine.saving >= theirs.saving:
        return (f"So {lesson.names[k]} was the better trade here: {mine.saving:.0%} of the FLOPs saved, against the "
                f"top brick's {theirs.saving:.0%}, for less change.")
    return (f"{lesson.names[k]} changed the picture less but saved less: {mine.saving:.0%} of the FLOPs against the "
            f"top brick's {theirs.saving:.0%}.")


MORE = "More: the paper's recipe, dropping early, fewer steps"


def take_away(lesson: Lesson, guess: int, measured: str = "") -> str:
    """Stage 6: only what this lesson measured, sentence by sentence; ``measured`` (results.recipe_measured) adds
    what the recipe costs this model over many pictures, beside the paper's figures. What a class needs first is
    shown; the paper's figures and the other comparisons fold away under ``MORE``, for those who ask."""
    late = lesson.late
    least, most = least_and_most(late)
    if not most:
        first = (f"Dropped for the last {SKIP_SHARE:.0%} of the steps, every brick changed the image about as much "
                 f"({_and([px(r.pixel_difference) for r in late])}): a tie.")
    else:
        lows = _and([px(late[i].pixel_difference) for i in least])
        first = (f"Dropped for the last {SKIP_SHARE:.0%} of the steps, {_and([lesson.names[i] for i in least])} "
                 + (f"changed the image least ({lows})" if len(least) == 1 else f"tied for the least change ({lows})")
                 + f" and {_and([lesson.names[i] for i in most])} most ({px(late[most[0]].pixel_difference)}).")
    if guess in least:
        second = f"Your guess, {lesson.names[guess]}, " + ("was right." if len(least) == 1 else "shares that tie.")
    else:
        second = (f"Your guess, {lesson.names[guess]}, was not the least change: it changed the image by "
                  f"{px(late[guess].pixel_difference)}.")
    trade = trade_sentence(lesson)
    main = [first, second, *([trade] if trade else []),
            f"All of this is one picture: {lesson.category}, seed {lesson.seed}, {LESSON_STEPS} "
            f"{METHOD_NAMES[LESSON_METHOD]} steps. Differences under {TIE} / 255 count as ties."]
    more = [recipe_sentence(lesson), *([measured] if measured else []),
            _tally(lesson, lesson.early, "dropping it early"),
            _tally(lesson, lesson.fewer, "running every brick with fewer steps (the nearest cost)")]
    return ("\n\n".join(f"- {s}" for s in main) + f"\n\n<details><summary>{MORE}</summary>\n\n"
            + "\n\n".join(f"- {s}" for s in more) + "\n\n</details>")
