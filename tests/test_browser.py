"""A real browser (Debian's chromium, driven by Playwright) on the real app."""

import os
import shutil
import time
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from conftest import launched_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"), reason="chromium is not installed")
def test_pick_a_preset_generate_and_see_images_and_charts(tmp_path):
    with launched_app() as (_, url), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        page.goto(url)
        page.wait_for_selector("#generate", timeout=30_000)
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
        box, frame = image.bounding_box(), page.locator("#gallery").bounding_box()
        assert box["width"] > 200  # enlarged, and shown whole inside its box (not cropped)
        assert frame["x"] <= box["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"]
        assert frame["y"] <= box["y"] and box["y"] + box["height"] <= frame["y"] + frame["height"]
        assert "seed **" not in page.inner_text("#status") and "seed" in page.inner_text("#status")
        page.screenshot(path=str(tmp_path / "screenshot.png"), full_page=True)
        page.get_by_role("tab", name="Look inside").click()
        page.wait_for_function("document.querySelectorAll('#inside-gallery img').length >= 4", timeout=30_000)
        page.get_by_role("tab", name="Results").click()  # the committed figures, drawn without any compute
        box = page.wait_for_selector("#results-schedules .js-plotly-plot", timeout=30_000).bounding_box()
        assert box and box["width"] > 300 and box["height"] > 200
        browser.close()
    assert (tmp_path / "screenshot.png").stat().st_size > 10_000


@pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"), reason="chromium is not installed")
def test_stop_before_any_run_has_finished_leaves_no_error_and_says_stopped():
    with launched_app() as (_, url), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        errors = []
        page.on("response", lambda r: errors.append(r.url) if r.status >= 500 else None)
        page.goto(url)
        page.wait_for_selector("#generate", timeout=30_000)
        page.get_by_label("Steps").first.fill("50")
        page.get_by_label("Steps").first.press("Enter")
        page.get_by_label("Number of images").first.fill("4")  # about 8 s here: Stop lands mid-run
        page.get_by_label("Number of images").first.press("Enter")
        page.click("#generate")
        page.wait_for_function("/^step [1-9]\\/50/.test(document.querySelector('#status').innerText)", timeout=30_000)
        page.click("#stop")
        page.wait_for_function("document.querySelector('#status').innerText.includes('Stopped at step')",
                               timeout=10_000)
        page.wait_for_timeout(1500)  # the follow-up events (Look inside) have run
        assert "Stopped at step" in page.inner_text("#status")  # no late progress message overwrote it
        assert not errors and page.locator(".toast-body.error").count() == 0
        page.get_by_role("tab", name="Look inside").click()
        assert "Run **Generate** first" in page.inner_text("body") or "Run Generate first" in page.inner_text("body")
        browser.close()


STAGE_TEXT = ["#lesson-intro", "#lesson-status", "#lesson-late", "#lesson-early", "#lesson-cost", "#lesson-takeaway"]


def shown_stages(page) -> list[str]:
    return [s for s in STAGE_TEXT if page.is_visible(s)]


@pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"), reason="chromium is not installed")
def test_the_lesson_from_prediction_to_take_away_with_a_stop_on_the_way():
    with launched_app() as (model, url), sync_playwright() as p:
        names = [model.config.brick_name(k) for k in range(3)]
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        errors = []
        page.on("response", lambda r: errors.append(r.url) if r.status >= 500 else None)
        page.goto(url)
        page.wait_for_selector("#generate", timeout=30_000)
        page.get_by_role("tab", name="Lesson").click()
        intro = page.inner_text("#lesson-intro")  # 1. every brick explained before the guess
        assert all(f"{n} sees" in intro for n in names) and "8x8-pixel square" in intro and "whole 64x64" in intro
        page.get_by_role("radio", name=names[0]).check()
        slow = model.register_forward_pre_hook(lambda *_: time.sleep(0.01))  # seconds long: Stop lands mid-run
        page.click("#lesson-run")  # 2. run it, and stop it
        page.wait_for_function("/^run 1\\/10 .* step [1-9]/.test(document.querySelector('#lesson-status')?.innerText)",
                               timeout=30_000)
        assert shown_stages(page) == ["#lesson-status"]
        page.click("#lesson-stop")
        page.wait_for_function("(document.querySelector('#lesson-status')?.innerText ?? '').includes('Stopped at run')",
                               timeout=10_000)
        page.wait_for_timeout(1500)  # no late progress message overwrites it
        assert "Stopped at run" in page.inner_text("#lesson-status") and shown_stages(page) == ["#lesson-status"]
        assert not errors and page.locator(".toast-body.error").count() == 0
        slow.remove()
        page.click("#lesson-rerun")  # the next run works
        page.wait_for_selector("#lesson-late table", timeout=60_000)  # 3. compare: the slider and the table
        assert shown_stages(page) == ["#lesson-late"]
        assert page.text_content("#lesson-status").strip().startswith("Done: Smileys & Emotion, seed 0")
        assert page.locator("#lesson-slider img").count() == 2 and page.is_visible("#lesson-slider img")
        late = page.inner_text("#lesson-late")
        assert all(n in late for n in names) and f"Your brick, {names[0]}" in late
        for button, stage, words in (("Next: early or late?", "#lesson-early", "off for the first 40%"),
                                     ("Next: the cost", "#lesson-cost", "steps, the nearest cost")):
            page.get_by_role("button", name=button).click()  # 4. early or late; 5. the cost
            page.wait_for_selector(stage, state="visible", timeout=10_000)
            assert shown_stages(page) == [stage] and words in page.inner_text(stage)
            images = page.locator(f"{stage}-images img")
            page.wait_for_function(f"[...document.querySelectorAll('{stage}-images img')].every(i => i.complete "
                                   "&& i.naturalWidth == 64)", timeout=10_000)
            boxes = [images.nth(i).bounding_box() for i in range(3)]
            assert all(b["width"] > 128 for b in boxes)  # enlarged at least twice
            assert len({(round(b["width"]), round(b["height"])) for b in boxes}) == 1  # one scale for all three
            assert all(b["y"] + b["height"] <= 768 for b in boxes)
        page.get_by_role("button", name="Next: take-away").click()  # 6. the take-away
        page.wait_for_selector("#lesson-takeaway li", timeout=10_000)
        assert shown_stages(page) == ["#lesson-takeaway"] and page.locator("#lesson-takeaway li").count() == 5
        assert not errors and page.locator(".toast-body.error").count() == 0
        browser.close()


@pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"), reason="chromium is not installed")
def test_presenter_mode_shows_one_stage_per_screen_in_large_type():
    bottom = """() => Math.max(...[...document.querySelectorAll('#lesson-tour *')].filter(e => e.offsetParent !== null)
                               .map(e => e.getBoundingClientRect().bottom))"""
    size = "s => parseFloat(getComputedStyle(document.querySelector(s + ' .prose')).fontSize)"
    with launched_app() as (_, url), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(url)
        page.wait_for_selector("#generate", timeout=30_000)
        page.get_by_role("tab", name="Lesson").click()
        normal = page.evaluate(size, "#lesson-intro")
        page.get_by_label("Presenter mode").check()
        page.wait_for_function(f"parseFloat(getComputedStyle(document.querySelector('#lesson-intro .prose')).fontSize)"
                               f" >= {1.5 * normal}", timeout=10_000)
        assert not page.get_by_label("Seed", exact=True).last.is_visible()  # the fixed seed: nothing to choose
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
        page.click("#lesson-run")  # cached: the class sees it at once
        page.wait_for_selector("#lesson-late table", timeout=5_000)
        assert "replayed from the cache" in page.inner_text("#lesson-status")
        browser.close()
