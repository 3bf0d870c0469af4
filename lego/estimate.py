"""What a request will cost before it runs: FLOPs, seconds on this machine, peak memory, and the limits."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from .config import LegoConfig
from .flops import ScheduleCost, brick_layout, evaluation_flops, format_flops, schedule_cost
from .model import Brick, LegoModel
from .precision import autocast
from .request import Limits, PlaygroundError, Request


@dataclass(frozen=True)
class Estimate:
    cost: ScheduleCost
    seconds: float  # predicted wall time from the measured throughput
    memory_bytes: int

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
    for k in range(config.num_bricks):
        tokens, span = brick_layout(config, k, request.height, request.width, request.canvas)
        chunk = min(tokens * batch, max(Brick.max_chunk_tokens, span * batch))  # chunks hold whole regions
        working = chunk * config.hidden_size * (4 + config.mlp_ratio) * 4
        attention = (chunk // span) * config.num_heads * span**2 * 4 * 2
        whole = tokens * batch * config.hidden_size * 4 * 2
        peak = max(peak, int(working + attention + whole))
    return peak + batch * pixels * config.channels * 4 * 8


def estimate(config: LegoConfig, request: Request, gflops_per_second: float) -> Estimate:
    cost = schedule_cost(config, request.schedule, request.settings, request.height, request.width, request.guided,
                         request.images, request.canvas)
    return Estimate(cost, cost.total / 1e9 / max(gflops_per_second, 1e-9), peak_memory_bytes(config, request))


def check_limits(estimate: Estimate, request: Request, limits: Limits) -> None:
    if max(request.width, request.height) > limits.max_side or request.width * request.height > limits.max_pixels:
        raise PlaygroundError(
            f"{request.width}x{request.height} is larger than this machine serves "
            f"(at most {limits.max_pixels} pixels and {limits.max_side} per side)")
    if estimate.gflops > limits.max_gflops:
        raise PlaygroundError(
            f"this request needs {estimate.gflops:,.0f} GFLOPs, more than this machine serves per request "
            f"({limits.max_gflops:,.0f}); lower the size, steps or number of images, or switch bricks off")
    if estimate.memory_bytes > limits.max_memory_bytes:
        raise PlaygroundError(
            f"this request needs about {estimate.memory_bytes / 2**30:.1f} GiB of memory, more than this machine "
            f"serves ({limits.max_memory_bytes / 2**30:.1f} GiB); lower the size or the number of images")


def measure_throughput(model: LegoModel, precision: str, repeats: int = 3) -> float:
    """GFLOP/s of one guided evaluation at the training size, for time estimates."""
    config = model.config
    device = next(model.parameters()).device
    x = torch.randn(2, config.channels, config.image_size, config.image_size, device=device)
    best = math.inf
    with model.inference_context(), autocast(precision, device):
        for _ in range(repeats + 1):
            start = time.perf_counter()
            model(x, torch.tensor(1.0, device=device))  # no class: what every model, unconditional too, takes
            best = min(best, time.perf_counter() - start)
    return evaluation_flops(config, config.image_size, config.image_size, batch=2).total / 1e9 / best


# ZeroGPU Spaces lend a GPU per call for a declared number of seconds.
GPU_GFLOPS_PER_SECOND = 5_000.0  # a conservative effective rate for this small model on a shared GPU


GPU_MIN_SECONDS, GPU_MAX_SECONDS = 15, 120


def gpu_seconds(gflops: float) -> int:
    """The GPU time to ask ZeroGPU for: start-up margin plus the request's FLOPs at a conservative rate."""
    return int(min(GPU_MAX_SECONDS, GPU_MIN_SECONDS + gflops / GPU_GFLOPS_PER_SECOND))
