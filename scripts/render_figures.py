"""PNG copies of the committed Plotly figures, for the README (GitHub cannot draw Plotly JSON).

    python scripts/render_figures.py [assets/benchmarks/schedules_figure.json ...]

Each ``<stem>_figure.json`` becomes ``<stem>.png`` beside it. Drawn by the Chromium that the
browser tests use, from plotly's own bundled JavaScript: nothing is downloaded.
"""

import shutil
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lego.results import RESULTS_DIR, figure  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def main(paths: list[str]) -> None:
    files = [Path(p) for p in paths] or sorted(RESULTS_DIR.glob("*_figure.json"))
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 900, "height": 520}, device_scale_factor=1.5)
        for path in files:
            fig = figure(path.name, path.parent)
            if fig is None:
                raise SystemExit(f"cannot read {path}")
            fig.update_layout(width=880)
            html = Path(tmp) / "figure.html"
            fig.write_html(str(html), include_plotlyjs=True, full_html=True, config={"displayModeBar": False})
            page.goto(html.as_uri())
            page.wait_for_selector(".js-plotly-plot .main-svg", timeout=30_000)
            out = path.with_name(path.name.removesuffix("_figure.json") + ".png")
            page.locator(".js-plotly-plot").first.screenshot(path=str(out))
            print(out)
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1:])
