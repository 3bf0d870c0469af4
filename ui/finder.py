"""A search box beside a class picker: a word finds an emoji by its name or by a keyword ('car' the automobile,
'poop' the pile of poo), and the picker then offers what it found, the best match selected.

Why a box of its own: the picker's dropdown filters on the text it shows, so a keyword that is not in a name
would find nothing there, and changing a dropdown's choices while someone types in it is not safe in the
browser (its filtered list can point past the new, shorter one).
"""

from __future__ import annotations

import gradio as gr

from lego.config import LegoConfig
from lego.request import find_class

from .context import AppContext

PLACEHOLDER = "car, puppy, pizza, poop"
HINT = "Names and the words people search emoji by: 'car' finds the automobile."


def build(config: LegoConfig, **layout) -> gr.Textbox:
    """The box, shown only for a model whose classes have keywords."""
    return gr.Textbox(label="Or find it by a word", info=HINT, placeholder=PLACEHOLDER, max_lines=1, **layout,
                      visible=bool(config.class_keywords))


def model_update(config: LegoConfig) -> dict:
    """The box after the session switched models: empty, and shown if the new model has keywords."""
    return gr.update(value="", visible=bool(config.class_keywords), info=HINT)


def wire(ctx: AppContext, finder: gr.Textbox, picker: gr.Dropdown, model_key: gr.State) -> None:
    def find(key: str | None, typed: str):
        found = find_class(ctx.served(key).config, typed or "")
        picker_update = gr.update(choices=found.choices) if found.best is None else \
            gr.update(choices=found.choices, value=found.best)
        return picker_update, gr.update(info=found.note or HINT)

    # in order, the last word typed answered last: not queued behind runs, one answer at a time per session
    finder.input(find, [model_key, finder], [picker, finder], queue=False, trigger_mode="always_last",
                 show_progress="hidden", api_visibility="private")
