"""What every tab shares: the served models, the output folder, the frame budget, and how a
request's raw values become a checked request or a message for the user."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import gradio as gr

from lego import results
from lego.canvas import Canvas, CanvasError
from lego.estimate import Estimate, check_limits, check_size, estimate
from lego.outputs import OutputFolder
from lego.request import MAX_STEPS, PlaygroundError, Request, number, parse_request
from lego.runs import FrameBudget
from lego.schedule import CUSTOM, ScheduleError, from_grid, grid_preset, parse_schedule
from lego.serving import ModelRegistry, Served

LOG = logging.getLogger("lego_playground")
DEFAULT_KEY = "the model this app was started with"
SESSION_SECONDS = 1800  # a session's last run is kept this long after it was made (API sessions too)


class Refused(gr.Error):
    """A request refused for a reason the user can fix."""


def refused(reason: object) -> Refused:
    """The error for a refused request: one log line, a message, no traceback."""
    LOG.info("refused: %s", reason)
    return Refused(str(reason), print_exception=False)


def said_in_status(run: Callable, status: int, outputs: int, cannot: str = "Cannot run") -> Callable:
    """``run`` (a generator) for the page: a refusal is said in the status line (output ``status``) and in a
    warning, and every other output keeps what it shows. Raised, Gradio would mark each output with an error badge
    over the last pictures, and its message would fade after seconds."""
    @functools.wraps(run)
    def page(*args, **kwargs):
        try:
            yield from run(*args, **kwargs)
        except Refused as exc:
            gr.Warning(exc.message)
            shown: list = [gr.skip()] * outputs
            shown[status] = f"{cannot}: {exc.message}"
            yield tuple(shown)
    return page


def page_and_api(triggers: Sequence, run: Callable, inputs: list, outputs: list, status: gr.components.Component,
                 api_name: str, cannot: str = "Cannot run", page_run: Callable | None = None,
                 page_outputs: list | None = None, **options) -> gr.events.Dependency:
    """Two events on one run: the API's (``api_name``), which raises a refusal as a client expects, and the page's
    on ``triggers`` (returned), which says it as ``said_in_status`` does. They share one concurrency group.
    ``page_run``, where given, is the page's own version of ``run`` (one that also updates the page's layout, which
    a script has no use for), with ``page_outputs`` where those differ from the API's ``outputs``."""
    gr.on([], run, inputs, outputs, api_name=api_name, concurrency_id=api_name, **options)
    shown = page_outputs or outputs
    return gr.on(triggers, said_in_status(page_run or run, shown.index(status), len(shown), cannot), inputs,
                 shown, api_visibility="private", concurrency_id=api_name, trigger_mode="once", **options)


def stoppable(stop: gr.Button, triggers: Sequence,
              start: Callable[[Sequence], gr.events.Dependency]) -> gr.events.Dependency:
    """The run that ``start(triggers)`` registers (button clicks), with its Stop button: Stop cancels it, and can be
    pressed only while it waits or runs (an idle red button invites a press that does nothing; create ``stop`` with
    ``interactive=False``); the run's own buttons are greyed out meanwhile, as a press would do nothing either. The
    page runs a click's handlers in the order they were registered, a later one only once the run has ended, so the
    buttons are switched by a handler registered before the run."""
    buttons = [stop, *(trigger.__self__ for trigger in triggers)]

    def while_running(on: bool) -> list[gr.Button]:
        return [gr.Button(interactive=on), *(gr.Button(interactive=not on) for _ in buttons[1:])]

    gr.on(triggers, lambda: while_running(True), None, buttons, queue=False, show_progress="hidden",
          api_visibility="private")
    run_event = start(triggers)
    stop.click(None, None, None, cancels=[run_event], queue=False)
    run_event.then(lambda: while_running(False), None, buttons, queue=False, show_progress="hidden",
                   api_visibility="private")
    return run_event


def brick_inputs(cells: Sequence[gr.CheckboxGroup]) -> dict[str, gr.CheckboxGroup]:
    """The bricks' step-range boxes as an event's ``inputs_kwargs``, by the names the API gives them (``brick_0``,
    ``brick_1``, ...), where a list of them would be ``param_19``, ``param_20``, ... ``brick_ticks`` reads them."""
    return {f"brick_{k}": box for k, box in enumerate(cells)}


def brick_ticks(bricks: dict[str, list | None]) -> list[list | None]:
    """The ticked range indices of each brick, in brick order, from the keyword arguments ``brick_inputs`` named."""
    return [bricks[f"brick_{k}"] for k in range(len(bricks))]


def run_failure(exc: Exception) -> tuple[str, gr.Error]:
    """The status line and the error for a run that ended in an exception (call it in the handler): a refusal
    is logged in one line, anything else is a fault of ours, logged with its traceback. Either way the status
    no longer reads as a run in progress, which Stop's handler would report as stopped."""
    if isinstance(exc, PlaygroundError):
        return f"Cannot run: {exc}", refused(exc)
    LOG.exception("a run failed")
    return f"The run failed: {exc}", gr.Error(f"the run failed: {exc}", print_exception=False)


# Words, not symbols: a status must read the same on a machine without an emoji font.
RUNNING, STARTING, DETAIL = "Running: ", "starting", " · "


def running(where: str = STARTING, detail: str = "") -> str:
    """A run's status while it runs: where it is, then what it is; ``stopped`` reads the place back."""
    return RUNNING + where + (DETAIL + detail if detail else "")


def stopped(status_text: str, unfinished: str, again: str) -> str | dict:
    """The status after Stop (its handler runs once the cancel has settled, so no late progress overwrites it):
    where the run was, if one was running. A finished, refused or failed run keeps its own status."""
    if not status_text.startswith(RUNNING):
        return gr.skip()
    where = status_text.removeprefix(RUNNING).split(DETAIL, 1)[0]
    at = "before its first step" if where == STARTING else f"at {where}"
    return f"Stopped {at}: {unfinished}. Press {again} to run again."


@dataclass
class AppContext:
    registry: ModelRegistry
    outputs: OutputFolder = field(default_factory=OutputFolder)
    frame_budget: FrameBudget = field(default_factory=FrameBudget)  # every session's Look-inside frames together
    # quality per schedule, as the shipped models' sweeps measured it (results.sweep_for picks a model's own)
    sweeps: dict[str, dict] = field(default_factory=results.read_sweeps)

    @property
    def first(self) -> Served:
        return self.registry.default

    def served(self, key: str | None) -> Served:
        """The model this browser session chose (a gr.State holds its key); never silently another."""
        try:
            return self.registry.get(key)
        except PlaygroundError as exc:
            raise refused(exc) from None

    @staticmethod
    def parse(s: Served, category, seed, steps, guidance, guide, sampler, images, width, height, canvas_mode, stride,
              shift, coords, num_ranges, schedule_json, cells) -> tuple[Request, Estimate]:
        """The request as the controls describe it, checked against the model and the limits."""
        try:
            if schedule_json and schedule_json.strip():  # JSON, or a preset's name as --schedule takes it
                schedule = parse_schedule(schedule_json, s.config)
            else:
                ticks, n = [list(c or []) for c in cells], number("number of ranges", num_ranges, True)
                named = grid_preset(s.config, ticks, n, number("steps", steps, True, 1, MAX_STEPS))  # as the box names
                schedule = from_grid(ticks, n, named or CUSTOM)
            canvas = Canvas(canvas_mode, number("overlap stride", stride, True), bool(shift), coords)
            request = parse_request(s.config, category, seed, steps, guidance, sampler, images, width, height,
                                    schedule, canvas, guidance_interval=guide)
            check_size(request, s.limits)
            est = estimate(s.config, request, s.speed)
            check_limits(est, request, s.limits)
        except (PlaygroundError, ScheduleError, CanvasError) as exc:
            raise refused(exc) from None
        return request, est
