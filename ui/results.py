"""The Results tab: the committed benchmark figures and tables, drawn without any compute."""

from __future__ import annotations

import gradio as gr

from lego import results


def table(rows: list[list], headers: list[str]) -> gr.Dataframe:
    """A results table shown whole (no box scrolling inside the page), its rows' names wrapped on a phone so that
    the first numbers show beside them (CSS)."""
    return gr.Dataframe(rows, headers=headers, interactive=False, max_height=4000, wrap=True,
                        elem_classes="results-table")


# Gradio sizes a column to its values and lets a header break anywhere. On a phone the names' column took the
# screen, and 'saving' broke inside the word: there the names wrap in at most 38% of the width, so that the first
# numbers show beside them, a header breaks between words only, and each number column is as wide as its longest
# word. The names stay in place while the numbers scroll sideways under them (Gradio's pinned_columns does not
# pin here). Gradio sizes the columns with a hidden table (td) and draws the rows as divs (.body-cell).
CSS = ("@media (max-width: 640px) { .results-table th:first-child, .results-table td:first-child "
       "{ width: 38vw !important; min-width: 0 !important; max-width: 38vw !important; } "
       ".results-table th:not(:first-child), .results-table td:not(:first-child) "
       "{ min-width: min-content !important; width: auto !important; max-width: none !important; } "
       ".results-table th span.header { word-break: normal; overflow-wrap: normal; } "
       ".results-table th:first-child, .results-table .virtual-row > .body-cell:first-child "
       "{ position: sticky !important; left: 0; z-index: 3; background: inherit; "
       "box-shadow: 1px 0 0 var(--border-color-primary); } }")


def build(sweeps: dict[str, dict]) -> None:
    """The committed benchmark results (assets/benchmarks): figures and tables, nothing recomputed; ``sweeps`` as
    ``results.read_sweeps`` gives them."""
    def missing(command: str) -> None:
        gr.Markdown(f"Not measured yet: run `{command}`.")

    gr.Markdown("What this project's benchmarks measured: how much picture quality each brick schedule keeps for "
                "what it costs, how LEGO trains, and how fast it runs. In the quality charts each dot is one "
                "schedule: further left costs less, and the judge's score says how good its pictures are.")
    with gr.Accordion("How these were measured", open=False):
        gr.Markdown("Measured on this project's CPU, on the all-emoji model "
                    "(`lego-emoji-s`, trained on every emoji, labelled by category) unless a section names another. "
                    "Each section names the command that regenerates it. Quality is measured by "
                    f"{results.JUDGE}, trained on ten of the eleven emoji styles of the data: it names the emoji, the "
                    "sub-category and the category of each picture, and emoji-FD is the distance between its view of "
                    "generated pictures and of real drawings in the eleventh style, which it never saw (lower is "
                    "better). An emoji-FD depends on how many pictures it compares and with which drawings, so compare "
                    "its values within one table only, never across sections. A schedule's name says what it switches "
                    "off: *t_break 0.4* is the top brick off for the last 40% of the steps (the paper's name), "
                    "*pg-recipe* that same drop, and *pr-recipe* the top brick off for the first 40% instead.")
    gr.Markdown("### Brick schedules on the 48-emoji model (the app's default), asked for its emoji")
    small = sweeps.get("schedules_emoji48.json")
    if small is None:
        missing("python benchmarks/schedules.py --checkpoint checkpoints/lego-emoji-s-48 --emoji training/emoji48.txt "
                "--out assets/benchmarks/schedules_emoji48.json")
    else:
        gr.Plot(results.figure("schedules_emoji48_figure.json"))
        gr.Markdown("Emoji named: how often the judge names the emoji asked for (over 180 pictures; the bars are one "
                    "standard error, about 4 points, so two schedules whose bars overlap are not told apart by this "
                    "measurement); the table has the distances too. " + results.sweep_caption(small))
        table(results.schedule_table(small["rows"], "emoji"), results.EMOJI_SCHEDULE_COLUMNS)
    gr.Markdown("### Brick schedules: quality against compute, on the all-emoji model")
    sweep = sweeps.get("schedules.json")
    if sweep is None:
        missing("python benchmarks/schedules.py")
    else:
        gr.Plot(results.figure("schedules_figure.json"), elem_id="results-schedules")
        gr.Markdown(results.sweep_caption(sweep))
        table(results.schedule_table(sweep["rows"]), results.SCHEDULE_COLUMNS)
    gr.Markdown("### Training: LEGO against a plain DiT, and what brick dropout costs")
    training = results.read("training_efficiency.json")
    if training is None:
        missing("python benchmarks/training_efficiency.py")
    else:
        gr.Markdown(f"`{training['command']}`")
        gr.Plot(results.figure("training_efficiency_figure.json"))
        table(results.training_table(training), results.TRAINING_COLUMNS)
    gr.Markdown("### Speed on a small CPU")
    speed = results.read("speed.json")
    if speed is None:
        missing("python benchmarks/speed.py")
    else:
        gr.Plot(results.speed_figure(speed))
        gr.Markdown(results.speed_summary(speed))
    gr.Markdown("### Larger canvases: cost against area")
    canvas = results.figure("canvas_figure.json")
    if canvas is None:
        missing("python benchmarks/canvas.py")
    else:
        gr.Plot(canvas)
