"""The committed benchmark results (assets/benchmarks/*.json) as figures, tables and one-line findings.

The app's Results tab and the README show what the benchmark scripts measured; nothing here
recomputes a figure, so a classroom sees the numbers that are in the repository.
"""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio

from .sampler import METHOD_NAMES
from .schedule import SKIP_SHARE, BrickSchedule, ScheduleError, preset

RESULTS_DIR = Path(__file__).resolve().parent.parent / "assets" / "benchmarks"
# quality and saving first: on a phone the first columns are the ones that show
SCHEDULE_COLUMNS = ["schedule", "emoji-FD", "± (seed sets)", "saving", "category named", "GFLOPs / image", "steps",
                    "s / image"]
EMOJI_SCHEDULE_COLUMNS = ["schedule", "emoji named", "saving", "emoji-FD", "± (seed sets)", "GFLOPs / image", "steps",
                          "s / image"]
# the sweep's points that are also what the app and the Lesson call by another name
T_BREAK_NAMES = {"t_break 0": "every brick", f"t_break {SKIP_SHARE:g}": "pg-recipe"}
JUDGE = "the judge (a network of ours trained to recognise real emoji drawings)"
T_BREAK = "t_break: the share of the last steps with the top brick off, the paper's name for its sweep"
TRAINING_COLUMNS = ["run", "bricks", "GFLOPs / evaluation", "images", "train s", "emoji-FD", "accuracy"]


def read(name: str, directory: Path = RESULTS_DIR) -> dict | None:
    """A results file, or None when it is missing or unreadable (the app then says so)."""
    try:
        return json.loads((directory / name).read_text())
    except (OSError, ValueError):
        return None


def write(report: dict, out: str | Path, fig: go.Figure | None = None) -> Path:
    """A benchmark's JSON, and its figure beside it as ``<stem>_figure.json``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    if fig is not None:
        fig.write_json(str(out.with_name(out.stem + "_figure.json")))
    print(f"wrote {out}", flush=True)
    return out


def figure(name: str, directory: Path = RESULTS_DIR) -> go.Figure | None:
    """A committed Plotly figure (written by the benchmark beside its JSON), or None."""
    try:
        return pio.from_json((directory / name).read_text())
    except (OSError, ValueError):
        return None


# Titles short enough for a phone's width (the detail goes to the axis titles), legends under the plot and
# narrow side margins: on a phone the plot keeps most of its 300-odd pixels of width.
PHONE_LAYOUT = {"legend": dict(orientation="h", yanchor="top", y=-0.2), "margin": dict(l=60, r=15, t=60, b=40)}


# -- brick schedules ------------------------------------------------------------------------------

LOG_TICKS = [v * 10**e for e in range(-1, 5) for v in (1, 1.5, 2, 3, 5, 7)]  # readable steps on a log axis


def schedule_figure(rows: list[dict], named: bool = False) -> go.Figure:
    """Pareto view: FLOPs per image against emoji-FD, one marker per schedule, spread as error bars. ``named``
    plots how often the judge names the emoji asked for instead (a sweep of a model labelled by emoji: over a few
    dozen emoji, FD at this sample size reads generated sets as closer than two real ones), give or take one
    standard error of that share. The reference and the presets are named beside their markers: a projector
    shows no hover."""
    fig = go.Figure()
    for family in dict.fromkeys(r["family"] for r in rows):
        part = [r for r in rows if r["family"] == family]
        y = [round(100 * r["accuracy"]["emoji"], 1) if named else r["emoji_fd"] for r in part]
        spread = ([round(100 * binomial_error(r["accuracy"]["emoji"], r["samples"]), 1) for r in part] if named
                  else [r["emoji_fd_spread"] / 2 for r in part])
        fig.add_trace(go.Scatter(
            x=[r["gflops_per_image"] for r in part], y=y, mode="markers", name=family,
            customdata=[r["label"] for r in part],
            hovertemplate="%{customdata}<br>%{x} GFLOPs, " + ("%{y}% named" if named else "FD %{y}")
            + "<extra></extra>", error_y=dict(type="data", array=spread, visible=True, thickness=1)))
        for r, value in zip(part, y):
            if name := shown_name(r):
                fig.add_annotation(x=r["gflops_per_image"], y=value if named else math.log10(value), text=name,
                                   **label_offset(r, rows),
                                   showarrow=True, arrowhead=0, arrowwidth=1, arrowcolor="grey")
    floor = None if named or not rows else rows[0].get("floor")
    if floor:  # what the judge gives two sets of real emoji of the same size: the best a model can read
        xs = [r["gflops_per_image"] for r in rows]
        fig.add_trace(go.Scatter(x=[min(xs), max(xs)], y=[floor, floor], mode="lines", name="real against real",
                                 line=dict(color="grey", dash="dot"), hoverinfo="skip"))
    yaxis = (dict(title="emoji named by the judge (%; higher is better)", rangemode="tozero") if named else
             dict(title="emoji-FD (log; lower is better)", type="log", tickvals=LOG_TICKS))
    fig.update_layout(title="Quality against compute", xaxis_title="GFLOPs per image", yaxis=yaxis,
                      template="plotly_white", height=450, **PHONE_LAYOUT)
    return fig


def shown_name(row: dict) -> str:
    """The name drawn beside a marker: the reference's and the presets' ('every brick', 'pg-recipe'), else none."""
    return T_BREAK_NAMES.get(row["label"], row["label"] if row["family"] == "preset" else "")


def label_offset(row: dict, rows: list[dict]) -> dict:
    """Where a marker's name goes, in pixels from it, with a line to it: presets above, the sweep's own points
    below and to the left (pg-recipe costs what pr-recipe does, and sits near every brick on a phone's narrow
    chart), the rightmost only a little to the left, so that its name stays inside the chart."""
    if row["family"] == "preset":
        return {"ax": 0, "ay": -30}
    rightmost = row["gflops_per_image"] == max(r["gflops_per_image"] for r in rows)
    return {"ax": -10 if rightmost else -35, "ay": 35}


def binomial_error(share: float, samples: int) -> float:
    """One standard error of a share measured over ``samples`` independent pictures."""
    return math.sqrt(share * (1 - share) / samples)


def schedule_table(rows: list[dict], level: str = "category") -> list[list]:
    """Savings against the most expensive row (every brick at full steps), fewer-steps rows included; the accuracy
    is the judge's at ``level``: the emoji, for a sweep of a model labelled by emoji, whose table is
    EMOJI_SCHEDULE_COLUMNS and leads with it."""
    reference = max(r["gflops_per_image"] for r in rows)
    out = []
    for r in rows:
        name = r["label"] + (f" ({T_BREAK_NAMES[r['label']]})" if r["label"] in T_BREAK_NAMES else "")
        saving = f"{round(1 - r['gflops_per_image'] / reference, 3):.0%}"  # as the sweep rounds: 5 of 8 steps, 38%
        fd, spread = _fd_value(r["emoji_fd"]), _fd_value(r["emoji_fd_spread"] / 2)
        accuracy = f"{r['accuracy'][level] if 'accuracy' in r else r['category_accuracy']:.1%}"
        cost = [round(r["gflops_per_image"], 1), r["steps"], round(r["seconds_per_image"], 2)]
        out.append([name, accuracy, saving, fd, spread, *cost] if level == "emoji" else
                   [name, fd, spread, saving, accuracy, *cost])
    return out


def sweep_caption(sweep: dict) -> str:
    steps = max(r["steps"] for r in sweep["rows"])
    floor = None if sweep.get("emoji") else sweep["rows"][0].get("floor")  # a sweep of emoji plots no floor
    return (f"{T_BREAK}. {METHOD_NAMES[sweep.get('method', 'heun')]}, {steps} steps, guidance "
            f"{sweep['guidance']:g}; "
            f"{sweep['per_class']} images per category and seed set, {sweep['seed_sets']} seed sets; ± is half the "
            "spread between the sets"
            + (f"; two sets of real emoji score {_fd(floor)} against each other (the dotted line)" if floor else "")
            + f". `{sweep['command']}`")


SWEEPS = ("schedules.json", "schedules_emoji48.json")  # the schedule sweeps of the shipped models


def read_sweeps(directory: Path = RESULTS_DIR) -> dict[str, dict]:
    """The committed schedule sweeps by file name, those that are there: read once, for the app's lifetime."""
    return {name: report for name in SWEEPS if (report := read(name, directory)) is not None}


def sweep_for(sweeps: dict[str, dict], model_fingerprint: str) -> dict | None:
    """The sweep that measured these weights, if any: committed figures apply only to the model they measured."""
    return next((sweep for sweep in sweeps.values() if sweep.get("fingerprint") == model_fingerprint), None)


def measured_quality(report: dict | None, model_fingerprint: str, schedule: BrickSchedule, steps: int,
                     method: str, guidance: float, square: bool) -> dict | None:
    """The sweep's row for exactly this request's schedule (same mask, sampler and steps), if measured."""
    if (report is None or report.get("fingerprint") != model_fingerprint or not square
            or method != report.get("method", "heun") or guidance != report.get("guidance")):
        return None
    try:
        mask = schedule.mask(steps)
    except ScheduleError:
        return None
    for row in report["rows"]:
        if row["steps"] != steps:
            continue
        measured = BrickSchedule.from_dict(row["schedule"], schedule.num_bricks)
        if measured.mask(steps) == mask:
            return row
    return None


def quality_line(row: dict, report: dict) -> str:
    """The measured quality of a request's schedule, against every brick seed set by seed set: the sets differ by
    more than most schedules do, so only a difference that every set shows is called one. A sweep of a model
    labelled by emoji says how often the judge named the emoji asked for."""
    reference = next((r for r in report["rows"] if r["saving"] == 0 and r["steps"] == row["steps"]), None)
    per_class = report["per_class"] * report["seed_sets"]
    if report.get("emoji"):
        versus = "" if reference is None or reference is row else f"every brick: {reference['accuracy']['emoji']:.1%}; "
        return (f"Measured on this model: {JUDGE} named the emoji asked for in **{row['accuracy']['emoji']:.1%}** "
                f"of the pictures ({versus}{per_class} per category; Results tab)")
    parts = []
    if reference is not None and reference is not row:
        versus = f"every brick: {_fd(reference['emoji_fd'])}"
        diffs = [a - b for a, b in zip(row.get("emoji_fd_sets", []), reference.get("emoji_fd_sets", []))]
        if diffs and (all(d > 0 for d in diffs) or all(d < 0 for d in diffs)):
            versus += (f"; {'worse' if diffs[0] > 0 else 'better'} in every seed set, by "
                       f"{' and '.join(_fd(abs(d)) for d in diffs)}")
        elif diffs:
            versus += "; the seed sets disagree, so no measurable difference"
        parts.append(versus)
    if row.get("floor"):  # what "as good as real" reads at this sample size
        parts.append(f"real emoji against real emoji: {_fd(row['floor'])}")
    context = f" ({'; '.join(parts)})" if parts else ""
    return (f"Measured on this model: emoji-FD (distance to real emoji pictures, lower is better) "
            f"**{_fd(row['emoji_fd'])}**{context}, category accuracy "
            f"{row['category_accuracy']:.1%} over {per_class} images per category (Results tab)")


def recipe_measured(sweeps: dict[str, dict], model_fingerprint: str, config, steps: int, method: str,
                    guidance: float) -> str:
    """The paper's recipe against every brick as this model's sweep measured them over many pictures, for the
    Lesson's take-away ("" where the sweep did not measure this model with these settings)."""
    sweep = sweep_for(sweeps, model_fingerprint)
    rows = [measured_quality(sweep, model_fingerprint, preset(name, config), steps, method, guidance, square=True)
            for name in ("all", "pg-recipe")]
    if None in rows:  # no sweep of these weights, or not with these settings
        return ""
    every, recipe = rows
    where = f"the schedule sweep, {sweep['per_class'] * sweep['seed_sets']} pictures per category; Results tab"
    if sweep.get("emoji"):
        both = every["accuracy"]["emoji"], recipe["accuracy"]["emoji"]
        n = sweep["per_class"] * sweep["seed_sets"] * config.label_space().sizes[0]
        noise = 2 * math.sqrt(both[0] * (1 - both[0]) / n)  # two standard errors of a share over n pictures
        gap = abs(round(100 * both[0], 1) - round(100 * both[1], 1))  # of the figures as shown
        return (f"Over many pictures of this model ({where}), {JUDGE} named the emoji asked for in {both[0]:.1%} of "
                f"them with every brick and in {both[1]:.1%} with pg-recipe: a gap of {gap:.1f} points, "
                + ("within" if gap < 100 * noise else "more than") + f" the noise of {n} pictures (about "
                f"{100 * noise:.0f} points).")
    return (f"Over many pictures of this model ({where}), the distance to real emoji (emoji-FD, lower is better) "
            f"was {_fd(every['emoji_fd'])} with every brick and {_fd(recipe['emoji_fd'])} with pg-recipe.")


def _fd_value(value: float) -> float:
    """Three significant figures at most: two seed sets of 90 images differ in the tens."""
    return round(value) if abs(value) >= 100 else float(f"{value:.3g}")


def _fd(value: float) -> str:
    return f"{_fd_value(value):g}"


# -- training efficiency ---------------------------------------------------------------------------

def training_figure(report: dict) -> go.Figure:
    fig = go.Figure()
    for run in report["runs"]:
        fig.add_trace(go.Scatter(x=[p["images"] for p in run["points"]], y=[p["emoji_fd"] for p in run["points"]],
                                 mode="lines+markers", name=run["name"]))
    fig.update_layout(title="Quality over training", xaxis_title="training images seen<br>(equal FLOPs per evaluation)",
                      yaxis_title="emoji-FD (lower is better)", template="plotly_white", height=420,
                      **{**PHONE_LAYOUT, "legend": dict(orientation="h", yanchor="top", y=-0.32)})  # below 2 lines
    return fig


def training_table(report: dict) -> list[list]:
    return [[run["name"], run["bricks"], run["gflops_per_evaluation"], p["images"], p["train_seconds"],
             p["emoji_fd"], f"{p['category_accuracy']:.1%}"] for run in report["runs"] for p in run["points"]]


# -- speed -----------------------------------------------------------------------------------------

def speed_figure(report: dict) -> go.Figure:
    """Milliseconds per guided evaluation for each lever, in the order the app stacks them."""
    rows = report["levers"]
    # labels wrapped and values inside the bars: on a phone the bars keep room beside a long lever's name
    fig = go.Figure(go.Bar(x=[r["ms_per_evaluation"] for r in rows],
                           y=["<br>".join(textwrap.wrap(r["lever"], 26)) for r in rows], orientation="h",
                           text=[f"{r['ms_per_evaluation']:.1f} ms" for r in rows], textposition="inside"))
    fig.update_layout(title="One guided evaluation", xaxis_title="ms (64x64, batch 2, this CPU)",
                      yaxis=dict(autorange="reversed", automargin=True), template="plotly_white", height=380,
                      margin=dict(r=10, t=40, b=40))
    return fig


def speed_summary(report: dict) -> str:
    machine = report["machine"]
    lines = [f"Measured on {machine.get('device') or machine.get('cpu')} with {machine['threads']} threads "
             f"(`{report['command']}`):", ""]
    request = report.get("request", "Heun, 18 steps, guidance 2")  # files written before the field was: that one
    for name, r in report["default_request"].items():
        lines.append(f"- one 64x64 request ({request}), {name}: **{r['seconds']} s**, {r['over_limit']}x the "
                     f"matrix-product limit of {r['hardware_limit_seconds']} s")
    compiled = report["presets"]["compiled"]
    lines.append("- measured / predicted speed-up per preset (compiled): " + ", ".join(
        f"{name} {r['measured_over_predicted']:.2f}" for name, r in compiled.items() if name != "all"))
    large = report["large_canvas"]
    eager, compiled_ = large["eager"], large["compiled"]
    lines.append(f"- {large['size']} ({large['canvas']}): {eager['seconds']} s eager, {compiled_['seconds']} s "
                 f"compiled, peak memory +{compiled_['peak_rss_rise_mib']} MiB")
    for s in report["solvers"]:
        quality = f", emoji-FD {s['emoji_fd']}, accuracy {s['category_accuracy']:.1%}" if "emoji_fd" in s else ""
        lines.append(f"- {s['sampler']} {s['steps']} steps ({s['evaluations']} evaluations): {s['seconds']} s, "
                     f"RMS from a 100-step Heun image {s['rms_vs_heun100']}{quality}")
    return "\n".join(lines)
