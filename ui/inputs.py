"""The app's number and choice inputs: Gradio's own, refusing a value out of range or not among the choices as
the app refuses every other bad value, in one line that names the input (Gradio's own check leaves a traceback in
the server's log and does not say which of twenty parameters it means), and documenting in the API the type they
take."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from .context import Refused, refused


def checked(preprocess: Callable[[Any], Any], label: object, payload: Any) -> Any:
    """``preprocess(payload)``, with Gradio's refusal said as a refusal of the input ``label``."""
    try:
        return preprocess(payload)
    except Refused:
        raise
    except gr.Error as exc:
        message = str(exc.message)
        raise refused(f"{label}: {message[:1].lower()}{message[1:]}") from None


def whole(value: object) -> bool:
    return isinstance(value, (int, float)) and float(value).is_integer()


# is_template: the page draws each with Gradio's own component of the same name.
class Slider(gr.Slider):
    """A slider of whole steps from a whole minimum takes whole numbers, and says so in the API; 2.5 is refused
    by the request's own checks, where rounding (Gradio's ``precision=0``) would draw what was not asked for."""

    is_template = True

    def api_info(self) -> dict[str, Any]:
        info = super().api_info()
        return {**info, "type": "integer"} if whole(self.step) and whole(self.minimum) else info

    def preprocess(self, payload: float) -> float:
        return checked(super().preprocess, self.label, payload)


class Number(gr.Number):
    is_template = True

    def preprocess(self, payload: float | None) -> float | int | None:
        return checked(super().preprocess, self.label, payload)


class Radio(gr.Radio):
    is_template = True

    def preprocess(self, payload: str | int | float | None) -> str | int | float | None:
        return checked(super().preprocess, self.label, payload)


class CheckboxGroup(gr.CheckboxGroup):
    """Documents its values' own type in the API (the step-range boxes take range indices, integers), where Gradio
    documents every value as a string."""

    is_template = True

    def api_info(self) -> dict[str, Any]:
        info = super().api_info()
        if self.choices and all(isinstance(value, int) for _, value in self.choices):
            return {**info, "items": {"type": "integer"}}
        return info

    def preprocess(self, payload: list) -> list:
        return checked(super().preprocess, self.label, payload)
