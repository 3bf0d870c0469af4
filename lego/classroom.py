"""The classroom edition's content: which runs are precomputed, and each run and lesson as the static page shows it.

The page offers the app's brick x step-range grid, but only the schedules sampled here can be picked:
every brick, the lesson's late drops, the presets, and each brick off for each single range.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import plotly.graph_objects as go
from markdown_it import MarkdownIt
from PIL import Image

from . import charts
from .config import LegoConfig
from .flops import format_flops
from .lesson import Lesson, cost_verdict, early_late_verdict, late_verdict, predict_text, take_away
from .png_store import PngStore
from .runs import RunRecord
from .schedule import (PRESETS, BrickSchedule, ScheduleError, drop_late, from_grid, off_steps, presets_for,
                       to_grid)
from .visuals import difference_maps, mean_change

MARKDOWN = MarkdownIt("commonmark").enable("table")


def grid_key(cells: Sequence[Sequence[int]], num_ranges: int) -> str:
    """'11111.11111.11100': per brick, the ranges it runs in (how the page names a schedule from its toggles)."""
    return ".".join("".join("1" if j in on else "0" for j in range(num_ranges)) for on in cells)


def on_grid(schedule: BrickSchedule, steps: int, num_ranges: int) -> str | None:
    """The schedule's grid key, or None when the grid cannot show it (other steps) or some step has no brick."""
    cells = to_grid(schedule, num_ranges)
    try:
        same = from_grid(cells, num_ranges).mask(steps) == schedule.mask(steps)
    except ScheduleError:
        return None
    return grid_key(cells, num_ranges) if same else None


def grid_schedules(config: LegoConfig, steps: int, num_ranges: int) -> dict[str, BrickSchedule]:
    """Every schedule to precompute, by grid key, every brick first. Of schedules with the same key the first is
    kept: the lesson's own drops come before the presets, so the lesson replays the grid's runs."""
    n = config.num_bricks
    candidates = [BrickSchedule.all_on(n), *(drop_late(config, k) for k in range(n)), *presets_for(config).values()]
    everything, names = list(range(num_ranges)), [config.brick_name(k) for k in range(n)]
    for k in range(n):
        for j in everything:
            schedule = from_grid([[i for i in everything if (kk, i) != (k, j)] for kk in range(n)], num_ranges)
            # named by its steps, as the grid's columns are ("B0 local r8/p2 off at steps 7-8 of 8")
            candidates.append(replace(schedule, name=off_steps(schedule.mask(steps), names)))
    found: dict[str, BrickSchedule] = {}
    for schedule in candidates:
        key = on_grid(schedule, steps, num_ranges)
        if key is not None:
            found.setdefault(key, schedule)
    return found


def preset_keys(config: LegoConfig, steps: int, num_ranges: int) -> list[dict]:
    """The presets the page can apply: name, what it switches off (its headline) and grid key."""
    out = []
    for name, schedule in presets_for(config).items():
        key = on_grid(schedule, steps, num_ranges)
        if key is not None:
            out.append({"name": name, "headline": PRESETS[name].headline, "key": key})
    return out


def shrink(picture: np.ndarray, size: int) -> np.ndarray:
    """A step's picture at ``size`` pixels a side (box-averaged), to keep a grid of every step within budget."""
    if picture.shape[0] == size and picture.shape[1] == size:
        return picture
    return np.asarray(Image.fromarray(picture).resize((size, size), Image.Resampling.BOX))


def chart_base(figure: go.Figure) -> dict:
    """A chart's layout and traces without their values: the page fills in each run's."""
    data = json.loads(figure.to_json())
    for trace in data["data"]:
        trace.pop("y", None)
    return data


def chart_values(figure: go.Figure) -> list[list[float]]:
    return [[float(v) for v in trace.y] for trace in figure.data]


def run_charts(record: RunRecord, names: Sequence[str]) -> dict[str, go.Figure]:
    """The app's FLOPs and time charts of a run."""
    return {"flops": charts.flops_per_step(record.estimate.cost, names, record.request.settings.sigmas()),
            "time": charts.time_per_step(record.brick_seconds, record.step_seconds, names)}


def page_runs(records: Sequence[RunRecord], store: PngStore, names: Sequence[str], frame_size: int,
              drawn: Sequence[str | None], repeats: int = 1) -> list[dict]:
    """Runs of one class and seed as the page shows them, the first with every brick: their change maps share
    one scale, so that the paler map is the smaller change whichever schedules a pupil flips between."""
    reference = records[0]
    maps, limit = difference_maps(reference.images[0], [r.images[0] for r in records])
    return [page_run(r, reference, m, limit, store, names, frame_size, d, repeats)
            for r, m, d in zip(records, maps, drawn)]


def page_run(record: RunRecord, reference: RunRecord, diff: np.ndarray, diff_limit: int, store: PngStore,
             names: Sequence[str], frame_size: int, drawn: str | None = None, repeats: int = 1) -> dict:
    """One run as the page shows it: pictures as file names, numbers as the app reports them, and the emoji
    drawn where a category was asked for; its times are each step's fastest of ``repeats`` runs."""
    cost = record.estimate.cost
    image = record.images[0]
    change = mean_change(reference.images[0], image)
    timed = f"{record.seconds:.2f} s measured when exported"
    if record is not reference:
        timed += f" against {reference.seconds:.2f} s with every brick"
        if record.seconds >= reference.seconds:  # as Compare in the app says it: no speed-up shown, none claimed
            timed += " (no measurable speed-up: a saving this small is lost in the machine's noise)"
    return {
        "image": store.add(image),
        "diff": store.add(diff),
        "diff_limit": diff_limit,  # the scale's end, in the caption: a pale map is a small change only beside it
        "flops": {"total": cost.total, "all_bricks": cost.reference_total,
                  "per_step": [list(s.bricks) for s in cost.per_step]},
        "summary": ("" if drawn is None else f"Drew {drawn}. ")
        + (f"{format_flops(cost.total)} vs {format_flops(cost.reference_total)} with every brick "
           f"(saving {cost.saving:.0%}, predicted speed-up {cost.predicted_speedup:.2f}x); "
           f"the picture changed by {change:.1f} / 255 per pixel on average; {timed} ({record.precision}"
           + (f", each step's fastest of {repeats} runs)" if repeats > 1 else ")")),
        "charts": {name: chart_values(fig) for name, fig in run_charts(record, names).items()},
        "frames": [[store.add(shrink(f.noisy, frame_size)), store.add(shrink(f.denoised, frame_size)),
                    [None if b is None else store.add(shrink(b, frame_size)) for b in f.bricks]]
                   for f in record.frames],
    }


def page_lesson(lesson: Lesson, store: PngStore) -> dict:
    """The lesson for one class: each brick off late, off early, and every brick with as few steps as costs the
    same, each with its change map (all on one scale, as the app's Lesson draws them: a change of a few / 255
    cannot be seen in the pictures themselves), and the app's verdicts and take-away for each guess as HTML."""
    n = len(lesson.late)
    rows = [*lesson.late, *lesson.early, *lesson.fewer]
    maps, limit = difference_maps(lesson.reference, [r.image for r in rows])
    pictures = [{"image": store.add(r.image), "map": store.add(m), "steps": r.steps} for r, m in zip(rows, maps)]
    guesses = range(n)
    return {"reference": store.add(lesson.reference), "map_limit": limit,
            "rows": [{"brick": name, "late": pictures[k], "early": pictures[n + k], "fewer": pictures[2 * n + k]}
                     for k, name in enumerate(lesson.names)],
            "verdicts": {"late": [MARKDOWN.render(late_verdict(lesson, k)) for k in guesses],
                         "early": [MARKDOWN.render(early_late_verdict(lesson, k)) for k in guesses],
                         "cost": [MARKDOWN.render(cost_verdict(lesson, k)) for k in guesses],
                         "take_away": [MARKDOWN.render(take_away(lesson, k)) for k in guesses]}}


def predict_html(config: LegoConfig) -> str:
    """The Lesson's first stage, as the app words it: each brick in a sentence, then the question."""
    return MARKDOWN.render(predict_text(config))
