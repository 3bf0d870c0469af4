"""A schedule against every brick, and against the honest baseline: every brick with fewer steps.

The measured speed-up comes from paired runs: every brick and the schedule run back to back, several
times, the pair's order alternating (a machine that speeds up or slows down, or a first run that warms
caches, then favours neither); each pair gives one ratio, and the comparison reports their median and
their range. Timed runs never come from the run cache (a replay takes no time); sampling is
deterministic, so their pictures are those of any other run of the same request.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from .config import LegoConfig
from .estimate import estimate
from .flops import format_flops
from .request import PlaygroundError, Request
from .runs import RunRecord, run
from .sampler import StepInfo
from .schedule import BrickSchedule
from .serving import Served
from .visuals import Difference, difference_map

REPEATS = 3  # pairs of timed runs: enough for a median and a range, few enough to stay cheap
FULL, SCHEDULE = "all bricks", "schedule"


@dataclass(frozen=True)
class PlannedRun:
    label: str  # FULL, SCHEDULE, or the baseline's "all bricks, N steps"
    request: Request
    repeat: int  # which pair a timed run belongs to
    timed: bool  # timed runs always run; the baseline runs once, and may be replayed from the run cache


def plan(config: LegoConfig, request: Request, repeats: int = REPEATS) -> list[PlannedRun]:
    """Every run of a comparison in order (first image only): all bricks and the schedule ``repeats`` times,
    interleaved with the order alternating, then the honest baseline once."""
    every = BrickSchedule.all_on(config.num_bricks)
    full = replace(request, schedule=every, images=1)
    scheduled = replace(request, images=1)
    fewer = matched_steps(config, request)
    runs = []
    for r in range(repeats):
        pair = [PlannedRun(FULL, full, r, True), PlannedRun(SCHEDULE, scheduled, r, True)]
        runs += pair if r % 2 == 0 else pair[::-1]
    return runs + [PlannedRun(f"all bricks, {fewer} steps", replace(full, steps=fewer), 0, False)]


def plan_gflops(config: LegoConfig, runs: list[PlannedRun]) -> float:
    """Everything a comparison computes: the per-request limit covers all its runs, repeats included."""
    return sum(estimate(config, r.request, 1.0).gflops for r in runs)


@dataclass(frozen=True)
class PairedTiming:
    """Seconds of all bricks and of the schedule, one pair per repeat, and the speed-up they show."""

    full: tuple[float, ...]
    scheduled: tuple[float, ...]

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
        return f"**{self.speedup:.2f}x** (from {low:.2f}x to {high:.2f}x over {len(self.ratios)} paired runs)"


@dataclass(frozen=True)
class CompareProgress:
    """Where a comparison is: one sampling step of one of its runs."""

    run: int  # 0-based, of ``runs``
    runs: int
    label: str
    repeat: int
    repeats: int
    step: int  # 1-based, of ``steps``
    steps: int
    done: int  # steps done over the whole comparison, of ``total``
    total: int

    def text(self) -> str:
        paired = self.label in (FULL, SCHEDULE)
        which = f"{self.label}, pair {self.repeat + 1}/{self.repeats}" if paired else self.label
        return f"run {self.run + 1}/{self.runs} ({which}): step {self.step}/{self.steps}"


@dataclass
class Comparison:
    """The same seed with every brick, with the request's schedule, and every brick at fewer steps."""

    full: RunRecord
    scheduled: RunRecord
    baseline: RunRecord
    timing: PairedTiming

    @property
    def records(self) -> dict[str, RunRecord]:
        fewer = f"all bricks, {self.baseline.request.steps} steps"
        return {FULL: self.full, SCHEDULE: self.scheduled, fewer: self.baseline}

    @property
    def seconds(self) -> list[float]:
        """Per record: the median of the paired runs for all bricks and the schedule, the one baseline run."""
        return [statistics.median(self.timing.full), statistics.median(self.timing.scheduled), self.baseline.seconds]

    @property
    def pixel_difference(self) -> float:
        return float(np.abs(self.full.images[0].astype(int) - self.scheduled.images[0].astype(int)).mean())

    @property
    def difference(self) -> Difference:
        """The schedule's picture against every brick's: red where it is lighter, blue where darker."""
        return difference_map(self.full.images[0], self.scheduled.images[0])

    def summary(self) -> str:
        full, sch, base = self.full, self.scheduled, self.baseline
        full_s, sch_s, base_s = self.seconds
        return (f"Seed **{sch.request.seed}**. Measured speed-up of the schedule over all bricks: "
                f"{self.timing.text()}, each pair run back to back in alternating order; predicted from FLOPs "
                f"{sch.estimate.cost.predicted_speedup:.2f}x. Schedule {format_flops(sch.estimate.cost.total)}, "
                f"median {sch_s:.2f} s; all bricks {format_flops(full.estimate.cost.total)}, median {full_s:.2f} s. "
                f"Honest baseline: every brick with {base.request.steps} steps costs "
                f"{format_flops(base.estimate.cost.total)} ({base_s:.2f} s, one run). "
                f"Schedule vs all bricks: mean absolute pixel difference {self.pixel_difference:.1f} / 255, "
                f"largest {self.difference.largest} / 255.")


def compare_steps(served: Served, request: Request, repeats: int = REPEATS) -> Iterator[CompareProgress | Comparison]:
    """Run a comparison: yields a CompareProgress at every sampling step, then the Comparison. Refuses
    (PlaygroundError) before any compute when its runs together exceed the per-request limit."""
    runs = plan(served.config, request, repeats)
    total = plan_gflops(served.config, runs)
    if total > served.limits.max_gflops:  # one limit for everything the request will run
        raise PlaygroundError(
            f"this comparison runs three variants, all bricks and the schedule {repeats} times each for honest "
            f"timings: {total:,.0f} GFLOPs together, more than this machine serves per request "
            f"({served.limits.max_gflops:,.0f}); lower the size or the steps")
    return _run_plan(served, runs, repeats)


def _run_plan(served: Served, runs: list[PlannedRun], repeats: int) -> Iterator[CompareProgress | Comparison]:
    total = sum(r.request.steps for r in runs)
    done = 0
    first: dict[str, RunRecord] = {}
    seconds: dict[str, list[float]] = {FULL: [], SCHEDULE: []}
    for i, planned in enumerate(runs):
        record = None if planned.timed else served.cache.get(planned.request, served.precision)
        if record is None:
            est = estimate(served.config, planned.request, served.throughput)
            for item in run(served.model, planned.request, est, served.precision, keep_frames=False):
                if isinstance(item, StepInfo):
                    done += 1
                    yield CompareProgress(i, len(runs), planned.label, planned.repeat, repeats, item.step + 1,
                                          item.steps, done, total)
                else:
                    record = item
            served.cache.put(record)
            served.observe(record)
        else:
            done += planned.request.steps
        if planned.timed:
            seconds[planned.label].append(record.seconds)
        first.setdefault(planned.label, record)
    timing = PairedTiming(tuple(seconds[FULL]), tuple(seconds[SCHEDULE]))
    yield Comparison(first[FULL], first[SCHEDULE], first[runs[-1].label], timing)


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
