"""The Look inside tab: a finished run replayed step by step, each brick's own estimate, and the
regions and patches a brick sees."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from lego.runs import RunRecord
from lego.visuals import region_overlay

from .context import AppContext

NOTES = """
**How to read this.** Every brick is a small transformer that only looks inside square *regions*.
*Local* bricks (small regions) do **local-feature enrichment**: they sharpen edges and texture
where they are. The *global* brick sees the whole image and does **global-content
orchestration**: it decides what goes where. Early steps (high noise, large sigma) settle the
layout; late steps (low noise) only add detail, which is why the paper switches the global
brick off late (the `pg-recipe` preset).
"""
NO_RUN = "Run **Generate** first: this view replays its stored steps."


@dataclass
class InsideTab:
    step_slider: gr.Slider
    brick_pick: gr.Dropdown
    gallery: gr.Gallery
    overlay: gr.Image
    text: gr.Markdown

    @property
    def views(self) -> list:
        """What ``show`` fills in."""
        return [self.gallery, self.overlay, self.text]


def build(names: list[str]) -> InsideTab:
    gr.Markdown(NOTES)
    with gr.Row():
        step_slider = gr.Slider(1, 100, 1, step=1, label="Step")
        brick_pick = gr.Dropdown(names, value=names[-1], label="Draw this brick's regions and patches")
    text = gr.Markdown()
    with gr.Row():
        gallery = gr.Gallery(label="At this step", format="png", columns=5, height=260, object_fit="contain",
                             elem_id="inside-gallery")
        overlay = gr.Image(label="Regions (red) and patches (blue)", format="png", height=300)
    return InsideTab(step_slider, brick_pick, gallery, overlay, text)


def show(ctx: AppContext, key: str, record: RunRecord | None, step: int, brick: str):
    """The gallery, the region overlay and the caption for one step of the session's last run."""
    if record is None or not record.frames:
        return [], None, NO_RUN
    s = ctx.served(key)
    frame = record.frames[min(max(int(step), 1), len(record.frames)) - 1]
    items = [(frame.noisy, f"x_t (sigma {frame.sigma:.3g}, rescaled)"), (frame.denoised, "denoised estimate")]
    items += [(b, f"{s.names[k]}'s own estimate") for k, b in enumerate(frame.bricks) if b is not None]
    k = s.names.index(brick) if brick in s.names else s.config.num_bricks - 1
    overlay = region_overlay(frame.denoised, s.config.bricks[k].region, s.config.bricks[k].patch)
    on = ", ".join(n for n, a in zip(s.names, frame.active) if a)
    text = f"Step {frame.step + 1} of {len(record.frames)}, sigma {frame.sigma:.3g}; bricks on: {on}."
    return items, overlay, text


def wire(ctx: AppContext, tab: InsideTab, model_key: gr.State, record_state: gr.State) -> None:
    for c in (tab.step_slider, tab.brick_pick):
        c.change(lambda key, record, step, brick: show(ctx, key, record, step, brick),
                 [model_key, record_state, tab.step_slider, tab.brick_pick], tab.views, queue=False)


def after_run(ctx: AppContext, key: str, record: RunRecord | None, brick: str) -> list:
    """The step slider and the views once a run has ended; a stopped or refused run keeps a valid range."""
    if record is None or not record.frames:
        return [gr.update(), *show(ctx, key, None, 1, brick)]
    last = len(record.frames)
    return [gr.update(maximum=max(last, 2), value=last, interactive=last > 1), *show(ctx, key, record, last, brick)]
