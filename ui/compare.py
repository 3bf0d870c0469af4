"""The Compare tab: the same seed with every brick, with the schedule, and with every brick at
fewer steps (the honest baseline), using the Generate tab's settings."""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from lego import charts
from lego.comparison import compare as run_comparison
from lego.request import PlaygroundError
from lego.visuals import difference_map

from .context import AppContext, refused
from .generate import GenerateTab
from .zero_gpu import on_zero_gpu


def build(ctx: AppContext, gen: GenerateTab, model_key: gr.State, request_gflops: Callable[..., float]) -> None:
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

    def compare(key, category, seed, steps, guidance, sampler, width, height, canvas_mode, stride, shift, coords,
                num_ranges, schedule_json, *cells, progress=gr.Progress()):
        s = ctx.served(key)
        req, _ = ctx.parse(s, category, seed, steps, guidance, sampler, 1, width, height, canvas_mode, stride, shift,
                           coords, num_ranges, schedule_json, cells)
        try:
            result = run_comparison(s, req, lambda i, label: progress((i, 3), desc=f"running {label}", unit="runs"))
        except PlaygroundError as exc:
            raise refused(exc) from None
        records = result.records
        plot = charts.totals(list(records), [r.estimate.gflops for r in records.values()],
                             [r.seconds for r in records.values()])
        full, sch = result.full.images[0], result.scheduled.images[0]
        shown = ctx.outputs.pictures(ctx.outputs.new_run(),
                                     [full, sch, difference_map(full, sch), result.baseline.images[0]],
                                     ["all_bricks", "schedule", "difference", "fewer_steps"])
        return (shown[0], shown[1]), shown[2], shown[3], plot, result.summary()

    def compare_gflops(**a) -> float:
        return 3 * request_gflops(**a)  # all bricks, the schedule, and the baseline

    compare_btn.click(on_zero_gpu(compare, compare_gflops),
                      [model_key, gen.category, gen.seed, gen.steps, gen.guidance, gen.sampler, *gen.size,
                       gen.num_ranges, gen.schedule_json, *gen.cells],
                      [slider, diff_img, base_img, totals_plot, compare_md], api_name="compare",
                      trigger_mode="once", concurrency_limit=1)
