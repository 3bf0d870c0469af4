"""Screenshots of the classroom edition as a laptop (1366x768) and a phone (390x844) first show it, after
switching the top brick off late (the pg-recipe preset) and scrubbing to the middle step.

    python scripts/screenshot_static.py [--site assets/classroom] [--out assets/classroom.png]

writes OUT's stem with _1366x768 and _390x844; the page is opened from disk, as a class would.
"""

import argparse
import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))

from screenshot import ARGS  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--site", type=Path, default=Path("assets/classroom"))
    parser.add_argument("--out", type=Path, default=Path("assets/classroom.png"))
    args = parser.parse_args()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=ARGS)
        for width, height in ((1366, 768), (390, 844)):
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto((args.site.resolve() / "index.html").as_uri())
            page.wait_for_function("document.querySelector('#time-chart .main-svg') !== null", timeout=30_000)
            page.select_option("#preset", page.evaluate("CLASSROOM.presets.find(p => p.name === 'pg-recipe').key"))
            steps = int(page.get_attribute("#step", "max"))
            page.fill("#step", str(steps // 2))
            page.evaluate("window.scrollTo(0, 0)")
            page.wait_for_timeout(500)
            path = args.out.with_stem(f"{args.out.stem}_{width}x{height}")
            page.screenshot(path=str(path))
            print(path)
            page.close()
        browser.close()


if __name__ == "__main__":
    main()
