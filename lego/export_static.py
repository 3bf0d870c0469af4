"""The classroom edition: the lesson and a grid of precomputed runs as a static site that any browser opens.

    python -m lego.export_static OUT [--checkpoint DIR] [--classes NAME ...] [--seeds N] [--frame-size PIXELS]

Why: a static site costs nothing to host, needs no server queue for a class of thirty, and opens from a
laptop's disk. Every picture and number in it comes from sampling the real model once, here, with the
app's default sampler and steps; the page only looks them up, so it can offer only what was sampled.
OUT gets index.html, its script and style, Plotly's own script (its basic bundle), data.js
(the numbers, loaded by a script tag: browsers refuse fetch() from file://) and img/ (PNG, one file per
distinct picture). Its README.md carries the front matter of a static Hugging Face Space.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from .checkpoint import DEFAULT_CHECKPOINT, CheckpointError, load_checkpoint
from .classroom import (MARKDOWN, chart_base, grid_schedules, page_lesson, page_runs, predict_html, preset_keys,
                        run_charts)
from .deploy import front_matter
from .estimate import estimate
from .labels import LabelError
from .lesson import LESSON_SEED, run_lesson
from .model import LegoModel
from .png_store import PngStore
from .precision import PRECISIONS
from .request import DEFAULT_GUIDANCE, DEFAULT_METHOD, DEFAULT_STEPS, MAX_STEPS, NO_CLASS, parse_request
from .runs import RunCache, fastest, run_to_end
from .sampler import METHOD_NAMES, sigma_steps
from .schedule import MAX_GRID_RANGES, grid_labels
from .serving import Served

ROOT = Path(__file__).resolve().parent.parent
STATIC = Path(__file__).resolve().parent / "static"
# Plotly's own basic bundle (bar, scatter and pie charts: all the page draws), 1.2 MB against the full
# bundle's 4.8: the same plotly.js version as the installed plotly package writes figures for (a test checks).
PLOTLY_JS = STATIC / "plotly-basic.min.js"
CREDITS = ROOT / "assets" / "CREDITS.md"
# The app's defaults (lego.request), which its Lesson tab also samples with, on the seed that tab uses.
STEPS, METHOD, GUIDANCE = DEFAULT_STEPS, DEFAULT_METHOD, DEFAULT_GUIDANCE
RANGES = 5  # the app's schedule grid starts with 5 ranges
REPEATS = 3  # times each run is timed: a slow step on a busy machine would show a saving as a loss


class ExportError(RuntimeError):
    """An export that cannot go ahead, with the reason."""


@dataclass(frozen=True)
class Grid:
    """What to precompute: classes (None: no class) x seeds x every schedule of ``grid_schedules``."""

    classes: tuple[int | None, ...]
    seeds: tuple[int, ...] = (0,)
    steps: int = STEPS
    num_ranges: int = RANGES
    frame_size: int | None = None  # side of the step pictures in pixels; None: the image size

    @classmethod
    def default(cls, model: LegoModel) -> Grid:
        """The model's featured classes, else one class per top-level class; one seed, step pictures at half size:
        about 11 MB for nine classes, inside the 40 MB budget (README, Classroom edition). Without featured
        classes, a model labelled by emoji draws the first emoji of each category: a category would draw one of
        its emoji per seed, and the grid has one seed."""
        config = model.config
        space = config.label_space()
        if config.featured_classes:
            return cls(tuple(map(space.resolve, config.featured_classes)), frame_size=config.image_size // 2)
        firsts = (space.first_finest(top) for top in range(space.sizes[0]))
        classes = tuple(top if first is None else first for top, first in enumerate(firsts)) or (None,)
        return cls(classes, frame_size=config.image_size // 2)


def class_name(model: LegoModel, label: int | None) -> str:
    return NO_CLASS if label is None else model.config.label_space().describe(label)


def export(model: LegoModel, out: Path, grid: Grid, app_url: str = "", precision: str = "auto",
           quiet: bool = False, repeats: int = REPEATS) -> dict:
    """Sample the grid and the lesson and write the site into ``out``; returns the page's data. Each run is timed
    ``repeats`` times, each step at its fastest (``runs.fastest``)."""
    config = model.config
    names = [config.brick_name(k) for k in range(config.num_bricks)]
    size = config.image_size
    schedules = grid_schedules(config, grid.steps, grid.num_ranges)
    prepare(out)
    store = PngStore(out / "img")
    served = Served.of("export", model, precision)
    runs: dict[str, dict[str, dict]] = {}
    lessons = []
    first = None
    with tqdm(total=len(grid.classes) * (len(grid.seeds) * len(schedules) + 1), unit="run", disable=quiet,
              file=sys.stderr) as bar:
        for i, label in enumerate(grid.classes):
            cache = RunCache(max_bytes=2**40)  # this class's runs, until its lesson has replayed what it shares
            served.cache = cache
            for seed in grid.seeds:
                records, drawn = [], []
                for schedule in schedules.values():
                    request = parse_request(config, class_name(model, label), seed, grid.steps, GUIDANCE, METHOD, 1,
                                            size, size, schedule)
                    planned = estimate(config, request, served.speed)
                    record = run_to_end(model, request, planned, served.precision, keep_frames=True, cache=cache)
                    record = fastest(record, [run_to_end(model, request, planned, served.precision)
                                              for _ in range(repeats - 1)])
                    first = first or record
                    records.append(record)
                    drawn.append((request.drawn(config) or [None])[0])
                    bar.update()
                shown = page_runs(records, store, names, grid.frame_size or size, drawn, repeats)
                runs[f"{i}/{seed}"] = dict(zip(schedules, shown))
            lessons.append(page_lesson(run_lesson(served, label, LESSON_SEED), store))
            bar.update()
    data = {
        "title": "LEGO Playground: classroom edition",
        "app_url": app_url,
        "bricks": names,
        "steps": grid.steps,
        "method": METHOD_NAMES[METHOD],
        "guidance": GUIDANCE,
        "sigmas": sigma_steps(grid.steps),
        "range_labels": grid_labels(grid.num_ranges, grid.steps, sigma_steps(grid.steps)),
        "classes": [class_name(model, label) for label in grid.classes],
        "seeds": list(grid.seeds),
        "schedules": {key: s.name for key, s in schedules.items()},
        "presets": preset_keys(config, grid.steps, grid.num_ranges),
        "charts": {name: chart_base(fig) for name, fig in run_charts(first, names).items()},
        "runs": runs,
        "lessons": lessons,
        "predict": predict_html(config),
        "credits": credits_html(),
    }
    write_site(out, data)
    return data


def credits_html() -> str:
    """The project's credits under a heading of the site's own (the file's first heading speaks of its folder)."""
    text = CREDITS.read_text(encoding="utf-8")
    body = text.split("\n", 1)[1] if text.startswith("# ") else text
    return MARKDOWN.render("# Credits\n\nThe pictures of this site were made by LEGO Playground's model. "
                           "The art it learnt from, and the licences, as the project credits them (the files "
                           "named below are the project's, not this site's):\n" + body)


def prepare(out: Path) -> None:
    """An empty folder, or an earlier export's, whose pictures go (the new export may not need them all)."""
    if out.exists() and any(out.iterdir()) and not (out / "data.js").is_file():
        raise ExportError(f"{out} is not empty and holds no earlier export: choose a new folder")
    shutil.rmtree(out / "img", ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)


def write_site(out: Path, data: dict) -> None:
    """The page, its script, style and data, Plotly, and the README a static Space reads."""
    for name in ("index.html", "classroom.js", "classroom.css"):
        shutil.copy2(STATIC / name, out / name)
    shutil.copy2(PLOTLY_JS, out / PLOTLY_JS.name)
    (out / "data.js").write_text("window.CLASSROOM = " + json.dumps(data, separators=(",", ":")) + ";\n",
                                 encoding="utf-8")
    project = front_matter(ROOT)
    matter = {"title": "LEGO Playground classroom", **{k: project[k] for k in ("emoji", "colorFrom", "colorTo")},
              "sdk": "static", "app_file": "index.html", "license": project["license"],
              "short_description": "Precomputed LEGO brick schedules: toggle, scrub, compare"}
    (out / "README.md").write_text(
        "---\n" + "".join(f"{k}: {v}\n" for k, v in matter.items()) + "---\n\n"
        f"# {data['title']}\n\nOpen `index.html` in any browser, from disk or from any static host: nothing is "
        "fetched from the network. Made with `python -m lego.export_static` from LEGO Playground: "
        f"{len(data['classes'])} class(es) x {len(data['seeds'])} seed(s) x {len(data['schedules'])} schedules, "
        f"{data['steps']} {data['method']} steps. The live app runs any schedule.\n\n## Credits\n\nThe pictures "
        "were made by a model that learnt from emoji art used under its licences (Apache-2.0, MIT, CC-BY 4.0): "
        "the page's **Credits** tab names each style, its authors and its licence.\n", encoding="utf-8")


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lego.export_static", description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="folder to write: new, empty, or an earlier export (replaced)")
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT),
                        help=f"the model to sample: directory or Hub repo id (default {DEFAULT_CHECKPOINT.name})")
    parser.add_argument("--classes", nargs="+", metavar="NAME",
                        help="what to draw, as the app's picker names it (default: the checkpoint's featured_classes; "
                        "without them every category, or its first emoji for a model labelled by emoji)")
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0 to N-1 (default 1)")
    parser.add_argument("--steps", type=int, default=STEPS, help=f"sampling steps (default {STEPS}, the app's)")
    parser.add_argument("--ranges", type=int, default=RANGES, help=f"step ranges of the grid (default {RANGES})")
    parser.add_argument("--frame-size", type=int, help="side in pixels of every step's pictures "
                        "(default: half the image size; the final images are always whole)")
    parser.add_argument("--app-url", default="", help="where the live app runs, for the page's link")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS,
                        help="auto: bf16 where this machine runs it fast, else fp32 (as the app)")
    parser.add_argument("--repeats", type=int, default=REPEATS,
                        help=f"time each run this many times, each step at its fastest (default {REPEATS})")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    wrong = [f"{name} {value}: it must be {rule}" for name, value, ok, rule in (
        ("--seeds", args.seeds, args.seeds >= 1, "1 or more"),
        ("--steps", args.steps, 1 <= args.steps <= MAX_STEPS, f"from 1 to {MAX_STEPS}"),
        ("--ranges", args.ranges, 1 <= args.ranges <= MAX_GRID_RANGES, f"from 1 to {MAX_GRID_RANGES}"),
        ("--frame-size", args.frame_size, args.frame_size is None or args.frame_size >= 1, "1 or more"),
        ("--repeats", args.repeats, args.repeats >= 1, "1 or more"),
    ) if not ok]
    if args.out.exists() and not args.out.is_dir():
        wrong.append(f"{args.out} is a file: the edition is a folder")
    if wrong:
        sys.exit("error: " + "; ".join(wrong))
    try:
        model = load_checkpoint(args.checkpoint)
        default = Grid.default(model)
        space = model.config.label_space()
        classes = tuple(space.resolve(n) for n in args.classes) if args.classes else default.classes
    except (CheckpointError, LabelError) as exc:
        sys.exit(f"error: {exc}")
    grid = Grid(classes, tuple(range(args.seeds)), args.steps, args.ranges, args.frame_size or default.frame_size)
    start = time.perf_counter()
    try:
        data = export(model, args.out, grid, args.app_url, args.precision, args.quiet, args.repeats)
    except ExportError as exc:
        sys.exit(f"error: {exc}")
    runs = sum(len(r) for r in data["runs"].values())
    print(f"{args.out}: {runs} runs and {len(data['lessons'])} lesson(s) in {time.perf_counter() - start:.0f} s, "
          f"{folder_bytes(args.out) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
