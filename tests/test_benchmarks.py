"""The evidence scripts run end to end on a tiny model and the fixture data."""

import json
import sys
from pathlib import Path

from lego.checkpoint import save_checkpoint
from lego.data import build

from conftest import randomized
from test_data import FIXTURE

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import schedules  # noqa: E402


def test_schedule_sweep_writes_table_and_figure(tmp_path):
    save_checkpoint(randomized("tiny-emoji"), tmp_path / "ckpt")
    build(tmp_path / "emoji.npz", FIXTURE)
    out = tmp_path / "schedules.json"
    schedules.main(["--checkpoint", str(tmp_path / "ckpt"), "--data", str(tmp_path / "emoji.npz"), "--per-class", "1",
                    "--steps", "2", "--quick", "--out", str(out)])
    rows = json.loads(out.read_text())["rows"]
    families = {r["family"] for r in rows}
    assert families == {"t_break", "brick off", "fewer steps"}
    full = next(r for r in rows if r["label"] == "t_break 0")
    top_off = next(r for r in rows if r["label"] == "t_break 1")
    assert top_off["gflops_per_image"] < full["gflops_per_image"] and full["saving"] == 0
    assert all(len(r["emoji_fd_sets"]) == 2 and r["emoji_fd_spread"] >= 0 for r in rows)
    figure = json.loads((tmp_path / "schedules_figure.json").read_text())
    assert len(figure["data"]) == 3
