"""A request as one line of text, so that a picture can be made again from a link or from the file
itself: the query of a link that opens the app on these settings, which every PNG the app and the
command line write also carries (a PNG text chunk, as other diffusion tools keep their settings).

    draw=Flags&seed=5&steps=8&sampler=dpm%2B%2B2m&guidance=2&images=1&size=64x64&schedule=0-1;0-1;0-0.6

(``guide=1-40`` guides only the steps whose noise level sigma is in (1, 40]; left out, every step.)

Every key may be left out (the app's default is used), and the values go through the same checks as
the app's controls. A schedule is written per brick, bricks separated by ``;`` and a brick's progress
ranges by ``,`` (``off`` for a brick that never runs): ``0-1;0-1;0-0.6`` is the top brick off for the
last 40% of the steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from PIL import Image, PngImagePlugin

from .canvas import Canvas, CanvasError
from .config import LegoConfig
from .messages import quoted
from .request import (DEFAULT_GUIDANCE, DEFAULT_METHOD, DEFAULT_STEPS, MAX_IMAGES, PlaygroundError, Request,
                      class_picker, interval_text, number, parse_request)
from .schedule import MAX_JSON_BYTES, BrickSchedule, ScheduleError, number_text, parse_schedule, schedule_text

PNG_KEY = "lego-playground"  # the PNG text chunk with the settings
PNG_MODEL_KEY = "lego-playground-model"  # and the one naming the checkpoint and its weights' fingerprint
KEYS = ("draw", "seed", "steps", "sampler", "guidance", "guide", "churn", "images", "size", "canvas", "stride",
        "shift", "coords", "schedule")
# Keys that are not settings: the page's own (``__theme``), and ``model``, the checkpoint the app loads for a link
# (ui.link; the command line's is --checkpoint); and those that sites add to links they pass on.
MODEL_KEY = "model"
IGNORED_PREFIXES, IGNORED_KEYS = ("__", "utm_"), frozenset({MODEL_KEY, "fbclid", "gclid", "msclkid"})
MAX_TEXT = MAX_JSON_BYTES  # a settings text, and any one value in it, is refused past this length


@dataclass(frozen=True)
class Settings:
    """What a settings text asks for: the request, and the command line's stochastic churn (0 in the app)."""

    request: Request
    churn: float = 0.0


def to_text(config: LegoConfig, request: Request, churn: float = 0.0) -> str:
    """The settings text of ``request`` (churn only where it is not 0). It reads back as the same request
    but for the schedule's name: a preset's is not kept."""
    c = request.canvas
    values = {"draw": "none" if request.label is None else config.label_space().describe(request.label),
              "seed": request.seed, "steps": request.steps, "sampler": request.method,
              "guidance": number_text(request.guidance), "guide": interval_text(request.guidance_interval) or None,
              "churn": number_text(churn) if churn else None,
              "images": request.images, "size": f"{request.width}x{request.height}", "canvas": c.mode,
              "stride": c.stride, "shift": int(c.shift), "coords": c.coords,
              "schedule": schedule_text(request.schedule)}
    return urlencode({k: v for k, v in values.items() if v is not None}, safe=",;-()/")


def ignored(key: str) -> bool:
    """A key of a link that is not a setting, and is passed over."""
    return key.startswith(IGNORED_PREFIXES) or key in IGNORED_KEYS


def from_text(config: LegoConfig, text: str, max_images: int = MAX_IMAGES,
              overrides: Mapping[str, object] | None = None, schedule: BrickSchedule | None = None) -> Settings:
    """The settings a text (a link's query, with or without its leading ``?``) asks for, or a PlaygroundError
    that says what is wrong. Each key of ``overrides``, and ``schedule``, replace the text's; a key left out
    takes the app's default (for ``draw``, the picker's first class). Keys that are not settings (the page's
    own, such as ``__theme``, and ``utm_*``, ``fbclid``) are passed over."""
    if len(text) > MAX_TEXT:
        raise PlaygroundError(f"the settings are longer than {MAX_TEXT // 1024} KiB")
    try:
        pairs = parse_qsl(text.strip().removeprefix("?"), keep_blank_values=True, max_num_fields=64)
    except ValueError as exc:  # more than 64 fields
        raise PlaygroundError(f"the settings cannot be read: {exc}") from None
    values: dict[str, str] = {}
    for key, value in pairs:
        if ignored(key):
            continue
        if key not in KEYS:
            raise PlaygroundError(f"unknown setting {quoted(key)}; the settings are {', '.join(KEYS)}")
        if key in values:
            raise PlaygroundError(f"the setting {key!r} is given twice")
        values[key] = value
    values |= {key: str(value) for key, value in (overrides or {}).items()}
    values.setdefault("draw", class_picker(config)["value"])  # what the app's picker starts on
    size = values.get("size", f"{config.image_size}x{config.image_size}")
    parts = size.lower().split("x")
    if len(parts) != 2:
        raise PlaygroundError(f"size must look like 64x64, got {quoted(size)}")
    width, height = (number(side, part, True) for side, part in zip(("width", "height"), parts))
    try:
        canvas = Canvas(values.get("canvas", "tiles"), number("stride", values.get("stride", 0), True),
                        bool(number("shift", values.get("shift", 0), True, 0, 1)), values.get("coords", "repeat"))
        if schedule is None:
            schedule = (BrickSchedule.all_on(config.num_bricks) if "schedule" not in values
                        else parse_schedule(values["schedule"], config))  # the line, or a preset's name
    except (CanvasError, ScheduleError) as exc:
        raise PlaygroundError(str(exc)) from None
    sampler = values.get("sampler", DEFAULT_METHOD).replace(" ", "+")  # dpm++2m typed into a link reads "dpm  2m"
    request = parse_request(config, values.get("draw"), values.get("seed", 0), values.get("steps", DEFAULT_STEPS),
                            values.get("guidance", DEFAULT_GUIDANCE), sampler, values.get("images", 1), width,
                            height, schedule, canvas, max_images=max_images,
                            guidance_interval=values.get("guide", ""))
    return Settings(request, number("churn", values.get("churn", 0), False, 0, 100))


def png_info(text: str, checkpoint: str, fingerprint: str) -> PngImagePlugin.PngInfo:
    """The text chunks a PNG carries: the settings, and the model they were run on."""
    info = PngImagePlugin.PngInfo()
    info.add_text(PNG_KEY, text)
    info.add_text(PNG_MODEL_KEY, f"{checkpoint} (weights {fingerprint})")
    return info


def read_png(path: str | Path) -> tuple[str, str]:
    """The settings text a PNG written here carries, and the model it names ("" if none). Only the chunks
    before the pixels are read (where ``png_info`` puts them): the picture is never decoded."""
    try:
        with Image.open(path) as image:
            chunks = image.info
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise PlaygroundError(f"{path} is not a PNG that can be read: {exc}") from None
    text = chunks.get(PNG_KEY)
    if not isinstance(text, str):
        raise PlaygroundError(f"{path} carries no LEGO Playground settings (a {PNG_KEY!r} text chunk)")
    model = chunks.get(PNG_MODEL_KEY)
    return text, model if isinstance(model, str) else ""
