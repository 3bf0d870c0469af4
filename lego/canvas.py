"""How the full-image brick behaves on a canvas larger than the training images.

- ``tiles``: independent training-size tiles (the authors' behaviour): cheapest, but nothing
  links neighbouring tiles except the coordinate channels.
- ``overlap``: training-size windows every ``stride`` pixels, their outputs blended with
  smooth (pyramid) weights at every step, as MultiDiffusion does; ``shift`` moves the inner
  windows between steps so that blend lines do not stay in one place. Cost grows linearly
  with the area, times (window / stride)^2.
- ``global``: one attention over the whole canvas, with the sin-cos position table recomputed
  for the larger token grid: quadratic in the area.

Coordinates: ``repeat`` gives every training-size tile the training image's coordinates, so
the model draws each tile as a whole image of its own (a wall of separate emoji; with
``tiles`` every tile is exactly a training-size sample; an ``overlap`` window between two tiles
sees their coordinates jump at the border, which no training image had); ``squeeze`` maps the whole canvas to
[-1, 1] (a larger canvas looks like a zoomed-out training image to the bricks); ``extend``
keeps the training scale, so a training-size patch at the centre spans [-1, 1] and the edges
go beyond it, into positions the model never saw. All three are the same at the training size.

A converted model with learned position tables (``lego.positions``) uses them as they are in
tiles and overlap; in global mode it tiles them (repeat) or interpolates them (squeeze), and
global with extend is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from .config import LegoConfig
from .positions import LEARNED_TABLE_COORDS, learned_refusal

MODES = ("tiles", "overlap", "global")
COORDS = ("repeat", "squeeze", "extend")


class CanvasError(ValueError):
    """Canvas options that cannot be used."""


@dataclass(frozen=True)
class Canvas:
    mode: str = "tiles"
    stride: int = 0  # overlap: pixels between windows; 0 = half a window
    shift: bool = False  # overlap: move inner windows between steps
    coords: str = "repeat"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise CanvasError(f"canvas mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.coords not in COORDS:
            raise CanvasError(f"coordinates must be one of {', '.join(COORDS)}, got {self.coords!r}")
        if not isinstance(self.stride, int) or self.stride < 0:
            raise CanvasError(f"stride must be a non-negative integer, got {self.stride!r}")

    def mode_for(self, config: LegoConfig, index: int, height: int, width: int) -> str:
        """How brick ``index`` runs on this canvas: local bricks, and every brick at the training
        size, always tile; only a full-image brick on a larger canvas follows ``mode``."""
        larger = (height, width) != (config.image_size, config.image_size)
        return self.mode if larger and config.is_global(index) else "tiles"

    def check(self, config: LegoConfig, height: int, width: int) -> None:
        """Raise CanvasError now, before any compute, if these options cannot run on this model and canvas."""
        if self.mode == "overlap":
            for k, b in enumerate(config.bricks):
                if config.is_global(k):
                    self.window_stride(b.region, b.patch)
        if (config.learned_positions and self.coords not in LEARNED_TABLE_COORDS
                and any(self.mode_for(config, k, height, width) == "global" for k in range(config.num_bricks))):
            raise CanvasError(learned_refusal(self.coords))

    def used_on(self, config: LegoConfig, height: int, width: int) -> "Canvas":
        """These options as they act on this canvas: stride and shift only move overlapping windows, so where no
        brick overlaps they are dropped, and the settings a picture carries (and the replay cache) say what made
        it."""
        overlaps = any(self.mode_for(config, k, height, width) == "overlap" for k in range(config.num_bricks))
        return self if overlaps else replace(self, stride=0, shift=False)

    def window_stride(self, window: int, unit: int) -> int:
        stride = self.stride or window // 2
        if stride > window or stride % unit:
            raise CanvasError(f"stride must be a multiple of {unit} and at most the window ({window}), got {stride}")
        return stride

    def window_offset(self, stride: int, step: int) -> int:
        """Where the inner windows start at sampling step ``step``: with shift, a quarter of a stride
        further every step, four positions in turn, so that no seam stays in one place."""
        return (step % 4) * stride // 4 if self.shift else 0


def window_starts(length: int, window: int, stride: int, offset: int = 0) -> list[int]:
    """Window origins covering [0, length): the first at 0, the last at length - window."""
    if length <= window:
        return [0]
    inner = range(offset % stride if offset else stride, length - window, stride)
    return sorted({0, *inner, length - window})


def window_count(length: int, window: int, stride: int, offset: int = 0) -> int:
    """``len(window_starts(...))`` without listing them: FLOPs are counted for any size in constant time."""
    if length <= window:
        return 1
    first = offset % stride if offset else stride
    inner = len(range(first, length - window, stride))
    return 2 + inner - (first == 0 and inner > 0)


def ramp(window: int) -> torch.Tensor:
    """1-D pyramid weights, highest in the middle, never zero."""
    i = torch.arange(window, dtype=torch.float32)
    return torch.minimum(i + 1, window - i)


def blend_weights(height: int, width: int, window: int, starts_y: list[int], starts_x: list[int]) -> torch.Tensor:
    """(windows, window, window) weights that, placed at their windows, sum to one at every pixel."""
    w = ramp(window)
    single = w[:, None] * w[None, :]
    total = torch.zeros(height, width)
    for y in starts_y:
        for x in starts_x:
            total[y:y + window, x:x + window] += single
    return torch.stack([single / total[y:y + window, x:x + window] for y in starts_y for x in starts_x])


def coordinates(height: int, width: int, image_size: int, mode: str = "repeat",
                device: torch.device | None = None) -> torch.Tensor:
    """(2, H, W): row and column positions (see the module docstring for the three modes)."""
    rows, cols = (_axis(n, image_size, mode, device) for n in (height, width))
    r, c = torch.meshgrid(rows, cols, indexing="ij")
    return torch.stack([r, c])


def _axis(length: int, image_size: int, mode: str, device: torch.device | None) -> torch.Tensor:
    if mode == "repeat":
        trained = torch.linspace(-1.0, 1.0, image_size, device=device)
        return trained[torch.arange(length, device=device) % image_size]
    if mode == "squeeze":
        return torch.linspace(-1.0, 1.0, length, device=device)
    reach = (length - 1) / (image_size - 1)  # extend: one pixel step is the training image's step
    return torch.linspace(-reach, reach, length, device=device)
