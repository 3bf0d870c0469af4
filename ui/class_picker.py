"""The class picker, which the Generate tab and the Lesson share."""

from __future__ import annotations

import gradio as gr


class ClassPicker(gr.Dropdown):
    """A dropdown of the model's classes whose value the request resolves (``lego.request.parse_label``), so an API
    call may name a class as the command line does: an entry of the picker, a plain name in any case ('hamburger')
    or an index. A class the model lacks is refused there in one line with the nearest names, where Gradio's own
    check would list every entry and leave a traceback in the server's log."""

    is_template = True  # drawn by Gradio's own dropdown

    def api_info(self) -> dict:
        return {"type": "string"}  # any of the forms above, not only the picker's entries

    def preprocess(self, payload: str | int | None) -> str | None:
        return None if payload is None else str(payload)
