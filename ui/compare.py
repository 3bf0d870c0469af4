"""The Compare tab: the same seed with every brick, with the schedule, and with every brick at
fewer steps (the honest baseline), using the Generate tab's settings."""

from __future__ import annotations

import gradio as gr

from lego import charts
from lego.comparison import CompareProgress, Plan, check_skips_something, compare_steps, preview
from lego.request import PlaygroundError, Request
from lego.serving import Served
from lego.visuals import colour_bar, same_scale

from .accessibility import KEYED, LIVE
from .context import (AppContext, brick_inputs, brick_ticks, page_and_api, refused, run_failure, running,
                      stoppable, stopped)
from .generate import GenerateTab
from .zero_gpu import on_zero_gpu

BAR_ID = "compare-bar"
# The colour bar is shown without a label: a screen reader reads this instead (``accessibility.wire``).
BAR_CAPTION = ("Colour scale of the difference map: blue where the schedule made the picture darker, white where it "
               "left it unchanged, red where it made it lighter; the summary gives the largest change.")

# Gradio fills an image slider's box but shows a plain image at most at its own size: every compared picture
# fills its box alike (whole, crisp), so pictures of one size show at one scale. The colour bar has no buttons,
# and no empty corner for them.
CSS = ("#compare-slider img, #compare-diff img, #compare-base img { width: 100%; height: 100%; object-fit: contain; }"
       f"\n#{BAR_ID} .icon-button-wrapper {{ display: none; }}")


def build(ctx: AppContext, gen: GenerateTab, model_key: gr.State, tab: gr.Tab) -> list:
    """The tab and its events; returns its result outputs (``model_updates`` clears them)."""
    gr.Markdown("Your schedule against every brick, same seed, and against the honest baseline: every brick with "
                "fewer steps at about the schedule's FLOPs. Uses the Generate tab's settings (one image). The three "
                "runs take turns step by step, in rounds, so that other work on the machine slows them alike.")
    what_md = gr.Markdown(elem_id="compare-what")  # said when the tab opens: a class knows what it will see
    with gr.Row():
        compare_btn = gr.Button("Compare", variant="primary", elem_id="compare", scale=3)
        stop_btn = gr.Button("Stop", variant="stop", elem_id="compare-stop", scale=1, min_width=80,
                             interactive=False)
    compare_md = gr.Markdown(label="Summary", elem_id="compare-status", elem_classes=[LIVE])
    with gr.Row(elem_id="compare-images"):
        slider = gr.ImageSlider(label="Left: every brick | right: schedule", format="png", type="pil", height=300,
                                elem_id="compare-slider", elem_classes=[KEYED])
        with gr.Column(min_width=160):
            diff_img = gr.Image(label="Schedule − all bricks (red: lighter)", format="png", height=300,
                                elem_id="compare-diff")
            bar_img = gr.Image(label="Colour scale", format="png", height=70, show_label=False, container=False,
                               buttons=[], elem_id=BAR_ID)
        base_img = gr.Image(label="Every brick, fewer steps (the honest baseline)", format="png", height=300,
                            elem_id="compare-base")
    totals_plot = gr.Plot(label="Totals")
    files = gr.File(label="Each run's PNG, and a JSON report of its FLOPs, seconds and change",
                    file_count="multiple", elem_id="compare-files")
    outputs = [slider, diff_img, bar_img, base_img, totals_plot, files, compare_md]

    def compared(key, category, seed, steps, guidance, guide, sampler, width, height, canvas_mode, stride, shift,
                 coords, num_ranges, schedule_json, **bricks) -> tuple[Served, Request]:
        """The session's model and what Compare runs: the Generate tab's settings, on one image."""
        s = ctx.served(key)
        req, _ = ctx.parse(s, category, seed, steps, guidance, guide, sampler, 1, width, height, canvas_mode, stride,
                           shift, coords, num_ranges, schedule_json, brick_ticks(bricks))
        return s, req

    def compare(key, category, seed, steps, guidance, guide, sampler, width, height, canvas_mode, stride, shift,
                coords, num_ranges, schedule_json, progress=gr.Progress(), **bricks):
        s, req = compared(key, category, seed, steps, guidance, guide, sampler, width, height, canvas_mode, stride,
                          shift, coords, num_ranges, schedule_json, **bricks)
        try:
            check_skips_something(req)  # nothing to compare: refused like any request (the page says it in the status)
            steps = compare_steps(s, req)  # a comparison past the limit is refused here, before any compute
        except PlaygroundError as exc:
            raise refused(exc) from None
        # until this comparison finishes, no picture of an earlier one stays beside its status
        yield *[None] * 6, running()
        try:
            for item in steps:
                if isinstance(item, CompareProgress):
                    progress((item.done, item.total), desc=item.text(), unit="steps")
                    # a yield every step: Stop takes effect at a yield, so within one step
                    yield *[gr.skip()] * 6, running(item.text())
                else:
                    result = item
        except Exception as exc:  # noqa: BLE001 - said in the status and raised (out of memory, or a fault)
            text, error = run_failure(exc)
            yield *[gr.skip()] * 6, text
            raise error from None
        records = result.records
        plot = charts.totals(list(records), [r.estimate.gflops for r in records.values()], result.seconds)
        diff = result.difference
        pictures = [*same_scale([result.full.images[0], result.scheduled.images[0], diff.picture,
                                 result.baseline.images[0]]), colour_bar(diff.limit)]
        folder = ctx.outputs.new_run()
        shown = ctx.outputs.pictures(folder, pictures, ["all_bricks", "schedule", "difference", "fewer_steps",
                                                        "colour_bar"])
        report = folder / f"lego_seed{req.seed}_compare_report.json"
        downloads = [*ctx.outputs.carrying(folder, records, s), ctx.outputs.report(report, s, req,
                                                                                   result.report(s.config))]
        yield (shown[0], shown[1]), shown[2], shown[4], shown[3], plot, downloads, result.summary()

    def compare_gflops(key=None, bricks=None, **a) -> float:
        """Everything the comparison will run, for the GPU time asked of ZeroGPU."""
        s, req = compared(key, a["category"], a["seed"], a["steps"], a["guidance"], a["guide"], a["sampler"],
                          a["width"], a["height"], a["canvas_mode"], a["stride"], a["shift"], a["coords"],
                          a["num_ranges"], a["schedule_json"], **(bricks or {}))
        return Plan.of(s.config, req).gflops(s.config)

    def what(*values, **bricks) -> str:
        try:
            s, req = compared(*values, **bricks)
        except gr.Error as exc:  # said here, in place of what would be compared; Compare would refuse it alike
            return f"Compare would refuse these settings: {exc.message}"
        return preview(s.config, s.names, req, s.limits.max_gflops)

    inputs = [model_key, gen.category, gen.seed, gen.steps, gen.guidance, gen.guide, gen.sampler, *gen.size,
              gen.num_ranges, gen.schedule_json]
    bricks = brick_inputs(gen.cells)
    tab.select(what, inputs, what_md, inputs_kwargs=bricks, queue=False, show_progress="hidden",
               api_visibility="private")
    compare_event = stoppable(stop_btn, [compare_btn.click], lambda triggers: page_and_api(
        triggers, on_zero_gpu(compare, compare_gflops), inputs, outputs, compare_md, api_name="compare",
        inputs_kwargs=bricks, concurrency_limit=1))
    compare_event.then(stopped_status, compare_md, compare_md, queue=False, api_visibility="private")
    return outputs


def model_updates(s: Served) -> list:
    """The results after the session switched to model ``s``: none (the last comparison was the last model's)."""
    return [*[None] * 6, f"Comparing with **{s.shown}** now: press **Compare**."]


def stopped_status(status_text: str) -> str | dict:
    return stopped(status_text, "no comparison was finished", "Compare")
