"""Links to settings: after every run, a link that opens the page on that run's settings (lego.settings_text) and,
where the session draws with another model than the app's own, that model; when the page is opened from such a
link, the model is loaded for the tab as Load would (``open_model``) and its settings put into the Generate tab's
controls."""

from __future__ import annotations

import math
from urllib.parse import urlencode

import gradio as gr
from gradio.events import Dependency

from lego.messages import quoted
from lego.request import NO_CLASS, PlaygroundError, Request, interval_text
from lego.runs import RunRecord
from lego.schedule import CUSTOM, BrickSchedule, from_grid, grid_preset, to_grid
from lego.settings_text import MODEL_KEY, from_text, ignored, to_text

from .context import LOG, AppContext
from .generate import DEFAULT_RANGES, GenerateTab, range_choices

# The link box holds the query while the server fills it; the page then prefixes its own address, which only the
# browser knows (a proxy or a Space's frame may serve the app under another one than the server sees).
# A value that is already a link (a run that ended without a new one leaves the last) stays as it is.
FULL_LINK_JS = ("(query) => query && !query.includes('://') ? "
                "window.location.origin + window.location.pathname + '?' + query : query")


def grid_for(schedule: BrickSchedule, max_ranges: int) -> tuple[int, list[list[int]]] | None:
    """The step-range grid of at most ``max_ranges`` that draws ``schedule`` exactly (the page's default
    number of ranges first), if any."""
    for n in [DEFAULT_RANGES, *range(1, max_ranges + 1)]:
        cells = to_grid(schedule, n)
        if same_ranges(from_grid(cells, n), schedule):
            return n, cells
    return None


def same_ranges(a: BrickSchedule, b: BrickSchedule) -> bool:
    """The same ranges brick by brick, their edges equal to within what a hand-written link rounds off."""
    def edges(s: BrickSchedule) -> list[float]:
        return [x for ranges in s.ranges for span in ranges for x in span]

    return ([len(r) for r in a.ranges] == [len(r) for r in b.ranges]
            and all(math.isclose(x, y, abs_tol=1e-5) for x, y in zip(edges(a), edges(b))))


def control_values(ctx: AppContext, key: str, tab: GenerateTab,
                   request: Request) -> tuple[list, str | dict, tuple | dict]:
    """The Generate controls' values for ``request``, in ``GenerateTab.request_controls`` order, the preset box's,
    set with the grid (the preset the grid is, or custom), and the grid as ``GenerateTab.hand_ticks`` keeps it.
    A schedule only the JSON box holds leaves the grid and the preset box as they are."""
    config = ctx.served(key).config
    c = request.canvas
    grid = grid_for(request.schedule, int(tab.num_ranges.maximum))
    category = NO_CLASS if request.label is None else config.label_space().describe(request.label)
    values = [category, request.seed, request.steps, request.guidance, interval_text(request.guidance_interval),
              request.method, request.images, request.width,
              request.height, c.mode, c.stride, c.shift, c.coords]
    if grid is None:  # the JSON box holds it; the grid stays as it is
        return [*values, gr.skip(), request.schedule.to_json(), *[gr.skip()] * config.num_bricks], gr.skip(), gr.skip()
    num_ranges, cells = grid
    choices = range_choices(num_ranges, request.steps)  # the boxes offer as many ranges as they are given
    return ([*values, num_ranges, "", *[gr.update(choices=choices, value=on) for on in cells]],
            grid_preset(config, cells, num_ranges, request.steps) or CUSTOM, grid)


def check_fits(tab: GenerateTab, values: list) -> None:
    """Refuses values that the page's sliders cannot show (the API takes some of them further)."""
    for control, value in zip(tab.request_controls, values):
        if isinstance(control, gr.Slider) and isinstance(value, (int, float)) and \
                not control.minimum <= value <= control.maximum:
            raise PlaygroundError(f"{control.label.lower()} must be from {control.minimum:g} to "
                                  f"{control.maximum:g} on this page, got {value:g}")


def query_items(request: gr.Request) -> list[tuple[str, str]]:
    params = request.query_params or {}
    return list(params.multi_items() if hasattr(params, "multi_items") else params.items())  # repeats refused


def linked_model(request: gr.Request) -> str:
    """The checkpoint the page's link names, as the Model tab shows it; empty where it names none."""
    return next((value for key, value in query_items(request) if key == MODEL_KEY), "").strip()


def open_model(ctx: AppContext, request: gr.Request) -> str | None:
    """The checkpoint to load for a link that names another than the app's own, if any."""
    name = linked_model(request)
    return name if name and name != ctx.first.shown else None


def wire(ctx: AppContext, tab: GenerateTab, model_key: gr.State, gen_event: Dependency, opened: Dependency) -> None:
    """``opened``: the page's load event that loads the model a link names (``open_model``); the settings follow."""
    def from_link(key: str, request: gr.Request):
        """The link's settings into the controls, or nothing changed and the reason said."""
        items = query_items(request)
        if all(ignored(k) for k, _ in items):  # no settings in the link (or no link)
            return [gr.skip()] * (len(tab.request_controls) + 4)
        try:
            named, s = linked_model(request), ctx.served(key)
            if named and named != s.shown:
                raise PlaygroundError(f"it was made with the model {quoted(named)}, which this page could not load "
                                      "(see the Model tab for the ones it offers)")
            chosen = from_text(s.config, urlencode(items))
            if chosen.churn:
                raise PlaygroundError("this link asks for stochastic churn, which only the command line offers "
                                      "(python -m lego generate --settings ...)")
            values, preset_box, hand = control_values(ctx, key, tab, chosen.request)
            check_fits(tab, values)
        except PlaygroundError as exc:
            LOG.info("link refused: %s", exc)
            return [gr.skip()] * (len(tab.request_controls) + 1) + [f"The link's settings were not used: {exc}",
                                                                     gr.skip(), gr.skip()]
        note = "The settings of the link you opened are set: press **Generate** to draw the picture."
        return [*values, False, note, preset_box, hand]

    def link_query(key: str, record: RunRecord | None) -> str | dict:
        """The query of the link to a finished run's settings (a stopped run leaves the last link), naming the
        model where it is not the app's own."""
        if record is None:
            return gr.skip()
        s = ctx.served(key)
        query = to_text(s.config, record.request)
        return query if s is ctx.first else f"{query}&{urlencode({MODEL_KEY: s.shown})}"

    opened.then(from_link, model_key, [*tab.request_controls, tab.randomize, tab.status, tab.preset_name,
                                       tab.hand_ticks], queue=False, api_visibility="private")
    gen_event.then(link_query, [model_key, tab.record_state], tab.link, queue=False, api_visibility="private").then(
        None, tab.link, tab.link, js=FULL_LINK_JS, queue=False, api_visibility="private")
