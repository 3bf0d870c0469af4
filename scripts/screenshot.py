"""Screenshots of the app after one generation: the whole page for the README, and what a laptop
(1366x768) and a phone (390x844) show first.

    python scripts/screenshot.py [--checkpoint DIR] [--preset pg-recipe] [--out assets/screenshot.png]

writes OUT, and OUT's stem with _1366x768 and _390x844 beside it.
"""

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import sync_playwright  # noqa: E402

import app  # noqa: E402
from lego.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    parser.add_argument("--preset", default="pg-recipe")
    parser.add_argument("--port", type=int, default=7899)
    parser.add_argument("--out", default="assets/screenshot.png")
    args = parser.parse_args()
    demo = app.build_demo(load_checkpoint(args.checkpoint), source=args.checkpoint)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=args.port, quiet=True,
                **app.LAUNCH_OPTIONS)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=ARGS)
            out = Path(args.out)
            for width, height, path in ((1400, 1500, out), (1366, 768, out.with_stem(out.stem + "_1366x768")),
                                        (390, 844, out.with_stem(out.stem + "_390x844"))):
                page = browser.new_page(viewport={"width": width, "height": height})
                page.goto(f"http://127.0.0.1:{args.port}/")
                page.wait_for_selector("#generate", timeout=30_000)
                page.get_by_label("Preset").click()
                page.get_by_role("option", name=args.preset).click()
                page.wait_for_function("/saving [1-9]/.test(document.querySelector('#estimate').innerText)",
                                       timeout=20_000)
                page.click("#generate")
                page.wait_for_selector("#heatmap .js-plotly-plot", timeout=300_000)
                page.wait_for_timeout(1000)
                page.evaluate("window.scrollTo(0, 0)")
                page.screenshot(path=str(path), full_page=path == out)
                page.close()
                print(path)
            browser.close()
    finally:
        demo.close()


if __name__ == "__main__":
    main()
