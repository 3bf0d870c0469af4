"""The classroom edition: a site exported from a tiny model, its numbers against the app's for the same request,
and the page in a real browser, opened from disk and from a static server, with no request leaving the machine."""

import contextlib
import functools
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import sync_playwright

from conftest import CHROMIUM, CHROMIUM_ARGS, free_port, needs_chromium, randomized
from lego.classroom import shrink
from lego.estimate import estimate
from lego.export_static import GUIDANCE, METHOD, ExportError, Grid, export
from lego.lesson import late_verdict, run_lesson
from lego.request import parse_request
from lego.runs import run_to_end
from lego.schedule import from_grid
from lego.visuals import difference_maps

CLASS = 2  # Animals & Nature
ALL, B0_FIRST_OFF = "11.11.11", "01.11.11"  # every brick; brick 0 off for the first of the 2 ranges


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    model = randomized("tiny-emoji")
    out = tmp_path_factory.mktemp("classroom")
    data = export(model, out, Grid((CLASS,), (0,), steps=4, num_ranges=2), precision="fp32", quiet=True)
    return model, out, data


@pytest.fixture(scope="module")
def app_verdict(site) -> str:
    """What the app's Lesson tab says to a guess of brick 0, for the exported class: its first paragraph."""
    from lego.serving import Served

    return late_verdict(run_lesson(Served.of("app", site[0], "fp32"), CLASS, 0), 0).split("\n\n")[0].replace("**", "")


def picture(out: Path, name: str) -> np.ndarray:
    return np.asarray(Image.open(out / name).convert("RGB"))


def test_the_exported_run_is_what_the_app_samples_for_the_same_request(site):
    model, out, data = site
    config = model.config
    runs = data["runs"]["0/0"]

    def app_run(cells):
        request = parse_request(config, data["classes"][0], 0, 4, GUIDANCE, METHOD, 1, 64, 64, from_grid(cells, 2))
        return run_to_end(model, request, estimate(config, request, 1.0), "fp32", keep_frames=True)

    every, off = app_run([[0, 1]] * 3), app_run([[1], [0, 1], [0, 1]])
    exported = runs[B0_FIRST_OFF]
    cost = off.estimate.cost
    assert exported["flops"] == {"total": cost.total, "all_bricks": cost.reference_total,
                                 "per_step": [list(s.bricks) for s in cost.per_step]}
    assert np.array_equal(picture(out, exported["image"]), off.images[0])
    # every run's change map on one scale: flipping between schedules, the paler map is the smaller change
    maps, limit = difference_maps(every.images[0], [picture(out, run["image"]) for run in runs.values()])
    assert {run["diff_limit"] for run in runs.values()} == {limit}
    assert np.array_equal(picture(out, exported["diff"]), maps[list(runs).index(B0_FIRST_OFF)])
    change = np.abs(off.images[0].astype(int) - every.images[0].astype(int)).mean()
    assert f"the picture changed by {change:.1f} / 255 per pixel on average" in exported["summary"]
    for frame, (noisy, denoised, bricks) in zip(off.frames, exported["frames"]):  # frames whole: no frame size
        assert np.array_equal(picture(out, noisy), frame.noisy)
        assert np.array_equal(picture(out, denoised), frame.denoised)
        assert [b is None for b in frame.bricks] == [b is None for b in bricks]
        assert all(np.array_equal(picture(out, b), a) for a, b in zip(frame.bricks, bricks) if b is not None)
    assert exported["charts"]["flops"][0] == [s.bricks[0] / 1e9 for s in cost.per_step]
    assert np.array_equal(picture(out, runs[ALL]["image"]), every.images[0])


def test_each_step_is_timed_at_its_fastest_of_the_repeats(site):
    """A slow step on a busy machine (another program, a garbage collection) would show a schedule that skips work
    as slower than every brick; the export times each run three times and keeps each step's least time."""
    from dataclasses import replace

    from lego.runs import fastest

    model = site[0]
    request = parse_request(model.config, None, 0, 2, GUIDANCE, METHOD, 1, 64, 64, from_grid([[0, 1]] * 3, 2))
    record = run_to_end(model, request, estimate(model.config, request, 1.0), "fp32")
    first = replace(record, step_seconds=[0.1, 3.0], brick_seconds=[[0.03, 0.03, 0.03], [1.0, 0.9, 1.0]])
    again = replace(record, step_seconds=[0.2, 0.1], brick_seconds=[[0.06, 0.02, 0.06], [0.03, 0.03, 0.03]])
    timed = fastest(first, [again])
    assert timed.step_seconds == [0.1, 0.1] and timed.brick_seconds == [[0.03, 0.02, 0.03], [0.03, 0.03, 0.03]]
    assert timed.images is first.images and timed.seconds == pytest.approx(0.2)
    assert "each step's fastest of 3 runs" in site[2]["runs"]["0/0"][ALL]["summary"]


def test_every_schedule_the_page_offers_was_sampled_and_pictures_are_stored_once(site):
    _, out, data = site
    assert set(data["runs"]["0/0"]) == set(data["schedules"]) >= {ALL, B0_FIRST_OFF, "11.11.10"}
    assert {p["name"] for p in data["presets"]} == {"all", "pg-recipe", "pr-recipe", "local-only", "global-only"}
    linked = {name for run in data["runs"]["0/0"].values() for frame in run["frames"]
              for name in (frame[0], frame[1], *filter(None, frame[2]))}
    assert linked <= {f"img/{p.name}" for p in (out / "img").iterdir()}
    first_steps = {run["frames"][0][0] for run in data["runs"]["0/0"].values()}
    assert len(first_steps) == 1  # every run starts from the same noise: one file
    readme = (out / "README.md").read_text()
    assert (out / "plotly-basic.min.js").stat().st_size > 1_000_000 and "sdk: static" in readme
    assert "## Credits" in readme and "CC-BY 4.0" in readme  # the Space page credits the art too
    assert "CC-BY 4.0" in data["credits"]


def test_the_default_grid_draws_the_featured_classes_else_one_emoji_per_category():
    """The page names what each picture shows: an emoji-labelled model's default grid asks for emoji, the ones its
    config features where it has them (the shipped model's: the emoji it draws well)."""
    from dataclasses import replace

    from test_labels import SPACE

    from lego.checkpoint import DEFAULT_CHECKPOINT, read_config
    from lego.config import ARCHITECTURES
    from lego.model import LegoModel

    labelled = ARCHITECTURES["tiny-pg"].with_labels(SPACE)
    assert [SPACE.names[c] for c in Grid.default(LegoModel(labelled)).classes] == ["cat face", "red apple"]
    featured = LegoModel(replace(labelled, featured_classes=("eagle", "Food", "dog face")))
    assert [SPACE.names[c] for c in Grid.default(featured).classes] == ["eagle", "Food", "dog face"]
    categories = ARCHITECTURES["tiny-pg"]
    assert Grid.default(LegoModel(categories)).classes == tuple(range(categories.num_classes))
    shipped = read_config(DEFAULT_CHECKPOINT)
    space = shipped.label_space()
    categories = [space.chain(space.resolve(name))[0] for name in shipped.featured_classes]
    assert sorted(categories) == list(range(space.sizes[0]))  # one of each category


def test_a_category_of_a_model_labelled_by_emoji_says_which_emoji_each_run_drew(tmp_path):
    from test_labels import SPACE

    from lego.config import ARCHITECTURES
    from lego.model import LegoModel

    model = LegoModel(ARCHITECTURES["tiny-pg"].with_labels(SPACE))
    data = export(model, tmp_path / "site", Grid((0,), (0, 1), steps=2, num_ranges=1), precision="fp32", quiet=True)
    for seed in (0, 1):  # "Animals": each seed draws one animal, the same under every schedule
        drawn = SPACE.names[SPACE.draw(0, seed)]
        assert all(run["summary"].startswith(f"Drew {drawn}. ") for run in data["runs"][f"0/{seed}"].values())


def test_step_pictures_shrink_by_box_averaging():
    picture = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    small = shrink(picture, 32).astype(int)
    blocks = picture.reshape(32, 2, 32, 2, 3).mean(axis=(1, 3))
    assert small.shape == (32, 32, 3) and np.abs(small - blocks).max() <= 1
    assert shrink(picture, 64) is picture


def test_a_folder_that_is_no_export_is_left_alone(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="not empty"):
        export(randomized("tiny-emoji"), tmp_path, Grid((0,), steps=2, num_ranges=1), quiet=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def served(folder: Path):
    """Any static server: Python's, on a free loopback port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()),
                                             functools.partial(QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def page_at(out: Path, origin: str):
    with contextlib.ExitStack() as stack:
        base = out.as_uri() + "/" if origin == "file" else stack.enter_context(served(out))
        p = stack.enter_context(sync_playwright())
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        stack.callback(browser.close)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(base + "index.html")
        page.wait_for_function("document.querySelector('#time-chart .main-svg') !== null", timeout=20_000)
        yield page, base, requests


def shown(page, selector: str) -> list[str]:
    return page.eval_on_selector_all(selector, "imgs => imgs.map(i => i.getAttribute('src'))")


@needs_chromium
@pytest.mark.parametrize("origin", ["file", "http"])
def test_toggle_scrub_and_complete_the_lesson_in_a_browser(site, app_verdict, origin):
    _, out, data = site
    runs = data["runs"]["0/0"]
    recipe = next(p for p in data["presets"] if p["name"] == "pg-recipe")
    with page_at(out, origin) as (page, base, requests):
        # it opens on the paper's recipe: a first picture that differs from every brick's
        assert page.get_attribute("#run-image", "src") == runs["11.11.10"]["image"] != runs[ALL]["image"]
        assert page.input_value("#preset") == recipe["key"]
        page.select_option("#preset", next(p["key"] for p in data["presets"] if p["name"] == "all"))
        assert page.get_attribute("#run-image", "src") == runs[ALL]["image"]
        assert page.is_disabled("#cell-0-0") is False and page.is_disabled("#cell-1-1") is False
        page.uncheck("#cell-0-0")
        run = runs[B0_FIRST_OFF]
        assert page.get_attribute("#run-image", "src") == run["image"]
        assert page.get_attribute("#all-image", "src") == runs[ALL]["image"]
        assert page.get_attribute("#diff-image", "src") == run["diff"]
        assert page.inner_text("#diff-scale") == f"; full colour at ±{run['diff_limit']} / 255"
        assert page.inner_text("#cost") == run["summary"]
        for chart in ("flops", "time"):
            ys = page.evaluate(f"document.getElementById('{chart}-chart').data.map(t => Array.from(t.y))")
            assert ys == run["charts"][chart]
        assert page.is_disabled("#cell-0-1")  # brick 0 off for both ranges was not sampled
        assert page.is_visible("#greyed")  # and the page says why, on a phone too (no hover there)
        assert page.input_value("#preset") == ""
        page.click("#every-brick")  # the way out of a corner of the grid
        assert page.get_attribute("#run-image", "src") == runs[ALL]["image"] and not page.is_visible("#greyed")
        page.uncheck("#cell-0-0")
        # a drag across the picture moves the line
        box = page.locator("#compare").bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] / 2, steps=5)
        page.mouse.up()
        assert int(page.input_value("#compare-split")) < 30
        # the charts cannot be zoomed (no button would undo it), and every schedule's share one axis
        layout = "id => { const l = document.getElementById(id).layout; return [l.xaxis.fixedrange, " \
                 "l.yaxis.fixedrange, l.yaxis.range[1]]; }"
        flops_axis = page.evaluate(layout, "flops-chart")
        assert flops_axis[:2] == [True, True]
        page.select_option("#preset", label="pg-recipe: top brick off for the last 40% of steps")  # as shown
        assert page.get_attribute("#run-image", "src") == runs["11.11.10"]["image"]
        assert not page.is_checked("#cell-2-1") and page.is_checked("#cell-0-0")
        assert page.evaluate(layout, "flops-chart") == flops_axis

        page.fill("#step", "2")  # scrub
        noisy, denoised, bricks = runs["11.11.10"]["frames"][1]
        assert shown(page, "#frames img") == [noisy, denoised, *[b for b in bricks if b is not None]]
        assert page.inner_text("#step-text").startswith("2 of 4")
        broken = "[...document.images].filter(i => i.getAttribute('src') && !(i.complete && i.naturalWidth))"
        page.wait_for_function(f"{broken}.length === 0", timeout=10_000)  # every picture loaded

        page.click("#tab-lesson")  # no guess made for the class, and nothing to see before theirs
        assert page.locator("#lesson-guess input:checked").count() == 0 and page.is_disabled("#lesson-run")
        assert all(f"{name} sees" in page.inner_text("#lesson-intro") for name in data["bricks"])  # each explained
        page.check("#lesson-guess input[value='0']")
        page.click("#lesson-run")
        assert app_verdict in page.inner_text("#lesson-result")
        lesson = data["lessons"][0]
        row = lesson["rows"][0]
        assert page.get_attribute("#lesson-off", "src") == row["late"]["image"]
        assert page.get_attribute("#lesson-map", "src") == row["late"]["map"]  # what the drop changed
        assert f"a change of {lesson['map_limit']} / 255" in page.inner_text("#lesson-compare")
        # every brick's late drop, then the guess off early against late, then the cost against fewer steps: the
        # runs the take-away speaks of are all on the page
        assert shown(page, "#lesson-every-late img") == [p for r in lesson["rows"] for p in
                                                         (r["late"]["image"], r["late"]["map"])]
        assert shown(page, "#lesson-early img") == [lesson["reference"], row["early"]["image"], row["early"]["map"],
                                                    row["late"]["image"], row["late"]["map"]]
        assert shown(page, "#lesson-cost img")[-2:] == [row["fewer"]["image"], row["fewer"]["map"]]
        assert f"every brick, {row['fewer']['steps']} steps" in page.inner_text("#lesson-cost")
        assert page.inner_text("#lesson-takeaway").startswith("Dropped for the last 40% of the steps")
        page.click("#lesson-again")  # the next group guesses afresh
        assert page.is_visible("#lesson-run") and page.is_disabled("#lesson-run")
        assert page.locator("#lesson-guess input:checked").count() == 0
        page.click("#tab-credits")
        assert "CC-BY 4.0" in page.inner_text("#credits")
        assert requests and all(url.startswith(base) for url in requests), requests  # nothing leaves the machine


@needs_chromium
def test_on_a_phone_a_finger_scrolls_the_page_over_the_picture_and_the_charts_and_drags_the_line(site):
    """A vertical swipe that starts on the picture or on a chart scrolls the page, leaving the line where it was
    (a range input jumps to the finger before the browser knows the gesture scrolls) and the chart unzoomed
    (Plotly's drag layer takes every touch unless its drag mode is off); a sideways drag moves the line."""
    import time

    _, out, _ = site
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                      device_scale_factor=2)
        page = context.new_page()
        page.goto(out.as_uri() + "/index.html")
        page.wait_for_function("document.querySelector('#time-chart .main-svg') !== null", timeout=20_000)
        touch = context.new_cdp_session(page)

        def swipe(selector: str, dx: float, dy: float, at: float = 0.3) -> tuple[float, str]:
            """A finger from ``at`` of the element's width at its middle, moved by (dx, dy): scrollY and the line
            after it."""
            page.evaluate(f"document.querySelector('{selector}').scrollIntoView({{block: 'center'}})")
            page.wait_for_timeout(300)
            box = page.locator(selector).bounding_box()
            x, y = box["x"] + box["width"] * at, box["y"] + box["height"] / 2
            touch.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
            for i in range(1, 21):
                time.sleep(0.016)
                touch.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [
                    {"x": x + dx * i / 20, "y": y + dy * i / 20}]})
            touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
            page.wait_for_timeout(800)
            return page.evaluate("scrollY"), page.input_value("#compare-split")

        page.evaluate("document.querySelector('#compare').scrollIntoView({block: 'center'})")
        before = page.evaluate("scrollY")
        scrolled, split = swipe("#compare", 2, -300)
        assert scrolled > before + 100 and split == "50"
        _, split = swipe("#compare", 120, 0, at=0.5)
        assert int(split) > 80
        for chart in ("#flops-chart", "#time-chart"):
            ranges = f"(() => {{ const l = document.querySelector('{chart}')._fullLayout; " \
                     "return [l.xaxis.range, l.yaxis.range]; })()"
            page.evaluate(f"document.querySelector('{chart}').scrollIntoView({{block: 'center'}})")
            start, shown = page.evaluate("scrollY"), page.evaluate(ranges)
            scrolled, _ = swipe(chart, 2, 250, at=0.5)  # a finger moving down scrolls back up
            assert scrolled < start - 100 and page.evaluate(ranges) == shown
        browser.close()


def test_the_page_draws_with_the_plotly_js_version_the_installed_plotly_writes_figures_for():
    import plotly.offline

    from lego.export_static import PLOTLY_JS

    def version(script: str) -> str:
        return script[:300].split(" v", 1)[1].split()[0]

    assert version(PLOTLY_JS.read_text()) == version(plotly.offline.get_plotlyjs())


def test_the_command_names_each_option_it_refuses_before_loading_anything(tmp_path):
    from lego.export_static import main

    (tmp_path / "a-file").write_text("")
    with pytest.raises(SystemExit) as refused:
        main([str(tmp_path / "a-file"), "--steps", "0", "--ranges", "50"])
    assert str(refused.value) == (f"error: --steps 0: it must be from 1 to 100; --ranges 50: it must be from 1 to 20; "
                                  f"{tmp_path / 'a-file'} is a file: the edition is a folder")
