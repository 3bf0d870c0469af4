"""Screenshots of every Lesson stage: a laptop (1366x768) and a phone (390x844), and the laptop in presenter mode.

    python scripts/lesson_screenshots.py [--checkpoint DIR] [--category "Smileys & Emotion"] [--guess BRICK]
        [--out-dir assets]

writes OUT_DIR/lesson_<stage>_<W>x<H>.png and OUT_DIR/lesson_presenter_<stage>_1366x768.png. Each picture starts at
the lesson's stepper and holds the whole stage (at least one screen). The first pass samples the lesson (stage 2 is
taken mid-run); the others replay it from the lesson cache.
"""

import argparse
import re
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import Page, sync_playwright  # noqa: E402

import app  # noqa: E402
from lego.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint  # noqa: E402
from screenshot import ARGS  # noqa: E402

STAGES = ["1. Predict", "2. Run", "3. Compare", "4. Early or late", "5. The cost", "6. Take-away"]
STAGE_END = """() => Math.max(...[...document.querySelectorAll('#lesson-tour *')].filter(e => e.offsetParent !== null)
                              .map(e => e.getBoundingClientRect().bottom)) + window.scrollY"""


def shoot(page: Page, path: Path) -> None:
    """From the stepper to the end of the stage shown, and at least one screen."""
    page.evaluate("document.getElementById('lesson-tour').scrollIntoView()")
    page.wait_for_timeout(400)
    top = page.evaluate("document.getElementById('lesson-tour').getBoundingClientRect().top + window.scrollY")
    viewport = page.viewport_size
    height = max(viewport["height"], page.evaluate(STAGE_END) - top + 16)
    page.screenshot(path=str(path), full_page=True, clip={"x": 0, "y": top, "width": viewport["width"],
                                                          "height": height})
    print(path, flush=True)


def walk(page: Page, url: str, category: str, guess: str, presenter: bool, name: str) -> None:
    """Every stage in order, as a class goes through them."""
    page.goto(url)
    page.wait_for_selector("[role=tablist]", timeout=30_000)
    tab = page.get_by_role("tab", name="Lesson")
    if not tab.is_visible():  # a phone: the tabs that do not fit are under "More tabs"
        page.click("[aria-label='More tabs']")
        tab = page.locator(".overflow-dropdown button", has_text="Lesson")
    tab.click()
    page.wait_for_selector("#lesson-run", timeout=30_000)
    if presenter:
        page.get_by_label("Presenter mode").check()
    page.get_by_label("The lesson draws").click()
    page.get_by_role("option", name=category, exact=True).click()
    page.wait_for_timeout(300)
    slugs = [re.sub(r"\W+", "_", s.split(". ")[1].lower()).strip("_") for s in STAGES]
    shoot(page, Path(name.format(stage=f"1_{slugs[0]}")))
    page.get_by_role("radio", name=guess).check()
    page.click("#lesson-run")
    page.wait_for_function("() => /^Running: run \\d+\\/\\d+ .* step \\d+/"
                           ".test(document.querySelector('#lesson-status')?.innerText ?? '')"
                           " || !!document.querySelector('#lesson-late table')", timeout=60_000)
    sampling = not page.is_visible("#lesson-late")
    if sampling:  # stage 2 mid-run: the progress and Stop
        page.wait_for_timeout(1500)
        shoot(page, Path(name.format(stage=f"2_{slugs[1]}")))
    page.wait_for_selector("#lesson-late table", timeout=1_800_000)
    if not sampling:  # replayed at once: back to stage 2, whose status says so
        page.click("#lesson-tour .step-button[data-tab-id='2']")
        page.wait_for_selector("#lesson-status", state="visible")
        shoot(page, Path(name.format(stage=f"2_{slugs[1]}")))
        page.click("#lesson-rerun")
    page.wait_for_selector("#lesson-late table", state="visible")
    shoot(page, Path(name.format(stage=f"3_{slugs[2]}")))
    for k, button in ((3, "Next: early or late?"), (4, "Next: the cost"), (5, "Next: take-away")):
        page.get_by_role("button", name=button).click()
        page.wait_for_timeout(800)
        shoot(page, Path(name.format(stage=f"{k + 1}_{slugs[k]}")))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    parser.add_argument("--category", default="no entry (Symbols / warning)")
    parser.add_argument("--guess", help="the brick the class guesses (default: the first)")
    parser.add_argument("--port", type=int, default=7898)
    parser.add_argument("--out-dir", default="assets")
    args = parser.parse_args()
    model = load_checkpoint(args.checkpoint)
    guess = args.guess or model.config.brick_name(0)
    demo = app.build_demo(model, source=args.checkpoint)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=args.port, quiet=True,
                **app.LAUNCH_OPTIONS)
    out = Path(args.out_dir)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=ARGS)
            for width, height, presenter, name in ((1366, 768, False, "lesson_{stage}_1366x768.png"),
                                                   (390, 844, False, "lesson_{stage}_390x844.png"),
                                                   (1366, 768, True, "lesson_presenter_{stage}_1366x768.png")):
                page = browser.new_page(viewport={"width": width, "height": height})
                walk(page, f"http://127.0.0.1:{args.port}/", args.category, guess, presenter, str(out / name))
                page.close()
            browser.close()
    finally:
        demo.close()


if __name__ == "__main__":
    main()
