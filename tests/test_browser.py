"""A real browser (Debian's chromium, driven by Playwright) on the real app."""

import contextlib
import time

import pytest
from playwright.sync_api import sync_playwright

from conftest import CHROMIUM, CHROMIUM_ARGS, launched_app, needs_chromium
from ui.lesson import STAGE_TEXT_IDS



@contextlib.contextmanager
def app_page(width: int, height: int, query: str = ""):
    """The real app on a tiny model and a Chromium page on it (opened with ``query``, a link's settings);
    yields (model, page, server errors seen)."""
    with launched_app() as (model, url), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        errors = []
        page.on("response", lambda r: errors.append(r.url) if r.status >= 500 else None)
        page.goto(url + query)
        page.wait_for_selector("#generate", timeout=30_000)
        yield model, page, errors
        browser.close()


@needs_chromium
def test_pick_a_preset_generate_and_see_images_and_charts(tmp_path):
    with app_page(1400, 1600) as (model, page, errors):
        names = [model.config.brick_name(k) for k in range(3)]
        page.get_by_role("tab", name="Look inside").click()  # before any run: says what to do, no steps to pick
        assert page.inner_text("#inside-text").startswith("Run Generate first")
        assert page.locator("#inside-step input[type=range]").is_disabled()
        page.get_by_role("tab", name="Generate").click()
        page.get_by_label("Preset").click()
        page.get_by_role("option", name="pg-recipe").click()
        # the preset switches the top brick off late: the live estimate shows a saving before any run
        page.wait_for_function("/saving [1-9]/.test(document.querySelector('#estimate').innerText)", timeout=20_000)
        page.click("#generate")
        image = page.wait_for_selector("#gallery img", timeout=60_000)
        for chart in ("#flops-plot", "#time-plot", "#heatmap"):
            element = page.wait_for_selector(f"{chart} .js-plotly-plot", timeout=60_000)
            box = element.bounding_box()
            assert box and box["width"] > 100 and box["height"] > 100
            # no drag mode: on a phone a finger on the chart scrolls the page instead of zooming it
            assert element.evaluate("plot => plot._fullLayout.dragmode") is False
        box, frame = image.bounding_box(), page.locator("#gallery").bounding_box()
        assert box["width"] > 200  # enlarged, and shown whole inside its box (not cropped)
        assert frame["x"] <= box["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"]
        assert frame["y"] <= box["y"] and box["y"] + box["height"] <= frame["y"] + frame["height"]
        assert "seed **" not in page.inner_text("#status") and "seed" in page.inner_text("#status")
        page.screenshot(path=str(tmp_path / "screenshot.png"), full_page=True)
        page.get_by_role("tab", name="Look inside").click()
        page.wait_for_function("document.querySelectorAll('#inside-gallery img').length >= 4", timeout=30_000)
        # the view opens before three quarters of the way (at the last step every change map is blank), at the last
        # step before pg-recipe switches the top brick off, on the top brick's regions: every brick's map shows
        assert page.inner_text("#inside-text").startswith("Step 5 of 8,")
        assert "which is off at this step" not in page.inner_text("#inside-text")
        assert page.locator("#inside-changes img").count() == len(names)
        page.get_by_role("tab", name="Results").click()  # the committed figures, drawn without any compute
        box = page.wait_for_selector("#results-schedules .js-plotly-plot", timeout=30_000).bounding_box()
        assert box and box["width"] > 300 and box["height"] > 200
        # a refused request says why in the status line, which stays, and leaves the last run's pictures and charts
        # as they were: no error badge over them
        page.get_by_role("tab", name="Generate").click()
        for box in page.locator(".brick-ranges input[type=checkbox]").all():
            box.uncheck()
        page.click("#generate")
        said = "Cannot run: no brick is on at steps 1-8 of 8: switch at least one brick on for every step"
        page.wait_for_function(f"document.querySelector('#status').innerText.trim() == {said!r}", timeout=20_000)
        page.wait_for_timeout(1000)  # the follow-up events have run, and left it
        assert page.inner_text("#status").strip() == said
        assert page.locator(".toast-body.warning").count() == 1 and page.locator(".toast-body.error").count() == 0
        assert page.locator("#gallery img").count() == 1 and page.locator("#flops-plot .js-plotly-plot").count() == 1
        for shown in ("#gallery", "#flops-plot", "#time-plot", "#heatmap", "#status"):
            assert page.locator(shown).get_by_text("Error", exact=True).count() == 0, shown
        assert not errors
    assert (tmp_path / "screenshot.png").stat().st_size > 10_000


@needs_chromium
def test_a_link_opens_the_page_on_its_settings_and_a_run_links_to_its_own(tmp_path):
    from PIL import Image

    query = "?draw=Flags&seed=7&steps=6&guidance=3&schedule=0-1;0-1;0-0.6&__theme=light"
    with app_page(1400, 1600, query) as (model, page, errors):
        page.wait_for_function("(document.querySelector('#status')?.innerText ?? '').includes('settings of the link')",
                               timeout=20_000)
        assert page.get_by_label("Steps").first.input_value() == "6"
        assert page.get_by_label("What to draw").input_value().startswith("Flags")
        top = page.locator("fieldset").filter(has_text=model.config.brick_name(2)).first
        ticked = [box.is_checked() for box in top.locator("input[type=checkbox]").all()]
        assert ticked == [True, True, True, False, False]  # 0-0.6 on the page's five ranges
        page.click("#generate")
        page.wait_for_function("document.querySelector('#settings-link textarea, #settings-link input')?.value"
                               ".includes('seed=7')", timeout=60_000)
        link = page.locator("#settings-link textarea, #settings-link input").first.input_value()
        assert link.startswith(page.url.split("?")[0] + "?draw=Flags")
        for key in ("seed=7", "steps=6", "guidance=3", "schedule=0-1;0-1;0-0.6"):
            assert key in link
        with page.expect_download() as download:  # the PNG carries the same settings
            page.locator("#component-0 a[download], .file-preview a").first.click()
        png = tmp_path / "picture.png"
        download.value.save_as(png)
        assert Image.open(png).text["lego-playground"] == link.split("?", 1)[1]

        base = page.url.split("?")[0]
        page.goto(base + "?schedule=0-1;0-1;0-0.55")  # no grid of the page draws 0.55: the JSON box holds it
        page.wait_for_function("(document.querySelector('#status')?.innerText ?? '').includes('settings of the link')",
                               timeout=20_000)
        page.get_by_text("Schedule as JSON").click()
        assert '"2": [[0.0, 0.55]]' in page.get_by_label("Schedule JSON").input_value()
        page.goto(base + "?steps=6&schedule=0-1;0-1;0-0.7")  # 0.7 needs 10 ranges: the boxes offer them
        page.wait_for_function("(document.querySelector('#status')?.innerText ?? '').includes('settings of the link')",
                               timeout=20_000)
        top = page.locator("fieldset").filter(has_text=model.config.brick_name(2)).first
        page.wait_for_function("(n) => [...document.querySelectorAll('fieldset')].some(f => f.innerText.includes(n) "
                               "&& f.querySelectorAll('input[type=checkbox]').length === 10)",
                               arg=model.config.brick_name(2), timeout=10_000)
        assert [box.is_checked() for box in top.locator("input[type=checkbox]").all()] == [True] * 7 + [False] * 3
        assert "Cannot run" not in page.inner_text("#estimate")
        page.click("#generate-here")  # the button beside the schedule runs it too
        page.wait_for_function("document.querySelector('#settings-link textarea, #settings-link input')?.value"
                               ".includes('0-0.7')", timeout=60_000)
        page.goto(base + "?steps=500")  # refused: nothing changed, the reason said
        page.wait_for_function("(document.querySelector('#status')?.innerText ?? '').includes('not used')",
                               timeout=20_000)
        assert "steps must be from 1 to 100, got 500" in page.inner_text("#status")
        assert page.get_by_label("Steps").first.input_value() == "8"
        assert not errors


@needs_chromium
def test_stop_before_any_run_has_finished_leaves_no_error_and_says_stopped():
    with app_page(1366, 900) as (model, page, errors):
        model.register_forward_pre_hook(lambda *_: time.sleep(0.1))  # 5 s or more, on a busy machine too
        page.get_by_label("Steps").first.fill("50")
        page.get_by_label("Steps").first.press("Enter")
        page.get_by_text("More settings").click()
        page.get_by_label("Number of images").first.fill("4")  # 50 steps of 50 ms or more: Stop lands mid-run
        page.get_by_label("Number of images").first.press("Enter")
        assert page.locator("#stop").is_disabled()  # nothing to stop yet: a red button would invite a useless press
        page.click("#generate")
        page.wait_for_function("/^Running: step ([1-9]|[1-4][0-9])\\/50/"
                               ".test(document.querySelector('#status').innerText)", timeout=30_000)
        page.click("#stop")
        page.wait_for_function("document.querySelector('#status').innerText.includes('Stopped at step')",
                               timeout=10_000)
        page.wait_for_timeout(1500)  # the follow-up events (Look inside) have run
        assert "Stopped at step" in page.inner_text("#status")  # no late progress message overwrote it
        assert page.locator("#stop").is_disabled()
        # the pictures left are the last preview, and the gallery says so; the next run's gallery is plain again
        assert "Images: the last preview of a stopped run, not finished" in page.inner_text("#gallery")
        assert not errors and page.locator(".toast-body.error").count() == 0
        tops = page.eval_on_selector_all("#gallery .grid-container > *",
                                         "cells => cells.map(c => Math.round(c.getBoundingClientRect().top))")
        assert len(set(tops)) <= 1  # the previews, if one came before Stop: four pictures in one row
        page.get_by_role("tab", name="Look inside").click()
        assert "Run **Generate** first" in page.inner_text("body") or "Run Generate first" in page.inner_text("body")
        page.get_by_role("tab", name="Generate").click()
        page.get_by_label("Steps").first.fill("2")
        page.get_by_label("Steps").first.press("Enter")
        page.click("#generate")
        page.wait_for_function("document.querySelector('#status').innerText.includes('measured')", timeout=60_000)
        page.wait_for_function("!document.querySelector('#gallery').innerText.includes('not finished')",
                               timeout=10_000)  # the label is the page's own event, which may come last
        assert "Images" in page.inner_text("#gallery")


@needs_chromium
def test_a_link_made_on_another_model_opens_that_model_and_draws_the_same_picture():
    """A session that loaded another checkpoint shares links that name it: opened, the page loads it for the tab
    and draws the same picture. Loading a model also clears the last model's run from Generate."""
    import urllib.request

    def pictures() -> list[bytes]:
        page.wait_for_function("document.querySelectorAll('#gallery img').length == 1", timeout=60_000)
        return [urllib.request.urlopen(img.get_attribute("src")).read() for img in page.locator("#gallery img").all()]

    def link() -> str:
        page.wait_for_function("document.querySelector('#settings-link textarea, #settings-link input')?.value"
                               ".includes('://')", timeout=30_000)
        return page.locator("#settings-link textarea, #settings-link input").first.input_value()

    with app_page(1366, 900, "?steps=2&seed=4") as (_, page, errors):
        page.wait_for_function("(document.querySelector('#status')?.innerText ?? '').includes('settings of the link')",
                               timeout=20_000)
        page.click("#generate")
        first = pictures()
        assert "model=" not in link()  # the app's own model: the link needs no name
        page.get_by_role("tab", name="Model", exact=True).click()
        page.get_by_label("Checkpoint: a bundled one, a directory or a Hub repo id").fill("lego-emoji-s")
        page.get_by_role("button", name="Load", exact=True).click()
        page.wait_for_function("(document.querySelector('#model-status')?.innerText ?? '').startsWith('Loaded')",
                               timeout=60_000)
        page.get_by_role("tab", name="Compare").click()
        assert "Comparing with" in page.inner_text("#compare-status")  # no comparison of the last model
        page.get_by_role("tab", name="Generate").click()
        assert page.locator("#gallery img").count() == 0 and "Drawing with" in page.inner_text("#status")
        page.click("#generate")
        drawn, shared = pictures(), link()
        assert drawn != first and "model=checkpoints%2Flego-emoji-s" in shared
        page.goto(shared)  # a new tab's session: the app's own model until the link loads its own
        page.wait_for_function("(document.querySelector('#status')?.innerText ?? '').includes('settings of the link')",
                               timeout=60_000)
        page.click("#generate")
        assert pictures() == drawn and link() == shared
        page.goto(shared.replace("lego-emoji-s", "no-such-model"))  # a model it cannot load: nothing is set
        page.wait_for_function("(document.querySelector('#status')?.innerText ?? '').includes('not used')",
                               timeout=20_000)
        assert "made with the model 'checkpoints/no-such-model', which this page could not load" in \
            page.inner_text("#status")
        assert not errors


@needs_chromium
def test_back_and_forward_move_between_tabs_and_keep_the_session():
    """On a phone, Back returns to the tab before, not off the app with every run lost; an address naming a tab
    opens on it, and a link's settings stay in the address."""
    def selected() -> str:
        return page.evaluate("() => [...document.querySelectorAll('#main-tabs .tab-container > button[role=tab]')]"
                             ".find(b => b.getAttribute('aria-selected') === 'true')?.innerText")

    with app_page(390, 844, "?steps=2&seed=3") as (_, page, errors):
        page.wait_for_function("(document.querySelector('#status')?.innerText ?? '').includes('settings of the link')",
                               timeout=20_000)
        page.click("#generate")
        page.wait_for_selector("#gallery img", timeout=60_000)
        for tab in ("Lesson", "Results"):
            page.get_by_role("tab", name=tab).click()
        assert page.url.endswith("?steps=2&seed=3#results") and selected() == "Results"
        page.go_back()
        page.wait_for_function("location.hash === '#lesson'")
        assert selected() == "Lesson"
        page.go_back()
        page.wait_for_function("location.hash === ''")
        assert selected() == "Generate" and page.locator("#gallery img").count() == 1  # the run is still there
        page.go_forward()
        page.wait_for_function("location.hash === '#lesson'")
        assert selected() == "Lesson"
        page.goto(page.url.split("?")[0] + "#look-inside")  # a new page: it opens on the tab the address names
        page.wait_for_function("document.querySelector('#main-tabs button[aria-selected=true]')?.innerText === "
                               "'Look inside'", timeout=20_000)
        assert not errors


@needs_chromium
def test_on_a_phone_no_list_writes_its_entry_under_its_arrow():
    """A long entry ('dog face (Animals & Nature / animal-mammal)') ends in an ellipsis before the arrow."""
    with app_page(390, 844) as (_, page, errors):
        page.wait_for_timeout(1000)
        overlaps = page.evaluate("""() => [...document.querySelectorAll('.wrap-inner .secondary-wrap input')]
            .filter(input => input.checkVisibility()).map(input => {
                const arrow = input.closest('.wrap').querySelector('.icon-wrap');
                return arrow ? input.getBoundingClientRect().right - arrow.getBoundingClientRect().left : 0; })""")
        assert overlaps and max(overlaps) <= 0.5, overlaps
        assert not errors


@needs_chromium
def test_a_number_typed_out_of_a_sliders_range_is_refused_in_the_estimate_with_its_reason():
    """The slider clamps a typed number only when its box loses focus; until then the estimate says why it cannot
    run, as for any other bad value, not a bare "Error" badge."""
    with app_page(1366, 900) as (_, page, errors):
        page.wait_for_function("document.querySelector('#estimate').innerText.includes('for this request')",
                               timeout=20_000)  # the page's own first estimate has come: it cannot overwrite ours
        page.wait_for_timeout(1000)  # nor can the estimates of the settings the page set as it opened
        page.get_by_text("Beyond the training size").click()
        width = page.get_by_label("Width in pixels (a multiple of 64)").first
        shows = "(r) => document.querySelector('#estimate').innerText.includes(r)"
        for typed, reason in (("1024", "larger than"), ("3", "multiple of 64 pixels for this model, got 3")):
            width.fill(typed)
            width.press("Enter")
            try:
                page.wait_for_function(shows, arg=reason, timeout=10_000)
            except Exception:  # on a busy machine the settings the page sent as it opened can land after the typing
                width.fill(typed)  # and put the box back to 64: type it again, once
                width.press("Enter")
                try:
                    page.wait_for_function(shows, arg=reason, timeout=20_000)
                except Exception as exc:
                    raise AssertionError(f"typed {typed}, box {width.input_value()!r}, focused "
                                         f"{page.evaluate('document.activeElement.outerHTML.slice(0, 200)')}, "
                                         f"estimate {page.inner_text('#estimate')!r}") from exc
            assert page.inner_text("#estimate").startswith("Cannot run")
        page.get_by_label("Steps").first.click()  # the box loses focus: the slider clamps, and the estimate follows
        page.wait_for_function("document.querySelector('#estimate').innerText.includes('for this request')",
                               timeout=10_000)
        assert width.input_value() == "64" and not errors


TABS = ("Generate", "Compare", "Look inside", "Lesson", "Results", "Model")
# Every text line of every cell of the visible tables: a cell with more lines than words has a word broken
# across lines (a header wrapped as "re/gio/n"; a line may end at a hyphen); narrow headers are listed too.
CELLS = """() => [...document.querySelectorAll('table')].filter(t => t.checkVisibility()).flatMap(t =>
    [...t.querySelectorAll('th, td')].map(cell => {
        const tops = [], walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            const range = document.createRange();
            range.selectNodeContents(node);
            tops.push(...[...range.getClientRects()].filter(r => r.width > 0).map(r => r.top));
        }
        tops.sort((a, b) => a - b);
        const lines = tops.filter((top, i) => i === 0 || top - tops[i - 1] > 6).length;
        const words = cell.innerText.trim().split(/[\\s-]+/).filter(Boolean).length;
        return {text: cell.innerText.trim(), header: cell.tagName === 'TH', width: cell.getBoundingClientRect().width,
                lines, words};
    }))"""


# Scrolled sideways, the first wide results table keeps its row names where they were and shows numbers beside them.
NAMES_STAY = """async () => {
    const view = [...document.querySelectorAll('.results-table .virtual-table-viewport')]
        .find(v => v.scrollWidth > v.clientWidth + 40 && v.getBoundingClientRect().height > 0);
    view.scrollIntoView();
    const name = () => view.querySelector('.virtual-row > .body-cell:first-child').getBoundingClientRect();
    const before = name();
    view.scrollLeft = view.scrollWidth;
    await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
    const after = name(), box = view.getBoundingClientRect();
    const hit = document.elementFromPoint(after.left + after.width / 2, after.top + after.height / 2);
    return Math.abs(after.left - before.left) < 1 && after.left >= box.left - 1
        && view.querySelector('.virtual-row > .body-cell:first-child').contains(hit);
}"""


def broken_cells(page) -> list[dict]:
    """The visible table cells with a word broken across lines, or a header narrower than about four characters."""
    return [c for c in page.evaluate(CELLS) if c["lines"] > max(1, c["words"]) or (c["header"] and c["width"] < 40)]


@pytest.fixture(scope="module")
def app_url():
    with launched_app() as (_, url):
        yield url


@pytest.fixture
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def opened(browser, url: str, width: int, height: int):
    """A new page of ``width`` x ``height`` on ``url``, once the app has drawn its Generate button."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(url)
    page.wait_for_selector("#generate", timeout=30_000)
    return page


@needs_chromium
def test_a_laptop_shows_generate_and_the_gallery_without_scrolling(app_url, browser):
    page = opened(browser, app_url, 1366, 768)
    button, gallery = page.locator("#generate").bounding_box(), page.locator("#gallery").bounding_box()
    assert 0 <= button["y"] and button["y"] + button["height"] <= 768, button
    assert gallery["y"] + 150 <= 768, gallery  # a first image shows, not just the gallery's edge
    start = page.get_by_text("Start here").first.bounding_box()
    assert start and start["y"] < button["y"]  # the first thing to read comes before the button
    table = page.locator("#generate-bricks table")
    assert table.count() == 1 and len(table.locator("th").all()) <= 4  # the full table is the Model tab's
    assert not broken_cells(page)
    page.get_by_role("tab", name="Model", exact=True).click()
    model_table = page.wait_for_selector("#model-info table", timeout=10_000)
    assert len(model_table.query_selector_all("tr")) == 1 + 6  # a column per brick, a row per property
    assert not broken_cells(page)
    # Load with nothing picked: said under the button, the model's description left as it was, no error badge
    info = page.inner_text("#model-info")
    page.get_by_role("button", name="Load", exact=True).click()
    page.wait_for_function("(document.querySelector('#model-status')?.innerText ?? '').startsWith('Cannot load:')",
                           timeout=20_000)
    assert page.inner_text("#model-info") == info and page.locator("#model-info").get_by_text("Error").count() == 0
    said, load = page.locator("#model-status").bounding_box(), page.get_by_role("button", name="Load").bounding_box()
    assert 0 <= said["y"] - (load["y"] + load["height"]) < 40 and said["y"] + said["height"] <= 768  # seen at once


@needs_chromium
@pytest.mark.parametrize("width, height, images", [(1366, 768, 1), (1366, 768, 4), (390, 844, 4)])
def test_after_a_run_every_picture_shows_whole(app_url, browser, width, height, images):
    """On a laptop, on the first screen; on a phone, two a row, none off the side."""
    page = opened(browser, f"{app_url}?images={images}&steps=2", width, height)
    page.wait_for_function("(document.querySelector('#status')?.innerText ?? '').includes('settings of the link')",
                           timeout=20_000)  # the link's settings are in the controls before Generate reads them
    page.click("#generate")
    page.wait_for_function(f"document.querySelectorAll('#gallery img').length == {images}", timeout=60_000)
    page.wait_for_function("document.querySelector('#status').innerText.includes('saving')", timeout=30_000)
    frame = page.locator("#gallery").bounding_box()
    for picture in page.locator("#gallery img").all():  # inside the gallery's box, which ends on the screen
        box = picture.bounding_box()
        assert box["width"] >= 100 and frame["y"] <= box["y"] and box["y"] + box["height"] <= frame["y"] + frame[
            "height"] and box["x"] + box["width"] <= frame["x"] + frame["width"] <= width, (box, frame)
        assert width < 640 or frame["y"] + frame["height"] <= height
    # every caption shows whole (a seed tells the pictures apart), and no empty box is left below the pictures
    captions = page.evaluate("[...document.querySelectorAll('#gallery .caption-label')].map(c => "
                             "[c.innerText, c.scrollWidth, c.clientWidth, c.scrollHeight, c.clientHeight])")
    assert all(sw <= cw + 1 and sh <= ch + 1 for _, sw, cw, sh, ch in captions), captions  # + rounding
    assert frame["y"] + frame["height"] - max(p.bounding_box()["y"] + p.bounding_box()["height"]
                                              for p in page.locator("#gallery img").all()) < 60
    first = page.locator("#gallery img").first.bounding_box()  # a phone scrolled the pictures into view
    assert 0 <= first["y"] and first["y"] + first["height"] <= height, first
    if images > 1:  # Look inside replays the first picture, and says so
        page.get_by_role("tab", name="Look inside").click()
        page.wait_for_function("(document.querySelector('#inside-text')?.innerText ?? '').includes('Shown:')",
                               timeout=20_000)
        assert f"Shown: the first of the run's {images} pictures (seed 0)." in page.inner_text("#inside-text")
    page.close()


@needs_chromium
def test_the_preset_box_names_what_the_ticks_show(app_url, browser):
    page = opened(browser, app_url, 1366, 900)
    preset = page.get_by_label("Preset")

    def shows(name: str) -> None:
        page.wait_for_function("(n) => document.querySelector('input[aria-label=\"Preset\"]').value.startsWith(n)",
                               arg=name + ":", timeout=10_000)

    b2 = page.locator("fieldset").filter(has_text="B2").first.locator("input[type=checkbox]")
    b2.nth(4).wait_for(timeout=10_000)  # the grid drawn (a busy machine draws it after the button)
    boxes = b2.all()
    boxes[4].uncheck()
    shows("custom")  # one range off: no preset is that
    boxes[3].uncheck()
    shows("pg-recipe")  # the Start here line's two ranges off: the paper's recipe
    ranges = page.get_by_label("Number of step ranges").first  # the recipe redrawn on 4 ranges, and back on 5
    for n, ticked, name in ((4, [True, True, False, False], "custom"), (5, [True, True, True, False, False],
                                                                       "pg-recipe")):
        ranges.fill(str(n))
        ranges.press("Enter")
        page.wait_for_function("(n) => [...document.querySelectorAll('fieldset')].filter(f => f.innerText.includes("
                               "'B2')).some(f => f.querySelectorAll('input[type=checkbox]').length === n)", arg=n,
                               timeout=10_000)
        page.wait_for_timeout(500)
        top = page.locator("fieldset").filter(has_text="B2").first.locator("input[type=checkbox]").all()
        assert [b.is_checked() for b in top] == ticked
        bottom = page.locator("fieldset").filter(has_text="B0").first.locator("input[type=checkbox]").all()
        assert len(bottom) == n and all(b.is_checked() for b in bottom)  # no range lost on the way
        # 4 ranges cannot run the recipe's steps (its nearest grid turns B2 off from step 5 of 8, the recipe from
        # step 6): not called the recipe, which a run of it is not
        shows(name)
    preset.click()
    page.get_by_role("option", name="all:").click()
    page.wait_for_function("[...document.querySelectorAll('fieldset input[type=checkbox]')].every(b => b.checked)",
                           timeout=10_000)
    shows("all")
    b1 = page.locator("fieldset").filter(has_text="B1").first
    b1.locator("input[type=checkbox]").all()[0].uncheck()  # by hand: B1 off for the first fifth of the steps
    shows("custom")
    for n, ticked in ((10, [False, False] + [True] * 8), (4, [False, True, True, True]), (5, [False] + [True] * 4)):
        ranges.fill(str(n))  # the same share of the steps on every number of ranges, redrawn from the hand-set ticks
        ranges.press("Enter")
        page.wait_for_function("(n) => [...document.querySelectorAll('fieldset')].filter(f => f.innerText.includes("
                               "'B1')).some(f => f.querySelectorAll('input[type=checkbox]').length === n)", arg=n,
                               timeout=10_000)
        page.wait_for_timeout(500)
        assert [b.is_checked() for b in b1.locator("input[type=checkbox]").all()] == ticked, n
        shows("custom")
    for name in ("pg-recipe:", "custom:"):  # a preset made custom: its ticks, not older hand-set ones, are redrawn
        preset.click()
        page.get_by_role("option", name=name).click()
        shows(name[:-1])
    ranges.fill("10")
    ranges.press("Enter")
    page.wait_for_function("[...document.querySelectorAll('fieldset')].filter(f => f.innerText.includes('B2'))"
                           ".some(f => f.querySelectorAll('input[type=checkbox]').length === 10)", timeout=10_000)
    page.wait_for_timeout(500)
    assert [b.is_checked() for b in b2.all()] == [True] * 6 + [False] * 4
    assert all(b.is_checked() for b in b1.locator("input[type=checkbox]").all())
    page.close()


@needs_chromium
def test_a_phone_reaches_generate_every_tab_and_legible_tables(app_url, browser):
    page = opened(browser, app_url, 390, 844)
    assert page.locator("#generate").bounding_box()["y"] < 2 * 844  # at most one screen of scrolling
    assert not broken_cells(page)
    for name in TABS:  # every tab button shows in the bar itself, none hidden behind an overflow menu
        tab = page.get_by_role("tab", name=name, exact=True)
        assert tab.is_visible(), name
        box = tab.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, (name, box)
    for name in TABS[1:] + TABS[:1]:
        page.get_by_role("tab", name=name, exact=True).click()
        page.wait_for_function(f"[...document.querySelectorAll('[role=tab][aria-selected=true]')]"
                               f".some(t => t.innerText.trim() === {name!r})", timeout=10_000)
        if name == "Results":  # a table wider than the phone scrolls its numbers under its row names
            assert page.evaluate(NAMES_STAY), "the row names scroll away with the numbers"
        if name == "Model":  # every brick's size and cost, whole on the screen: no sideways scrolling
            table = page.wait_for_selector("#model-info table", timeout=10_000)
            assert table.evaluate("t => t.scrollWidth <= t.clientWidth + 1"), "the Model table scrolls sideways"
        assert not broken_cells(page), name
    page.get_by_role("tab", name="Lesson", exact=True).click()
    assert page.locator("#lesson-run").is_visible()


# The scale at which each picture of an element is drawn (object-fit: contain), and its drawn box.
DRAWN = """ids => ids.flatMap(id => [...document.querySelectorAll(`#${id} img`)].map(img => {
    const box = img.getBoundingClientRect(), frame = document.getElementById(id).getBoundingClientRect();
    const scale = Math.min(box.width / img.naturalWidth, box.height / img.naturalHeight);
    const w = img.naturalWidth * scale, h = img.naturalHeight * scale;
    const x = box.left + (box.width - w) / 2, y = box.top + (box.height - h) / 2;
    return {id, scale, inside: x >= frame.left - 1 && y >= frame.top - 1 && x + w <= frame.right + 1
                                && y + h <= frame.bottom + 1};
}))"""


@needs_chromium
def test_compare_stops_cleanly_and_shows_its_pictures_whole_at_one_scale():
    with app_page(1366, 768) as (_, page, errors):

        def settings(steps: int, width: int = 64) -> None:
            page.get_by_role("tab", name="Generate").click()
            if not page.get_by_label("Width in pixels (a multiple of 64)").first.is_visible():
                page.get_by_text("Beyond the training size").click()
            for label, value in (("Steps", steps), ("Width in pixels (a multiple of 64)", width)):
                page.get_by_label(label).first.fill(str(value))
                page.get_by_label(label).first.press("Enter")
            page.get_by_role("tab", name="Compare").click()

        page.get_by_label("Preset").click()  # a schedule to compare: every brick against every brick is refused
        page.get_by_role("option", name="pg-recipe").click()
        settings(50)  # seconds a run: Stop lands mid-run
        page.wait_for_function("document.querySelector('#compare-what').innerText.includes('Will compare')",
                               timeout=10_000)  # said when the tab opens, before anything runs
        assert "off at steps 31-50 of 50 (the pg-recipe preset), against every brick, and every brick with " in \
            page.inner_text("#compare-what")
        page.click("#compare")
        page.wait_for_function("/^Running: step [1-9]/.test(document.querySelector('#compare-status').innerText)",
                               timeout=30_000)
        page.click("#compare-stop")
        page.wait_for_function("document.querySelector('#compare-status').innerText.includes('Stopped at step')",
                               timeout=20_000)
        page.wait_for_timeout(1500)
        assert "no comparison was finished" in page.inner_text("#compare-status")  # not overwritten by progress
        assert not errors and page.locator(".toast-body.error").count() == 0

        for width, shown in ((64, [256, 256]), (256, [256, 64])):  # 4x; a wide canvas as it is
            settings(2, width)
            page.click("#compare")
            page.wait_for_function("""size => ['compare-slider', 'compare-diff', 'compare-base'].every(id =>
                [...document.querySelectorAll(`#${id} img`)].some(i => i.complete && i.naturalWidth === size[0]
                                                                    && i.naturalHeight === size[1]))""",
                                   arg=shown, timeout=60_000)
            page.wait_for_timeout(500)
            drawn = page.evaluate(DRAWN, ["compare-slider", "compare-diff", "compare-base"])
            assert len(drawn) == 4 and all(d["inside"] for d in drawn), drawn  # whole inside their boxes
            scales = [d["scale"] for d in drawn]
            assert max(scales) / min(scales) < 1.02 and min(scales) > 0.9, drawn  # one scale (within 2%), not shrunk
        bar = page.locator("#compare-bar img").bounding_box()
        assert bar and bar["width"] > 100


STAGE_TEXT = [f"#{stage}" for stage in STAGE_TEXT_IDS]  # each stage's text, in the lesson's order


def shown_stages(page) -> list[str]:
    return [s for s in STAGE_TEXT if page.is_visible(s)]


@needs_chromium
def test_a_lesson_waiting_for_its_turn_says_so_and_shows_its_place_in_the_queue():
    """Lessons run one at a time: a group whose lesson waits behind another's sees a note and the queue, not a page
    that looks frozen."""
    import threading

    from gradio_client import Client

    with app_page(1366, 768) as (model, page, errors):
        names = [model.config.brick_name(k) for k in range(3)]
        model.register_forward_pre_hook(lambda *_: time.sleep(0.05))  # the other group's lesson takes seconds
        page.get_by_role("tab", name="Lesson").click()
        page.get_by_role("radio", name=names[1]).check()
        page.wait_for_function("!document.querySelector('#lesson-run').disabled", timeout=10_000)
        client = Client(page.url.split("?")[0], verbose=False)
        other = threading.Thread(target=client.predict, kwargs=dict(guess=names[0], seed=5, api_name="/lesson"))
        other.start()
        page.wait_for_timeout(1000)  # theirs is running
        page.click("#lesson-run")
        page.wait_for_function("/queue: \\d+\\/\\d+/.test(document.querySelector('#lesson').innerText)", timeout=10_000)
        assert "lessons run one at a time" in page.inner_text("#lesson-waiting")
        page.wait_for_selector("#lesson-late table", timeout=120_000)  # its turn came: stage 3
        other.join()
        client.close()
        page.locator("#lesson-tour [role=tab]").first.click()  # back to stage 1, where the note was
        page.wait_for_function("document.querySelector('#lesson-waiting').innerText.trim() === ''", timeout=10_000)
        assert not errors


@needs_chromium
def test_the_lesson_from_prediction_to_take_away_with_a_stop_on_the_way():
    with app_page(1366, 768) as (model, page, errors):
        names = [model.config.brick_name(k) for k in range(3)]
        page.get_by_role("tab", name="Lesson").click()
        intro = page.inner_text("#lesson-intro")  # 1. every brick explained before the guess
        assert all(f"{n} sees" in intro for n in names) and "8x8-pixel square" in intro and "whole 64x64" in intro
        run = page.locator("#lesson-run")  # no run before the class has guessed: the button says so
        assert run.is_disabled() and run.inner_text() == "Make your guess, then run"
        assert run.bounding_box()["y"] + run.bounding_box()["height"] <= 768  # beside the guess, on the first screen
        page.get_by_role("radio", name=names[0]).check()
        page.wait_for_function("!document.querySelector('#lesson-run').disabled", timeout=10_000)
        assert run.inner_text() == "Lock in my guess and run"
        slow = model.register_forward_pre_hook(lambda *_: time.sleep(0.25))  # each run lasts 2 s: seen when busy
        page.click("#lesson-run")  # 2. run it, and stop it
        page.wait_for_function("/^Running: run [1-9]\\/\\d+ .* step [1-9]/"  # a busy page may show run 1 late or not
                               ".test(document.querySelector('#lesson-status')?.innerText)", timeout=60_000)
        assert shown_stages(page) == ["#lesson-status"]
        assert page.get_attribute("#lesson-status", "aria-live") == "polite"  # read out as the run goes, and
        page.wait_for_function("document.activeElement.id === 'lesson-status'", timeout=5_000)  # where the focus is
        page.click("#lesson-stop")
        page.wait_for_function("(document.querySelector('#lesson-status')?.innerText ?? '').includes('Stopped at run')",
                               timeout=10_000)
        page.wait_for_timeout(1500)  # no late progress message overwrites it
        assert "Stopped at run" in page.inner_text("#lesson-status") and shown_stages(page) == ["#lesson-status"]
        assert page.locator("#lesson-stop").is_disabled()
        assert not errors and page.locator(".toast-body.error").count() == 0
        slow.remove()
        slow = model.register_forward_pre_hook(lambda *_: time.sleep(0.05))  # still running when the click's focus
        page.click("#lesson-rerun")  # the next run works                    # has gone to stage 2's status
        page.wait_for_selector("#lesson-late table", timeout=60_000)  # 3. compare: the slider and the table
        slow.remove()
        assert shown_stages(page) == ["#lesson-late"]
        page.wait_for_function("document.activeElement.id === 'lesson-late'", timeout=5_000)  # moved on with it
        assert page.text_content("#lesson-status").strip().startswith("Done: Smileys & Emotion, seed 0")
        assert page.locator("#lesson-slider img").count() == 2 and page.is_visible("#lesson-slider img")
        late = page.inner_text("#lesson-late")
        assert all(n in late for n in names) and f"Your brick, {names[0]}" in late
        for button, stage, words in (("Next: early or late?", "#lesson-early", "off for the first 40%"),
                                     ("Next: the cost", "#lesson-cost", "steps, the nearest cost")):
            page.get_by_role("button", name=button).click()  # 4. early or late; 5. the cost
            page.wait_for_selector(stage, state="visible", timeout=10_000)
            assert shown_stages(page) == [stage] and words in page.inner_text(stage)
            # the keyboard's focus moves on with the lesson, to the new stage's text, not to the page
            page.wait_for_function(f"document.activeElement.id === '{stage[1:]}'", timeout=5_000)
            images = page.locator(f"{stage}-images img")
            page.wait_for_function(f"[...document.querySelectorAll('{stage}-images img')].every(i => i.complete "
                                   "&& i.naturalWidth == 64)", timeout=10_000)
            assert images.count() == 5  # three pictures, then the two changes as maps
            boxes = [images.nth(i).bounding_box() for i in range(3)]
            assert all(b["width"] > 128 for b in boxes)  # enlarged at least twice
            assert len({(round(b["width"]), round(b["height"])) for b in boxes}) == 1  # one scale for all three
            assert all(b["y"] + b["height"] <= 768 for b in boxes)
        page.get_by_role("button", name="Next: take-away").click()  # 6. the take-away
        page.wait_for_selector("#lesson-takeaway li", timeout=10_000)
        # 7 where the brick that changed the picture least is not the top one (what it saved is set against it)
        assert shown_stages(page) == ["#lesson-takeaway"] and page.locator("#lesson-takeaway li").count() in (6, 7)
        page.get_by_role("tab", name="2. Run").click()  # back, as a class discussing the run would go
        page.wait_for_selector("#lesson-status", state="visible", timeout=10_000)
        page.get_by_role("button", name="Next: compare").click()  # and on again, without running it again
        page.wait_for_selector("#lesson-late table", state="visible", timeout=10_000)
        assert shown_stages(page) == ["#lesson-late"]
        assert page.get_by_role("tab", name="4. Early or late").is_disabled()  # Gradio locks the stages after it
        page.get_by_role("button", name="Back to 6. Take-away").click()  # so a button leads back to the furthest
        page.wait_for_selector("#lesson-takeaway li", state="visible", timeout=10_000)
        assert shown_stages(page) == ["#lesson-takeaway"] and not page.is_visible("#lesson-back")
        page.get_by_role("tab", name="1. Predict").click()  # back to the prediction, and a new guess: nothing to
        page.wait_for_selector("#lesson-back", state="visible", timeout=10_000)  # go back to
        page.get_by_role("radio", name=names[1]).check()
        page.wait_for_selector("#lesson-back", state="hidden", timeout=10_000)
        assert not errors and page.locator(".toast-body.error").count() == 0


@needs_chromium
def test_presenter_mode_shows_one_stage_per_screen_in_large_type():
    bottom = """() => Math.max(...[...document.querySelectorAll('#lesson-tour *')].filter(e => e.offsetParent !== null)
                               .map(e => e.getBoundingClientRect().bottom))"""
    size = "s => parseFloat(getComputedStyle(document.querySelector(s + ' .prose')).fontSize)"
    with app_page(1366, 768) as (_, page, errors):
        page.get_by_role("tab", name="Lesson").click()
        normal = page.evaluate(size, "#lesson-intro")
        page.get_by_label("Presenter mode").check()
        page.wait_for_function(f"parseFloat(getComputedStyle(document.querySelector('#lesson-intro .prose')).fontSize)"
                               f" >= {1.5 * normal}", timeout=10_000)
        assert not page.get_by_label("Seed", exact=True).last.is_visible()  # the fixed seed: nothing to choose
        page.wait_for_timeout(500)
        assert abs(page.locator("#lesson-tour").bounding_box()["y"]) < 2  # switched on, stage 1 starts the screen
        assert page.evaluate(bottom) <= 768  # and ends on it, its Run button included
        page.locator("#lesson-tour input[type=radio]").first.check()  # the class's guess
        page.click("#lesson-run")
        page.wait_for_selector("#lesson-late table", timeout=60_000)
        for button, stage in ((None, "#lesson-late"), ("Next: early or late?", "#lesson-early"),
                              ("Next: the cost", "#lesson-cost"), ("Next: take-away", "#lesson-takeaway"),
                              ("Start again", "#lesson-intro")):
            if button:
                page.get_by_role("button", name=button).click()
            page.wait_for_selector(stage, state="visible", timeout=10_000)
            page.wait_for_timeout(300)
            assert shown_stages(page) == [stage] and page.evaluate(size, stage) >= 1.5 * normal
            assert abs(page.locator("#lesson-tour").bounding_box()["y"]) < 2  # the stage starts the screen
            assert page.evaluate(bottom) <= 768  # and ends on it
            if stage in ("#lesson-early", "#lesson-cost"):  # pictures and maps in a row, over a laptop's 200 px
                assert page.locator(f"{stage}-images .lesson-image").first.bounding_box()["height"] >= 205
        # the next group starts with no guess made
        assert page.locator("#lesson-tour input[type=radio]:checked").count() == 0
        assert page.locator("#lesson-run").is_disabled()
        page.locator("#lesson-tour input[type=radio]").first.check()  # the same guess: the same runs
        page.click("#lesson-run")  # cached: the class sees it at once
        page.wait_for_selector("#lesson-late table", timeout=5_000)
        assert "replayed from the cache" in page.inner_text("#lesson-status")
        assert not errors


@needs_chromium
def test_bold_text_is_set_in_the_page_font_only():
    """Headings and bold words are drawn with the app's own font files, not partly with a system fallback."""
    with app_page(1366, 768) as (_, page, _errors):
        cdp = page.context.new_cdp_session(page)
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
        for text in ("Brick schedule", "Start here:"):
            page.evaluate("([t, id]) => [...document.querySelectorAll('h2, h3, strong')]"
                          ".find(e => e.textContent.trim() === t).id = id", [text, "font-probe-" + text[:5]])
            node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": f"#font-probe-{text[:5]}"})["nodeId"]
            fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
            assert fonts and all(f["isCustomFont"] for f in fonts), (text, fonts)


@needs_chromium
def test_closing_the_tab_mid_run_stops_its_sampling_within_a_step():
    with app_page(1366, 768) as (model, page, _errors):
        calls = []

        def slowly(module, inputs) -> None:  # a slow machine, so that the run is still going when the tab closes
            calls.append(time.perf_counter())
            time.sleep(0.4)

        slow = model.register_forward_pre_hook(slowly)
        page.click("#generate")  # the default request: 8 steps, one network call each here
        page.wait_for_function("/step [12]\\/8 ·/.test(document.querySelector('#status').innerText)", timeout=30_000)
        page.close()  # the visitor leaves
        closed_at = time.perf_counter()
        time.sleep(4)  # the whole run would have finished by now
        slow.remove()
        assert sum(t > closed_at for t in calls) <= 2  # of the 7 calls left: the run stopped within a step


def contrast(foreground: str, background: str) -> float:
    """WCAG's contrast ratio of two CSS rgb() colours."""
    def luminance(colour: str) -> float:
        channels = [int(c) / 255 for c in colour[colour.index("(") + 1:colour.index(")")].split(",")[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    light, dark = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@needs_chromium
def test_a_keyboard_and_a_screen_reader_can_use_the_schedule_the_status_and_the_divider():
    """Every range box is named with its brick (after the ranges are redrawn too), the status lines are read out,
    focus shows, the primary buttons' text is readable (WCAG 4.5:1), and Compare's divider moves by the keys."""
    with app_page(1366, 768) as (model, page, errors):
        names = [model.config.brick_name(k) for k in range(model.config.num_bricks)]
        box_names = "() => [...document.querySelectorAll('.brick-ranges input')].map(b => b.getAttribute('aria-label'))"
        for ranges in (5, 4):
            page.get_by_label("Number of step ranges").first.fill(str(ranges))
            page.get_by_label("Number of step ranges").first.press("Enter")
            page.wait_for_function(f"({box_names})().length === {ranges * len(names)}", timeout=10_000)
            page.wait_for_timeout(300)
            boxes = page.evaluate(box_names)
            assert len(set(boxes)) == len(boxes), boxes  # no two boxes share a name
            assert all(b.startswith(f"{names[i // ranges]}: step") for i, b in enumerate(boxes)), boxes
        assert page.get_by_role("button", name="Reset Steps").count() == 1  # not "Reset to default value" 8 times
        more = page.get_by_role("button", name="More settings", exact=True)
        assert more.get_attribute("aria-expanded") == "false"
        more.click()
        page.wait_for_function("document.querySelector('button.label-wrap').getAttribute('aria-expanded') === 'true'",
                               timeout=5_000)
        colours = page.evaluate("() => { const s = getComputedStyle(document.getElementById('generate'));"
                                " return [s.color, s.backgroundColor]; }")
        assert contrast(*colours) >= 4.5, colours
        ends = page.evaluate("() => { const s = getComputedStyle(document.querySelector('[data-testid=min-value]'));"
                             " return [s.color, getComputedStyle(document.body).backgroundColor]; }")
        assert contrast(*ends) >= 4.5, ends
        page.locator(".brick-ranges input").nth(1).focus()
        page.keyboard.press("Shift+Tab")  # focus by the keyboard, as :focus-visible draws it
        ring = page.evaluate("() => { const s = getComputedStyle(document.activeElement);"
                             " return [document.activeElement.type, s.outlineStyle, parseFloat(s.outlineWidth)]; }")
        assert ring[0] == "checkbox" and ring[1] == "solid" and ring[2] >= 2, ring

        page.get_by_role("tab", name="Lesson").click()  # its greyed-out Run button, which says what to do first
        waiting = page.evaluate("() => { const s = getComputedStyle(document.getElementById('lesson-run'));"
                                " return [s.color, s.backgroundColor]; }")
        assert contrast(*waiting) >= 4.5 and contrast(waiting[1], "rgb(255, 255, 255)") < 1.5, waiting  # light grey
        page.get_by_role("tab", name="Generate").click()
        page.get_by_label("Preset").click()
        page.get_by_role("option", name="pg-recipe").click()
        page.get_by_role("tab", name="Compare").click()
        page.click("#compare")
        page.wait_for_selector("#compare-slider img", timeout=60_000)
        page.wait_for_selector("#compare-diff img[alt='Schedule − all bricks (red: lighter)']", timeout=10_000)
        assert page.get_attribute("#compare-bar img", "alt").startswith("Colour scale of the difference map: blue")
        page.wait_for_selector(".js-plotly-plot[aria-label='Chart: Totals']", timeout=10_000)  # not its tick numbers
        handle = page.locator("#compare-slider [data-testid=slider]")
        handle.wait_for(timeout=10_000)
        assert handle.get_attribute("role") == "slider" and handle.get_attribute("tabindex") == "0"
        drawn = page.evaluate("""() => { const img = document.querySelector('#compare-slider img');
            const box = img.getBoundingClientRect();  // the picture inside it, at its own shape
            const width = img.naturalWidth * Math.min(box.width / img.naturalWidth, box.height / img.naturalHeight);
            return [box.left + (box.width - width) / 2, width]; }""")

        def divider() -> float:
            page.wait_for_timeout(300)  # the divider is redrawn on the next frames
            box = handle.bounding_box()
            return (box["x"] + box["width"] / 2 - drawn[0]) / drawn[1]

        handle.focus()
        page.keyboard.press("End")
        assert divider() > 0.97 and handle.get_attribute("aria-valuenow") == "100"
        page.keyboard.press("ArrowLeft")
        assert 0.9 < divider() < 0.99
        page.keyboard.press("Home")
        assert divider() < 0.03 and handle.get_attribute("aria-valuenow") == "0"
        page.get_by_role("tab", name="Model").click()  # the last tab not yet opened (the Lesson's: its own test)
        page.wait_for_selector("#model-status", state="attached", timeout=10_000)
        live = page.evaluate("() => ['status', 'compare-status', 'model-status'].map(id => "
                             "document.getElementById(id)).map(e => [e?.getAttribute('role'), "
                             "e?.getAttribute('aria-live')])")
        assert live == [["status", "polite"]] * 3, live  # each tab's status line is read out as it changes
        assert not errors
