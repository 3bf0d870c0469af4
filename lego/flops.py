"""Analytic FLOPs of a LEGO stack: per brick, per evaluation, per schedule.

Counts what ``torch.utils.flop_counter`` counts: matrix products and convolutions at 2 FLOPs
per multiply-add (attention's two products included); normalisation, softmax, activations and
additions are left out, as is conventional.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .canvas import Canvas, window_count
from .config import LegoConfig
from .sampler import SamplerSettings
from .schedule import BrickSchedule

TIMESTEP_FEATURES = 256


def brick_layout(config: LegoConfig, index: int, height: int, width: int,
                 canvas: Canvas | None = None, step: int = 0) -> tuple[int, int]:
    """(tokens, tokens per attention span) of a brick on a canvas at sampling step ``step``, as ``LegoModel``
    runs it (shifted overlap windows are more numerous on some steps than on others)."""
    b = config.bricks[index]
    canvas = canvas or Canvas()
    mode = canvas.mode_for(config, index, height, width)
    if mode == "tiles":
        return height * width // b.patch**2, b.tokens_per_region()
    if mode == "global":
        tokens = height * width // b.patch**2
        return tokens, tokens
    stride = canvas.window_stride(b.region, b.patch)
    offset = canvas.window_offset(stride, step)
    windows = window_count(height, b.region, stride, offset) * window_count(width, b.region, stride, offset)
    return windows * b.tokens_per_region(), b.tokens_per_region()


def brick_flops(config: LegoConfig, index: int, height: int, width: int, canvas: Canvas | None = None,
                step: int = 0) -> int:
    """FLOPs of brick ``index`` for one image of ``height`` x ``width`` in one evaluation at step ``step``."""
    b = config.bricks[index]
    d, c = config.hidden_size, config.channels
    mlp = int(d * config.mlp_ratio)
    in_channels = c + 2 if index == 0 else 2 * c + 2
    tokens, per_region = brick_layout(config, index, height, width, canvas, step)
    regions = tokens // per_region
    embed = 2 * tokens * in_channels * b.patch**2 * d
    block = (
        2 * tokens * d * 3 * d  # qkv
        + 2 * 2 * regions * per_region**2 * d  # q k^T and weights @ v
        + 2 * tokens * d * d  # attention output projection
        + 2 * 2 * tokens * d * mlp  # mlp
        + 2 * d * 6 * d  # adaLN modulation, once per image
    )
    final = 2 * d * 2 * d + 2 * tokens * d * b.patch**2 * c
    return embed + b.depth * block + final


def shared_flops(config: LegoConfig) -> int:
    """Timestep and class embedders: run once per evaluation whatever bricks are on."""
    d = config.hidden_size
    return 2 * (TIMESTEP_FEATURES * d + d * d) + 2 * config.num_classes * d


@dataclass(frozen=True)
class EvaluationFlops:
    bricks: tuple[int, ...]  # per brick, 0 where skipped
    shared: int

    @property
    def total(self) -> int:
        return self.shared + sum(self.bricks)


def evaluation_flops(config: LegoConfig, height: int, width: int, active: Sequence[bool] | None = None,
                     batch: int = 1, canvas: Canvas | None = None, step: int = 0) -> EvaluationFlops:
    """One network call on ``batch`` images (a guided call on n images has batch 2n) at sampling step ``step``."""
    active = [True] * config.num_bricks if active is None else active
    bricks = tuple(batch * brick_flops(config, k, height, width, canvas, step) if on else 0
                   for k, on in enumerate(active))
    return EvaluationFlops(bricks, batch * shared_flops(config))


@dataclass(frozen=True)
class ScheduleCost:
    per_step: tuple[EvaluationFlops, ...]  # summed over the evaluations of each step
    reference_total: int  # the same request with every brick on
    evaluations: tuple[int, ...]  # network evaluations at each step (Heun: 2, but 1 on the last)
    images: int
    guided: bool
    guided_steps: tuple[bool, ...] = ()  # per step, whether guidance runs (empty: wherever ``guided`` says)

    def passes_note(self) -> str:
        """What one step's bar counts, short enough for a phone: a teacher who reads a brick's cost per image
        would otherwise find every bar of a guided run twice too tall."""
        evals = max(self.evaluations)
        why = (["Heun"] if evals > 1 else []) + (["guided"] if self.guided else [])
        passes = evals * (2 if self.guided else 1)
        images = f" on {self.images} images" if self.images > 1 else ""
        unguided = self.guided and not all(self.guided_steps or [True])
        return f"{passes} network pass{'es' if passes > 1 else ''} a step{images}" + (
            f" ({', '.join(why)})" if why else "") + (f", {evals} where guidance is skipped" if unguided else "")

    @property
    def total(self) -> int:
        return sum(s.total for s in self.per_step)

    @property
    def per_brick(self) -> list[int]:
        return [sum(s.bricks[k] for s in self.per_step) for k in range(len(self.per_step[0].bricks))]

    @property
    def predicted_speedup(self) -> float:
        return self.reference_total / self.total

    @property
    def saving(self) -> float:
        """Share of the all-bricks FLOPs that the schedule avoids."""
        return 1.0 - self.total / self.reference_total


def schedule_cost(config: LegoConfig, schedule: BrickSchedule, settings: SamplerSettings, height: int,
                  width: int, guided: bool, images: int = 1, canvas: Canvas | None = None) -> ScheduleCost:
    """The work of a request; the reference runs every brick with the same sampler, guidance interval included."""
    guide_at = tuple(guided and g for g in settings.guided_steps())
    per_step = []
    reference = 0
    evaluations = settings.evaluations_per_step()
    for step, (active, evals) in enumerate(zip(schedule.mask(settings.steps), evaluations)):
        batch = images * (2 if guide_at[step] else 1)
        one = evaluation_flops(config, height, width, active, batch, canvas, step)
        per_step.append(EvaluationFlops(tuple(evals * f for f in one.bricks), evals * one.shared))
        reference += evals * evaluation_flops(config, height, width, None, batch, canvas, step).total
    return ScheduleCost(tuple(per_step), reference, tuple(evaluations), images, guided, guide_at)


def format_flops(flops: float) -> str:
    for unit, scale in (("TFLOPs", 1e12), ("GFLOPs", 1e9), ("MFLOPs", 1e6)):
        if flops >= scale:
            return f"{flops / scale:.2f} {unit}"
    return f"{flops:.0f} FLOPs"
