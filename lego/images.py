"""Model tensors in [-1, 1] to 8-bit pictures."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(B, C, H, W) in [-1, 1] -> (B, H, W, C) uint8."""
    scaled = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round()
    return scaled.to(torch.uint8).permute(0, 2, 3, 1).numpy()


def to_pil(images: torch.Tensor) -> list[Image.Image]:
    return [Image.fromarray(a) for a in to_uint8(images)]


def grid(images: list[Image.Image], columns: int | None = None, pad: int = 2) -> Image.Image:
    """Tile pictures of equal size into one, ``columns`` per row, on white."""
    if not images:
        raise ValueError("no images to tile")
    columns = columns or len(images)
    rows = -(-len(images) // columns)
    w, h = images[0].size
    sheet = Image.new("RGB", (columns * w + (columns - 1) * pad, rows * h + (rows - 1) * pad), "white")
    for i, im in enumerate(images):
        sheet.paste(im, ((i % columns) * (w + pad), (i // columns) * (h + pad)))
    return sheet


def captioned_grid(images: list[Image.Image], captions: list[str], columns: int, scale: int = 2) -> Image.Image:
    """``grid`` with each picture enlarged ``scale`` times (crisp pixels) over a one-line caption."""
    from PIL import ImageDraw

    w, h = images[0].size
    cell_w, line = w * scale, 12
    cells = []
    for image, caption in zip(images, captions):
        cell = Image.new("RGB", (cell_w, h * scale + line + 2), "white")
        cell.paste(image.resize((cell_w, h * scale), Image.Resampling.NEAREST), (0, 0))
        draw = ImageDraw.Draw(cell)
        text = caption
        while len(text) > 1 and draw.textlength(text) > cell_w - 2:
            text = text[:-2] + "…"
        draw.text((1, h * scale + 1), text, fill="black")
        cells.append(cell)
    return grid(cells, columns=columns, pad=4)
