"""A schedule against every brick, and against the honest baseline: every brick with fewer steps."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from .config import LegoConfig
from .estimate import estimate
from .flops import format_flops
from .request import PlaygroundError, Request
from .runs import RunRecord, run_to_end
from .schedule import BrickSchedule
from .serving import Served


@dataclass
class Comparison:
    """The same seed with every brick, with the request's schedule, and every brick at fewer steps."""

    full: RunRecord
    scheduled: RunRecord
    baseline: RunRecord

    @property
    def records(self) -> dict[str, RunRecord]:
        return {"all bricks": self.full, "schedule": self.scheduled,
                f"all bricks, {self.baseline.request.steps} steps": self.baseline}

    @property
    def pixel_difference(self) -> float:
        return float(np.abs(self.full.images[0].astype(int) - self.scheduled.images[0].astype(int)).mean())

    def summary(self) -> str:
        full, sch, base = self.full, self.scheduled, self.baseline
        measured = full.seconds / max(sch.seconds, 1e-9)
        return (f"Seed **{sch.request.seed}**. Schedule: {format_flops(sch.estimate.cost.total)}, {sch.seconds:.2f} s; "
                f"all bricks: {format_flops(full.estimate.cost.total)}, {full.seconds:.2f} s. "
                f"Predicted speed-up {sch.estimate.cost.predicted_speedup:.2f}x, measured {measured:.2f}x. "
                f"Honest baseline: every brick with {base.request.steps} steps costs "
                f"{format_flops(base.estimate.cost.total)} ({base.seconds:.2f} s). Mean absolute pixel difference "
                f"schedule vs all bricks: {self.pixel_difference:.1f} / 255.")


def compare(served: Served, request: Request,
            on_run: Callable[[int, str], None] | None = None) -> Comparison:
    """Run the three variants of ``request`` (first image only), through the served model's cache."""
    config = served.config
    every = BrickSchedule.all_on(config.num_bricks)
    fewer = matched_steps(config, request)
    variants = [("all bricks", request.steps, every), ("schedule", request.steps, request.schedule),
                (f"all bricks, {fewer} steps", fewer, every)]
    runs = [(label, replace(request, steps=steps, schedule=schedule, images=1)) for label, steps, schedule in variants]
    estimates = [estimate(config, one, served.speed) for _, one in runs]
    total = sum(e.gflops for e in estimates)
    if total > served.limits.max_gflops:  # one limit for everything the request will run
        raise PlaygroundError(
            f"this comparison runs three variants that need {total:,.0f} GFLOPs together, more than this machine "
            f"serves per request ({served.limits.max_gflops:,.0f}); lower the size or the steps")
    records = []
    for i, ((label, one), est) in enumerate(zip(runs, estimates)):
        if on_run is not None:
            on_run(i, label)
        records.append(run_to_end(served.model, one, est, served.precision, cache=served.cache))
    return Comparison(*records)


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
