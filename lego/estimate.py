"""What a request will cost before it runs: FLOPs, seconds on this machine, peak memory, and the limits."""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, replace

import torch

from .config import LegoConfig
from .flops import ScheduleCost, brick_layout, evaluation_flops, format_flops, schedule_cost
from .model import Brick, LegoModel
from .precision import autocast
from .request import Limits, PlaygroundError, Request


@dataclass(frozen=True)
class Estimate:
    cost: ScheduleCost
    seconds: float  # predicted wall time on this machine (see Speed)
    memory_bytes: int
    scale: float = 1.0  # the Speed's correction for recent runs, included in seconds

    @property
    def gflops(self) -> float:
        return self.cost.total / 1e9

    def summary(self) -> str:
        c = self.cost
        return (f"**{format_flops(c.total)}** for this request, {format_flops(c.reference_total)} with every brick: "
                f"saving **{c.saving:.0%}**, predicted speed-up **{c.predicted_speedup:.2f}x**; "
                f"about {self.seconds:.1f} s here, peak memory about {self.memory_bytes / 2**20:.0f} MiB")


def peak_memory_bytes(config: LegoConfig, request: Request) -> int:
    """Rough activation peak: the largest brick's chunk of tokens and attention weights, plus whole-canvas tensors."""
    batch = request.images * (2 if request.guided else 1)
    pixels = request.width * request.height
    peak = 0
    for k, step in itertools.product(range(config.num_bricks), range(4)):  # shifted windows repeat every 4 steps
        tokens, span = brick_layout(config, k, request.height, request.width, request.canvas, step)
        chunk = min(tokens * batch, max(Brick.max_chunk_tokens, span * batch))  # chunks hold whole regions
        working = chunk * config.hidden_size * (4 + config.mlp_ratio) * 4
        attention = (chunk // span) * config.num_heads * span**2 * 4 * 2
        whole = tokens * batch * config.hidden_size * 4 * 2
        peak = max(peak, int(working + attention + whole))
    return peak + batch * pixels * config.channels * 4 * 8


def estimate(config: LegoConfig, request: Request, speed: Speed | float) -> Estimate:
    """The request's cost; ``speed`` may be a bare rate in GFLOP/s, where only FLOPs matter."""
    speed = speed if isinstance(speed, Speed) else Speed(0.0, 0.0, float(speed))
    cost = schedule_cost(config, request.schedule, request.settings, request.height, request.width, request.guided,
                         request.images, request.canvas)
    return Estimate(cost, speed.predict(config, request, cost), peak_memory_bytes(config, request), speed.scale)


def guidance_saving(config: LegoConfig, request: Request, cost: ScheduleCost) -> str:
    """What guiding only some steps saves against guiding every step ('' where it saves nothing), ``cost`` being the
    request's own: the brick saving compares with every brick at the same steps guided, so it would not show."""
    if not request.guided_at():
        return ""
    ours = cost.total
    theirs = schedule_cost(config, request.schedule, replace(request.settings, guidance_interval=None),
                           request.height, request.width, True, request.images, request.canvas).total
    return (f"{request.guided_at().capitalize()}: **{format_flops(ours)}** instead of "
            f"{format_flops(theirs)} guided at every step, **{1 - ours / theirs:.0%}** less work.")


def check_size(request: Request, limits: Limits) -> None:
    """The size alone, before anything is estimated: the cost of an absurd size is not worth working out."""
    if max(request.width, request.height) > limits.max_side or request.width * request.height > limits.max_pixels:
        raise PlaygroundError(
            f"{request.width}x{request.height} is larger than this machine serves "
            f"(at most {limits.max_pixels:,} pixels, such as {math.isqrt(limits.max_pixels)}x"
            f"{math.isqrt(limits.max_pixels)}, and {limits.max_side:,} per side)")


def check_limits(estimate: Estimate, request: Request, limits: Limits) -> None:
    check_size(request, limits)
    if estimate.gflops > limits.max_gflops:
        raise PlaygroundError(
            f"this request needs {estimate.gflops:,.0f} GFLOPs, more than this machine serves per request "
            f"({limits.max_gflops:,.0f}); lower the size, steps or number of images, or switch bricks off")
    if estimate.memory_bytes > limits.max_memory_bytes:
        raise PlaygroundError(
            f"this request needs about {estimate.memory_bytes / 2**30:.1f} GiB of memory, more than this machine "
            f"serves ({limits.max_memory_bytes / 2**30:.1f} GiB); lower the size or the number of images")


@dataclass(frozen=True)
class Speed:
    """How long the model takes here: a fixed time per network evaluation and per active brick (Python
    and many small operations, which dominate small images) plus the FLOPs at a rate (which dominate
    large ones). A rate alone was off by 2-4x at one end or the other."""

    per_evaluation: float  # seconds
    per_brick: float  # seconds per active brick per evaluation
    gflops_per_second: float
    scale: float = 1.0  # measured over predicted time of this machine's recent runs

    def seconds(self, evaluations: int, brick_evaluations: int, flops: float) -> float:
        return self.scale * (evaluations * self.per_evaluation + brick_evaluations * self.per_brick
                             + flops / 1e9 / self.gflops_per_second)

    def predict(self, config: LegoConfig, request: Request, cost: ScheduleCost) -> float:
        evals = request.settings.evaluations_per_step()
        mask = request.schedule.mask(request.steps)
        return self.seconds(sum(evals), sum(n * sum(active) for n, active in zip(evals, mask)), cost.total)

    def describe(self) -> str:
        """In words, as the time estimates use it: 'each network evaluation takes 1.3 ms, plus 0.2 ms for each
        brick that runs, plus its work at 169 GFLOP/s' (a fixed time too small to show is left out)."""
        parts = [f"{self.per_evaluation * 1e3:.1f} ms"] if self.per_evaluation >= 5e-5 else []
        if self.per_brick >= 5e-5:
            parts.append(f"{self.per_brick * 1e3:.1f} ms for each brick that runs")
        parts.append(f"its work at {self.gflops_per_second:.0f} GFLOP/s")
        return "each network evaluation takes " + ", plus ".join(parts)


def measure_speed(model: LegoModel, precision: str, repeats: int = 3) -> Speed:
    """Fit ``Speed`` from a few guided evaluations: every brick and each brick alone at the training
    size, and every brick on a canvas twice as wide and high (the tiles every canvas option uses)."""
    config = model.config
    device = next(model.parameters()).device
    s, k = config.image_size, config.num_bricks

    def timed(size: int, active: list[bool] | None) -> tuple[float, float]:
        x = torch.randn(2, config.channels, size, size, device=device)
        best = math.inf
        for _ in range(repeats + 1):
            start = time.perf_counter()
            model(x, torch.tensor(1.0, device=device), None, active)  # no class: what every model takes
            best = min(best, time.perf_counter() - start)
        return best, evaluation_flops(config, size, size, active, batch=2).total / 1e9

    with model.inference_context(), autocast(precision, device):
        every, every_gflops = timed(s, None)
        big, big_gflops = timed(2 * s, None)
        alone = sum(timed(s, [i == j for j in range(k)])[0] for i in range(k))
    rate = (big_gflops - every_gflops) / max(big - every, 1e-9)
    per_evaluation = max(0.0, (alone - every) / (k - 1)) if k > 1 else 0.0
    per_brick = max(0.0, (every - per_evaluation - every_gflops / rate) / k)
    return Speed(per_evaluation, per_brick, rate)


# ZeroGPU Spaces lend a GPU per call for a declared number of seconds.
GPU_GFLOPS_PER_SECOND = 5_000.0  # a conservative effective rate for this small model on a shared GPU


GPU_MIN_SECONDS, GPU_MAX_SECONDS = 15, 120


def gpu_seconds(gflops: float) -> int:
    """The GPU time to ask ZeroGPU for: start-up margin plus the request's FLOPs at a conservative rate."""
    return int(min(GPU_MAX_SECONDS, GPU_MIN_SECONDS + gflops / GPU_GFLOPS_PER_SECOND))
