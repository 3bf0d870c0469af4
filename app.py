"""LEGO Playground: switch diffusion bricks on and off per timestep range and see what it costs.

    python app.py [--checkpoint DIR_OR_HUB_ID] [--host 127.0.0.1] [--port 7860] [--share] [--compile]
                  [--precision auto|fp32|bf16] [--batching auto|on|off]

Layout and wiring only: each tab is a module of ``ui``, and the logic they call lives in ``lego``.
"""

from __future__ import annotations

import argparse
import logging
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from lego.checkpoint import DEFAULT_CHECKPOINT, CheckpointError, load_checkpoint  # noqa: E402
from lego.model import LegoModel  # noqa: E402
from lego.batching import BATCHING  # noqa: E402
from lego.precision import PRECISIONS, default_device  # noqa: E402
from lego.request import Limits, PlaygroundError  # noqa: E402
from lego.serving import ModelRegistry, Served, shown_source  # noqa: E402
from ui import accessibility, compare, finder, generate, history, inside, lesson, link, results, zero_gpu  # noqa: E402
from ui import model as model_tab  # noqa: E402
from ui.context import DEFAULT_KEY, LOG, AppContext, page_and_api, refused  # noqa: E402
from ui.inputs import name_parameters  # noqa: E402
from ui.queue import share_the_queue  # noqa: E402

# Small images are enlarged with crisp pixels, never blurred. A table never breaks a word across lines (Gradio's
# Markdown does, down to a letter a line in a narrow column): a table too wide for the page scrolls sideways, and
# on a phone its cells are padded less, as are the brick schedule's range boxes (two to a line, not one). The
# first steps stand out; the note on the estimate is small. A control's
# help line is dark enough to read (Gradio's pale grey has a contrast of about 2.5:1 on white). Compare's
# and Look inside's pictures fill their boxes alike (their modules hold their rules). The Lesson's pictures fill
# their boxes below their captions, and its presenter mode sets the text in large type, one stage per screen, with
# the pictures taller, and the captions, choices and stage names large enough to read from the back of a room.
# Stages not reached yet stay legible (Gradio fades them to half).
# Semi-bold text (headings, bold words, table heads): the semi-bold font file Gradio ships holds 55 characters and
# few letters, so such words were set in a fallback font with stray letters in another; its complete bold file,
# at the path the theme's own rule uses, serves that weight instead.
CSS = "\n".join(["""
@font-face { font-family: 'Source Sans Pro'; font-style: normal; font-weight: 600;
             src: url('static/fonts/SourceSansPro/SourceSansPro-Bold.woff2') format('woff2'); }
img { image-rendering: pixelated; }
.prose table { display: block; width: max-content; max-width: 100%; overflow-x: auto; border: none; }
.prose table th, .prose table td { word-break: normal; overflow-wrap: normal; }
@media (max-width: 480px) { .prose table th, .prose table td { padding: var(--size-1) var(--size-2); } }
@media (max-width: 480px) { .brick-ranges label:has(input) { padding: 2px var(--size-2); font-size: var(--text-sm); } }
@media (max-width: 640px) { .js-plotly-plot .modebar-container { display: none; } } /* it covered the labels */
#start-here { background: var(--color-accent-soft); border-radius: var(--radius-lg); padding: var(--spacing-lg); }
:root { --block-info-text-color: var(--neutral-600); }
.dark { --block-info-text-color: var(--neutral-400); }
.hint .prose { font-size: var(--text-sm); color: var(--block-info-text-color); }
.lesson-image img { width: 100%; height: calc(100% - 2.2em); margin-top: 2.2em; object-fit: contain; }
.lesson-map-note .prose { font-size: var(--text-sm); color: var(--block-info-text-color); }
@media (max-width: 480px) { /* a phone: the three pictures in one row, the two maps in the next */
  .lesson-stage .lesson-image:not(#lesson-slider) { min-width: 0 !important; flex: 1 1 30%; height: 150px !important; }
  .lesson-stage .lesson-map { flex-basis: 45%; height: 190px !important; }
  .lesson-stage .lesson-image .icon-button-wrapper { display: none; } /* the labels need the room */ }
#lesson-tour .step-button { color: var(--body-text-color); }
.wrap-inner .secondary-wrap input { text-overflow: ellipsis; margin-right: 28px; } /* a long entry ends in "...", not
   under the list's arrow (on a phone: "dog face (Animals & Nature / animal-mammal)") */
#lesson-tour .step-button:disabled { opacity: 0.8; }
.lesson-presenter #lesson-tour { min-height: 100vh; }
.lesson-presenter label, .lesson-presenter #lesson-tour .step-label { font-size: calc(1.3 * var(--text-md)); }
.lesson-presenter .lesson-stage > * { flex-basis: 100%; }
.lesson-presenter .lesson-image { --block-label-text-size: calc(1.3 * var(--text-md)); }
.lesson-presenter .lesson-image:not(#lesson-slider) { height: 27vh !important; }
.lesson-presenter #lesson-late-all { display: none; } /* one screen has no room: the table names every brick's change */
.lesson-presenter .lesson-text .prose { font-size: calc(1.6 * var(--text-md)); }
.lesson-presenter .lesson-text .prose p, .lesson-presenter .lesson-text .prose li { line-height: 1.3; }
.lesson-presenter .lesson-text .prose th, .lesson-presenter .lesson-text .prose td { padding: 0.1em 0.5em; }
""", generate.CSS, compare.CSS, inside.CSS, results.CSS, accessibility.CSS])
# Options every launch of the app uses (Gradio 6 takes CSS at launch); the app has no upload field, so uploads are
# refused past a token size. Every Generate request handed to the batcher holds a thread while it waits for its
# steps, so the pool has room for a full batch besides the other tabs.
LAUNCH_OPTIONS = {"css": CSS, "max_file_size": "1kb", "max_threads": 2 * generate.BATCHED_REQUESTS}


def build_demo(model: LegoModel, limits: Limits | None = None, precision: str = "auto",
               queue_size: int = 64, cache_bytes: int = 8 * 2**20, compiled: bool = False,
               batching: str = "auto", source: str = "") -> gr.Blocks:
    """The whole UI, built for ``model``. Each browser session may switch to another checkpoint
    that fits the page (``lego.serving.fits_page``; Model tab). ``queue_size`` bounds waiting requests (a class
    of thirty fits); ``compiled`` serves compiled bricks (a warm-up first, then faster sampling);
    ``batching`` runs concurrent Generate requests in shared batches (see ``lego.batching``); ``source``, the
    checkpoint ``model`` came from, names it in reports and lets the Model tab pick it without loading a copy."""
    if zero_gpu.on_zero_gpu_space():
        batching = "off"  # each request gets its own GPU call there; a batch would run outside it
    ctx = AppContext(ModelRegistry(Served.of(DEFAULT_KEY, model, precision, limits, cache_bytes, compiled,
                                             batching, source)))
    with gr.Blocks(title="LEGO Playground", delete_cache=(600, 3600)) as demo:
        gr.Markdown("# LEGO Playground\nA diffusion model built from stackable, skippable **LEGO bricks** "
                    "(Zheng et al., ICLR 2024). Switch any brick off for any range of steps and see what it "
                    "saves and what it costs.")
        model_key = gr.State(DEFAULT_KEY)  # this session's model (see the Model tab)
        # on a phone every tab shows, on a second row, not in a menu
        with gr.Tabs(overflow_behavior="wrap", elem_id=history.TABS_ID):
            with gr.Tab("Generate"):
                gen = generate.build(ctx)
            with gr.Tab("Compare") as compare_tab:
                gen_event = generate.wire(ctx, gen, model_key, demo)
                compare_results = compare.build(ctx, gen, model_key, compare_tab)
            with gr.Tab("Look inside"):
                look = inside.build(ctx.first.names)
                inside.wire(ctx, look, model_key, gen.record_state)
            with gr.Tab("Lesson"):
                les = lesson.build(ctx, model_key)
            with gr.Tab("Results"):
                results.build(ctx.sweeps)
            with gr.Tab("Model"):
                mod = model_tab.build(ctx)

        def after_run(key, record, brick, status_text):
            """Runs once the run has ended, finished or stopped: Stop's cancel has settled by then, so no
            late progress message can overwrite the status set here."""
            stopped = generate.stopped_status(status_text) if record is None else gr.skip()
            return *inside.after_run(ctx, key, record, brick), stopped, generate.gallery_after(stopped)

        gen_event.then(after_run, [model_key, gen.record_state, look.brick_pick, gen.status],
                       [look.step_slider, *look.views, gen.status, gen.gallery], queue=False,
                       api_visibility="private")

        def switched(s: Served) -> tuple:
            """Every tab on model ``s`` (``load_outputs``)."""
            bricks = gr.update(choices=s.names, value=s.names[-1])
            return (s.key, model_tab.model_text(s), *generate.model_updates(s, gen), *compare.model_updates(s),
                    *lesson.model_updates(s), bricks, *inside.after_run(ctx, s.key, None, s.names[-1]),
                    model_tab.loaded_text(s))

        def load(source: str) -> Served:
            """A checkpoint that fits this page, loaded for a session (a PlaygroundError says why not)."""
            return ctx.registry.load(source, accept=model_tab.fits_the_page(ctx.first.config))

        def loaded(source: str) -> Served:
            try:
                return load(source)
            except PlaygroundError as exc:
                raise refused(exc) from None

        def load_model(source: str):
            """A generator, as the page's event says a refusal in the tab's status line: every tab on the model."""
            yield switched(loaded(source))

        def load_model_api(source: str) -> tuple:
            """A script's load: the session's model, and only what a script reads (the model, and the status)."""
            s = loaded(source)
            return s.key, model_tab.model_text(s), model_tab.loaded_text(s)

        def load_linked(request: gr.Request) -> tuple | list:
            """The model a page's link names, loaded for the tab before the link's settings are set (which say
            so where it cannot be)."""
            name = link.open_model(ctx, request)
            if name:
                try:
                    return switched(load(name))
                except PlaygroundError as exc:
                    LOG.info("link's model refused: %s", exc)
            return [gr.skip()] * len(load_outputs)

        load_outputs = [model_key, mod.text, *generate.model_outputs(gen), *compare_results, *lesson.model_outputs(les),
                        look.brick_pick, look.step_slider, *look.views, mod.status]
        opened = demo.load(load_linked, None, load_outputs, queue=False, api_visibility="private")
        link.wire(ctx, gen, model_key, gen_event, opened)
        history.wire(demo)
        accessibility.wire(demo, {f"#{compare.BAR_ID} img": compare.BAR_CAPTION})
        switch = page_and_api([mod.load_btn.click], load_model_api, [mod.source], [model_key, mod.text, mod.status],
                              mod.status, api_name="load_model", cannot="Cannot load", page_run=load_model,
                              page_outputs=load_outputs, concurrency_limit=1)
        finder.clear_after(switch, [gen.finder, les.finder])
    demo.queue(max_size=queue_size, default_concurrency_limit=1)
    share_the_queue(demo)
    name_parameters(demo)
    return demo


def port(text: str) -> int:
    value = int(text)
    if not 0 <= value < 65536:
        raise argparse.ArgumentTypeError(f"a port is a number from 0 to 65535, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="LEGO Playground")
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), metavar="DIR_OR_HUB_ID",
                        help=f"checkpoint directory or Hub repo id (default {shown_source(str(DEFAULT_CHECKPOINT))})")
    host, number = os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), os.environ.get("GRADIO_SERVER_PORT", "7860")
    parser.add_argument("--host", default=host, help=f"address to serve on (default {host}: this machine only; "
                                                     "0.0.0.0 for every network it is on)")
    parser.add_argument("--port", type=port, default=int(number), help=f"port to serve on (default {number})")
    parser.add_argument("--share", action="store_true", help="create a public gradio.live link (off by default)")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS,
                        help="auto (default): bf16 where this machine runs it fast, else fp32")
    parser.add_argument("--batching", default="auto", choices=BATCHING,
                        help="run concurrent requests in shared batches: auto (where that leaves every image's "
                             "pixels unchanged), on, or off")
    parser.add_argument("--compile", action="store_true",
                        help="compile the bricks (about a minute of warm-up on 2 cores, then faster sampling)")
    return parser


def main() -> None:
    args = build_parser().parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's start-up checks of its own server
    try:
        model = load_checkpoint(args.checkpoint, device=default_device())
    except CheckpointError as exc:
        raise SystemExit(f"error: {exc}") from None
    demo = build_demo(model, precision=args.precision, compiled=args.compile, batching=args.batching,
                      source=args.checkpoint)
    # Gradio's own start-up lines would tell a user to edit launch() for a public link; ours is --share
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, quiet=True, prevent_thread_lock=True,
                **LAUNCH_OPTIONS)
    print(f"LEGO Playground is running on {demo.local_url}"
          + (f" and publicly on {demo.share_url}" if demo.share_url else " (python app.py --share for a public link)")
          + "; Ctrl+C stops it.", flush=True)
    demo.block_thread()


if __name__ == "__main__":
    main()
