"""The Lesson tab: six short stages a class can follow: predict which brick can be dropped late, run it,
compare, early vs late, the cost against fewer steps, and a take-away; every sentence comes from the run."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from lego import results
from lego.lesson import (LESSON_GUIDANCE, LESSON_METHOD, LESSON_SEED, LESSON_STEPS, LessonCache, cost_verdict,
                         early_late_verdict, late_verdict, lesson_plan, lesson_steps, plan_gflops, predict_text,
                         take_away)
from lego.messages import quoted
from lego.request import PlaygroundError, parse_label
from lego.serving import Served, class_picker_for
from lego.visuals import difference_maps

from . import finder
from .accessibility import KEYED, LIVE
from .class_picker import ClassPicker
from .context import AppContext, refused, run_failure, running, stoppable, stopped
from .inputs import Number, Radio
from .zero_gpu import on_zero_gpu

TEXT = ["lesson-text"]  # the markdown presenter mode enlarges (CSS in app.LAUNCH_OPTIONS)
STAGE = ["lesson-stage"]  # pictures beside the numbers; presenter mode puts the numbers below, in full width
PICTURES_WIDTH, TEXT_WIDTH = 300, 360  # a phone has room for neither beside the other: the numbers go below
# Compared pictures: three in a row on a laptop, one per row on a phone; alike in size either way (one scale).
IMAGE = dict(format="png", height=200, min_width=170, buttons=["fullscreen"], elem_classes=["lesson-image"])
# Next buttons bring the lesson's top into view, so that each stage starts on a fresh screen.
TO_TOP = "() => { document.getElementById('lesson-tour')?.scrollIntoView(); }"
# A new stage takes the keyboard's focus to its text, where a screen reader starts reading: the button pressed,
# or the Run that started the run, is hidden with its stage, and the focus would otherwise fall to the page.
STAGE_TEXT_IDS = ["lesson-intro", "lesson-status", "lesson-late", "lesson-early", "lesson-cost", "lesson-takeaway"]
TO_STAGE = """() => {
  (%s)();
  setTimeout(() => {
    const text = %s.map((id) => document.getElementById(id)).find((e) => e && e.offsetParent !== null);
    if (text) { text.tabIndex = -1; text.focus({preventScroll: true}); }
  }, 400);
}""" % (TO_TOP, STAGE_TEXT_IDS)
READY = "Press **Run** to run the lesson."
WAITING = ("Sent. The class shares one model and lessons run one at a time: yours starts when those sent before it "
           "are done (the queue shows in the corner of your guess).")
# Labels on one line over a picture 95 pixels wide on a phone; the stage's text names the brick and the 40%.
FIRST, LAST = "Off early", "Off late"
FEWER = "Fewer steps"
CHANGE_FIRST, CHANGE_LAST = "Change: early", "Change: late"
MAP = {**IMAGE, "elem_classes": ["lesson-image", "lesson-map"]}
STAGES = ("1. Predict", "2. Run", "3. Compare", "4. Early or late", "5. The cost", "6. Take-away")
MAP_NOTE = ("Change maps: red where the picture got lighter than with every brick, blue darker, white the same; "
            "every map of stages 4 and 5 has the same scale, so a paler map is a smaller change.")


@dataclass
class LessonTab:
    category: gr.Dropdown
    guess: gr.Radio
    intro: gr.Markdown
    finder: gr.Textbox  # finds a class by a word (ui.finder)
    tour: gr.Walkthrough
    status: gr.Markdown


def build(ctx: AppContext, model_key: gr.State) -> LessonTab:
    config, names = ctx.first.config, ctx.first.names
    lessons = LessonCache()  # a lesson prepared before class is replayed instantly whatever else runs
    with gr.Column(elem_id="lesson") as panel:
        presenter = gr.Checkbox(False, label="Presenter mode: seed 0, large type, one stage per screen",
                                elem_id="lesson-presenter")
        # A stage header goes back, but Gradio then locks every later stage: this button returns to the furthest
        # stage of the lesson on screen, so a class can look back at its prediction without running again.
        reached = gr.State(0)  # the furthest stage of the lesson shown, 0 while none is
        back = gr.Button(visible=False, size="sm", elem_id="lesson-back")
        with gr.Walkthrough(selected=1, elem_id="lesson-tour") as tour:
            with gr.Step(STAGES[0], id=1):
                intro = gr.Markdown(predict_text(config), label="Predict", elem_classes=TEXT, elem_id="lesson-intro")
                with gr.Row():
                    category = ClassPicker(**class_picker_for(config), label="The lesson draws", scale=2,
                                           min_width=300)  # a phone puts the seed on a row of its own
                    find_box = finder.build(config, min_width=300)  # on a phone, a row of its own too
                    seed = Number(LESSON_SEED, label="Seed", precision=0, minimum=0, min_width=80)
                with gr.Row(equal_height=True):  # side by side: the button on a laptop's first screen too
                    guess = Radio(names, value=None, label="My guess", scale=3)  # the class guesses, not the app
                    lock = gr.Button(**lock_button(None), variant="primary", elem_id="lesson-run", scale=1,
                                     min_width=220)
                waiting = gr.Markdown("", elem_id="lesson-waiting")  # set in the browser by the button, at once
            with gr.Step(STAGES[1], id=2):
                status = gr.Markdown(READY, label="Status", elem_id="lesson-status", elem_classes=[*TEXT, LIVE])
                with gr.Row():
                    # the stage is seen after a run has moved the lesson on, or stopped: going on is the main way
                    rerun = gr.Button("Run", variant="secondary", elem_id="lesson-rerun", scale=3)
                    stop = gr.Button("Stop", variant="stop", elem_id="lesson-stop", scale=1, min_width=80,
                                     interactive=False)
                # shown once a run has finished: a class that went back to look at the stages before can go on
                next2 = gr.Button("Next: compare", variant="primary", visible=False, elem_id="lesson-next2")
            with gr.Step(STAGES[2], id=3):
                with gr.Row(elem_classes=STAGE):
                    with gr.Column(min_width=PICTURES_WIDTH):
                        slider = gr.ImageSlider(label="Left: every brick | right: your brick off late (drag the line)",
                                                type="filepath", format="png", height=280, max_height=280,
                                                elem_id="lesson-slider", elem_classes=[*IMAGE["elem_classes"], KEYED])
                        # whichever brick changed the picture least, a class sees it, not only the one it guessed
                        with gr.Row(elem_id="lesson-late-all"):
                            late_all = [gr.Image(label=late_caption(name), **{**IMAGE, "height": 150})
                                        for name in names]
                    with gr.Column(min_width=TEXT_WIDTH):
                        late_md = gr.Markdown(label="Compare", elem_id="lesson-late", elem_classes=TEXT)
                next3 = gr.Button("Next: early or late?")
            with gr.Step(STAGES[3], id=4):
                early_pics, early_md = _images_and_text(
                    ["Every brick", FIRST, LAST], [CHANGE_FIRST, CHANGE_LAST],
                    "lesson-early", "Early or late")
                next4 = gr.Button("Next: the cost")
            with gr.Step(STAGES[4], id=5):
                cost_pics, cost_md = _images_and_text(
                    ["Every brick", LAST, FEWER], [CHANGE_LAST, "Change: fewer steps"],
                    "lesson-cost", "The cost")
                next5 = gr.Button("Next: take-away")
            with gr.Step(STAGES[5], id=6):
                take_md = gr.Markdown(label="Take-away", elem_id="lesson-takeaway", elem_classes=TEXT)
                again = gr.Button("Start again")

    outputs = [tour, status, slider, late_md, *late_all, *early_pics, early_md, *cost_pics, cost_md, take_md]

    def lesson(key, category, guess, seed, progress=gr.Progress()):
        """A generator: a yield at every sampling step is where Stop (Gradio's cancel) ends the run."""
        s = ctx.served(key)
        label = _label(s, category)
        if not guess:
            raise refused("make your guess first: pick the brick you think changes the picture least")
        if guess not in s.names:
            raise refused(f"unknown brick {quoted(guess)}; choose one of {', '.join(s.names)}")
        k = s.names.index(guess)
        try:
            lesson_plan(s.config, label, seed)  # a bad seed is refused before the page moves on to the run
        except PlaygroundError as exc:
            raise refused(exc) from None
        unchanged = [gr.skip()] * (len(outputs) - 2)  # while running: the stage and the status only
        steps = lesson_steps(s, label, seed, lessons)
        yield gr.Walkthrough(selected=2), running(), *unchanged
        sampled = False
        try:
            while True:
                try:
                    where = next(steps)
                except StopIteration as done:
                    result = done.value
                    break
                sampled = True
                progress((where.step, where.steps), desc=f"run {where.run}/{where.runs}", unit="steps")
                yield gr.skip(), running(str(where)), *unchanged
        except Exception as exc:  # noqa: BLE001 - said in the status and raised
            text, error = run_failure(exc)
            yield gr.skip(), text, *unchanged
            raise error from None
        # stages 4 and 5 on one scale: the same late drop looks the same on both
        maps, limit = difference_maps(result.reference, [result.early[k].image, result.late[k].image,
                                                         result.late[k].image, result.fewer[k].image])
        n = len(result.names)
        every, late, early, fewer, *pictures = ctx.outputs.pictures(
            ctx.outputs.new_run(), [result.reference, result.late[k].image, result.early[k].image,
                                    result.fewer[k].image, *maps, *(row.image for row in result.late)],
            ["every_brick", "late", "early", "fewer_steps", "change_early", "change_late", "change_late_cost",
             "change_fewer", *(f"late_{i}" for i in range(n))])
        maps = pictures[:-n]
        each_late = [gr.Image(path, label=late_caption(name)) for path, name in zip(pictures[-n:], result.names)]
        measured = results.recipe_measured(ctx.sweeps, s.fingerprint, s.config, LESSON_STEPS, LESSON_METHOD,
                                           LESSON_GUIDANCE)
        done = (f"Done: {result.category}, seed {result.seed}{'' if sampled else ', replayed from the cache'}. "
                "Go on to **3. Compare**.")
        shows = f"*{result.category}, seed {result.seed}:* "  # named on every stage that shows it, in no extra line
        yield (gr.Walkthrough(selected=3), done, (every, late), shows + late_verdict(result, k), *each_late, every,
               early, late,
               *maps[:2], shows + early_late_verdict(result, k) + _scale(limit), every, late, fewer, *maps[2:],
               shows + cost_verdict(result, k) + _scale(limit), take_away(result, k, measured))

    def lesson_gflops(key=None, category=None, seed=LESSON_SEED, **_) -> float:
        s = ctx.served(key)
        return plan_gflops(s.config, lesson_plan(s.config, _label(s, category), seed))

    def stopped_status(status_text: str) -> str | dict:
        return stopped(status_text, "the lesson was not finished (runs that had finished are kept in the cache)",
                       "**Run**")

    # Lessons run one at a time: until this one's turn comes the page says so, and the queue position shows in the
    # guess's corner (show_progress_on); its first step moves the page to stage 2. (Registered before the run, as
    # every handler of its clicks that must act at once: the page runs a click's handlers in order, each once the
    # one before it has ended.)
    lock.click(None, None, waiting, js=f"() => {WAITING!r}")
    # a new run, a new guess or other settings, or Start again: the lesson on screen is no longer the class's
    gr.on([lock.click, rerun.click, again.click, guess.change, category.change, seed.change],
          lambda: (0, gr.Button(visible=False)), None, [reached, back], queue=False, show_progress="hidden",
          api_visibility="private")
    run_event = stoppable(stop, [lock.click, rerun.click], lambda triggers: gr.on(
        triggers, on_zero_gpu(lesson, lesson_gflops), [model_key, category, guess, seed], outputs, api_name="lesson",
        trigger_mode="once", concurrency_limit=1, show_progress="minimal", show_progress_on=[guess]))
    run_event.then(stopped_status, status, status, queue=False, api_visibility="private")
    for then in (run_event.then, again.click):
        then(lambda: "", None, waiting, queue=False, api_visibility="private")
    run_event.success(lambda: (gr.Button(visible=True), 3), None, [next2, reached], queue=False,
                      api_visibility="private")
    for button, stage in ((next2, 3), (next3, 4), (next4, 5), (next5, 6)):
        button.click(lambda r, n=stage: go_to(n, r), reached, [tour, reached, back], queue=False,
                     api_visibility="private")
    back.click(lambda r: go_to(r, r), reached, [tour, reached, back], queue=False, api_visibility="private")
    tour.select(header_picked, reached, back, queue=False, show_progress="hidden", api_visibility="private")
    again.click(lambda: gr.Walkthrough(selected=1), None, tour, queue=False, api_visibility="private")
    # the next group starts with no guess made (the last group's would be theirs before they had thought), and
    # moves on only after its own run
    again.click(lambda: (None, gr.Button(visible=False)), None, [guess, next2], queue=False,
                api_visibility="private")
    tour.change(None, js=TO_STAGE)  # whatever moved the lesson: a button, a header, the run's start or its end
    # the run needs a guess: until one is made the button says so, where a refusal would flash an error
    guess.change(lambda g: gr.Button(**lock_button(g)), guess, lock, queue=False, api_visibility="private")
    presenter.change(present, presenter, [panel, seed], queue=False, api_visibility="private")
    presenter.change(None, presenter, None, js=f"(on) => {{ if (on) setTimeout({TO_TOP}, 100); }}")  # after the resize
    finder.wire(ctx, find_box, category, model_key)
    return LessonTab(category, guess, intro, find_box, tour, status)


def late_caption(brick: str) -> str:
    return f"{brick} off late"


def _images_and_text(labels: list[str], map_labels: list[str], elem_id: str,
                     text_label: str) -> tuple[list[gr.Image], gr.Markdown]:
    """Compared images side by side at one scale, then what each change did as a map (changes of a few / 255
    cannot be seen in the pictures themselves), with the measured numbers beside them."""
    with gr.Row(elem_classes=STAGE):
        with gr.Column(min_width=PICTURES_WIDTH):
            with gr.Row(elem_id=f"{elem_id}-images"):
                pics = [gr.Image(label=label, **IMAGE) for label in labels]
                pics += [gr.Image(label=label, **MAP) for label in map_labels]
            gr.Markdown(MAP_NOTE, elem_classes=["lesson-map-note"])
        with gr.Column(min_width=TEXT_WIDTH):
            text = gr.Markdown(label=text_label, elem_id=elem_id, elem_classes=TEXT)
    return pics, text


def _scale(limit: int) -> str:
    """The scale the change maps of stages 4 and 5 share, under each stage's numbers."""
    return f" In the change maps, full colour is a change of {limit} / 255 or more."


def _label(s: Served, category: str | None) -> int | None:
    try:
        return parse_label(s.config, category)
    except PlaygroundError as exc:
        raise refused(exc) from None


def go_to(stage: int, reached: int) -> tuple:
    """The tour at ``stage``, the furthest stage reached, and the way back to it."""
    reached = max(stage, reached)
    return gr.Walkthrough(selected=stage), reached, back_button(stage, reached)


def header_picked(reached: int, picked: gr.SelectData) -> dict:
    """A stage's header pressed: the way back, if it went back (the index counts from 0, the stages from 1)."""
    return back_button(picked.index + 1, reached)


def back_button(stage: int, reached: int) -> dict:
    """The way back to the furthest stage reached, shown while the class looks at an earlier one (whose header
    locks every later stage)."""
    if reached > stage:
        return gr.Button(f"Back to {STAGES[reached - 1]}", visible=True)
    return gr.Button(visible=False)


def lock_button(guess: str | None) -> dict:
    """Stage 1's run button: pressed only once the class has made its guess."""
    if guess:
        return {"value": "Lock in my guess and run", "interactive": True}
    return {"value": "Make your guess, then run", "interactive": False}


def present(on: bool) -> tuple[gr.Column, gr.Number]:
    """Presenter mode: large type, and the fixed seed (the lesson a presenter prepared is the one shown)."""
    return (gr.Column(elem_classes=["lesson-presenter"] if on else []),
            gr.Number(value=LESSON_SEED, visible=False) if on else gr.Number(visible=True))


def model_updates(s: Served) -> list:
    """The tab after the session switched to model ``s``: its controls for that model, back at stage 1 (the later
    stages showed the last model's lesson)."""
    return [gr.update(**class_picker_for(s.config)), gr.update(choices=s.names, value=None),
            gr.update(value=predict_text(s.config)), finder.model_update(s.config), gr.Walkthrough(selected=1), READY]


def model_outputs(tab: LessonTab) -> list:
    return [tab.category, tab.guess, tab.intro, tab.finder, tab.tour, tab.status]
