"""Position tables: the fixed 2-D sin-cos table of our bricks, and the learned tables of converted checkpoints.

A brick adds a table to the tokens of every attention span. Tiles and overlapping windows are
always training-size regions, so they use the training table, whatever the coordinates. Only a
full-image brick in ``global`` mode on a larger canvas needs a table for a larger token grid:

- the sin-cos table is recomputed for that grid (token positions continue past the training grid);
- a learned table (the authors' training updates the tables; ``lego.convert`` keeps them) has
  values at the training grid only, so it follows the canvas's coordinate mode: ``repeat`` tiles
  it, as every training-size tile sees the training coordinates; ``squeeze`` resizes it by bicubic
  interpolation, corner tokens on corner tokens, as the canvas is squeezed onto [-1, 1];
  ``extend`` asks for positions the table never held, and is refused.

Models trained here keep the fixed table.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# A converted table this close to ours is the sin-cos table evaluated in another order (numpy vs torch).
SINCOS_TOLERANCE = 1e-6
LEARNED_TABLE_COORDS = ("repeat", "squeeze")  # how a learned table can cover a larger grid


def sincos_1d(dim: int, positions: torch.Tensor) -> torch.Tensor:
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2))
    angles = positions.double().reshape(-1, 1) * omega
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def sincos_2d(dim: int, grid_h: int, grid_w: int) -> torch.Tensor:
    """Fixed (grid_h*grid_w, dim) table: first half encodes the column, second the row."""
    rows, cols = torch.meshgrid(torch.arange(grid_h), torch.arange(grid_w), indexing="ij")
    table = torch.cat([sincos_1d(dim // 2, cols), sincos_1d(dim // 2, rows)], dim=1)
    return table.float()


def is_sincos(table: torch.Tensor, grid: int) -> bool:
    """Whether a (grid*grid, dim) table is the fixed one (then a converted model need not store it)."""
    reference = sincos_2d(table.shape[-1], grid, grid)
    return bool((table.reshape(reference.shape).float() - reference).abs().max() <= SINCOS_TOLERANCE)


def learned_refusal(coords: str) -> str:
    return (f"this model's position tables were learned at its training size, and global attention with {coords} "
            "coordinates would need positions the tables never held: use repeat (the table tiled) or squeeze "
            "(the table interpolated) coordinates, or the tiles or overlap canvas")


def learned_on_grid(table: torch.Tensor, grid: int, grid_h: int, grid_w: int, coords: str) -> torch.Tensor:
    """A learned (grid*grid, dim) table on a larger (grid_h, grid_w) token grid, as ``coords`` places the
    training image on the canvas (see the module docstring)."""
    if coords not in LEARNED_TABLE_COORDS:
        raise ValueError(learned_refusal(coords))
    dim = table.shape[-1]
    square = table.reshape(grid, grid, dim).permute(2, 0, 1)[None]
    if coords == "repeat":
        if grid_h % grid or grid_w % grid:
            raise ValueError(f"a {grid_h}x{grid_w} token grid is not made of whole {grid}x{grid} tiles")
        out = square.repeat(1, 1, grid_h // grid, grid_w // grid)
    else:
        out = F.interpolate(square.float(), size=(grid_h, grid_w), mode="bicubic", align_corners=True)
    return out[0].permute(1, 2, 0).reshape(grid_h * grid_w, dim).to(table.dtype)
