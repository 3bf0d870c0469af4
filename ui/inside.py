"""The Look inside tab: a finished run replayed step by step, each brick's own estimate, what each
brick changed, and the regions and patches a brick sees."""

from __future__ import annotations

import math
from dataclasses import dataclass

import gradio as gr

from lego.request import DEFAULT_STEPS, PlaygroundError, number
from lego.runs import RunRecord
from lego.visuals import colour_bar, contributions, region_overlay

from .context import AppContext, refused
from .inputs import Dropdown, Slider

NOTES = """
**How to read this.** Every brick is a small transformer that only looks inside square *regions*.
*Local* bricks (small regions) do **local-feature enrichment**: they sharpen edges and texture
where they are. The *global* brick sees the whole image and does **global-content
orchestration**: it decides what goes where. Early steps (high noise, large sigma) settle the
layout; late steps (low noise) mostly add detail, which is why the paper switches the global
brick off late (the `pg-recipe` preset). The Lesson measures what that does to this model's
pictures.

**What each brick changed**: a brick's own estimate minus that of the active brick below it (the
lowest active brick: minus the estimate with no brick at all, `c_skip * x`). Red: lighter, blue:
darker, white: unchanged, all bricks of a step on one colour scale, so a pale map is a brick that
changed little. The lowest brick's map is strong at every step: with no brick at all the estimate is
the noisy picture itself, so that map is mostly the noise the lowest brick removes; the maps above it
show what each brick refines.
"""
NO_RUN = ("Run **Generate** first: this view replays the steps of the session's last Generate run once it has "
          "finished (a run still going shows here when it ends; Compare and the Lesson keep none).")
COLUMNS = 5  # x_t, the estimate and three bricks' own estimates in one row; each brick's change the same size
HEIGHT = 220  # one row of five pictures on a laptop, two rows of three on a phone
# The view opens at most three quarters of the way through a run (step 6 of 8): the picture is nearly done, and each
# brick still changes something; at the last step, with almost no noise left, every change map is blank.
OPENING_SHARE = 0.75
# On a phone, five pictures a row would be cut off: three a row, each whole, their captions (noisy x_t, B0's own,
# B1 - B0) smaller so that they cover less of a picture 100 pixels wide. The colour bar has no buttons, and no
# empty corner for them.
CSS = ("@media (max-width: 640px) { #inside-gallery .grid-container, #inside-changes .grid-container "
       "{ grid-template-columns: repeat(3, minmax(0, 1fr)) !important; } "
       "#inside-gallery .caption-label, #inside-changes .caption-label { font-size: 10px; padding: 0 3px; } }\n"
       "#inside-bar .icon-button-wrapper { display: none; }")


@dataclass
class InsideTab:
    step_slider: gr.Slider
    brick_pick: gr.Dropdown
    gallery: gr.Gallery
    changes: gr.Gallery
    bar: gr.Image
    overlay: gr.Image
    text: gr.Markdown

    @property
    def views(self) -> list:
        """What ``show`` fills in."""
        return [self.gallery, self.changes, self.bar, self.overlay, self.text]


def build(names: list[str]) -> InsideTab:
    with gr.Row(elem_id="inside-controls"):
        # until a run has finished there are no steps to pick: the app's default count, locked
        step_slider = Slider(1, DEFAULT_STEPS, 1, step=1, label="Step", min_width=240, elem_id="inside-step",
                             interactive=False)
        brick_pick = Dropdown(names, value=names[-1], label="Draw this brick's regions and patches", min_width=240)
    text = gr.Markdown(NO_RUN, elem_id="inside-text")

    def pictures(label: str, elem_id: str) -> gr.Gallery:
        """A row of whole pictures, all of one size, beside a narrower picture."""
        return gr.Gallery(label=label, format="png", columns=COLUMNS, height=HEIGHT, object_fit="contain",
                          fit_columns=False, elem_id=elem_id, scale=3)

    with gr.Row():
        gallery = pictures("Estimates at this step", "inside-gallery")
        overlay = gr.Image(label="Regions (red) and patches (blue)", format="png", height=HEIGHT, scale=1)
    with gr.Row():
        changes = pictures("What each brick changed", "inside-changes")
        bar = gr.Image(label="Colour scale (shared)", format="png", height=HEIGHT, scale=1, buttons=[],
                       elem_id="inside-bar")
    gr.Markdown(NOTES)  # below the pictures, so that a laptop's first screen shows them whole
    return InsideTab(step_slider, brick_pick, gallery, changes, bar, overlay, text)


def show(ctx: AppContext, key: str, record: RunRecord | None, step: int, brick: str) -> tuple:
    """The galleries, the colour scale, the region overlay and the caption for one step of the session's last run."""
    if record is None or not record.frames:
        return [], [], None, None, NO_RUN
    s = ctx.served(key)
    try:
        step = number("step", step, integer=True)
    except PlaygroundError as exc:
        raise refused(exc) from None
    frame = record.frames[min(max(step, 1), len(record.frames)) - 1]
    items = [(frame.noisy, "noisy x_t"), (frame.denoised, "estimate")]
    items += [(b, f"B{k}'s own") for k, b in enumerate(frame.bricks) if b is not None]
    changed = contributions(frame)
    maps = [(m, changed.caption(k)) for k, m in enumerate(changed.maps) if m is not None]
    k = s.names.index(brick) if brick in s.names else s.config.num_bricks - 1
    overlay = region_overlay(frame.denoised, s.config.bricks[k].region, s.config.bricks[k].patch)
    on = ", ".join(n for n, a in zip(s.names, frame.active) if a)
    off = "" if frame.active[k] else f" The regions drawn are {s.names[k]}'s, which is off at this step."
    text = (f"Step {frame.step + 1} of {len(record.frames)}, sigma {frame.sigma:.3g}; bricks on: {on}.{off} "
            f"x_t, the noisy picture this step starts from, is shown rescaled; the estimate is the network's guess "
            f"of the finished picture, which the top brick that runs gives (so it equals that brick's own). What "
            f"each brick changed, on one scale: {changed.text()}.")
    request, drawn = record.request, record.request.drawn(s.config)
    if request.images > 1 or drawn:  # the frames are the first picture's
        text += (f" Shown: the first of the run's {request.images} pictures" if request.images > 1 else
                 " Shown: the run's picture") + f" (seed {request.seed}{f', {drawn[0]}' if drawn else ''})."
    return items, maps, colour_bar(changed.limit), overlay, text


def wire(ctx: AppContext, tab: InsideTab, model_key: gr.State, record_state: gr.State) -> None:
    for c in (tab.step_slider, tab.brick_pick):
        c.change(lambda key, record, step, brick: show(ctx, key, record, step, brick),
                 [model_key, record_state, tab.step_slider, tab.brick_pick], tab.views, queue=False,
                 api_visibility="private")


def after_run(ctx: AppContext, key: str, record: RunRecord | None, brick: str) -> list:
    """The step slider and the views once a run has ended; a stopped or refused run keeps a valid range."""
    if record is None or not record.frames:
        return [gr.update(), *show(ctx, key, None, 1, brick)]
    last = len(record.frames)
    opening = opening_step([f.active for f in record.frames])
    return [gr.update(maximum=max(last, 2), value=opening, interactive=last > 1),
            *show(ctx, key, record, opening, brick)]


def opening_step(active: list[list[bool]], share: float = OPENING_SHARE) -> int:
    """The step (from 1) the view opens on: the latest within ``share`` of the run at which the most bricks run, so
    that a schedule that drops a brick late (pg-recipe: B2 off at steps 6-8 of 8) opens where that brick still
    shows what it changes."""
    within = active[:max(1, math.ceil(share * len(active)))]
    most = max(sum(a) for a in within)
    return max(i for i, a in enumerate(within, 1) if sum(a) == most)
