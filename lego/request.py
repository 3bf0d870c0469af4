"""Requests as the app accepts them: each raw UI or API value checked, with a message the user can act on."""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass

import torch

from .canvas import Canvas, CanvasError
from .config import LegoConfig
from .labels import LabelError, LabelSpace, query_forms
from .messages import quoted
from .sampler import METHODS, SamplerSettings
from .schedule import RANGE_SEPARATOR, BrickSchedule, ScheduleError, number_text

MAX_SEED = 2**31 - 1


MAX_IMAGES = 4


MAX_STEPS = 100
MAX_GUIDANCE = 8  # past about 4.5 pictures turn harsh (benchmarks/guidance.py); one limit for the app, API and CLI

# The app's default sampler: the fastest whose judged quality matches 18 Heun steps within the spread
# over seed sets (benchmarks/samplers.py, assets/benchmarks/samplers.json). Heun stays one click away.
DEFAULT_METHOD, DEFAULT_STEPS, DEFAULT_GUIDANCE = "dpm++2m", 8, 2.0
# Guidance only at the middle noise levels, sigma in (1, 40]: 4 of the default 8 steps, a quarter less work, and on
# the 48-emoji model about the same judged quality (benchmarks/guidance.py, guidance_interval_emoji48.json).
MIDDLE_STEPS = (1.0, 40.0)


NO_CLASS = "none (unconditional)"


class PlaygroundError(ValueError):
    """A request the playground refuses, with a message meant for the user."""


@dataclass(frozen=True)
class Limits:
    """What this machine agrees to serve. CPU defaults keep one request under about half a minute."""

    max_gflops: float = 3000.0
    max_pixels: int = 512 * 512
    max_side: int = 1024
    max_memory_bytes: int = 4 * 2**30

    @classmethod
    def for_device(cls, device: torch.device) -> Limits:
        if device.type == "cuda":
            total = torch.cuda.get_device_properties(device).total_memory
            return cls(max_gflops=200_000.0, max_pixels=1024 * 1024, max_side=2048, max_memory_bytes=total // 2)
        return cls()


@dataclass(frozen=True)
class Request:
    label: int | None
    seed: int
    steps: int
    guidance: float
    method: str
    images: int
    width: int
    height: int
    schedule: BrickSchedule
    canvas: Canvas = Canvas()
    guidance_interval: tuple[float, float] | None = None  # see SamplerSettings

    @property
    def settings(self) -> SamplerSettings:
        return SamplerSettings(steps=self.steps, method=self.method, guidance=self.guidance,
                               guidance_interval=self.guidance_interval)

    @property
    def guided(self) -> bool:
        return is_guided(self.guidance, self.label)

    @property
    def seeds(self) -> list[int]:
        return [self.seed + i for i in range(self.images)]

    def guided_at(self) -> str:
        """'guided at 4 of 8 steps' where guidance runs at some steps only, else '': the brick saving is counted
        against every brick guided at the same steps, so this is what says that a run did less guiding."""
        if not self.guided or self.guidance_interval is None:
            return ""
        return f"guided at {sum(self.settings.guided_steps())} of {self.steps} steps"

    def image_labels(self, space: LabelSpace) -> list[int | None]:
        """Each picture's class: a category or sub-category draws one of its emoji per seed (see lego.labels)."""
        return [None if self.label is None else space.draw(self.label, seed) for seed in self.seeds]

    def drawn(self, config: LegoConfig) -> list[str] | None:
        """What each picture shows, where the class asked for is coarser than the emoji it draws; else None."""
        space = config.label_space()
        labels = self.image_labels(space)
        return None if labels == [self.label] * self.images else [space.names[k] for k in labels]

    def to_dict(self, config: LegoConfig) -> dict:
        d = asdict(self)
        d["schedule"] = self.schedule.to_dict()
        d["canvas"] = asdict(self.canvas)
        d["class"] = None if self.label is None else config.label_space().describe(self.label)
        d["seeds"] = self.seeds
        d["drawn"] = self.drawn(config)
        return d


def picker_info(config: LegoConfig) -> str:
    """The class picker's one-line help, for the levels this model has."""
    space = config.label_space()
    if not config.conditional:
        return "This model is unconditional: it draws without a class, so guidance has no effect."
    if space.depth == 1:
        return f"One of the model's {space.num_classes} classes, or none (no label: guidance is off)."
    return ("Type part of a name: an emoji ('cat face'), a sub-category ('animal-mammal') or a category "
            f"('Animals & Nature'), which draws one of its emoji per picture. {space.summary()}.")


def class_picker(config: LegoConfig) -> dict:
    """The class picker's settings: no class, then every class grouped under its category (see
    lego.labels); an unconditional model's picker is fixed on no class. It starts on the config's default_class,
    else on the first class of the finest level: a model with emoji labels opens on one emoji ("grinning face")."""
    space = config.label_space()
    first = space.resolve(config.default_class) if config.default_class else space.first_finest()
    return {"choices": [NO_CLASS] + space.choices(), "value": NO_CLASS if first is None else space.describe(first),
            "interactive": config.conditional, "info": picker_info(config)}


@dataclass(frozen=True)
class Found:
    """The class picker after a search for a word: every entry, those found first (a keyword that found one is
    shown beside its name), the best match to select, and a line that says what was found."""

    choices: list[tuple[str, str]]  # (shown, value)
    best: str | None  # None: nothing found
    note: str


def find_class(config: LegoConfig, typed: str, shown: int = 4) -> Found:
    """The picker after a search (``LabelSpace.search``: by name, or by a keyword, which the entry then shows, as
    'automobile, or car'). The best match is the first emoji found, else the first group (a category or
    sub-category, which draws one of its emoji per picture): 'heart' is the red heart before the group of hearts.
    A group named exactly as typed comes before emoji that only part of a word or a keyword finds: 'flags' is the
    category Flags, not the chequered flag, whose keyword it is. Every entry stays offered, so that whatever is
    selected while someone types stays valid."""
    space, typed = config.label_space(), typed.strip()
    form = space.search_form(typed)  # once: the search, the entries' keywords and the note all use it
    hits = space.search_formed(form, limit=None) if typed else []
    finest = space.depth - 1
    emoji = [i for i in hits if space.level_of(i) == finest]
    how = {i: space.match(i, form) for i in hits}  # as the search ranked them
    by_name = [i for i in emoji if how[i] <= 1]  # its name, or whole words of it
    named = [i for i in hits if how[i] == 0]
    best = next(iter(by_name + named + emoji + hits), None)
    hits = ([best] if hits else []) + [i for i in hits if i != best]
    rank = {space.describe(i): k for k, i in enumerate(hits)}  # the rest keep their order: the sort is stable
    choices = sorted([(NO_CLASS, NO_CLASS), *space.choices_for(form)], key=lambda c: rank.get(c[1], len(rank)))
    if best is None:
        return Found(choices, None, f"Nothing here is called {quoted(typed, 40)}." if typed else "")
    names = [space.names[i] + ("" if space.level_of(i) == finest else " (a group)") for i in hits]
    listed = ", ".join(names[:shown]) + (f" and {len(hits) - shown} more" if len(hits) > shown else "")
    spelt = "" if form in query_forms(typed) else f"Nothing here is called {quoted(typed, 40)}; searched for '{form}'. "
    if len(hits) == 1:
        return Found(choices, space.describe(best), f"{spelt}Found {listed}: the picker shows it.")
    return Found(choices, space.describe(best), f"{spelt}Found {len(hits)}: {listed}. The picker shows "
                                                f"{space.names[best]}, with the others at the top of its list.")


def number(name: str, value: object, integer: bool = False, low: float | None = None,
           high: float | None = None) -> float:
    """A raw UI or API value as a number within [low, high], or a PlaygroundError that names it."""
    if isinstance(value, bool):
        raise PlaygroundError(f"{name} must be a number, got {quoted(value)}")
    if isinstance(value, str) and not value.isascii():  # float() would read "٣" or "３" as 3
        raise PlaygroundError(f"{name} must be a number written in digits 0-9, got {quoted(value)}")
    if not isinstance(value, (int, float)):
        try:
            value = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise PlaygroundError(f"{name} must be a number, got {quoted(value)}") from None
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        finite = False
    if not finite:
        raise PlaygroundError(f"{name} must be a finite number, got {quoted(value)}")
    if integer and value != int(value):
        raise PlaygroundError(f"{name} must be a whole number, got {value}")
    value = int(value) if integer else float(value)
    if low is not None and high is not None and not low <= value <= high:
        shown = [f"{v:g}" if isinstance(v, float) else str(v) for v in (low, high, value)]
        raise PlaygroundError(f"{name} must be from {shown[0]} to {shown[1]}, got {shown[2]}")
    return value


def is_guided(guidance: float, label: object) -> bool:
    """Guidance runs only where it changes something: a scale other than 1 and a class to guide towards."""
    return guidance != 1.0 and label is not None


def parse_label(config: LegoConfig, name: str | None) -> int | None:
    """What to draw, as the picker, the API and the CLI name it (a picker entry, a plain name or an index);
    None, "", "none" or the picker's no-class entry: no class."""
    if name is None or name.strip().lower() in ("", "none", NO_CLASS):
        return None
    try:
        return config.label_space().resolve(name)
    except LabelError as exc:
        raise PlaygroundError(str(exc)) from None


def parse_request(config: LegoConfig, class_name: str | None, seed: object, steps: object, guidance: object,
                  method: str, images: object, width: object, height: object,
                  schedule: BrickSchedule, canvas: Canvas | None = None, max_images: int = MAX_IMAGES,
                  guidance_interval: object = "") -> Request:
    """Turn raw UI/API values into a Request, or raise PlaygroundError saying what is wrong."""
    label = parse_label(config, class_name)
    seed = number("seed", seed, True, 0, MAX_SEED)
    steps = number("steps", steps, True, 1, MAX_STEPS)
    guidance = number("guidance", guidance, False, 0, MAX_GUIDANCE)
    if method not in METHODS:
        raise PlaygroundError(f"sampler must be one of {', '.join(METHODS)}, got {quoted(method)}")
    images = number("number of images", images, True, 1, max_images)
    if seed + images - 1 > MAX_SEED:  # image k of a request has seed + k
        raise PlaygroundError(f"seed + number of images - 1 must be at most {MAX_SEED}, got {seed + images - 1}")
    width = number("width", width, integer=True)
    height = number("height", height, integer=True)
    unit = config.size_unit
    for name, value in (("width", width), ("height", height)):
        if value <= 0 or value % unit:
            raise PlaygroundError(f"{name} must be a positive multiple of {unit} pixels for this model, got {value}")
    try:
        schedule.check_bricks(config.num_bricks)
        schedule.mask(steps)
    except ScheduleError as exc:
        raise PlaygroundError(str(exc)) from None
    canvas = canvas or Canvas()
    try:
        canvas.check(config, height, width)
    except CanvasError as exc:
        raise PlaygroundError(str(exc)) from None
    canvas = canvas.used_on(config, height, width)
    return Request(label, seed, steps, guidance, method, images, width, height, schedule, canvas,
                   parse_interval(guidance_interval))


def interval_text(interval: tuple[float, float] | None) -> str:
    """'1-40' for guidance at sigma in (1, 40]; '' for every step."""
    return "" if interval is None else "-".join(number_text(x) for x in interval)


def parse_interval(value: object) -> tuple[float, float] | None:
    """A guidance interval as ``interval_text`` writes it ('1-40'), or a pair of numbers; empty or None: every
    step."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        parts = RANGE_SEPARATOR.split(value.strip())
    elif isinstance(value, (tuple, list)):
        parts = list(value)
    else:
        parts = [value]
    if len(parts) != 2:
        raise PlaygroundError(f"guide: a guidance interval is two noise levels such as 1-40 (or nothing for every "
                              f"step), got {quoted(value)}")
    low, high = (number("guidance interval", part) for part in parts)
    if not 0 <= low < high:
        raise PlaygroundError(f"a guidance interval needs 0 <= low < high, got {quoted(value)}")
    return low, high


def random_seed() -> int:
    return random.randint(0, MAX_SEED)
