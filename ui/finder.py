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
HINT = "Type a word such as car or puppy: it finds emoji by name and by the words people search them by."


def build(config: LegoConfig, **layout) -> gr.Textbox:
    """The box, shown only for a model whose classes have keywords."""
    return gr.Textbox(label="Or find it by a word", info=HINT, placeholder=PLACEHOLDER, max_lines=1, **layout,
                      visible=bool(config.class_keywords))


def model_update(config: LegoConfig) -> dict:
    """The box after the session switched models: shown if the new model has keywords. It is emptied by a later
    event (``clear_after``): emptied here, its change event would send the picker's entry of the old model before
    the browser had shown the new one, and the picker would refuse it."""
    return gr.update(visible=bool(config.class_keywords), info=HINT)


def clear_after(event: gr.events.Dependency, boxes: list[gr.Textbox]) -> None:
    """Empty the boxes once ``event`` has updated the pickers, which each box's search then starts from."""
    event.then(lambda: [""] * len(boxes), None, boxes, queue=False, show_progress="hidden", api_visibility="private")


def selection(typed: str, best: str | None, current: str, state: tuple | None) -> tuple[str, tuple | None]:
    """The entry the picker selects after a search, and the search's state: (the entry selected before it began,
    the entry it last selected). A word that finds nothing, or the box cleared, goes back to the entry from before
    the search, so that what a few letters found on the way is not left selected; an entry picked by hand in the
    meantime counts as the one before."""
    before, last = state or (current, current)
    if current != last:  # picked by hand since the search last selected
        before = current
    if not typed.strip():
        return before, None
    chosen = before if best is None else best
    return chosen, (before, chosen)


def wire(ctx: AppContext, finder: gr.Textbox, picker: gr.Dropdown, model_key: gr.State) -> None:
    searching = gr.State(None)  # this session's search: see ``selection``

    def find(key: str | None, typed: str, current: str, state: tuple | None):
        typed = typed or ""
        found = find_class(ctx.served(key).config, typed)
        value, state = selection(typed, found.best, current, state)
        if value not in {v for _, v in found.choices}:  # from before the session switched models
            value, state = current, None
        note = found.note
        if typed.strip() and found.best is None:
            note += f" The picker shows {value.split(' (')[0]}, as before the search."
        return gr.update(choices=found.choices, value=value), gr.update(info=note or HINT), state

    # .change, not .input: deleting letters fires no input event here. In order, the last word typed answered last.
    finder.change(find, [model_key, finder, picker, searching], [picker, finder, searching], queue=False,
                  trigger_mode="always_last", show_progress="hidden", api_visibility="private")
