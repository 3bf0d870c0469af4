"""Screenshots of the Compare, Look inside, Results and Model tabs after one generation and one comparison,
as a laptop (1366x768) and a phone (390x844) show them.

    python scripts/screenshot_tabs.py [--checkpoint DIR] [--preset pg-recipe] [--step N] [--out-dir assets]

writes OUT_DIR/{compare,inside,results,model}_{1366x768,390x844}.png; Look inside shows the step it opens on,
or step N of the app's default 8.
"""

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import Page, sync_playwright  # noqa: E402

import app  # noqa: E402
from lego.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint  # noqa: E402
from lego.model import LegoModel  # noqa: E402
from screenshot import ARGS  # noqa: E402

SIZES = ((1366, 768), (390, 844))
TABS = (("Compare", "compare"), ("Look inside", "inside"), ("Results", "results"), ("Model", "model"))  # tab, file


def generate_and_compare(page: Page, url: str, preset: str) -> None:
    """One generation (what Look inside replays) and one comparison of ``preset``, both to the end."""
    page.goto(url)
    page.wait_for_selector("#generate", timeout=30_000)
    page.get_by_label("Preset").click()
    page.get_by_role("option", name=preset).click()
    page.wait_for_function("/saving [1-9]/.test(document.querySelector('#estimate').innerText)", timeout=20_000)
    page.click("#generate")
    page.wait_for_selector("#heatmap .js-plotly-plot", timeout=600_000)
    page.get_by_role("tab", name="Compare").click()
    page.click("#compare")
    page.wait_for_function("document.querySelector('#compare-status').innerText.includes('predicted from FLOPs')",
                           timeout=1_200_000)


def shoot(model: LegoModel, out_dir: Path, preset: str = "pg-recipe", step: int | None = None, port: int = 7898,
          source: str = "") -> list[Path]:
    demo = app.build_demo(model, source=source)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True,
                **app.LAUNCH_OPTIONS)
    written = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": SIZES[0][0], "height": SIZES[0][1]})
            generate_and_compare(page, f"http://127.0.0.1:{port}/", preset)
            for tab, name in TABS:
                page.set_viewport_size({"width": SIZES[0][0], "height": SIZES[0][1]})  # every tab button shows
                page.get_by_role("tab", name=tab).click()
                if tab == "Look inside" and step is not None:
                    page.locator("#inside-step input[type=number]").fill(str(step))
                    page.locator("#inside-step input[type=number]").press("Enter")
                for width, height in SIZES:  # the same results, laid out again for each screen
                    page.set_viewport_size({"width": width, "height": height})
                    page.wait_for_timeout(1500)
                    page.get_by_role("tablist").first.evaluate("tabs => tabs.scrollIntoView({block: 'start'})")
                    path = out_dir / f"{name}_{width}x{height}.png"
                    page.screenshot(path=str(path))
                    written.append(path)
                    print(path)
            browser.close()
    finally:
        demo.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    parser.add_argument("--preset", default="pg-recipe")
    parser.add_argument("--step", type=int, help="the step Look inside shows (default: the one it opens on)")
    parser.add_argument("--port", type=int, default=7898)
    parser.add_argument("--out-dir", default="assets")
    args = parser.parse_args()
    shoot(load_checkpoint(args.checkpoint), Path(args.out_dir), args.preset, args.step, args.port, args.checkpoint)


if __name__ == "__main__":
    main()
