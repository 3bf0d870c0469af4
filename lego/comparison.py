"""A schedule against every brick, and against the honest baseline: every brick with fewer steps.

The measured speed-up comes from rounds: every brick, the schedule and the baseline run together, taking
turns step by step, the run going first rotating at every step and every round. A machine shared with other
work slows the runs of a round alike (they share its seconds, not minutes apart), and a first step that warms
caches favours none. Each round gives one every-brick / schedule ratio; the comparison reports their median
and their range, and each run's time as the median of its rounds: timed once, a busy moment could show the
baseline's fewer steps as slower than more. Timed runs never
come from the run cache (a replay takes no time); sampling is deterministic, so their pictures are those of any
other run of the same request.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from .config import LegoConfig
from .estimate import estimate
from .flops import format_flops
from .request import NO_CLASS, PlaygroundError, Request
from .runs import RunRecord, run
from .sampler import StepInfo
from .schedule import CUSTOM, BrickSchedule, off_steps
from .serving import Served
from .visuals import Difference, difference_map, mean_change, px, than

# Timed rounds. With n rounds, noise alone puts every ratio on one side of the true one with probability
# 2 / 2**n, so the range shown holds the true speed-up 94% of the time with 5 rounds (75% with 3).
REPEATS = 5
FULL, SCHEDULE = "all bricks", "schedule"


def baseline_label(steps: int) -> str:
    return f"all bricks, {steps} steps"


@dataclass(frozen=True)
class Plan:
    """What a comparison runs (first image only): ``repeats`` rounds of all bricks, the schedule and the honest
    baseline, taking turns step by step."""

    full: Request
    scheduled: Request
    baseline: Request
    repeats: int

    @classmethod
    def of(cls, config: LegoConfig, request: Request, repeats: int = REPEATS) -> Plan:
        full = replace(request, schedule=BrickSchedule.all_on(config.num_bricks), images=1)
        return cls(full, replace(request, images=1), replace(full, steps=matched_steps(config, request)), repeats)

    @property
    def steps(self) -> int:
        """Sampling steps over the whole comparison."""
        return self.repeats * (2 * self.full.steps + self.baseline.steps)

    def gflops(self, config: LegoConfig) -> float:
        """Everything the comparison computes: the per-request limit covers all its runs, repeats included."""
        return self.repeats * sum(estimate(config, r, 1.0).gflops for r in (self.full, self.scheduled, self.baseline))


@dataclass(frozen=True)
class PairedTiming:
    """Seconds of all bricks and of the schedule, one pair per round, and the speed-up they show; and the
    baseline's, one per round."""

    full: tuple[float, ...]
    scheduled: tuple[float, ...]
    baseline: tuple[float, ...]

    @property
    def ratios(self) -> list[float]:
        return [f / max(s, 1e-9) for f, s in zip(self.full, self.scheduled)]

    @property
    def speedup(self) -> float:
        """The median ratio: one odd pair (a hiccup of the machine) cannot move it."""
        return statistics.median(self.ratios)

    @property
    def spread(self) -> tuple[float, float]:
        return min(self.ratios), max(self.ratios)

    def covers(self, value: float) -> bool:
        """Whether ``value`` lies in the spread as it is shown (two decimals)."""
        low, high = self.spread
        return round(low, 2) <= round(value, 2) <= round(high, 2)

    def text(self) -> str:
        low, high = self.spread
        return f"**{self.speedup:.2f}x** (from {low:.2f}x to {high:.2f}x over {len(self.ratios)} rounds)"


@dataclass(frozen=True)
class CompareProgress:
    """Where a comparison is: one sampling step of one of its runs."""

    label: str  # FULL, SCHEDULE or the baseline's
    round: int  # 0-based, of ``rounds``
    rounds: int
    step: int  # 1-based, of ``steps``
    steps: int
    done: int  # steps done over the whole comparison, of ``total``
    total: int

    def text(self) -> str:
        return f"step {self.step}/{self.steps} of {self.label} (round {self.round + 1}/{self.rounds})"


@dataclass
class Comparison:
    """The same seed with every brick, with the request's schedule, and every brick at fewer steps."""

    full: RunRecord
    scheduled: RunRecord
    baseline: RunRecord
    timing: PairedTiming
    picture: str  # what the picture shows: 'cat face, one of Animals & Nature'
    skipped: str  # what the schedule leaves out: 'B2 global r64/p4 off at steps 6-8'

    @property
    def records(self) -> dict[str, RunRecord]:
        return {FULL: self.full, SCHEDULE: self.scheduled, baseline_label(self.baseline.request.steps): self.baseline}

    @property
    def seconds(self) -> list[float]:
        """Per record: the median of its runs, one per round."""
        t = self.timing
        return [statistics.median(t.full), statistics.median(t.scheduled), statistics.median(t.baseline)]

    @property
    def pixel_difference(self) -> float:
        return mean_change(self.full.images[0], self.scheduled.images[0])

    @property
    def baseline_difference(self) -> float:
        """How far the honest baseline's picture is from every brick's: what the schedule's change is weighed
        against."""
        return mean_change(self.full.images[0], self.baseline.images[0])

    @property
    def measurable(self) -> bool:
        """Whether the rounds show a speed-up: the schedule skips something, and the range of the rounds' ratios,
        as shown, leaves out 1.00x."""
        return self.scheduled.mask != self.full.mask and not self.timing.covers(1.0)

    @property
    def difference(self) -> Difference:
        """The schedule's picture against every brick's: red where it is lighter, blue where darker."""
        return difference_map(self.full.images[0], self.scheduled.images[0])

    def summary(self) -> str:
        full, sch, base = self.full, self.scheduled, self.baseline
        full_s, sch_s, base_s = self.seconds
        return (f"{headline(self.picture, sch.request, self.skipped)}.\n\n"
                f"- {self.speed_line()}; predicted from FLOPs {sch.estimate.cost.predicted_speedup:.2f}x.\n"
                f"- **Work**: the schedule {format_flops(sch.estimate.cost.total)} in {sch_s:.2f} s; every brick "
                f"{format_flops(full.estimate.cost.total)} in {full_s:.2f} s; the honest baseline, every brick with "
                f"{base.request.steps} steps, {format_flops(base.estimate.cost.total)} in {base_s:.2f} s.\n"
                f"- **Picture**: the schedule's picture differs from every brick's by "
                f"{px(self.pixel_difference)} per pixel on average, {self.difference.largest} / 255 at most; the "
                f"baseline's by {px(self.baseline_difference)}. At about the same cost, the schedule changed the "
                f"picture **{than(self.pixel_difference, self.baseline_difference)}** taking fewer steps.\n\n"
                f"Each time is the median of its run's {len(self.timing.ratios)} rounds; the speed-up is the median "
                "of the rounds' ratios, which a slow moment of the machine moves less, so it can differ from the "
                "ratio of the times.")

    def report(self, config: LegoConfig) -> dict:
        """The comparison's figures for a script: the schedule's request (as Generate's report gives it, with the
        emoji drawn for a category); per run its steps, mask (per step, which bricks run), FLOPs, seconds (one per
        round) and change from every brick's picture; the speed-up measured over the rounds, and the one FLOPs
        predict."""
        t, full = self.timing, self.full.images[0]
        rounds = (t.full, t.scheduled, t.baseline)
        low, high = t.spread
        return {
            "request": self.scheduled.request.to_dict(config), "picture": self.picture, "skipped": self.skipped,
            "runs": {label: {"steps": r.request.steps, "mask": r.mask, "flops": r.estimate.cost.total,
                             "seconds": round(statistics.median(s), 4), "seconds_per_round": [round(x, 4) for x in s],
                             "mean_change": round(mean_change(full, r.images[0]), 4)}
                     for (label, r), s in zip(self.records.items(), rounds)},
            "speedup": {"measured": round(t.speedup, 4), "low": round(low, 4), "high": round(high, 4),
                        "rounds": len(t.ratios), "measurable": self.measurable,
                        "predicted": round(self.scheduled.estimate.cost.predicted_speedup, 4)},
            "largest_change": self.difference.largest,
        }

    def speed_line(self) -> str:
        """The measured speed-up, led by what it shows: a range of the rounds' ratios that includes 1.00x is no
        measurable speed-up, whatever its median, and a schedule that is every brick can only measure noise."""
        if self.scheduled.mask == self.full.mask:
            return (f"**No speed-up to measure**: this schedule runs every brick at every step, so it is the "
                    f"all-bricks run and any difference is the machine's noise: {self.timing.text()}")
        if not self.measurable:
            return (f"**No measurable speed-up** this time: the rounds' ratios include 1.00x: "
                    f"{self.timing.text()}; try again on a quieter machine, or skip more")
        return f"**Measured speed-up** of the schedule over every brick: {self.timing.text()}"


def headline(picture: str, request: Request, skipped: str) -> str:
    """'*dog face (…)*, seed **0**: B2 global r64/p4 off at steps 6-8 of 8 (the **pg-recipe** preset)'."""
    name = "" if request.schedule.name == CUSTOM else f" (the **{request.schedule.name}** preset)"
    return f"*{picture}*, seed **{request.seed}**: {skipped}{name}"


def preview(config: LegoConfig, names: Sequence[str], request: Request, max_gflops: float) -> str:
    """What Compare will run with the Generate tab's settings, said before anything runs."""
    try:
        check_skips_something(request)
    except PlaygroundError as exc:  # "Nothing to compare: ...", said before Compare is pressed
        return f"{str(exc)[0].upper()}{str(exc)[1:]}."
    planned = Plan.of(config, request)
    try:
        check_within(planned, config, max_gflops)
    except PlaygroundError as exc:
        return f"Compare would refuse these settings: {exc}."
    skipped = off_steps(request.schedule.mask(request.steps), names)
    return (f"**Will compare** {headline(drawn_picture(config, request), request, skipped)}, against every brick, "
            f"and every brick with {planned.baseline.steps} steps.")


def drawn_picture(config: LegoConfig, request: Request) -> str:
    """What the compared picture shows: 'cat face, one of Animals & Nature' for a category."""
    if request.label is None:
        return NO_CLASS
    return config.label_space().describe_drawn(request.label, request.seed)


def check_skips_something(request: Request) -> None:
    """A PlaygroundError for a schedule that runs every brick at every step: compared with every brick, it would
    spend a dozen runs to show two equal pictures and a speed-up of 1 (the noise test of the timing, not a lesson)."""
    if all(all(step) for step in request.schedule.mask(request.steps)):
        raise PlaygroundError("nothing to compare: the schedule runs every brick at every step, the same as the "
                              "picture it would be "
                              "compared with: untick some step ranges in the Generate tab (or pick a preset such as "
                              "pg-recipe), then press Compare; in a script, give brick_0, brick_1, ... or "
                              "schedule_json")


def compare_steps(served: Served, request: Request, repeats: int = REPEATS) -> Iterator[CompareProgress | Comparison]:
    """Run a comparison: yields a CompareProgress at every sampling step, then the Comparison. Refuses
    (PlaygroundError) before any compute when its runs together exceed the per-request limit."""
    planned = Plan.of(served.config, request, repeats)
    check_within(planned, served.config, served.limits.max_gflops)
    return _run_plan(served, planned)


def check_within(planned: Plan, config: LegoConfig, max_gflops: float) -> None:
    """A PlaygroundError for a comparison whose runs together exceed the per-request limit."""
    total = planned.gflops(config)
    if total > max_gflops:  # one limit for everything the request will run
        raise PlaygroundError(
            f"this comparison runs three variants (all bricks, the schedule and the baseline) {planned.repeats} times "
            f"each for honest timings: {total:,.0f} GFLOPs together, more than this machine serves per request "
            f"({max_gflops:,.0f}); lower the size or the steps")


def _run_plan(served: Served, planned: Plan) -> Iterator[CompareProgress | Comparison]:
    done = 0
    requests = {FULL: planned.full, SCHEDULE: planned.scheduled,
                baseline_label(planned.baseline.steps): planned.baseline}
    records: dict[str, list[RunRecord]] = {label: [] for label in requests}
    for round_ in range(planned.repeats):
        runs = {label: _steps(served, r) for label, r in requests.items()}
        step = 0
        while runs:  # the runs still going take turns, the one going first moving on every step and every round
            live = list(runs)
            first = (round_ + step) % len(live)
            for label in live[first:] + live[:first]:
                item = next(runs[label])
                if isinstance(item, StepInfo):
                    done += 1
                    yield CompareProgress(label, round_, planned.repeats, item.step + 1, item.steps, done,
                                          planned.steps)
                else:
                    records[label].append(item)
                    del runs[label]
            step += 1
    full, scheduled, baseline = (records[label] for label in requests)
    timing = PairedTiming(*(tuple(r.seconds for r in variant) for variant in (full, scheduled, baseline)))
    skipped = off_steps(scheduled[0].mask, served.names)
    yield Comparison(full[0], scheduled[0], baseline[0], timing, drawn_picture(served.config, planned.scheduled),
                     skipped)


def _steps(served: Served, request: Request) -> Iterator[StepInfo | RunRecord]:
    """One run, really computed, step by step; its record goes to the run cache and calibrates time estimates."""
    for item in run(served.model, request, estimate(served.config, request, served.speed), served.precision,
                    keep_frames=False):
        if isinstance(item, RunRecord):
            served.cache.put(item)
            served.observe(item)
        yield item


def compare(served: Served, request: Request, repeats: int = REPEATS) -> Comparison:
    """``compare_steps`` to the end."""
    *_, result = compare_steps(served, request, repeats)
    return result


def matched_steps(config: LegoConfig, request: Request) -> int:
    """The step count at which all bricks cost about what the request's schedule costs (the honest baseline)."""
    target = estimate(config, request, 1.0).cost.total
    best, best_gap = 1, math.inf
    for n in range(1, request.steps + 1):
        trial = replace(request, steps=n, schedule=BrickSchedule.all_on(config.num_bricks))
        gap = abs(estimate(config, trial, 1.0).cost.total - target)
        if gap < best_gap:
            best, best_gap = n, gap
    return best
