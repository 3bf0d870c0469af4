"""Emoji SVGs to pixels at any size, composited on white (resvg, through the resvg-py wheel)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


class RenderError(ValueError):
    """An SVG that the renderer refused."""


def svg_document(body: str, left: float, top: float, width: float, height: float, size: int) -> str:
    """An iconify icon body as a whole SVG of ``size`` x ``size`` pixels, the icon centred in it."""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
            f'width="{size}" height="{size}" viewBox="{left} {top} {width} {height}">{body}</svg>')


def render_svg(svg: str, size: int) -> np.ndarray:
    """(size, size, 3) uint8: the SVG drawn at ``size`` pixels, its transparency on white."""
    import resvg_py  # imported here: only building the data set needs it

    if not isinstance(size, int) or not 1 <= size <= 4096:
        raise RenderError(f"size must be an integer from 1 to 4096, got {size!r}")
    try:
        png = resvg_py.svg_to_bytes(svg_string=svg, width=size, height=size, skip_system_fonts=True)
    except (ValueError, RuntimeError) as exc:
        raise RenderError(f"resvg could not render the SVG: {exc}") from exc
    image = Image.open(io.BytesIO(bytes(png))).convert("RGBA")
    if image.size != (size, size):  # a non-square viewBox keeps its aspect: centre it
        canvas = Image.new("RGBA", (size, size), (0, 0, 0, 0))
        canvas.paste(image, ((size - image.width) // 2, (size - image.height) // 2))
        image = canvas
    white = Image.new("RGBA", image.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, image).convert("RGB"))
