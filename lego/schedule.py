"""Which brick runs when: a brick schedule over sampling progress.

Progress runs from 0 (first step, highest noise) to 1 (last step). Each brick has a list of
half-open ranges ``[start, end)`` of progress in which it runs; ``end == 1`` includes the last
step. Step ``i`` of ``n`` is on for a brick when its midpoint ``(i + 0.5) / n`` lies in one of
the brick's ranges, so a schedule means the same thing for any step count.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .config import LegoConfig
from .messages import quoted
from .paths import is_file

Range = tuple[float, float]

MAX_JSON_BYTES = 64 * 1024
MAX_JSON_DEPTH = 8  # a schedule nests 4 deep ({"bricks": {"0": [[start, end]]}}); deeper input is refused unparsed
MAX_RANGES_PER_BRICK = 64


CUSTOM = "custom"  # the name of a schedule that is no preset


class ScheduleError(ValueError):
    """A brick schedule that is malformed or cannot run."""


@dataclass(frozen=True)
class BrickSchedule:
    """Per brick, the progress ranges in which it runs (index = brick index)."""

    ranges: tuple[tuple[Range, ...], ...]
    name: str = CUSTOM

    def __post_init__(self) -> None:
        cleaned = tuple(_clean_ranges(i, r) for i, r in enumerate(self.ranges))
        object.__setattr__(self, "ranges", cleaned)
        if not cleaned:
            raise ScheduleError("a schedule needs at least one brick")

    @property
    def num_bricks(self) -> int:
        return len(self.ranges)

    @classmethod
    def all_on(cls, num_bricks: int) -> "BrickSchedule":
        return cls(tuple(((0.0, 1.0),) for _ in range(num_bricks)), name="all")

    def check_bricks(self, num_bricks: int) -> None:
        if self.num_bricks != num_bricks:
            raise ScheduleError(f"schedule describes {self.num_bricks} bricks but the model has {num_bricks}")

    def mask(self, steps: int) -> list[list[bool]]:
        """``mask[i][k]``: brick k runs at step i. Raises if some step would have no brick."""
        if not isinstance(steps, int) or steps < 1:
            raise ScheduleError(f"steps must be a positive integer, got {quoted(steps)}")
        mask = [[_covers(r, (i + 0.5) / steps) for r in self.ranges] for i in range(steps)]
        empty = [i for i, row in enumerate(mask) if not any(row)]
        if empty:
            raise ScheduleError(f"no brick is on at {step_spans(empty)} of {steps}: switch at least one brick on "
                                "for every step")
        return mask

    def to_dict(self) -> dict:
        return {"name": self.name, "bricks": {str(i): [list(r) for r in rs] for i, rs in enumerate(self.ranges)}}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: object, num_bricks: int) -> "BrickSchedule":
        if not isinstance(data, dict) or not isinstance(data.get("bricks"), dict):
            raise ScheduleError('a schedule must be an object like {"bricks": {"0": [[0, 1]], ...}}')
        bricks = data["bricks"]
        by_index: dict[int, object] = {}
        for key, value in bricks.items():
            try:
                index = int(key)
            except (TypeError, ValueError):
                raise ScheduleError(f"unknown brick {quoted(key)}: bricks are numbered 0 to {num_bricks - 1}") from None
            if not 0 <= index < num_bricks or str(index) != str(key).strip():
                raise ScheduleError(f"unknown brick {quoted(key)}: bricks are numbered 0 to {num_bricks - 1}")
            by_index[index] = value
        missing = [i for i in range(num_bricks) if i not in by_index]
        if missing:
            raise ScheduleError(f"schedule has no entry for brick(s) {missing}: give [] to keep a brick off")
        name = data.get("name", CUSTOM)
        if not isinstance(name, str) or len(name) > 64:
            raise ScheduleError("schedule name must be a string of at most 64 characters")
        return cls(tuple(_parse_ranges(i, by_index[i]) for i in range(num_bricks)), name=name)

    @classmethod
    def from_json(cls, text: str, num_bricks: int) -> "BrickSchedule":
        if len(text.encode("utf-8", errors="replace")) > MAX_JSON_BYTES:
            raise ScheduleError(f"schedule JSON is larger than {MAX_JSON_BYTES // 1024} KiB")
        check_nesting(text, MAX_JSON_DEPTH)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno} column {exc.colno}"
            raise ScheduleError(f"schedule is not valid JSON: {exc.msg} at {where}") from None
        except ValueError:  # valid JSON that Python will not read: a number of thousands of digits
            raise ScheduleError("schedule JSON holds a number thousands of digits long; a range's ends are "
                                "fractions from 0 to 1") from None
        return cls.from_dict(data, num_bricks)

    def describe(self, steps: int, sigmas: Sequence[float]) -> list[list[str]]:
        """Human-readable ranges per brick: progress, step span and sigma span for ``steps``."""
        mask = self.mask(steps)
        out = []
        for k in range(self.num_bricks):
            spans = []
            for first, last in _runs([row[k] for row in mask]):
                spans.append(f"steps {first + 1}-{last + 1} (sigma {sigmas[first]:.3g} to {sigmas[last + 1]:.3g})")
            out.append(spans or ["off"])
        return out


def _covers(ranges: tuple[Range, ...], point: float) -> bool:
    return any(a <= point < b for a, b in ranges)


def _steps_text(first: int, last: int) -> str:
    """'step 3' or 'steps 3-5': 0-based step indices, counted from 1 as a person reads them."""
    return f"step {first + 1}" if first == last else f"steps {first + 1}-{last + 1}"


def _runs(flags: Sequence[bool]) -> list[tuple[int, int]]:
    runs, start = [], None
    for i, f in enumerate(list(flags) + [False]):
        if f and start is None:
            start = i
        elif not f and start is not None:
            runs.append((start, i - 1))
            start = None
    return runs


def _parse_ranges(brick: int, value: object) -> tuple[Range, ...]:
    if not isinstance(value, list):
        raise ScheduleError(f"brick {brick}: expected a list of [start, end] pairs, got {type(value).__name__}")
    out = []
    for item in value:
        if (not isinstance(item, list) or len(item) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in item)):
            raise ScheduleError(f"brick {brick}: each range must be a [start, end] pair of numbers, got {quoted(item)}")
        out.append((float(item[0]), float(item[1])))
    return tuple(out)


def _clean_ranges(brick: int, ranges: Sequence[Range]) -> tuple[Range, ...]:
    if len(ranges) > MAX_RANGES_PER_BRICK:
        raise ScheduleError(f"brick {brick}: more than {MAX_RANGES_PER_BRICK} ranges")
    cleaned = []
    for a, b in ranges:
        a, b = float(a), float(b)
        if not (0.0 <= a < b <= 1.0):
            raise ScheduleError(
                f"brick {brick}: range [{a}, {b}] is out of range: need 0 <= start < end <= 1 (fractions of the steps)")
        cleaned.append((a, b))
    cleaned.sort()
    for (a0, b0), (a1, b1) in zip(cleaned, cleaned[1:]):
        if a1 < b0:
            raise ScheduleError(f"brick {brick}: ranges [{a0}, {b0}] and [{a1}, {b1}] overlap")
    return tuple(cleaned)


# ---- presets ---------------------------------------------------------------------------

SKIP_SHARE = 0.4  # the paper's t_break for its PG / PR recipes


def _all(config: LegoConfig) -> BrickSchedule:
    return BrickSchedule.all_on(config.num_bricks)


def one_brick(config: LegoConfig, brick: int, on: Sequence[Range], name: str) -> BrickSchedule:
    """Every brick at every step, except ``brick``, which runs only in the ranges ``on``."""
    if not 0 <= brick < config.num_bricks:
        raise ScheduleError(f"unknown brick {brick}: bricks are numbered 0 to {config.num_bricks - 1}")
    ranges = [((0.0, 1.0),)] * config.num_bricks
    ranges[brick] = tuple(on)
    return BrickSchedule(tuple(ranges), name=name)


def _until(end: float) -> tuple[Range, ...]:
    """On from the start to ``end`` (nothing when ``end`` is 0)."""
    return ((0.0, end),) if end > 0 else ()


def _top_off(config: LegoConfig, on: Range, name: str) -> BrickSchedule:
    if config.num_bricks < 2:
        raise ScheduleError(f"preset {name!r} needs at least two bricks")
    return one_brick(config, config.num_bricks - 1, (on,), name)


def _only(config: LegoConfig, want_global: bool, name: str) -> BrickSchedule:
    keep = [config.is_global(i) == want_global for i in range(config.num_bricks)]
    if not any(keep):
        kind = "global (full-image)" if want_global else "local"
        raise ScheduleError(f"preset {name!r}: this model has no {kind} brick")
    return BrickSchedule(tuple(((0.0, 1.0),) if k else () for k in keep), name=name)


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    build: Callable[[LegoConfig], BrickSchedule]

    @property
    def headline(self) -> str:
        """What it switches off, without the why in brackets: short enough for a dropdown."""
        return self.description.split(" (")[0]


PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset("all", "every brick at every step (the reference)", _all),
    Preset("pg-recipe", "top brick off for the last 40% of steps (the paper's recipe for PG, progressive-growth "
                        "stacks, whose top brick is global)",
           lambda c: _top_off(c, (0.0, 1.0 - SKIP_SHARE), "pg-recipe")),
    Preset("pr-recipe", "top brick off for the first 40% of steps (the paper's recipe for PR, progressive-refinement "
                        "stacks, whose top brick is local)",
           lambda c: _top_off(c, (SKIP_SHARE, 1.0), "pr-recipe")),
    Preset("local-only", "only the bricks whose regions are smaller than the image",
           lambda c: _only(c, False, "local-only")),
    Preset("global-only", "only the full-image bricks", lambda c: _only(c, True, "global-only")),
]}


def preset(name: str, config: LegoConfig) -> BrickSchedule:
    if name not in PRESETS:
        raise ScheduleError(f"unknown preset {quoted(name)}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name].build(config)


def presets_for(config: LegoConfig) -> dict[str, BrickSchedule]:
    """Every preset this stack can run, by name (a stack without a global brick has no global-only)."""
    out = {}
    for name, p in PRESETS.items():
        try:
            out[name] = p.build(config)
        except ScheduleError:
            continue
    return out


def top_brick_break(config: LegoConfig, t_break: float) -> BrickSchedule:
    """The top brick switched off for the last ``t_break`` share of the steps (paper's sweep)."""
    if not 0.0 <= t_break <= 1.0:
        raise ScheduleError(f"t_break must be in [0, 1], got {t_break}")
    return one_brick(config, config.num_bricks - 1, _until(1.0 - t_break), f"t_break={t_break:g}")


def drop_late(config: LegoConfig, brick: int, share: float = SKIP_SHARE) -> BrickSchedule:
    """Every brick on, except ``brick`` switched off for the last ``share`` of the steps."""
    return one_brick(config, brick, _until(1.0 - share), f"{config.brick_name(brick)} off for the last {share:.0%}")


def drop_early(config: LegoConfig, brick: int, share: float = SKIP_SHARE) -> BrickSchedule:
    """Every brick on, except ``brick`` switched off for the first ``share`` of the steps (``drop_late``'s mirror)."""
    on = ((share, 1.0),) if share < 1 else ()
    return one_brick(config, brick, on, f"{config.brick_name(brick)} off for the first {share:.0%}")


# ---- the schedule as one line of text, as links and PNGs write it ---------------------------

OFF = "off"  # a brick that never runs
RANGE_SEPARATOR = re.compile(r"(?<![eE])-")  # the "-" between two numbers, not an exponent's sign
TEXT_CHARACTERS = frozenset("0123456789.eE+-,; " + OFF)


def number_text(value: float) -> str:
    """The shortest text that reads back as exactly ``value`` (0.6, not 0.6000000000000001; never -0)."""
    text = repr(float(value) + 0.0)
    return text.removesuffix(".0")


def schedule_text(schedule: BrickSchedule) -> str:
    """``0-1;0-1;0-0.6``: each brick's progress ranges."""
    return ";".join(",".join(f"{number_text(a)}-{number_text(b)}" for a, b in ranges) or OFF
                    for ranges in schedule.ranges)


def parse_schedule_text(text: str, num_bricks: int) -> BrickSchedule:
    """The schedule ``schedule_text`` wrote, checked as a schedule from JSON is."""
    if len(text) > MAX_JSON_BYTES:
        raise ScheduleError(f"the schedule is longer than {MAX_JSON_BYTES // 1024} KiB")
    bricks = text.split(";")
    if len(bricks) != num_bricks:
        raise ScheduleError(f"the schedule gives {len(bricks)} brick{'s' * (len(bricks) != 1)} (separated by ';') "
                            f"but the model has {num_bricks}")
    ranges = []
    for k, brick in enumerate(bricks):
        parts = [] if brick.strip() == OFF else brick.split(",")
        if len(parts) > MAX_RANGES_PER_BRICK:
            raise ScheduleError(f"brick {k} has more than {MAX_RANGES_PER_BRICK} ranges")
        spans = []
        for part in parts:
            try:
                if not part.isascii():  # float() would read other scripts' digits
                    raise ValueError(part)
                start, end = (float(x) for x in RANGE_SEPARATOR.split(part))
            except ValueError:
                raise ScheduleError(f"brick {k}: {quoted(part)} is not a range such as 0-0.6 (write {OFF!r} for a "
                                    "brick that never runs)") from None
            spans.append((start, end))
        ranges.append(tuple(spans))
    return BrickSchedule(tuple(ranges))


def is_schedule_text(text: str) -> bool:
    """Whether ``text`` is written as ``schedule_text`` writes a schedule (not a name, JSON or a path)."""
    return bool(text) and set(text) <= TEXT_CHARACTERS


def check_nesting(text: str, limit: int) -> None:
    """Refuse JSON nested deeper than ``limit`` before parsing it (deep nesting exhausts the parser's stack)."""
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            escaped, in_string = (False, True) if escaped else (char == "\\", char != '"')
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                raise ScheduleError(f"schedule JSON is nested more than {limit} levels deep")
        elif char in "]}":
            depth -= 1


FORMS = (f"a preset's name ({', '.join(PRESETS)}), JSON such as {{\"bricks\": ...}}, or one line such as "
         "0-1;0-1;0-0.6 (each brick's ranges, as links and PNGs write them)")


def parse_schedule(text: str, config: LegoConfig, other_forms: str = "") -> BrickSchedule:
    """A preset's name, a schedule as JSON, or as the line a link or a PNG holds (``schedule_text``); never a file
    (the app reads no path a request names). A refusal lists the forms, and ``other_forms`` a caller reads too."""
    text = text.strip()
    if text in PRESETS:
        return preset(text, config)
    if is_schedule_text(text):
        return parse_schedule_text(text, config.num_bricks)
    if text[:1] not in ("{", "["):
        raise ScheduleError(f"the schedule {quoted(text, 40)} is none of these: {FORMS}{other_forms}")
    return BrickSchedule.from_json(text, config.num_bricks)


def load_schedule(spec: str, config: LegoConfig) -> BrickSchedule:
    """What ``parse_schedule`` reads, or a path to a JSON file."""
    spec = spec.strip()
    path = Path(spec)
    if spec in PRESETS or is_schedule_text(spec) or spec[:1] in ("{", "[") or not is_file(path):
        return parse_schedule(spec, config, ", or a JSON file")
    if path.stat().st_size > MAX_JSON_BYTES:
        raise ScheduleError(f"schedule file {spec} is larger than {MAX_JSON_BYTES // 1024} KiB")
    return BrickSchedule.from_json(path.read_text(encoding="utf-8"), config.num_bricks)


# ---- the editor's grid: equal ranges of progress ----------------------------------------

MAX_GRID_RANGES = 20


def grid_edges(num_ranges: int) -> list[Range]:
    if not 1 <= num_ranges <= MAX_GRID_RANGES:
        raise ScheduleError(f"the number of ranges must be from 1 to {MAX_GRID_RANGES}, got {num_ranges}")
    return [(j / num_ranges, (j + 1) / num_ranges) for j in range(num_ranges)]


def from_grid(cells: Sequence[Sequence[int]], num_ranges: int, name: str = CUSTOM) -> BrickSchedule:
    """``cells[k]``: indices of the ranges in which brick k runs (adjacent ranges are merged)."""
    edges = grid_edges(num_ranges)
    ranges = []
    for k, on in enumerate(cells):
        bad = [j for j in on if not (isinstance(j, int) and 0 <= j < num_ranges)]
        if bad:
            raise ScheduleError(f"brick {k}: unknown range(s) {bad}; ranges are numbered 0 to {num_ranges - 1}")
        merged: list[Range] = []
        for j in sorted(set(on)):
            a, b = edges[j]
            if merged and merged[-1][1] == a:
                merged[-1] = (merged[-1][0], b)
            else:
                merged.append((a, b))
        ranges.append(tuple(merged))
    return BrickSchedule(tuple(ranges), name=name)


def to_grid(schedule: BrickSchedule, num_ranges: int) -> list[list[int]]:
    """The ranges whose midpoint each brick covers (exact when the schedule's edges are on the grid)."""
    edges = grid_edges(num_ranges)
    return [[j for j, (a, b) in enumerate(edges) if _covers(r, (a + b) / 2)] for r in schedule.ranges]


def grid_preset(config: LegoConfig, cells: Sequence[Sequence[int]], num_ranges: int, steps: int) -> str | None:
    """The preset whose grid these ticks are, if any: a preset box that names what the grid shows. Only where they
    run the very steps the preset runs: with 4 ranges, pg-recipe's grid turns the top brick off from step 5 of 8,
    the preset from step 6, and a run of that grid is not the preset's run."""
    ticked = [sorted(set(c or [])) for c in cells]
    try:
        mask = from_grid(ticked, num_ranges).mask(steps)
    except ScheduleError:  # a step without a brick: no preset
        return None
    return next((name for name, schedule in presets_for(config).items()
                 if to_grid(schedule, num_ranges) == ticked and schedule.mask(steps) == mask), None)


def off_steps(mask: Sequence[Sequence[bool]], names: Sequence[str]) -> str:
    """'B2 global r64/p4 off at steps 6-8 of 8': what a schedule leaves out, brick by brick, steps counted from 1."""
    parts = []
    for k, name in enumerate(names):
        runs = _runs([not row[k] for row in mask])
        if runs == [(0, len(mask) - 1)]:
            parts.append(f"{name} off at every step")
        elif runs:
            spans = [_steps_text(a, b) for a, b in runs]
            parts.append(f"{name} off at {', '.join(spans)} of {len(mask)}")
    return "; ".join(parts) or "every brick at every step"


def grid_labels(num_ranges: int, steps: int, sigmas: Sequence[float]) -> list[str]:
    """'steps 1-4, sigma 80-9.7' (or 'step 3, ...') for each range, as the mask rule assigns steps to it."""
    labels = []
    for a, b in grid_edges(num_ranges):
        inside = [i for i in range(steps) if a <= (i + 0.5) / steps < b]
        if inside:
            first, last = inside[0], inside[-1]
            labels.append(f"{_steps_text(first, last)}, σ {sigmas[first]:.3g}→{sigmas[last + 1]:.3g}")
        else:
            labels.append(f"{a:.0%}-{b:.0%}: no step")
    return labels


def step_spans(steps: list[int]) -> str:
    """Steps (from 0) as a reader counts them, runs joined: [0, 1, 2, 5] -> 'steps 1-3 and 6'."""
    runs: list[list[int]] = []
    for i in steps:
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    parts = [f"{r[0] + 1}" if len(r) == 1 else f"{r[0] + 1}-{r[-1] + 1}" for r in runs]
    words = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return ("step " if steps == [steps[0]] else "steps ") + words
