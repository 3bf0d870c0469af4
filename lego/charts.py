"""Plotly figures of a run: where the FLOPs and the time went, brick by brick and step by step."""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import plotly.graph_objects as go
import plotly.io as pio

from .flops import ScheduleCost

# Every chart of the app in one light style. Set as the default rather than per figure: naming a template in a
# figure's layout copies and validates the whole template, 10 of the 11 ms a chart takes to build, which a class
# finishing thirty runs at once would pay ninety times.
# No drag mode: a drag over a chart would zoom it, and on a phone Plotly's drag layer takes every touch, so a page
# could not be scrolled past its charts. Hover still shows each bar's numbers.
pio.templates["lego"] = go.layout.Template(layout=dict(dragmode=False))
pio.templates.default = "plotly_white+lego"

BRICK_COLOURS = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D")
HEIGHT = 300


def _layout(fig: go.Figure, title: str, y_title: str, note: str = "") -> go.Figure:
    # the title says the x axis counts steps: an axis title there would collide with the legend once it wraps
    fig.update_layout(title=dict(text=title, subtitle=dict(text=note)) if note else title, height=HEIGHT,
                      margin=dict(l=50, r=10, t=60 if note else 40, b=40), barmode="stack", yaxis_title=y_title,
                      legend=dict(orientation="h", yanchor="top", y=-0.12))
    return fig


def _shared(build: Callable[..., go.Figure]) -> Callable[..., go.Figure]:
    """The same figure object for the same data. The requests of one batch get identical charts (one cost, one
    schedule, the batch's step times), and a class finishing thirty runs at once would otherwise build each of
    them thirty times. The arguments are plain data, so their repr is the key; callers must not change a figure."""
    cache: OrderedDict[str, go.Figure] = OrderedDict()
    lock = threading.Lock()

    @functools.wraps(build)
    def chart(*args) -> go.Figure:
        key = repr(args)
        with lock:  # each figure is built once; other builds wait for it (a few ms), which is what sharing saves
            if key not in cache:
                cache[key] = build(*args)
                while len(cache) > 16:
                    cache.popitem(last=False)
            cache.move_to_end(key)
            return cache[key]

    return chart


def _colour(k: int) -> str:
    return BRICK_COLOURS[k % len(BRICK_COLOURS)]


@_shared
def flops_per_step(cost: ScheduleCost, names: Sequence[str], sigmas: Sequence[float] = ()) -> go.Figure:
    """Each hover says the step's noise level and whether it was guided, given ``sigmas``: with guidance at some
    steps only, that is what tells a tall bar from a short one."""
    steps = list(range(1, len(cost.per_step) + 1))
    guided = cost.guided_steps or (cost.guided,) * len(steps)
    where = [f"step {i} (sigma {sigma:.3g}, {'guided' if g else 'not guided'})" if cost.guided else
             f"step {i} (sigma {sigma:.3g})" for i, sigma, g in zip(steps, sigmas, guided)]
    fig = go.Figure([go.Bar(name=names[k], x=steps, y=[s.bricks[k] / 1e9 for s in cost.per_step],
                            marker_color=_colour(k), text=[f"{names[k]}, {w}" for w in where] or None,
                            textposition="none", hovertemplate="%{text}: %{y:.2f} GFLOPs<extra></extra>" if where
                            else None) for k in range(len(names))])
    return _layout(fig, "FLOPs per step, by brick", "GFLOPs", cost.passes_note())


@_shared
def time_per_step(brick_seconds: Sequence[Sequence[float]], step_seconds: Sequence[float],
                  names: Sequence[str]) -> go.Figure:
    steps = list(range(1, len(step_seconds) + 1))
    bars = [go.Bar(name=names[k], x=steps, y=[1000 * row[k] for row in brick_seconds], marker_color=_colour(k))
            for k in range(len(names))]
    other = [1000 * (total - sum(row)) for total, row in zip(step_seconds, brick_seconds)]
    bars.append(go.Bar(name="sampler and conditioning", x=steps, y=other, marker_color="#BBBBBB"))
    return _layout(go.Figure(bars), "Measured time per step, by brick", "ms")


@_shared
def schedule_heatmap(mask: Sequence[Sequence[bool]], names: Sequence[str], sigmas: Sequence[float]) -> go.Figure:
    steps = list(range(1, len(mask) + 1))
    z = [[int(row[k]) for row in mask] for k in range(len(names))]
    hover = [[f"{names[k]}, step {i + 1} (sigma {sigmas[i]:.3g}): {'on' if mask[i][k] else 'off'}"
              for i in range(len(mask))] for k in range(len(names))]
    fig = go.Figure(go.Heatmap(z=z, x=steps, y=list(names), zmin=0, zmax=1, showscale=False, text=hover,
                               hoverinfo="text", colorscale=[[0, "#EEEEEE"], [1, "#2E7D32"]], xgap=2, ygap=2))
    fig.update_layout(title="Schedule used (green = on)", height=HEIGHT,  # short enough for a phone
                      margin=dict(l=130, r=10, t=40, b=40), xaxis_title="step")
    return fig


def totals(labels: Sequence[str], gflops: Sequence[float], seconds: Sequence[float]) -> go.Figure:
    """Side-by-side totals (e.g. all bricks vs the schedule vs fewer steps); a label's parts after a comma go on a
    line of their own, so that three labels side by side stay apart on a phone."""
    names = [label.replace(", ", ",<br>") for label in labels]
    fig = go.Figure([
        go.Bar(name="GFLOPs", x=names, y=list(gflops), marker_color="#4C78A8", yaxis="y", offsetgroup=1),
        go.Bar(name="seconds", x=names, y=list(seconds), marker_color="#F58518", yaxis="y2", offsetgroup=2),
    ])
    fig.update_layout(title="Totals", height=HEIGHT, barmode="group",
                      margin=dict(l=50, r=50, t=40, b=40), legend=dict(orientation="h", y=-0.25),
                      yaxis=dict(title="GFLOPs"), yaxis2=dict(title="seconds", overlaying="y", side="right"))
    return fig
