"""The Model tab: what the session's model is, and switching the session to another checkpoint."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from lego.brick_table import brick_table
from lego.config import LegoConfig
from lego.request import PlaygroundError
from lego.serving import Served, fits_page, shipped_checkpoints

from .accessibility import LIVE
from .context import AppContext
from .inputs import Dropdown


@dataclass
class ModelTab:
    text: gr.Markdown
    source: gr.Dropdown
    load_btn: gr.Button
    status: gr.Markdown  # what the last Load did


def bricks_text(s: Served) -> str:
    """Every brick, one column each (narrow enough for a phone), then each brick's role in words."""
    table = brick_table(s.config)
    rows = ["| | " + " | ".join(f"B{k}" for k in range(len(table))) + " |", "|---" * (len(table) + 1) + "|"]
    for label, value in (("region (pixels)", lambda r: r["region"]), ("patch (pixels)", lambda r: r["patch"]),
                         ("tokens per image", lambda r: f"{r['tokens']:,}"),
                         ("depth (blocks)", lambda r: r["depth"]),
                         ("parameters", lambda r: f"{r['parameters'] / 1e6:.2f} M"),
                         ("GFLOPs / evaluation", lambda r: f"{r['flops_per_evaluation'] / 1e9:.2f}")):
        rows.append(f"| {label} | " + " | ".join(str(value(r)) for r in table) + " |")
    roles = [f"- **{r['brick']}**: {r['role']}" for r in table]
    return "\n".join(rows) + "\n\n" + "\n".join(roles)


def model_text(s: Served) -> str:
    c = s.config
    return (f"**{s.shown}**: training size {c.image_size}x{c.image_size}, {c.label_space().summary()}; "
            f"hidden size {c.hidden_size}, {c.num_heads} heads; {s.precision} on "
            f"{next(s.model.parameters()).device.type}. Speed, measured when loaded: {s.speed.describe()}. "
            f"Limits: {s.limits.max_pixels:,} pixels, {s.limits.max_gflops:,.0f} GFLOPs per request.\n\n"
            + bricks_text(s))


def build(ctx: AppContext) -> ModelTab:
    text = gr.Markdown(model_text(ctx.first), label="Model", elem_id="model-info")
    gr.Markdown("Switch this tab to another checkpoint with as many bricks: a bundled one (listed), a directory "
                "made by `python -m lego.convert`, or a Hugging Face repo id. Uploads are not accepted.")
    with gr.Row():
        choices = shipped_checkpoints(ctx.first.config)
        opened = next((name for _, name in choices if name == Path(ctx.first.shown).name), None)  # the page's model
        source = Dropdown(choices, value=opened, allow_custom_value=True, scale=3,
                          label="Checkpoint: a bundled one, a directory or a Hub repo id",
                          info="Pick a bundled one from the list, or type a directory or a Hugging Face repo id; "
                               "then press Load.")
        with gr.Column(scale=1):  # what Load did, under the button: on a laptop's first screen with it
            load_btn = gr.Button("Load")
            status = gr.Markdown(label="Status", elem_id="model-status", elem_classes=[LIVE])
    return ModelTab(text, source, load_btn, status)


def loaded_text(s: Served) -> str:
    return (f"Loaded **{s.shown}** for this browser tab: Generate, Compare, Look inside and the Lesson now use it. "
            "Other visitors keep the model they have.")


def fits_the_page(page: LegoConfig) -> Callable[[LegoConfig], None]:
    """A check that a checkpoint's config suits a page laid out for ``page`` (same bricks, same canvas unit)."""
    def check(other: LegoConfig) -> None:
        if not fits_page(other, page):
            raise PlaygroundError(f"that checkpoint has {other.num_bricks} bricks (canvas unit {other.size_unit}); "
                                  f"this page is laid out for {page.num_bricks} (unit {page.size_unit}): start "
                                  "the app with --checkpoint pointing at it to use it")
    return check
