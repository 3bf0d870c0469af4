"""The Model tab: what the session's model is, and switching the session to another checkpoint."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from lego.brick_table import brick_table
from lego.config import LegoConfig
from lego.flops import format_flops
from lego.request import PlaygroundError
from lego.serving import Served, shipped_checkpoints, shown_source

from .context import AppContext


@dataclass
class ModelTab:
    text: gr.Markdown
    source: gr.Dropdown
    load_btn: gr.Button


def bricks_text(s: Served) -> str:
    """Every column of the brick table (the Generate tab shows four of them)."""
    rows = ["| brick | region | patch | depth | parameters | FLOPs / evaluation | role |",
            "|---|---|---|---|---|---|---|"]
    rows += [f"| {r['brick']} | {r['region']} | {r['patch']} | {r['depth']} | {r['parameters']:,} | "
             f"{format_flops(r['flops_per_evaluation'])} | {r['role']} |" for r in brick_table(s.config)]
    return "\n".join(rows)


def model_text(s: Served) -> str:
    c = s.config
    space = c.label_space()
    classes = f"{space.num_classes:,}" if space.depth == 1 else space.counts()  # not "9 class"
    return (f"**{shown_source(s.key)}**: training size {c.image_size}x{c.image_size}, classes: "
            f"{classes}; hidden size {c.hidden_size}, {c.num_heads} heads; {s.precision} on "
            f"{next(s.model.parameters()).device.type}, measured when loaded: {s.speed.describe()}. "
            f"Limits: {s.limits.max_pixels:,} pixels, {s.limits.max_gflops:,.0f} GFLOPs per request.\n\n"
            + bricks_text(s))


def build(ctx: AppContext) -> ModelTab:
    text = gr.Markdown(model_text(ctx.first), elem_id="model-info")
    gr.Markdown("Switch this browser session to another checkpoint with the same number of bricks: one "
                "under `checkpoints/` (listed), a directory made by `python -m lego.convert`, or a Hugging "
                "Face repo id. Uploads are not accepted.")
    with gr.Row():
        source = gr.Dropdown(shipped_checkpoints(ctx.first.config), value=None, allow_custom_value=True, scale=3,
                             label="Checkpoint: a bundled one, a directory or a Hub repo id")
        load_btn = gr.Button("Load", scale=1)
    return ModelTab(text, source, load_btn)


def fits_the_page(page: LegoConfig):
    """A check that a checkpoint's config suits a page laid out for ``page`` (same bricks, same canvas unit)."""
    def check(other: LegoConfig) -> None:
        if other.num_bricks != page.num_bricks or other.size_unit != page.size_unit:
            raise PlaygroundError(f"that checkpoint has {other.num_bricks} bricks (canvas unit {other.size_unit}); "
                                  f"this page is laid out for {page.num_bricks} (unit {page.size_unit}): start "
                                  "the app with --checkpoint pointing at it to use it")
    return check
