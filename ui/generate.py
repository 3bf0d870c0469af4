"""The Generate tab: what to draw, the sampler, the canvas, the brick schedule, and the run with
its images, status and charts. The Compare tab reuses these controls."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import gradio as gr
from gradio.events import Dependency

from lego import charts, results
from lego.batching import MAX_BATCH_IMAGES
from lego.brick_table import brick_table
from lego.canvas import COORDS as CANVAS_COORDS
from lego.canvas import MODES as CANVAS_MODES
from lego.estimate import guidance_saving
from lego.flops import format_flops
from lego.images import to_uint8
from lego.request import (DEFAULT_GUIDANCE, DEFAULT_METHOD, DEFAULT_STEPS, MAX_GUIDANCE, MAX_STEPS,
                          MIDDLE_STEPS, PlaygroundError, interval_text, number, random_seed)
from lego.sampler import METHODS, StepInfo, sigma_steps
from lego.schedule import (CUSTOM, PRESETS, ScheduleError, from_grid, grid_labels, grid_preset, preset,
                           presets_for, to_grid)
from lego.serving import Served, class_picker_for

from . import finder
from .accessibility import LIVE
from .class_picker import ClassPicker
from .context import (SESSION_SECONDS, AppContext, brick_inputs, brick_ticks, page_and_api, refused, run_failure,
                      running, stoppable, stopped)
from .inputs import Checkbox, Dropdown, Number, Radio, Slider, StepRanges
from .zero_gpu import on_zero_gpu

DEFAULT_RANGES = 5
BATCHED_REQUESTS = MAX_BATCH_IMAGES  # Generate requests handed to the batcher at once; more wait in the queue
SAMPLER_LABELS = {"heun": "Heun (2 evaluations per step)", "euler": "Euler",
                  "dpm++2m": "DPM-Solver++ 2M (the default, with 8 steps)"}


@dataclass
class GenerateTab:
    category: gr.Dropdown
    seed: gr.Number
    randomize: gr.Checkbox
    steps: gr.Slider
    guidance: gr.Slider
    guide: gr.Dropdown  # the noise levels guidance runs at (every step, or an interval)
    sampler: gr.Radio
    images: gr.Slider
    size: list  # width, height, canvas mode, stride, shift, coordinates
    previews: gr.Checkbox
    preview_every: gr.Slider
    preset_name: gr.Dropdown
    num_ranges: gr.Slider
    bricks_md: gr.Markdown
    cells: list  # one step-range CheckboxGroup per brick
    schedule_json: gr.Textbox
    estimate_md: gr.Markdown
    go_btn: gr.Button
    go_here: gr.Button
    stop_btn: gr.Button
    status: gr.Markdown
    gallery: gr.Gallery
    files: gr.File
    flops_plot: gr.Plot
    time_plot: gr.Plot
    heatmap: gr.Plot
    record_state: gr.State  # the session's last run, for Look inside
    link: gr.Textbox  # a link to the last run's settings (ui.link)
    hand_ticks: gr.State  # (number of ranges, ticks) as last set by hand, a preset or a link: redrawn on other ranges
    finder: gr.Textbox  # finds a class by a word (ui.finder)

    @property
    def request_controls(self) -> list:
        """Every control that describes a request, in the order ``AppContext.parse`` takes them."""
        return [*self.settings, *self.cells]

    @property
    def settings(self) -> list:
        """The request's controls but the step-range boxes, which an event takes by name (``brick_inputs``)."""
        return [self.category, self.seed, self.steps, self.guidance, self.guide, self.sampler, self.images, *self.size,
                self.num_ranges, self.schedule_json]


def range_choices(num_ranges: object, steps: object) -> list[tuple[str, int]]:
    """A brick's step-range boxes: each range's label (its steps and sigmas) and index."""
    try:  # the steps are bounded before sigma_steps; grid_labels bounds the ranges, as every grid use does
        steps = number("steps", steps, True, 1, MAX_STEPS)
        labels = grid_labels(number("number of ranges", num_ranges, True), steps, sigma_steps(steps))
    except ScheduleError as exc:
        raise PlaygroundError(str(exc)) from None
    return [(label, j) for j, label in enumerate(labels)]


def bricks_text(s: Served) -> str:
    """The bricks in four columns, which stay legible beside the grid and on a phone (the Model tab has them all)."""
    size = s.config.image_size
    table = brick_table(s.config)
    rows = ["| brick | what it sees | role | cost |", "|---|---|---|---|"]
    rows += [f"| {r['brick']} | {r['sees']} | {r['does']} | {r['flops_per_evaluation'] / 1e9:.2f} GFLOPs |"
             for r in table]
    tokens = ", ".join(f"B{k} {r['tokens']:,}" for k, r in enumerate(table))
    return "\n".join(rows) + (f"\n\nIn a brick's name, r and p are the sizes in pixels of the regions it looks "
                               "inside and of the patches (its tokens) it cuts them into. Cost: the work each time "
                               f"it runs on one {size}x{size} image, in FLOPs (floating-point operations). It grows "
                               f"with the brick's tokens ({tokens} on this image) and its depth: the smaller the "
                               "patches, the more work, however small the regions.")


GUIDE_CHOICES = [("every step", ""), (f"the middle steps only: sigma {interval_text(MIDDLE_STEPS)}",
                                       interval_text(MIDDLE_STEPS))]

# Three or four pictures share one row: the gallery as tall as they need (no empty box below them), captions small
# and wrapped where they must be, so that a random seed (ten digits) stays on show. On a phone, two a row, as they
# would run off the screen.
MANY = "#gallery:has(.grid-container > :nth-child(3))"
CSS = (f"{MANY}, {MANY} .grid-wrap {{ height: auto !important; }} "
       f"{MANY} .caption-label {{ font-size: 10px; padding: 0 3px; white-space: normal; line-height: 1.2; }}\n"
       "@media (max-width: 640px) { #gallery .grid-container { grid-template-columns: repeat(2, minmax(0, 1fr)) "
       "!important; } #gallery, #gallery .grid-wrap { height: auto !important; } "
       "#gallery .caption-label { font-size: 10px; padding: 0 3px; } }")


GALLERY_LABEL, STOPPED_LABEL = "Images", "Images: the last preview of a stopped run, not finished"

# A run's status and pictures come into view where they are not wholly on the screen: on a phone, below the
# Generate button; from the second Generate button, under the brick schedule, on any screen.
SHOW_PICTURES = """() => { const status = document.getElementById('status');
    const pictures = document.getElementById('gallery');
    if (status && pictures && (status.getBoundingClientRect().top < 0
                               || pictures.getBoundingClientRect().bottom > window.innerHeight)) {
        status.scrollIntoView({block: 'start'}); } }"""


def build(ctx: AppContext) -> GenerateTab:
    first = ctx.first
    config, names, unit = first.config, first.names, first.config.size_unit
    top = names[-1].split()[0]
    gr.Markdown(f"**Start here:** pick what to draw and press **Generate**. Then untick {top}'s last two ranges in "
                "the brick schedule below and press **Compare** in the Compare tab: drag its slider across the "
                "picture to see what changed, and read the work saved.",
                elem_id="start-here")
    with gr.Row():
        with gr.Column(scale=1):
            with gr.Row(equal_height=True):  # a phone stacks them
                category = ClassPicker(**class_picker_for(config), label="What to draw", filterable=True, scale=3,
                                       min_width=300)
                find_box = finder.build(config, scale=2, min_width=180)
            with gr.Row():
                go_btn = gr.Button("Generate", variant="primary", elem_id="generate", scale=3)
                stop_btn = gr.Button("Stop", variant="stop", elem_id="stop", scale=1, min_width=80, interactive=False)
            # a Markdown's label is not shown: it names the output in the API
            status = gr.Markdown(label="Status", elem_id="status", elem_classes=[LIVE])
            gallery = gr.Gallery(label=GALLERY_LABEL, format="png", columns=2, height=300, elem_id="gallery",
                                 object_fit="contain", fit_columns=False)  # whole images, all in one row
            with gr.Row():  # the first control labelled "steps": the grid's boxes and "Preview every k steps" follow
                steps = Slider(2, 50, DEFAULT_STEPS, step=1, label="Steps",
                               info="Denoising steps from pure noise to the picture: more is slower, often cleaner.")
                num_ranges = Slider(1, 10, DEFAULT_RANGES, step=1, label="Number of step ranges",
                                    info="How many ranges the steps are cut into, for the brick schedule.")
            with gr.Accordion("More settings", open=False):
                with gr.Row():
                    seed = Number(0, label="Seed", precision=0, minimum=0,
                                  info="The same seed and settings draw the same picture.")
                    randomize = Checkbox(False, label="Random seed")
                guidance = Slider(0, MAX_GUIDANCE, DEFAULT_GUIDANCE, step=0.1, label="Guidance (1 = off)",
                                  info="How closely the picture follows what to draw. Above 1 every brick runs "
                                       "twice (with and without the label), so it costs double.")
                guide = Dropdown(GUIDE_CHOICES, value="", label="Guide at", allow_custom_value=True,
                                 info="A guided step costs double. Guiding only the middle steps saves a "
                                      "quarter of the computing work (less of the time on a model this small), "
                                      "and the pictures look almost the same. Advanced: type a range of noise "
                                      "levels (sigma) such as 0.5-20.")
                sampler = Radio([(SAMPLER_LABELS.get(m, m), m) for m in METHODS], value=DEFAULT_METHOD,
                                label="Sampler",
                                info="How a step moves to the next, lower noise level: Heun checks each move "
                                     "with a second evaluation, Euler does not, DPM-Solver++ reuses the last "
                                     "one to get as far in fewer steps. Why the default: with 8 steps it takes "
                                     "a quarter of the time of 18 Heun steps, and the judge scores its pictures "
                                     "within the spread that the seed alone makes (README, The default sampler).")
                images = Slider(1, 4, 1, step=1, label="Number of images")
                with gr.Row():
                    previews = Checkbox(True, label="Stream previews",
                                        info="Show the picture taking shape while it is drawn.")
                    preview_every = Slider(1, 10, 3, step=1, label="Preview every k steps")
            with gr.Accordion("Beyond the training size", open=False):
                gr.Markdown(f"The model learned on {config.image_size}x{config.image_size} images. On a larger "
                            "canvas, how the full-image brick covers it: independent **tiles**, "
                            "blended **overlap**ping windows, or one **global** attention (cost grows "
                            "with the square of the area). Coordinates: **repeat** draws every "
                            "training-size tile as a whole image (a wall of emoji), **squeeze** stretches "
                            "one image over the canvas, **extend** goes past the positions seen in training.")
                with gr.Row():
                    width = Slider(unit, first.limits.max_side, config.image_size, step=unit,
                                   label=f"Width in pixels (a multiple of {unit})")
                    height = Slider(unit, first.limits.max_side, config.image_size, step=unit,
                                    label=f"Height in pixels (a multiple of {unit})")
                with gr.Row():
                    canvas_mode = Radio(list(CANVAS_MODES), value="tiles", label="Full-image brick")
                    coords = Radio(list(CANVAS_COORDS), value=CANVAS_COORDS[0], label="Coordinates")
                with gr.Row():
                    stride = Slider(0, config.image_size, 0, step=config.bricks[-1].patch,
                                    label="Overlap stride (0 = half a window)")
                    shift = Checkbox(False, label="Shift windows between steps")
            files = gr.File(label="PNG and JSON report", file_count="multiple")
            link = gr.Textbox(label="Link to these settings", interactive=False, buttons=["copy"], max_lines=1,
                              elem_id="settings-link",
                              info="Opens this page on the last picture's settings. Each PNG carries them too.")
        with gr.Column(scale=1):
            gr.Markdown("### Brick schedule\nA **brick** is one small transformer of the stack: each one refines "
                        "the picture and any of them can be skipped. Tick the step ranges in which each brick runs; "
                        "a range is labelled with its steps and its noise levels σ (sigma), from pure noise at the "
                        "start down to 0, the finished picture.")
            preset_name = Dropdown([(f"{p.name}: {p.headline}", p.name) for p in PRESETS.values()]
                                   + [(f"{CUSTOM}: your own ticks, none of the above", CUSTOM)],
                                   value="all", label="Preset",
                                   info="A ready-made schedule for the grid below. pg-recipe and pr-recipe are the "
                                        "paper's recipes for its two kinds of stack: progressive growth (PG, the top "
                                        "brick sees the whole image) and progressive refinement (PR, the top brick "
                                        "is local).")
            bricks_md = gr.Markdown(bricks_text(first), label="Bricks", elem_id="generate-bricks")
            cells = [StepRanges(
                range_choices(DEFAULT_RANGES, DEFAULT_STEPS), value=list(range(DEFAULT_RANGES)), label=names[k],
                type="value", elem_classes=["brick-ranges"],
                info=(f"Try first: untick {top}'s last two ranges (the least noisy steps), then press Generate for "
                      "the new picture, or Compare in the Compare tab to see it against every brick."
                      if k == config.num_bricks - 1 else None))
                for k in range(config.num_bricks)]
            gr.Markdown("Before you run: the work and time this request will take, and the saving over running "
                        "every brick at every step.", elem_classes="hint")
            estimate_md = gr.Markdown(label="Estimate", elem_id="estimate")
            # beside the schedule as well: on a phone the grid is screens away from the first Generate button
            go_here = gr.Button("Generate with this schedule", variant="primary", elem_id="generate-here")
            with gr.Accordion("Schedule as JSON (overrides the grid when filled)", open=False):
                schedule_json = gr.Textbox("", lines=3, label="Schedule JSON",
                                           placeholder='{"bricks": {"0": [[0, 1]], "1": [[0, 1]], '
                                                       '"2": [[0, 0.6]]}}')
    with gr.Row():
        flops_plot = gr.Plot(label="FLOPs per step", elem_id="flops-plot")
        time_plot = gr.Plot(label="Time per step", elem_id="time-plot")
    heatmap = gr.Plot(label="Schedule", elem_id="heatmap")
    record_state = gr.State(None, time_to_live=SESSION_SECONDS)
    hand_ticks = gr.State(None, time_to_live=SESSION_SECONDS)
    return GenerateTab(category, seed, randomize, steps, guidance, guide, sampler, images,
                       [width, height, canvas_mode, stride, shift, coords], previews, preview_every, preset_name,
                       num_ranges, bricks_md, cells, schedule_json, estimate_md, go_btn, go_here, stop_btn, status,
                       gallery, files, flops_plot, time_plot, heatmap, record_state, link, hand_ticks, find_box)


def wire(ctx: AppContext, tab: GenerateTab, model_key: gr.State, demo: gr.Blocks) -> Dependency:
    """The tab's events; returns the Generate event, for what follows a run."""
    outputs = ctx.outputs

    def estimate_text(*values, **bricks) -> str:
        """The page's live estimate: a request that would be refused says why, in place of the estimate."""
        try:
            return estimate(*values, **bricks)
        except gr.Error as exc:
            return f"Cannot run: {exc.message}"

    def estimate(key, category, seed, steps, guidance, guide, sampler, images, width, height, canvas_mode, stride,
                 shift, coords, num_ranges, schedule_json, **bricks) -> str:
        """What a run of these settings would cost, before it runs; a request Generate would refuse is refused."""
        s = ctx.served(key)
        req, est = ctx.parse(s, category, seed, steps, guidance, guide, sampler, images, width, height, canvas_mode,
                             stride, shift, coords, num_ranges, schedule_json, brick_ticks(bricks))
        sweep = results.sweep_for(ctx.sweeps, s.fingerprint)
        measured = req.label is not None and req.guidance_interval is None  # as the sweep sampled its requests
        row = None if not measured else results.measured_quality(
            sweep, s.fingerprint, req.schedule, req.steps, req.method, req.guidance,
            req.width == req.height == s.config.image_size)
        lines = [est.summary(), guidance_saving(s.config, req, est.cost)]
        if row is not None:
            lines.append(results.quality_line(row, sweep))
        elif req.label is not None and req.guidance_interval is not None:
            lines.append("Quality for this model was measured with guidance at every step, not at these.")
        return "\n\n".join(line for line in lines if line)

    def generate(key, category, seed, randomize, steps, guidance, guide, sampler, images, width, height, canvas_mode,
                 stride, shift, coords, previews, preview_every, num_ranges, schedule_json, progress=gr.Progress(),
                 **bricks):
        s = ctx.served(key)
        seed = random_seed() if randomize else seed
        try:
            preview_every = number("preview every", preview_every, True, 1, MAX_STEPS)
        except PlaygroundError as exc:
            raise refused(exc) from None
        req, est = ctx.parse(s, category, seed, steps, guidance, guide, sampler, images, width, height, canvas_mode,
                             stride, shift, coords, num_ranges, schedule_json, brick_ticks(bricks))
        space = s.config.label_space()
        captions = [f"seed {k}" if label is None else f"{space.names[label]}, seed {k}"
                    for label, k in zip(req.image_labels(space), req.seeds)]
        seeds = f"seed **{req.seed}**" if req.images == 1 else f"seeds **{req.seed}-{req.seeds[-1]}**"

        def captioned(paths: list[str]) -> list:  # each picture says what it shows (a category's: which emoji)
            return list(zip(paths, captions))

        # one line, as the final status is, so that the previews stay where the pictures will be: the estimate box
        # beside the schedule has the whole cost, and the pictures' captions the emoji drawn
        status = f"{seeds} · {format_flops(est.cost.total)}, about {est.seconds:.1f} s here"
        record = s.cache.get(req, s.precision, need_frames=True)
        replay = record is not None
        # A run's outputs start empty: the last run's pictures, charts and files described another request, and
        # until this run finishes Look inside has no run of it to replay. Each step then repeats what is shown
        # rather than answer gr.skip(), which Gradio serves by rebuilding the component and its API schema: a few
        # milliseconds each, which a class of thirty sharing one batch pays at every step.
        shown = None
        yield [], running(detail=status), None, None, None, None, None, req.seed
        folder = outputs.new_run()
        try:
            for item in [] if replay else s.sample(req, est):
                if isinstance(item, StepInfo):
                    progress((item.step + 1, item.steps), desc="sampling", unit="steps")
                    # a yield every step, previews or not: Stop takes effect at a yield, so within one step
                    show = previews and (item.step + 1) % max(1, preview_every) == 0
                    if show:
                        names = [f"preview_step{item.step + 1}_{k}" for k in range(req.images)]
                        shown = captioned(outputs.pictures(folder, to_uint8(item.denoised), names))
                    yield (shown, running(f"step {item.step + 1}/{item.steps}", status), None, None, None, None, None,
                           req.seed)
                else:
                    record = item
                    s.cache.put(record)
                    ctx.frame_budget.admit(record)
                    s.observe(record)
        except Exception as exc:  # noqa: BLE001 - said in the status and raised
            text, error = run_failure(exc)
            yield (gr.skip(), text, *[gr.skip()] * 5, req.seed)
            raise error from None
        c = record.estimate.cost
        took = (f"replayed ({record.seconds:.2f} s when it ran, {record.precision})" if replay
                else f"{record.seconds:.2f} s measured ({record.precision})")
        # one line, so that the pictures below it show whole: the emoji drawn are in their captions, and every
        # brick's cost is in the estimate
        cost = f"{format_flops(c.total)}, saving {c.saving:.0%}, predicted speed-up {c.predicted_speedup:.2f}x"
        summary = " · ".join(part for part in (seeds, took, cost, req.guided_at()) if part)
        files = outputs.write(record, s, folder, replay)
        yield (captioned([f for f in files if f.endswith(".png")]), summary,
               charts.flops_per_step(c, s.names, req.settings.sigmas()),
               charts.time_per_step(record.brick_seconds, record.step_seconds, s.names),
               charts.schedule_heatmap(record.mask, s.names, req.settings.sigmas()),
               files, record, req.seed)

    def apply_preset(key: str, name: str, num_ranges: int) -> list:
        """The preset's ticks, kept as the ticks last set (so that custom ticks made from them start there)."""
        if name == CUSTOM:  # the ticks were set by hand: they stay
            return [gr.skip() for _ in tab.cells] + [gr.skip()]
        try:
            n = number("number of ranges", num_ranges, True)
            grid = to_grid(preset(name, ctx.served(key).config), n)
        except (PlaygroundError, ScheduleError) as exc:
            raise refused(exc) from None
        return [gr.update(value=g) for g in grid] + [(int(n), grid)]

    def relabel(key: str, num_ranges: int, steps: int, name: str, hand: tuple | None, *cells) -> list:
        """New range labels, and the ticks redrawn on the new ranges: a preset's, or those set by hand, which cover
        the same share of the steps (always from the ranges they were set on, so that no rounding adds up)."""
        try:
            choices = range_choices(num_ranges, steps)
            runnable = presets_for(ctx.served(key).config)
            if name in runnable:
                cells = to_grid(runnable[name], len(choices))
            elif hand is not None:
                cells = to_grid(from_grid(hand[1], hand[0]), len(choices))
        except (PlaygroundError, ScheduleError) as exc:
            raise refused(exc) from None
        return [gr.update(choices=choices, value=[j for j in (c or []) if j < len(choices)]) for c in cells]

    def ticked_by_hand(num_ranges: int, *cells) -> tuple:
        return int(num_ranges), [list(c or []) for c in cells]

    def request_gflops(key=None, images=1, bricks=None, **a) -> float:
        return ctx.parse(ctx.served(key), a["category"], a["seed"], a["steps"], a["guidance"], a["guide"], a["sampler"],
                         images, a["width"], a["height"], a["canvas_mode"], a["stride"], a["shift"], a["coords"],
                         a["num_ranges"], a["schedule_json"], brick_ticks(bricks or {}))[1].gflops

    finder.wire(ctx, tab.finder, tab.category, model_key)
    request = dict(inputs=[model_key, *tab.settings], inputs_kwargs=brick_inputs(tab.cells))
    # The page's own estimate takes the values as typed (preprocess=False), for the request's checks to say what is
    # wrong in the box: a number out of a slider's range (which the slider clamps only when it loses focus) would
    # otherwise be refused by Gradio's check before the estimate, with a bare "Error" badge and no message.
    for c in tab.request_controls:
        c.change(estimate_text, **request, outputs=tab.estimate_md, queue=False, show_progress="hidden",
                 api_visibility="private", preprocess=False)
    estimate_btn = gr.Button("Estimate", visible=False)
    estimate_btn.click(estimate, **request, outputs=tab.estimate_md, api_name="estimate", queue=False)
    demo.load(estimate_text, **request, outputs=tab.estimate_md, queue=False, api_visibility="private")
    def name_preset(key: str, num_ranges: int, steps: int, *cells) -> str:
        try:
            return grid_preset(ctx.served(key).config, cells, number("number of ranges", num_ranges, True),
                               number("steps", steps, True, 1, MAX_STEPS)) or CUSTOM
        except PlaygroundError:
            return gr.skip()

    for c in (*tab.cells, tab.steps):  # the preset box names what the grid runs, however the ticks were set
        c.change(name_preset, [model_key, tab.num_ranges, tab.steps, *tab.cells], tab.preset_name, queue=False,
                 api_visibility="private")
    tab.preset_name.change(apply_preset, [model_key, tab.preset_name, tab.num_ranges], [*tab.cells, tab.hand_ticks],
                           queue=False, api_visibility="private")
    for c in tab.cells:
        c.input(ticked_by_hand, [tab.num_ranges, *tab.cells], tab.hand_ticks, queue=False, api_visibility="private")
    for c in (tab.num_ranges, tab.steps):
        c.change(relabel, [model_key, tab.num_ranges, tab.steps, tab.preset_name, tab.hand_ticks, *tab.cells],
                 tab.cells, queue=False, api_visibility="private")

    def laid_out(*args, **kwargs):
        """The page's run: its first output also gives the gallery back its plain label, which a stopped run
        changed (``gallery_after``), in order with the run's own outputs."""
        for k, item in enumerate(generate(*args, **kwargs)):
            yield (gr.Gallery(item[0], label=GALLERY_LABEL), *item[1:]) if k == 0 else item

    gen_event = stoppable(tab.stop_btn, [tab.go_btn.click, tab.go_here.click], lambda triggers: page_and_api(
        triggers, on_zero_gpu(generate, request_gflops),
        [model_key, tab.category, tab.seed, tab.randomize, tab.steps, tab.guidance, tab.guide, tab.sampler, tab.images,
         *tab.size, tab.previews, tab.preview_every, tab.num_ranges, tab.schedule_json],
        [tab.gallery, tab.status, tab.flops_plot, tab.time_plot, tab.heatmap, tab.files, tab.record_state, tab.seed],
        tab.status, api_name="generate", inputs_kwargs=brick_inputs(tab.cells),
        page_run=on_zero_gpu(functools.wraps(generate)(laid_out), request_gflops),
        # with batching, every waiting request is handed to the model's batcher, which runs them in shared batches
        concurrency_limit=BATCHED_REQUESTS if ctx.first.batcher else 1))
    # The gallery's layout changes on the page only, so that what /generate streams to a script is values alone: a
    # picture or two side by side, three or four in one row so that all show without scrolling (and a new run's
    # gallery drops the label a stopped run gave it: ``laid_out``).
    tab.images.change(lambda n: gr.Gallery(columns=2 if not n or n <= 2 else 4), tab.images, tab.gallery, queue=False,
                      api_visibility="private", preprocess=False)
    for button in (tab.go_btn, tab.go_here):
        button.click(None, js=SHOW_PICTURES)
    return gen_event


def stopped_status(status_text: str) -> str | dict:
    return stopped(status_text, "no image was finished", "Generate")


def gallery_after(stopped_text: str | dict) -> dict:
    """A stopped run's gallery says that what it shows is a preview, not a finished picture."""
    return gr.update(label=STOPPED_LABEL) if isinstance(stopped_text, str) else gr.skip()


def model_updates(s: Served, tab: GenerateTab) -> list:
    """The tab after the session switched to model ``s``: its controls for that model, and no run (the last one's
    pictures, charts, files and link were the last model's)."""
    return [gr.update(**class_picker_for(s.config)), finder.model_update(s.config), gr.update(value=bricks_text(s)),
            *[gr.update(label=n) for n in s.names], [], f"Drawing with **{s.shown}** now: press **Generate**.",
            None, None, None, None, None, ""]


def model_outputs(tab: GenerateTab) -> list:
    return [tab.category, tab.finder, tab.bricks_md, *tab.cells, tab.gallery, tab.status, tab.flops_plot,
            tab.time_plot, tab.heatmap, tab.files, tab.record_state, tab.link]

