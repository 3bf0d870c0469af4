"""The class picker, which the Generate tab and the Lesson share."""

from __future__ import annotations

import gradio as gr

from lego.request import quoted

from .context import refused


def entry_name(entry: str) -> str:
    """The class an entry names: 'cat face' for 'cat face (Animals & Nature / animal-mammal)'."""
    return entry.rpartition(" (")[0] if entry.endswith(")") and " (" in entry else entry

from gradio.events import Dependency

class ClassPicker(gr.Dropdown):
    """A dropdown of the model's classes. An API call may name a class plainly ('hamburger' for the entry
    'hamburger (Food & Drink / food-prepared)'), as the command line does; anything else is refused in one line,
    where Gradio's own check would list every entry and leave a traceback in the server's log."""

    is_template = True  # drawn by Gradio's own dropdown

    def preprocess(self, payload: str | None) -> str | None:
        entries = [value for _, value in self.choices]
        if payload is None or payload in entries:
            return super().preprocess(payload)
        if isinstance(payload, str):
            named = [e for e in entries if entry_name(e).casefold() == payload.strip().casefold()]
            if named:  # the finest level where a name is on two: 'hotel' the emoji, not its sub-category
                return max(named, key=lambda e: e.count(" / "))
        raise refused(f"{quoted(payload)} is not a class of this model: give a class's name, such as "
                      f"{quoted(entry_name(entries[-1]))}, or an entry of the picker as the API's documentation lists "
                      "them")
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component