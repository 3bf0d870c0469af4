"""The Lesson tab: predict which brick can be dropped late, run it, and read what was measured."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from lego.labels import LabelError
from lego.lesson import late_drop_lesson, lesson_verdict
from lego.request import NO_CLASS, PlaygroundError, class_picker

from .context import AppContext, refused


@dataclass
class LessonTab:
    category: gr.Dropdown
    guess: gr.Radio


def build(ctx: AppContext, model_key: gr.State) -> LessonTab:
    config, names = ctx.first.config, ctx.first.names
    with gr.Walkthrough(selected=1) as tour:
        with gr.Step("1. Predict", id=1):
            gr.Markdown("The last 40% of the steps start from an almost clean image. Which brick can "
                        "you switch off there and change the picture least?")
            category = gr.Dropdown(**class_picker(config), label="Category")
            guess = gr.Radio(names, value=names[-1], label="My guess")
            lock = gr.Button("Lock in my guess and run", variant="primary", elem_id="lesson-run")
        with gr.Step("2. Compare", id=3):
            lesson_slider = gr.ImageSlider(label="Every brick | your brick off late", format="png", type="pil")
            lesson_md = gr.Markdown(elem_id="lesson-result")
            again = gr.Button("Start again")

    def lesson_run(key, category, guess):
        s = ctx.served(key)
        try:
            label = None if category in (None, NO_CLASS) else s.config.label_space().resolve(category)
        except LabelError as exc:
            raise refused(exc) from None
        try:
            reference, rows = late_drop_lesson(s.model, label, 0, s.speed, s.precision, s.cache)
        except PlaygroundError as exc:
            raise refused(exc) from None
        k = s.names.index(guess) if guess in s.names else s.config.num_bricks - 1
        shown = ctx.outputs.pictures(ctx.outputs.new_run(), [reference, rows[k].image],
                                     ["every_brick", "your_brick_off"])
        return tuple(shown), lesson_verdict(rows, k), gr.Walkthrough(selected=3)

    lock.click(lesson_run, [model_key, category, guess], [lesson_slider, lesson_md, tour], api_name="lesson",
               concurrency_limit=1)
    again.click(lambda: gr.Walkthrough(selected=1), None, tour, queue=False)
    return LessonTab(category, guess)
