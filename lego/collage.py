"""Emoji collages: a wall of emoji of one category on a pastel background, cropped to the training size.

A model trained on single centred emoji knows nothing of what lies beyond one emoji, so a canvas
larger than 64x64 falls apart into unrelated tiles. Crops of a wall teach it a picture that
continues in every direction, which the canvas options (tiles, overlap, global) can then extend.
The collages are drawn on the training device, batch by batch, from the same emoji as the
single-image training set (same licences): nothing extra is stored or shipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class CollageStyle:
    cell_min: int = 20  # pixels per emoji cell (one cell size per batch, drawn between these)
    cell_max: int = 36
    fill_min: float = 0.7  # emoji width as a share of its cell
    fill_max: float = 0.95
    saturation: tuple[float, float] = (0.1, 0.28)  # pastel background
    value: tuple[float, float] = (0.88, 1.0)

    def __post_init__(self) -> None:
        if not 4 <= self.cell_min <= self.cell_max:
            raise ValueError(f"collage cells must satisfy 4 <= min <= max pixels, got {self.cell_min}-{self.cell_max}")


def uniform(n: int, lo: float | torch.Tensor, hi: float | torch.Tensor, gen: torch.Generator,
            device: torch.device) -> torch.Tensor:
    """n numbers in [lo, hi), drawn by the generator on its own device, returned on ``device``."""
    return torch.rand(n, generator=gen, device=gen.device).to(device) * (hi - lo) + lo


def pastel(n: int, style: CollageStyle, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """(n, 3, 1, 1) light, weakly saturated colours of random hue (HSV to RGB)."""
    hue = uniform(n, 0.0, 1.0, gen, device)
    sat, val = uniform(n, *style.saturation, gen, device), uniform(n, *style.value, gen, device)
    k = (torch.tensor([5.0, 3.0, 1.0], device=device)[None, :] + hue[:, None] * 6) % 6
    rgb = val[:, None] - val[:, None] * sat[:, None] * (torch.minimum(k, 4 - k).clamp(0, 1))
    return rgb[:, :, None, None]


class CollageMaker:
    """Draws (B, 3, size, size) collage crops in [-1, 1] for a batch of category labels."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, num_classes: int, size: int,
                 style: CollageStyle | None = None) -> None:
        # images: (N, 3, H, W) uint8 emoji on white; labels: (N,) category index. A category without
        # emoji is never asked for: the trainer draws labels from the same images.
        counts = torch.bincount(labels, minlength=num_classes)
        self.images, self.size = images, size
        self.style = style or CollageStyle()
        self.order = torch.argsort(labels)  # emoji grouped by category
        self.counts = counts
        self.starts = torch.cumsum(counts, 0) - counts

    def pick(self, labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """One random emoji index of each requested category."""
        u = torch.rand(labels.shape[0], generator=gen, device=gen.device).to(labels.device)
        within = (u * self.counts[labels]).long().clamp(max=self.counts[labels] - 1)
        return self.order[self.starts[labels] + within]

    def __call__(self, labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        s, device = self.style, self.images.device
        batch = labels.shape[0]
        cell = int(torch.randint(s.cell_min, s.cell_max + 1, (), generator=gen, device=gen.device))
        side = math.ceil(self.size / cell) + 1  # cells per side, one spare for a random phase
        n = batch * side * side
        emoji = self.images[self.pick(labels.repeat_interleave(side * side), gen)].float() / 255
        # shrink once with antialiasing; the per-cell sampling below then changes size by < 1.4x
        small = round(cell * s.fill_max)
        emoji = F.interpolate(emoji, size=(small, small), mode="bilinear", antialias=True, align_corners=False)
        width = uniform(n, s.fill_min, s.fill_max, gen, device) * cell  # emoji size in pixels, per cell
        left, top = uniform(n, 0, cell - width, gen, device), uniform(n, 0, cell - width, gen, device)
        # affine map from a cell's coordinates to the emoji's ([-1, 1] each, align_corners=False)
        theta = torch.zeros(n, 2, 3, device=device)
        theta[:, 0, 0] = theta[:, 1, 1] = cell / width
        theta[:, 0, 2] = (cell - 2 * left - width) / width
        theta[:, 1, 2] = (cell - 2 * top - width) / width
        grid = F.affine_grid(theta, [n, 3, cell, cell], align_corners=False)
        ink = F.grid_sample(1 - emoji, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        tiles = (1 - ink).reshape(batch, side, side, 3, cell, cell)
        wall = tiles.permute(0, 3, 1, 4, 2, 5).reshape(batch, 3, side * cell, side * cell)
        wall = wall * pastel(batch, s, gen, device)  # multiply: white takes the colour, ink stays
        dy, dx = (int(v) for v in torch.randint(0, side * cell - self.size + 1, (2,), generator=gen,
                                                device=gen.device))
        return wall[:, :, dy:dy + self.size, dx:dx + self.size] * 2 - 1
