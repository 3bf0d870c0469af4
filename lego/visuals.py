"""Pictures that explain a run: differences between images and the regions a brick sees."""

from __future__ import annotations

import numpy as np


def difference_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel absolute difference, amplified 4x and shown dark on white."""
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2)
    shade = 255 - np.clip(diff * 4, 0, 255)
    return np.repeat(shade[:, :, None], 3, axis=2).astype(np.uint8)


def region_overlay(image: np.ndarray, region: int, patch: int, scale: int = 4) -> np.ndarray:
    """The image enlarged, with patch lines (thin, light) and region lines (thick, dark) drawn over it."""
    big = np.kron(image, np.ones((scale, scale, 1), dtype=np.uint8))
    out = big.copy()
    h, w = image.shape[:2]
    for step, colour, width in ((patch, (200, 200, 255), 1), (region, (220, 30, 30), 2)):
        for y in range(0, h + 1, step):
            out[max(0, y * scale - width // 2): y * scale + (width + 1) // 2, :] = colour
        for x in range(0, w + 1, step):
            out[:, max(0, x * scale - width // 2): x * scale + (width + 1) // 2] = colour
    return out
