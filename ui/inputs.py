"""The app's number, choice and tick inputs: Gradio's own, refusing a value of the wrong type, out of range or not
among the choices as the app refuses every other bad value, in one line that names the API's parameter (Gradio's
own check leaves a traceback in the server's log, names no parameter, or rounds 1.5 to 2), and documenting in the
API the type they take. Only an API call can send such a value: the page's controls cannot."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from lego.messages import quoted

from .context import Refused, refused


def named(component: gr.components.Component) -> str:
    """The name a refusal gives the input: its API parameter (``name_parameters``), else its label on the page (a
    session's copy of a control that an event updated, which Gradio rebuilds from its constructor's arguments)."""
    return getattr(component, "parameter", None) or str(component.label)


def checked(component: gr.components.Component, preprocess: Callable[[Any], Any], payload: Any, takes: str) -> Any:
    """``preprocess(payload)``; a value it cannot take is refused in the input's name."""
    try:
        return preprocess(payload)
    except Refused:
        raise
    except gr.Error as exc:
        message = str(exc.message)
        reason = message[:1].lower() + message[1:]
    except (TypeError, ValueError):
        reason = f"{quoted(payload)} is not {takes}"
    raise refused(f"{named(component)}: {reason}") from None


def whole(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer()


# is_template: the page draws each with Gradio's own component of the same name.
class Slider(gr.Slider):
    """A slider of whole steps from a whole minimum takes whole numbers, and says so in the API; 2.5 is refused
    by the request's own checks, where rounding (Gradio's ``precision=0``) would draw what was not asked for."""

    is_template = True

    def api_info(self) -> dict[str, Any]:
        info = super().api_info()
        return {**info, "type": "integer"} if whole(self.step) and whole(self.minimum) else info

    def preprocess(self, payload: float) -> float:
        return checked(self, super().preprocess, payload, "a number")


class Number(gr.Number):
    """With ``precision=0``, 1.5 is refused, not rounded to 2."""

    is_template = True

    def preprocess(self, payload: float | None) -> float | int | None:
        if self.precision == 0 and isinstance(payload, (int, float)) and not whole(payload):
            raise refused(f"{named(self)}: must be a whole number, got {payload}")
        return checked(self, super().preprocess, payload, "a number")


class Radio(gr.Radio):
    """A value not among the choices is told which are, in the API's own terms."""

    is_template = True

    def preprocess(self, payload: str | int | float | None) -> str | int | float | None:
        values = [value for _, value in self.choices]
        if payload is not None and payload not in values:
            raise refused(f"{named(self)}: {quoted(payload)} is not one of {', '.join(map(str, values))}")
        return super().preprocess(payload)  # among the choices: Gradio's own check passes it


class Checkbox(gr.Checkbox):
    """true or false only: Gradio takes any value, and 'no' would count as ticked."""

    is_template = True

    def preprocess(self, payload: bool | None) -> bool | None:
        if payload is not None and not isinstance(payload, bool):
            raise refused(f"{named(self)}: {quoted(payload)} is not true or false")
        return super().preprocess(payload)


class Dropdown(gr.Dropdown):
    """A list that also takes typed text (``allow_custom_value``) is documented as text, not as its list's values
    only, and takes text only."""

    is_template = True

    def api_info(self) -> dict[str, Any]:
        info = super().api_info()
        return {"type": "string"} if self.allow_custom_value and not self.multiselect else info

    def preprocess(self, payload: str | int | float | None) -> str | int | float | list | None:
        if self.allow_custom_value and payload is not None and not isinstance(payload, str):
            raise refused(f"{named(self)}: {quoted(payload)} is not text")
        return checked(self, super().preprocess, payload, "one of the choices")


class StepRanges(gr.CheckboxGroup):
    """A brick's step-range boxes: the indices of the ranges in which it runs. Any whole numbers pass, to be checked
    against the request's number of ranges (``lego.schedule.from_grid``): the page redraws the boxes for each number,
    an API call does not, and Gradio would hold it to the five the page starts with. The API documents them as the
    integers they are (Gradio documents every value of a group as a string)."""

    is_template = True

    def api_info(self) -> dict[str, Any]:
        return {**super().api_info(), "items": {"type": "integer"}}

    def preprocess(self, payload: list | None) -> list[int]:
        if payload is None:
            return []
        if isinstance(payload, list) and all(whole(j) for j in payload):
            return [int(j) for j in payload]
        raise refused(f"{named(self)}: {quoted(payload)} is not a list of range indices (whole numbers)")


CHECKED = (Slider, Number, Radio, Checkbox, Dropdown, StepRanges)


def name_parameters(demo: gr.Blocks) -> None:
    """Give each checked input the name its API parameter has (``steps``, ``brick_2``), for its refusals."""
    for fn in demo.fns.values():
        if fn.api_name and fn.api_visibility == "public":
            for block, name in zip(fn.inputs, fn.input_parameter_names):
                if name and isinstance(block, CHECKED):
                    block.parameter = name
