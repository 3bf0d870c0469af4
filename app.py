"""LEGO Playground: switch diffusion bricks on and off per timestep range and see what it costs.

    python app.py [--checkpoint DIR_OR_HUB_ID] [--host 127.0.0.1] [--port 7860] [--share] [--compile]

Layout and wiring only: the logic lives in lego.playground, lego.charts, lego.schedule and lego.results.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from lego import charts, results  # noqa: E402
from lego.canvas import COORDS as CANVAS_COORDS  # noqa: E402
from lego.canvas import MODES as CANVAS_MODES  # noqa: E402
from lego.canvas import Canvas, CanvasError  # noqa: E402
from lego.checkpoint import DEFAULT_CHECKPOINT, CheckpointError, load_checkpoint  # noqa: E402
from lego.flops import format_flops  # noqa: E402
from lego.images import to_uint8  # noqa: E402
from lego.labels import LabelError  # noqa: E402
from lego.model import LegoModel  # noqa: E402
from lego.playground import (NO_CLASS, FrameBudget, Limits, ModelRegistry, OutputFolder, PlaygroundError,  # noqa: E402
                             RunRecord, Served, brick_table, check_limits, class_choices, difference_map, estimate,
                             gpu_seconds, late_drop_lesson, lesson_verdict, parse_request, picker_info, random_seed,
                             region_overlay, run, shipped_checkpoints, shown_source)
from lego.playground import compare as run_comparison  # noqa: E402
from lego.precision import default_device  # noqa: E402
from lego.sampler import METHODS, StepInfo, sigma_steps  # noqa: E402
from lego.schedule import PRESETS, BrickSchedule, ScheduleError, from_grid, grid_labels, preset, to_grid  # noqa: E402

DEFAULT_RANGES = 5
SAMPLER_LABELS = {"heun": "Heun (2 evaluations per step)", "euler": "Euler",
                  "dpm++2m": "DPM-Solver++ 2M (fast: try 12 steps)"}
DEFAULT_KEY = "the model this app was started with"
MAX_WAITING_PER_SESSION = 3  # requests one session may have queued or running at once
SESSION_SECONDS = 1800  # a session's last run is kept this long after it was made (API sessions too)
NOTES = """
**How to read this.** Every brick is a small transformer that only looks inside square *regions*.
*Local* bricks (small regions) do **local-feature enrichment**: they sharpen edges and texture
where they are. The *global* brick sees the whole image and does **global-content
orchestration**: it decides what goes where. Early steps (high noise, large sigma) settle the
layout; late steps (low noise) only add detail, which is why the paper switches the global
brick off late (the `pg-recipe` preset).
"""


def on_zero_gpu(fn, gflops):
    """``spaces.GPU`` with a duration from the request's cost when the ``spaces`` package is there
    (Hugging Face ZeroGPU Spaces); the function unchanged everywhere else."""
    try:
        import spaces
    except ImportError:
        return fn
    signature = inspect.signature(fn)

    def duration(*args, **kwargs) -> int:
        try:
            return gpu_seconds(gflops(**signature.bind(*args, **kwargs).arguments))
        except (gr.Error, TypeError, ValueError):
            return gpu_seconds(0)

    return spaces.GPU(duration=duration)(fn)


def results_tab(sweep: dict | None) -> None:
    """The committed benchmark results (assets/benchmarks): figures and tables, nothing recomputed."""
    def missing(command: str) -> None:
        gr.Markdown(f"Not measured yet: run `{command}`.")

    gr.Markdown("What the benchmark scripts measured on the bundled model and this project's CPU. "
                "Each section names the command that regenerates it.")
    gr.Markdown("### Brick schedules: quality against compute")
    if sweep is None:
        missing("python benchmarks/schedules.py")
    else:
        gr.Markdown(f"{sweep['per_class']} images per class and seed set, {sweep['seed_sets']} seed sets; "
                    f"± is half the spread between the sets. `{sweep['command']}`")
        gr.Plot(results.figure("schedules_figure.json"), elem_id="results-schedules")
        gr.Dataframe(results.schedule_table(sweep["rows"]), headers=results.SCHEDULE_COLUMNS, interactive=False)
    gr.Markdown("### Training: LEGO against a plain DiT, and what brick dropout costs")
    training = results.read("training_efficiency.json")
    if training is None:
        missing("python benchmarks/training_efficiency.py")
    else:
        gr.Markdown(f"`{training['command']}`")
        gr.Plot(results.figure("training_efficiency_figure.json"))
        gr.Dataframe(results.training_table(training), headers=results.TRAINING_COLUMNS, interactive=False)
    gr.Markdown("### Speed on a small CPU")
    speed = results.read("speed.json")
    if speed is None:
        missing("python benchmarks/speed.py")
    else:
        gr.Plot(results.speed_figure(speed))
        gr.Markdown(results.speed_summary(speed))
    gr.Markdown("### Larger canvases: cost against area")
    canvas = results.figure("canvas_figure.json")
    if canvas is None:
        missing("python benchmarks/canvas.py")
    else:
        gr.Plot(canvas)


LOG = logging.getLogger("lego_playground")


def refused(reason: object) -> gr.Error:
    """A request refused for a reason the user can fix: one log line, a message, no traceback."""
    LOG.info("refused: %s", reason)
    return gr.Error(str(reason), print_exception=False)


# Options every launch of the app uses (Gradio 6 takes CSS at launch): small images are enlarged with
# crisp pixels, never blurred; the app has no upload field, so uploads are refused past a token size.
LAUNCH_OPTIONS = {"css": "img { image-rendering: pixelated; }", "max_file_size": "1kb"}


def build_demo(model: LegoModel, limits: Limits | None = None, precision: str = "auto",
               queue_size: int = 20, cache_bytes: int = 8 * 2**20, compiled: bool = False) -> gr.Blocks:
    """The whole UI, built for ``model``. Each browser session may switch to another checkpoint
    with the same number of bricks (Model tab). ``queue_size`` bounds waiting requests;
    ``compiled`` serves compiled bricks (a warm-up first, then faster sampling)."""
    registry = ModelRegistry(Served.of(DEFAULT_KEY, model, precision, limits, cache_bytes, compiled))
    first = registry.default
    config = first.config  # the layout: brick rows and size controls are built for this model
    names = first.names
    unit = config.size_unit
    outputs = OutputFolder()
    frame_budget = FrameBudget()  # every session's Look-inside frames together
    sweep = results.read("schedules.json")  # measured quality per schedule, shown beside the estimate

    def served(key: str | None) -> Served:
        """The model this browser session chose (a gr.State holds its key); never silently another."""
        try:
            return registry.get(key)
        except PlaygroundError as exc:
            raise refused(exc) from None

    def parse(s: Served, category, seed, steps, guidance, sampler, images, width, height, canvas_mode, stride, shift,
              coords, num_ranges, schedule_json, cells):
        try:
            if schedule_json and schedule_json.strip():
                schedule = BrickSchedule.from_json(schedule_json, s.config.num_bricks)
            else:
                schedule = from_grid([list(c or []) for c in cells], int(num_ranges))
            canvas = Canvas(canvas_mode, int(stride), bool(shift), coords)
            request = parse_request(s.config, category, seed, steps, guidance, sampler, images, width, height,
                                    schedule, canvas)
            est = estimate(s.config, request, s.throughput)
            check_limits(est, request, s.limits)
        except (PlaygroundError, ScheduleError, CanvasError) as exc:
            raise refused(exc) from None
        return request, est

    def estimate_text(key, category, seed, steps, guidance, sampler, images, width, height, canvas_mode, stride,
                      shift, coords, num_ranges, schedule_json, *cells):
        s = served(key)
        try:
            req, est = parse(s, category, seed, steps, guidance, sampler, images, width, height, canvas_mode, stride,
                             shift, coords, num_ranges, schedule_json, cells)
        except gr.Error as exc:
            return f"⚠️ {exc.message}"
        row = None if req.label is None else results.measured_quality(  # the sweep sampled labelled requests
            sweep, s.fingerprint, req.schedule, req.steps, req.method, req.guidance,
            req.width == req.height == s.config.image_size)
        return est.summary() + ("" if row is None else "\n\n📏 " + results.quality_line(row, sweep))

    def generate(key, category, seed, randomize, steps, guidance, sampler, images, width, height, canvas_mode, stride,
                 shift, coords, previews, preview_every, num_ranges, schedule_json, *cells, progress=gr.Progress()):
        s = served(key)
        seed = random_seed() if randomize else seed
        req, est = parse(s, category, seed, steps, guidance, sampler, images, width, height, canvas_mode, stride,
                         shift, coords, num_ranges, schedule_json, cells)
        status = f"seed **{req.seed}** · {est.summary()}"
        record = s.cache.get(req, s.precision, need_frames=True)
        replay = record is not None
        # until this run finishes, Look inside has no run of this request to replay
        yield (gr.skip(), f"starting · {status}", *[gr.skip()] * 4, None, req.seed)
        folder = outputs.new_run()
        try:
            for item in [] if replay else run(s.model, req, est, s.precision):
                if isinstance(item, StepInfo):
                    progress((item.step + 1, item.steps), desc="sampling", unit="steps")
                    # a yield every step, previews or not: Stop takes effect at a yield, so within one step
                    show = previews and (item.step + 1) % max(1, int(preview_every)) == 0
                    names = [f"preview_step{item.step + 1}_{k}" for k in range(req.images)]
                    preview = outputs.pictures(folder, to_uint8(item.denoised), names) if show else gr.skip()
                    yield (preview, f"step {item.step + 1}/{item.steps} · {status}", *[gr.skip()] * 5, req.seed)
                else:
                    record = item
                    s.cache.put(record)
                    frame_budget.admit(record)
                    s.observe(record)
        except PlaygroundError as exc:
            yield (gr.skip(), f"⚠️ {exc}", *[gr.skip()] * 5, req.seed)  # the status no longer reads as a run
            raise refused(exc) from None
        c = record.estimate.cost
        summary = (f"seed **{req.seed}** · {record.seconds:.2f} s measured ({record.precision})"
                   f"{', replayed from the cache' if replay else ''} · "
                   f"{format_flops(c.total)} vs {format_flops(c.reference_total)} with every brick "
                   f"(saving {c.saving:.0%}, predicted speed-up {c.predicted_speedup:.2f}x)")
        files = outputs.write(record, s, folder)
        yield ([f for f in files if f.endswith(".png")], summary,
               charts.flops_per_step(c, s.names),
               charts.time_per_step(record.brick_seconds, record.step_seconds, s.names),
               charts.schedule_heatmap(record.mask, s.names, req.settings.sigmas()),
               files, record, req.seed)

    def compare(key, category, seed, steps, guidance, sampler, width, height, canvas_mode, stride, shift, coords,
                num_ranges, schedule_json, *cells, progress=gr.Progress()):
        s = served(key)
        req, est = parse(s, category, seed, steps, guidance, sampler, 1, width, height, canvas_mode, stride, shift,
                         coords, num_ranges, schedule_json, cells)
        try:
            result = run_comparison(s, req, lambda i, label: progress((i, 3), desc=f"running {label}", unit="runs"))
        except PlaygroundError as exc:
            raise refused(exc) from None
        records = result.records
        plot = charts.totals(list(records), [r.estimate.gflops for r in records.values()],
                             [r.seconds for r in records.values()])
        full, sch = result.full.images[0], result.scheduled.images[0]
        shown = outputs.pictures(outputs.new_run(), [full, sch, difference_map(full, sch), result.baseline.images[0]],
                                 ["all_bricks", "schedule", "difference", "fewer_steps"])
        return (shown[0], shown[1]), shown[2], shown[3], plot, result.summary()

    def inside(key: str, record: RunRecord | None, step: int, brick: str):
        if record is None or not record.frames:
            return [], None, "Run **Generate** first: this view replays its stored steps."
        s = served(key)
        frame = record.frames[min(max(int(step), 1), len(record.frames)) - 1]
        items = [(frame.noisy, f"x_t (sigma {frame.sigma:.3g}, rescaled)"), (frame.denoised, "denoised estimate")]
        items += [(b, f"{s.names[k]}'s own estimate") for k, b in enumerate(frame.bricks) if b is not None]
        k = s.names.index(brick) if brick in s.names else s.config.num_bricks - 1
        overlay = region_overlay(frame.denoised, s.config.bricks[k].region, s.config.bricks[k].patch)
        on = ", ".join(n for n, a in zip(s.names, frame.active) if a)
        text = f"Step {frame.step + 1} of {len(record.frames)}, sigma {frame.sigma:.3g}; bricks on: {on}."
        return items, overlay, text

    def lesson_run(key, category, guess):
        s = served(key)
        try:
            label = None if category in (None, NO_CLASS) else s.config.label_space().resolve(category)
        except LabelError as exc:
            raise refused(exc) from None
        try:
            reference, rows = late_drop_lesson(s.model, label, 0, s.throughput, s.precision, s.cache)
        except PlaygroundError as exc:
            raise refused(exc) from None
        k = s.names.index(guess) if guess in s.names else s.config.num_bricks - 1
        shown = outputs.pictures(outputs.new_run(), [reference, rows[k].image], ["every_brick", "your_brick_off"])
        return tuple(shown), lesson_verdict(rows, k), gr.Walkthrough(selected=3)

    def apply_preset(key: str, name: str, num_ranges: int):
        try:
            grid = to_grid(preset(name, served(key).config), int(num_ranges))
        except ScheduleError as exc:
            raise refused(exc) from None
        return [gr.update(value=g) for g in grid]

    def relabel(num_ranges: int, steps: int, *cells):
        labels = grid_labels(int(num_ranges), int(steps), sigma_steps(int(steps)))
        choices = [(label, j) for j, label in enumerate(labels)]
        return [gr.update(choices=choices, value=[j for j in (c or []) if j < int(num_ranges)]) for c in cells]

    def bricks_text(s: Served) -> str:
        rows = ["| brick | region | patch | depth | parameters | FLOPs / evaluation | role |",
                "|---|---|---|---|---|---|---|"]
        rows += [f"| {r['brick']} | {r['region']} | {r['patch']} | {r['depth']} | "
                 f"{r['parameters']:,} | "
                 f"{format_flops(r['flops_per_evaluation'])} | {r['role']} |" for r in brick_table(s.config)]
        return "\n".join(rows)

    def model_text(s: Served) -> str:
        c = s.config
        return (f"**{shown_source(s.key)}**: training size {c.image_size}x{c.image_size}, classes: "
                f"{c.label_space().counts()}; hidden size {c.hidden_size}, {c.num_heads} heads; {s.precision} on "
                f"{next(s.model.parameters()).device.type}, measured {s.throughput:.0f} GFLOP/s when loaded. "
                f"Limits: {s.limits.max_pixels:,} pixels, {s.limits.max_gflops:,.0f} GFLOPs per request.\n\n"
                + bricks_text(s))

    def fits_the_page(other) -> None:
        if other.num_bricks != config.num_bricks or other.size_unit != unit:
            raise PlaygroundError(f"that checkpoint has {other.num_bricks} bricks (canvas unit {other.size_unit}); "
                                  f"this page is laid out for {config.num_bricks} (unit {unit}): start the app "
                                  "with --checkpoint pointing at it to use it")

    def load_model(source: str):
        try:
            s = registry.load(source, accept=fits_the_page)
        except PlaygroundError as exc:
            raise refused(exc) from None
        classes = [NO_CLASS] + class_choices(s.config)
        return (s.key, model_text(s), gr.update(choices=classes, value=classes[1]),
                gr.update(choices=classes, value=classes[1]), gr.update(value=bricks_text(s)),
                *[gr.update(label=n) for n in s.names], gr.update(choices=s.names, value=s.names[-1]),
                gr.update(choices=s.names, value=s.names[-1]))

    with gr.Blocks(title="LEGO Playground", delete_cache=(600, 3600)) as demo:
        gr.Markdown("# LEGO Playground\nA diffusion model built from stackable, skippable **LEGO bricks** "
                    "(Zheng et al., ICLR 2024). Switch any brick off for any range of steps and see what it "
                    "saves and what it costs.")
        record_state = gr.State(None, time_to_live=SESSION_SECONDS)  # a session's last run, for Look inside
        model_key = gr.State(DEFAULT_KEY)  # this session's model (see the Model tab)
        with gr.Tab("Generate"):
            with gr.Row():
                with gr.Column(scale=1):
                    category = gr.Dropdown([NO_CLASS] + class_choices(config), value=class_choices(config)[0],
                                           label="What to draw", filterable=True, info=picker_info(config))
                    with gr.Row():
                        seed = gr.Number(0, label="Seed", precision=0, minimum=0)
                        randomize = gr.Checkbox(False, label="Random seed")
                    steps = gr.Slider(2, 50, 18, step=1, label="Steps")
                    guidance = gr.Slider(0, 8, 2.0, step=0.1, label="Guidance (1 = off)")
                    sampler = gr.Radio([(SAMPLER_LABELS.get(m, m), m) for m in METHODS], value="heun",
                                       label="Sampler")
                    images = gr.Slider(1, 4, 1, step=1, label="Number of images")
                    with gr.Row():
                        width = gr.Slider(unit, first.limits.max_side, config.image_size, step=unit,
                                          label=f"Width (multiples of {unit})")
                        height = gr.Slider(unit, first.limits.max_side, config.image_size, step=unit,
                                           label=f"Height (multiples of {unit})")
                    with gr.Accordion("Beyond the training size", open=False):
                        gr.Markdown(f"How the full-image brick covers a canvas larger than "
                                    f"{config.image_size}x{config.image_size}: independent **tiles**, "
                                    "blended **overlap**ping windows, or one **global** attention (cost grows "
                                    "with the square of the area). Coordinates: **repeat** draws every "
                                    "training-size tile as a whole image (a wall of emoji), **squeeze** stretches "
                                    "one image over the canvas, **extend** goes past the positions seen in training.")
                        with gr.Row():
                            canvas_mode = gr.Radio(list(CANVAS_MODES), value="tiles", label="Full-image brick")
                            coords = gr.Radio(list(CANVAS_COORDS), value=CANVAS_COORDS[0], label="Coordinates")
                        with gr.Row():
                            stride = gr.Slider(0, config.image_size, 0, step=config.bricks[-1].patch,
                                               label="Overlap stride (0 = half a window)")
                            shift = gr.Checkbox(False, label="Shift windows between steps")
                    with gr.Row():
                        previews = gr.Checkbox(True, label="Stream previews")
                        preview_every = gr.Slider(1, 10, 3, step=1, label="Preview every k steps")
                with gr.Column(scale=1):
                    gr.Markdown("### Brick schedule\nTick the step ranges in which each brick runs.")
                    with gr.Row():
                        preset_name = gr.Dropdown([(f"{p.name}: {p.description}", p.name) for p in PRESETS.values()],
                                                  value="all", label="Preset")
                        num_ranges = gr.Slider(1, 10, DEFAULT_RANGES, step=1, label="Number of step ranges")
                    bricks_md = gr.Markdown(bricks_text(first))
                    labels = grid_labels(DEFAULT_RANGES, 18, sigma_steps(18))
                    cells = [gr.CheckboxGroup([(lab, j) for j, lab in enumerate(labels)],
                                              value=list(range(DEFAULT_RANGES)), label=names[k], type="value")
                             for k in range(config.num_bricks)]
                    with gr.Accordion("Schedule as JSON (overrides the grid when filled)", open=False):
                        schedule_json = gr.Textbox("", lines=3, label="Schedule JSON",
                                                   placeholder='{"bricks": {"0": [[0, 1]], "1": [[0, 1]], '
                                                               '"2": [[0, 0.6]]}}')
                    estimate_md = gr.Markdown(elem_id="estimate")
                    with gr.Row():
                        go_btn = gr.Button("Generate", variant="primary", elem_id="generate")
                        stop_btn = gr.Button("Stop", variant="stop", elem_id="stop")
            status = gr.Markdown(elem_id="status")
            with gr.Row():
                gallery = gr.Gallery(label="Images", format="png", columns=2, height=320, elem_id="gallery",
                                     object_fit="contain", fit_columns=False)  # two whole images per row
                files = gr.File(label="PNG and JSON report", file_count="multiple")
            with gr.Row():
                flops_plot = gr.Plot(label="FLOPs per step", elem_id="flops-plot")
                time_plot = gr.Plot(label="Time per step", elem_id="time-plot")
            heatmap = gr.Plot(label="Schedule", elem_id="heatmap")
        with gr.Tab("Compare"):
            gr.Markdown("Same seed with every brick vs your schedule, and the honest baseline: every brick "
                        "with fewer steps at about the schedule's FLOPs. Uses the settings of the Generate tab "
                        "(one image).")
            compare_btn = gr.Button("Compare", variant="primary")
            compare_md = gr.Markdown()
            with gr.Row():
                slider = gr.ImageSlider(label="All bricks | schedule", format="png", type="pil", height=300)
                diff_img = gr.Image(label="Difference (x4, white = same)", format="png", height=300)
                base_img = gr.Image(label="Every brick, fewer steps", format="png", height=300)
            totals_plot = gr.Plot(label="Totals")
        with gr.Tab("Look inside"):
            gr.Markdown(NOTES)
            with gr.Row():
                step_slider = gr.Slider(1, 100, 1, step=1, label="Step")
                brick_pick = gr.Dropdown(names, value=names[-1], label="Draw this brick's regions and patches")
            inside_md = gr.Markdown()
            with gr.Row():
                inside_gallery = gr.Gallery(label="At this step", format="png", columns=5, height=260,
                                            object_fit="contain", elem_id="inside-gallery")
                overlay = gr.Image(label="Regions (red) and patches (blue)", format="png", height=300)
        with gr.Tab("Lesson"):
            with gr.Walkthrough(selected=1) as tour:
                with gr.Step("1. Predict", id=1):
                    gr.Markdown("The last 40% of the steps start from an almost clean image. Which brick can "
                                "you switch off there and change the picture least?")
                    lesson_category = gr.Dropdown([NO_CLASS] + class_choices(config), value=class_choices(config)[0],
                                                  label="Category")
                    guess = gr.Radio(names, value=names[-1], label="My guess")
                    lock = gr.Button("Lock in my guess and run", variant="primary", elem_id="lesson-run")
                with gr.Step("2. Compare", id=3):
                    lesson_slider = gr.ImageSlider(label="Every brick | your brick off late", format="png",
                                                   type="pil")
                    lesson_md = gr.Markdown(elem_id="lesson-result")
                    again = gr.Button("Start again")
        with gr.Tab("Results"):
            results_tab(sweep)
        with gr.Tab("Model"):
            model_md = gr.Markdown(model_text(first), elem_id="model-info")
            gr.Markdown("Switch this browser session to another checkpoint with the same number of bricks: one "
                        "under `checkpoints/` (listed), a directory made by `python -m lego.convert`, or a Hugging "
                        "Face repo id. Uploads are not accepted.")
            with gr.Row():
                source = gr.Dropdown(shipped_checkpoints(config), value=None, allow_custom_value=True, scale=3,
                                     label="Checkpoint: a bundled one, a directory or a Hub repo id")
                load_btn = gr.Button("Load", scale=1)

        size = [width, height, canvas_mode, stride, shift, coords]
        controls = [category, seed, steps, guidance, sampler, images, *size, num_ranges, schedule_json, *cells]
        for c in controls:
            c.change(estimate_text, [model_key, *controls], estimate_md, queue=False, show_progress="hidden",
                     api_visibility="private")
        estimate_btn = gr.Button("Estimate", visible=False)
        estimate_btn.click(estimate_text, [model_key, *controls], estimate_md, api_name="estimate", queue=False)
        demo.load(estimate_text, [model_key, *controls], estimate_md, queue=False, api_visibility="private")
        preset_name.change(apply_preset, [model_key, preset_name, num_ranges], cells, queue=False)
        num_ranges.change(relabel, [num_ranges, steps, *cells], cells, queue=False)
        steps.change(relabel, [num_ranges, steps, *cells], cells, queue=False)
        def request_gflops(key=None, images=1, cells=(), **a) -> float:
            return parse(served(key), a["category"], a["seed"], a["steps"], a["guidance"], a["sampler"], images,
                         a["width"], a["height"], a["canvas_mode"], a["stride"], a["shift"], a["coords"],
                         a["num_ranges"], a["schedule_json"], cells)[1].gflops

        def compare_gflops(**a) -> float:
            return 3 * request_gflops(**a)  # all bricks, the schedule, and the baseline

        generate = on_zero_gpu(generate, request_gflops)
        compare = on_zero_gpu(compare, compare_gflops)
        gen_event = go_btn.click(
            generate,
            [model_key, category, seed, randomize, steps, guidance, sampler, images, *size, previews, preview_every,
             num_ranges, schedule_json, *cells],
            [gallery, status, flops_plot, time_plot, heatmap, files, record_state, seed],
            api_name="generate", trigger_mode="once", concurrency_limit=1)
        def after_run(key, record, brick, status_text):
            """Runs once the run has ended, finished or stopped: Stop's cancel has settled by then, so no late
            progress message can overwrite the status set here."""
            if record is None or not record.frames:  # stopped or refused: the slider keeps a valid range
                return gr.update(), *inside(key, None, 1, brick), stopped_status(status_text)
            last = len(record.frames)
            return (gr.update(maximum=max(last, 2), value=last, interactive=last > 1),
                    *inside(key, record, last, brick), gr.skip())

        def stopped_status(status_text: str):
            """The status after Stop: where the run was, if one was running (a refusal says so instead)."""
            if status_text.startswith(("step ", "starting")):
                where = status_text.split(" · ")[0]
                return f"⏹ Stopped at {where}: no image was finished. Press Generate to run again."
            return gr.skip()

        gen_event.then(after_run, [model_key, record_state, brick_pick, status],
                       [step_slider, inside_gallery, overlay, inside_md, status], queue=False)
        stop_btn.click(None, None, None, cancels=[gen_event], queue=False)
        compare_btn.click(compare, [model_key, category, seed, steps, guidance, sampler, *size, num_ranges,
                                    schedule_json, *cells],
                          [slider, diff_img, base_img, totals_plot, compare_md], api_name="compare",
                          trigger_mode="once", concurrency_limit=1)
        lock.click(lesson_run, [model_key, lesson_category, guess], [lesson_slider, lesson_md, tour], api_name="lesson",
                   concurrency_limit=1)
        again.click(lambda: gr.Walkthrough(selected=1), None, tour, queue=False)
        load_btn.click(load_model, source,
                       [model_key, model_md, category, lesson_category, bricks_md, *cells, brick_pick, guess],
                       api_name="load_model", concurrency_limit=1)
        for c in (step_slider, brick_pick):
            c.change(inside, [model_key, record_state, step_slider, brick_pick], [inside_gallery, overlay, inside_md],
                     queue=False)
    demo.queue(max_size=queue_size, default_concurrency_limit=1)
    share_the_queue(demo)
    return demo


def share_the_queue(demo: gr.Blocks) -> None:
    """Refuse a request before it joins the queue when its session already has a few waiting or
    running, so one client cannot fill the queue a whole class shares. Gradio has no such option:
    this wraps its queue's join step (the version is pinned; a test checks the behaviour) and
    answers as its own input validation does, with the message on the class picker."""
    queue = demo._queue
    join = queue.push

    async def fair_push(body, request, username):
        waiting = len(queue.pending_event_ids_session.get(body.session_hash, ()))
        if not body.session_hash or waiting < MAX_WAITING_PER_SESSION or body.fn_index is None:
            return await join(body=body, request=request, username=username)
        LOG.info("refused: a session with %d requests waiting", waiting)
        message = (f"this session already has {waiting} requests waiting or running (at most "
                   f"{MAX_WAITING_PER_SESSION}); wait for them or press Stop")
        inputs = len(demo.fns[body.fn_index].inputs)
        shown = min(1, inputs - 1)  # the class picker of Generate, Compare and the Lesson
        verdicts = [{"__type__": "validate", "is_valid": k != shown, "message": message if k == shown else "",
                     "parameter_name": "category" if k == shown else f"parameter_{k}"} for k in range(inputs)]
        return False, verdicts, "validator_error"

    queue.push = fair_push


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="LEGO Playground")
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="checkpoint directory or Hub repo id")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--share", action="store_true", help="create a public gradio.live link (off by default)")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--compile", action="store_true",
                        help="compile the bricks (about a minute of warm-up on 2 cores, then faster sampling)")
    return parser


def main() -> None:
    args = build_parser().parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        model = load_checkpoint(args.checkpoint, device=default_device())
    except CheckpointError as exc:
        raise SystemExit(f"error: {exc}") from None
    demo = build_demo(model, precision=args.precision, compiled=args.compile)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, **LAUNCH_OPTIONS)


if __name__ == "__main__":
    main()
