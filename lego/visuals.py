"""Pictures that explain a run: signed differences on one colour scale, what each brick changed, and the
regions a brick sees."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .runs import Frame

# A diverging map (ColorBrewer RdBu): blue where the image got darker, white where it is unchanged, red
# where it got lighter. Anchors at -1, -0.5, 0, 0.5 and 1 of the scale.
DIVERGING = np.array([(5, 48, 97), (67, 147, 195), (255, 255, 255), (214, 96, 77), (103, 0, 31)], dtype=float)
SHOWN_SIDE = 256  # compared pictures are enlarged by a whole factor up to this many pixels on their longer side
MIN_LIMIT = 16  # the colour scale spans at least +-16 / 255, so that 8-bit rounding (+-1) stays pale
# Below this difference in mean pixel change (out of 255) two runs count as tied: about the spread
# of the same comparison over a few seeds on the bundled model.
TIE = 0.5


def signed_change(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Per pixel, the change of the colour channel that changed most, with its sign (-255..255): zero only
    where nothing changed, and a pure change of hue still shows."""
    diff = after.astype(np.int16) - before.astype(np.int16)
    most = np.abs(diff).argmax(axis=2)[:, :, None]
    return np.take_along_axis(diff, most, axis=2)[:, :, 0]


def mean_change(before: np.ndarray, after: np.ndarray) -> float:
    """The mean absolute pixel difference, 0-255 (0: the same picture), as every text of the app states a change."""
    return float(np.abs(after.astype(int) - before.astype(int)).mean())


def tied(a: float, b: float) -> bool:
    """Closer than TIE, counted in the hundredths shown on screen (so a tie is a tie there too)."""
    return round(abs(a - b) * 100) < round(TIE * 100)


def px(value: float) -> str:
    return f"{value:.2f} / 255"


def compared(a: float, b: float) -> str:
    """How change ``a`` compares with change ``b``: 'less than', 'more than' or 'about as much as' (a tie)."""
    if tied(a, b):
        return "about as much as"
    return "less than" if a < b else "more than"


def than(a: float, b: float) -> str:
    """``compared`` in a sentence: a tie says so."""
    word = compared(a, b)
    return f"{word} (within {TIE} / 255: a tie)" if tied(a, b) else word


def largest(change: np.ndarray) -> int:
    return int(np.abs(change).max()) if change.size else 0


def scale_limit(changes: Sequence[np.ndarray], share: float = 1.0) -> int:
    """The shared scale's end, at least ``MIN_LIMIT``: the largest change among ``changes``, or with ``share``
    below 1 the change above that share of them (colours clip beyond it, so a few pixels that changed a lot do
    not wash out changes of a few / 255 elsewhere)."""
    if share >= 1:
        return max([MIN_LIMIT, *(largest(c) for c in changes)])
    magnitudes = np.abs(np.concatenate([c.ravel() for c in changes]))
    return max(MIN_LIMIT, int(np.ceil(np.quantile(magnitudes, share))) if magnitudes.size else 0)


def diverging(change: np.ndarray, limit: float) -> np.ndarray:
    """Signed changes as colours: -limit darkest blue, 0 white, +limit darkest red (clipped beyond)."""
    t = np.clip(change / max(limit, 1e-9), -1, 1) * 2 + 2  # position among the anchors, 0..4
    low = np.minimum(t.astype(int), 3)
    frac = (t - low)[..., None]
    return np.round(DIVERGING[low] * (1 - frac) + DIVERGING[low + 1] * frac).astype(np.uint8)


@dataclass(frozen=True)
class Difference:
    """One picture against another on the diverging scale."""

    picture: np.ndarray
    largest: int  # the largest change of a colour channel, 0..255
    limit: int  # the scale's end (see ``colour_bar``)


def difference_map(a: np.ndarray, b: np.ndarray) -> Difference:
    """``b`` against ``a``: red where ``b`` is lighter, blue where it is darker, white where they agree."""
    change = signed_change(a, b)
    limit = scale_limit([change])
    return Difference(diverging(change, limit), largest(change), limit)


def difference_maps(reference: np.ndarray, images: Sequence[np.ndarray],
                    share: float = 0.99) -> tuple[list[np.ndarray], int]:
    """Several pictures against one reference on one scale (returned with the maps), so that the paler map is
    the smaller change; the scale ends above ``share`` of the pixels' changes (see ``scale_limit``)."""
    changes = [signed_change(reference, image) for image in images]
    limit = scale_limit(changes, share)
    return [diverging(change, limit) for change in changes], limit


def colour_bar(limit: float, width: int = 256, height: int = 14) -> np.ndarray:
    """A legend for ``diverging``: the gradient from -limit to +limit, labelled at both ends and at 0."""
    ramp = diverging(np.linspace(-limit, limit, width)[None, :].repeat(height, axis=0), limit)
    font = ImageFont.load_default(size=12)
    canvas = Image.new("RGB", (width, height + 16), "white")
    canvas.paste(Image.fromarray(ramp), (0, 0))
    draw = ImageDraw.Draw(canvas)
    for text, anchor, x in ((f"-{limit:g} darker", "la", 0), ("0", "ma", width // 2),
                            (f"lighter +{limit:g}", "ra", width)):
        draw.text((x, height + 2), text, fill="black", font=font, anchor=anchor)
    return np.asarray(canvas)


@dataclass(frozen=True)
class Contributions:
    """What each active brick changed at one step, all on one colour scale so that bricks compare fairly."""

    maps: list[np.ndarray | None]  # per brick: its change as colours, None when the brick was off
    below: list[int | None]  # per brick: the active brick it is measured against; None: no brick at all
    peaks: list[int]  # per brick: its largest change (0..255); 0 when off
    limit: int  # the shared scale: +-limit are the ends of the colour bar

    def caption(self, k: int) -> str:
        """A caption short enough for a phone's gallery, e.g. 'B2 − B0' (B0 − none: against no brick)."""
        below = "none" if self.below[k] is None else f"B{self.below[k]}"
        return f"B{k} − {below}"

    def text(self) -> str:
        """The scale and each active brick's largest change, e.g. '+-37 / 255 (B0 up to 37, B1 up to 12)'."""
        peaks = ", ".join(f"B{k} up to {p}" for k, (m, p) in enumerate(zip(self.maps, self.peaks)) if m is not None)
        return f"±{self.limit} / 255 ({peaks})"


def contributions(frame: Frame) -> Contributions:
    """Each active brick's own estimate minus that of the nearest active brick below it. The lowest active
    brick is measured against the estimate with no brick at all, ``c_skip * x`` (``Frame.no_brick``): what
    the network outputs when every brick is skipped (see ``lego.model``), so every map is the brick's own
    term ``c_out * F`` of the estimate, up to 8-bit rounding."""
    changes: list[np.ndarray | None] = []
    below: list[int | None] = []
    previous, previous_k = frame.no_brick, None
    for k, estimate in enumerate(frame.bricks):
        if estimate is None:
            changes.append(None)
            below.append(None)
            continue
        changes.append(signed_change(previous, estimate))
        below.append(previous_k)
        previous, previous_k = estimate, k
    limit = scale_limit([c for c in changes if c is not None])
    return Contributions([None if c is None else diverging(c, limit) for c in changes], below,
                         [0 if c is None else largest(c) for c in changes], limit)


def same_scale(images: Sequence[np.ndarray], side: int = SHOWN_SIDE) -> list[np.ndarray]:
    """Pictures enlarged by one whole factor (crisp, nearest neighbour), the largest that keeps the longest
    side within ``side`` pixels; pictures of the same size stay the same size, so they show at one scale."""
    factor = max(1, side // max(max(i.shape[:2]) for i in images))
    return [enlarge(i, factor) for i in images]


def enlarge(image: np.ndarray, factor: int) -> np.ndarray:
    """Every pixel repeated ``factor`` x ``factor`` times."""
    return np.kron(image, np.ones((factor, factor, 1), dtype=image.dtype))


def region_overlay(image: np.ndarray, region: int, patch: int, scale: int = 4) -> np.ndarray:
    """The image enlarged, with patch lines (thin, light) and region lines (thick, dark) drawn over it."""
    out = enlarge(image, scale)
    h, w = image.shape[:2]
    for step, colour, width in ((patch, (200, 200, 255), 1), (region, (220, 30, 30), 2)):
        for y in range(0, h + 1, step):
            out[max(0, y * scale - width // 2): y * scale + (width + 1) // 2, :] = colour
        for x in range(0, w + 1, step):
            out[:, max(0, x * scale - width // 2): x * scale + (width + 1) // 2] = colour
    return out
