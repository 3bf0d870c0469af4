"""The run charts: what they plot, and one shared figure for the requests of a batch."""

import json

import pytest

from lego import charts
from lego.config import ARCHITECTURES
from lego.flops import schedule_cost
from lego.sampler import SamplerSettings
from lego.schedule import preset

CONFIG = ARCHITECTURES["tiny-emoji"]
NAMES = ["B0", "B1", "B2"]


def test_charts_plot_each_brick_per_step():
    settings = SamplerSettings(steps=5, guidance=2.0, method="dpm++2m")
    cost = schedule_cost(CONFIG, preset("pg-recipe", CONFIG), settings, 64, 64, guided=True)
    flops = charts.flops_per_step(cost, NAMES)
    assert [bar.name for bar in flops.data] == NAMES
    top = [y for y in flops.data[2].y]
    assert top[0] > 0 and top[-1] == 0  # pg-recipe: the top brick is off for the last steps
    assert flops.layout.title.subtitle.text == "2 network passes a step (guided)"  # with and without the label
    middle = SamplerSettings(steps=5, guidance=2.0, method="dpm++2m", guidance_interval=(1.0, 40.0))
    hover = charts.flops_per_step(schedule_cost(CONFIG, preset("all", CONFIG), middle, 64, 64, guided=True), NAMES,
                                  middle.sigmas())
    assert hover.data[0].text[0] == "B0, step 1 (sigma 80, not guided)"  # the noisiest step is outside (1, 40]
    assert hover.data[0].text[1].endswith(", guided)") and hover.data[0].y[1] == pytest.approx(2 * hover.data[0].y[0])
    one = charts.flops_per_step(schedule_cost(CONFIG, preset("all", CONFIG), SamplerSettings(
        steps=5, guidance=1.0, method="dpm++2m"), 64, 64, guided=False), NAMES)
    assert one.data[2].y[0] * 2 == pytest.approx(flops.data[2].y[0])  # a guided step is two passes of the network
    heun = schedule_cost(CONFIG, preset("all", CONFIG), SamplerSettings(steps=5, guidance=2.0, method="heun"),
                         64, 64, guided=True, images=3)
    assert heun.passes_note() == "4 network passes a step on 3 images (Heun, guided)"
    times = charts.time_per_step([[0.01, 0.02, 0.03]] * 2, [0.07, 0.07], NAMES)
    assert list(times.data[1].y) == [20.0, 20.0] and times.data[-1].y[0] == pytest.approx(10.0)  # ms; the rest: sampler
    heat = charts.schedule_heatmap([[True, True, False]], NAMES, [80.0, 0.0])
    assert [list(row) for row in heat.data[0].z] == [[1], [1], [0]]
    totals = charts.totals(["all bricks", "schedule", "all bricks, 7 steps"], [48.5, 41.8, 42.4], [0.5, 0.44, 0.44])
    assert list(totals.data[0].x) == ["all bricks", "schedule", "all bricks,<br>7 steps"]  # apart on a phone
    # no drag mode in any chart the page is sent: on a phone a finger on a chart scrolls the page
    for figure in (flops, times, heat, totals):
        assert json.loads(figure.to_json())["layout"]["template"]["layout"]["dragmode"] is False


def test_the_requests_of_a_batch_share_their_charts():
    seconds = ([[0.01, 0.02, 0.03]], [0.07])
    first = charts.time_per_step(*seconds, NAMES)
    assert charts.time_per_step([[0.01, 0.02, 0.03]], [0.07], list(NAMES)) is first  # equal data: built once
    assert charts.time_per_step([[0.01, 0.02, 0.04]], [0.08], NAMES) is not first
