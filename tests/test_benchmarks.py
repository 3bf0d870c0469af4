"""The evidence scripts run end to end on a tiny model and the fixture data."""

import ast
import json
import sys
from pathlib import Path

import pytest

from lego.checkpoint import save_checkpoint

from conftest import randomized
from test_data import FIXTURE, FIXTURE_STYLES, build_fixture

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import category_requests  # noqa: E402
import emoji_named  # noqa: E402
import estimates  # noqa: E402
import labels_cpu  # noqa: E402
import schedules  # noqa: E402
import soak  # noqa: E402
from lego.lesson import LESSON_STEPS  # noqa: E402
import speed  # noqa: E402
import training_efficiency  # noqa: E402


def test_schedule_sweep_writes_table_and_figure(tmp_path):
    save_checkpoint(randomized("tiny-emoji"), tmp_path / "ckpt")
    build_fixture(tmp_path / "emoji.npz")
    out = tmp_path / "schedules.json"
    schedules.main(["--checkpoint", str(tmp_path / "ckpt"), "--data", str(tmp_path / "emoji.npz"), "--per-class", "1",
                    "--steps", "2", "--scope", "quick", "--out", str(out)])
    report = json.loads(out.read_text())
    rows = report["rows"]
    assert report["method"] == "dpm++2m"  # the app's default sampler
    families = {r["family"] for r in rows}
    assert families == {"t_break", "brick off", "fewer steps"}
    full = next(r for r in rows if r["label"] == "t_break 0")
    top_off = next(r for r in rows if r["label"] == "t_break 1")
    assert top_off["gflops_per_image"] < full["gflops_per_image"] and full["saving"] == 0
    assert all(len(r["emoji_fd_sets"]) == len(r["emoji_kid_sets"]) == 2 and r["emoji_fd_spread"] >= 0 for r in rows)
    figure = json.loads((tmp_path / "schedules_figure.json").read_text())
    assert [t["name"] for t in figure["data"]] == ["t_break", "brick off", "fewer steps", "real against real"]


def small_vocabulary_model(tmp_path: Path, emoji: int = 2) -> None:
    """The fixture data, a list of ``emoji`` of its emoji (drawn in the held-out style too) and a tiny model
    labelled by them, as lego.train --emoji would make it: emoji.npz, emoji.txt and ckpt under tmp_path."""
    from lego.config import ARCHITECTURES
    from lego.data import load
    from lego.model import LegoModel

    build_fixture(tmp_path / "emoji.npz")
    data = load(tmp_path / "emoji.npz")
    space = data.space
    held = {int(e) for e in data.labels[data.held_out, -1]} & {int(e) for e in data.labels[~data.held_out, -1]}
    names = [space.names[i] for i in sorted(held)[:emoji]]
    (tmp_path / "emoji.txt").write_text("\n".join(names) + "\n")
    small = data.only_emoji(data.emoji_indices(names)).space
    save_checkpoint(LegoModel(ARCHITECTURES["tiny-emoji"].with_labels(small)), tmp_path / "ckpt")


def test_schedule_sweep_of_a_small_vocabulary_model_asks_for_its_emoji_and_says_how_often_they_are_named(tmp_path):
    small_vocabulary_model(tmp_path)
    out = tmp_path / "schedules.json"
    schedules.main(["--checkpoint", str(tmp_path / "ckpt"), "--data", str(tmp_path / "emoji.npz"), "--emoji",
                    str(tmp_path / "emoji.txt"), "--per-class", "1", "--steps", "2", "--scope", "quick", "--out",
                    str(out)])
    report = json.loads(out.read_text())
    assert report["emoji"] == str(tmp_path / "emoji.txt")
    assert all(set(r["accuracy"]) == {"category", "subcategory", "emoji"} for r in report["rows"])
    assert all(0 <= r["accuracy"]["emoji"] <= 1 for r in report["rows"])
    figure = json.loads((tmp_path / "schedules_figure.json").read_text())  # plots the emoji named, no FD floor
    assert figure["layout"]["yaxis"]["title"]["text"].startswith("emoji named")
    assert "real against real" not in [t["name"] for t in figure["data"]]
    t_break = figure["data"][0]  # the reference named on the chart (a projector shows no hover), with its error bar
    named_points = {(a["x"], a["y"]): a["text"] for a in figure["layout"]["annotations"]}
    assert named_points[(t_break["x"][0], t_break["y"][0])] == "every brick" and t_break["customdata"][0] == "t_break 0"
    named, samples = report["rows"][0]["accuracy"]["emoji"], report["rows"][0]["samples"]
    assert samples == 2 * 2  # one picture per category of its two emoji (two categories here), in each seed set
    assert t_break["error_y"]["array"][0] == round(100 * (named * (1 - named) / samples) ** 0.5, 1)


def test_category_requests_sample_each_coarse_level_alone_and_as_its_emoji(tmp_path):
    from PIL import Image

    small_vocabulary_model(tmp_path, emoji=4)
    out, sheet = tmp_path / "category_requests.json", tmp_path / "sheet.png"
    category_requests.main(["--checkpoint", str(tmp_path / "ckpt"), "--data", str(tmp_path / "emoji.npz"), "--emoji",
                            str(tmp_path / "emoji.txt"), "--per-category", "1", "--out", str(out), "--sheet",
                            str(sheet)])
    rows = json.loads(out.read_text())["rows"]
    assert [(r["level"], r["sampled_as"]) for r in rows] == [
        ("category", "the label alone"), ("category", "one of its emoji"),
        ("subcategory", "the label alone"), ("subcategory", "one of its emoji")]
    assert all(0 <= r["accuracy"]["category"] <= 1 for r in rows) and "subcategory" in rows[-1]["accuracy"]
    assert Image.open(sheet).width > 8 * 64  # eight pictures a row, enlarged


def test_emoji_named_scores_every_emoji_of_a_small_vocabulary_and_captions_the_judges_answers(tmp_path):
    from PIL import Image

    small_vocabulary_model(tmp_path, emoji=3)
    out, sheet = tmp_path / "named.json", tmp_path / "named.png"
    emoji_named.main(["--checkpoint", str(tmp_path / "ckpt"), "--pictures", "2", "--out", str(out), "--sheet",
                      str(sheet)])
    rows = json.loads(out.read_text())["rows"]
    names = (tmp_path / "emoji.txt").read_text().split("\n")[:3]
    assert sorted(r["emoji"] for r in rows) == sorted(names)
    assert all(len(r["answers"]) == 2 and r["named"] == sum(a == r["emoji"] for a in r["answers"]) / 2 for r in rows)
    assert Image.open(sheet).width >= 9 * 128  # for each emoji a cell naming it and its two pictures, enlarged 2x


def test_training_efficiency_trains_three_runs_and_scores_each_milestone(tmp_path):
    build_fixture(tmp_path / "emoji.npz")
    out = tmp_path / "training.json"
    training_efficiency.main(["--lego", "tiny-emoji", "--dit", "tiny-emoji", "--data", str(tmp_path / "emoji.npz"),
                              "--images", "64", "--milestones", "2", "--batch", "16", "--per-class", "1",
                              "--work", str(tmp_path / "runs"), "--out", str(out)])
    report = json.loads(out.read_text())
    assert [r["name"] for r in report["runs"]] == ["lego", "lego, no brick dropout", "dit"]
    for run in report["runs"]:
        assert [p["images"] for p in run["points"]] == [32, 64]
        assert run["points"][1]["train_seconds"] >= run["points"][0]["train_seconds"] > 0
        assert all(p["emoji_fd"] > 0 for p in run["points"]) and len(run["final_emoji_fd_sets"]) == 2
    assert (tmp_path / "training_figure.json").is_file()


def test_speed_benchmark_reports_levers_limits_presets_and_solvers(tmp_path):
    save_checkpoint(randomized("tiny-emoji"), tmp_path / "ckpt")
    out = tmp_path / "speed.json"
    speed.main(["--checkpoint", str(tmp_path / "ckpt"), "--repeats", "1", "--per-class", "0", "--large", "128",
                "--out", str(out)])
    report = json.loads(out.read_text())
    assert report["levers"][0]["speedup_over_first"] == 1.0 and len(report["levers"]) == 8
    for r in report["default_request"].values():
        assert r["over_limit"] == pytest.approx(r["seconds"] / r["hardware_limit_seconds"], rel=0.05)  # rounded
        assert r["hardware_limit_seconds"] == pytest.approx(r["gflops"] / r["matmul_gflops_per_second"], rel=0.05)
    assert set(report["presets"]["compiled"]) >= {"all", "pg-recipe", "global-only"}
    assert report["large_canvas"]["compiled"]["seconds"] > 0
    evaluations = {(s["sampler"], s["steps"]): s["evaluations"] for s in report["solvers"]}
    assert evaluations[("heun", 18)] == 35 and evaluations[("dpm++2m", 12)] == 12


def test_old_against_new_data_trains_both_and_scores_them_with_the_judge(tmp_path):
    from lego.data import build

    build(tmp_path / "emoji32.npz", FIXTURE, size=32, styles=FIXTURE_STYLES, progress=False)
    out = tmp_path / "labels.json"
    labels_cpu.main(["--data", str(tmp_path / "emoji32.npz"), "--old-styles", "noto", "--min-styles", "1",
                     "--images", "64", "--batch", "16", "--samples", "1", "--work", str(tmp_path / "runs"),
                     "--sheets", str(tmp_path / "sheet"), "--out", str(out)])
    report = json.loads(out.read_text())
    assert sorted(report["emoji"]) == ["cat face", "grinning face", "red apple", "rocket", "soccer ball"]
    runs = report["runs"]
    assert runs["old"]["label_levels"] == [9] and runs["new"]["label_levels"] == [9, 6, 7]
    assert runs["old"]["train_images"] == 5 and runs["new"]["train_images"] == 8  # noto; noto + fxemoji
    assert set(runs["old"]["evaluations"]) == {"category"} and set(runs["new"]["evaluations"]) == {"category", "emoji"}
    emoji = runs["new"]["evaluations"]["emoji"]
    assert set(emoji["accuracy"]) == {"category", "subcategory", "emoji"} and emoji["samples"] == 5
    assert (tmp_path / "sheet_old.png").is_file() and (tmp_path / "sheet_new.png").is_file()


def test_soak_mixes_cancels_and_model_loads_and_reports_memory(tmp_path, monkeypatch):
    save_checkpoint(randomized("tiny-emoji"), tmp_path / "ckpt")
    out = tmp_path / "soak.json"
    monkeypatch.setenv("LEGO_CHECKPOINT_DIRS", "")
    soak.main(["--checkpoint", str(tmp_path / "ckpt"), "--sessions", "2", "--requests", "13", "--steps", "2",
               "--out", str(out)])
    report = json.loads(out.read_text())
    assert report["completed"] == 12 and report["cancelled"] == 1 and report["loads"] == 4
    assert report["errors"] == 0 and report["rss_at_end_mib"] > 0 and "rss_growth" in report


def test_load_test_bursts_with_batching_off_and_on_against_a_server_process(tmp_path):
    import load_test

    save_checkpoint(randomized("tiny-emoji"), tmp_path / "ckpt")
    report = load_test.main(["--checkpoint", str(tmp_path / "ckpt"), "--concurrent", "4", "--rounds", "1",
                             "--sequential", "10", "--steps", "2", "--out", str(tmp_path / "load.json")])
    for batching in ("off", "on"):
        (burst,) = report["bursts"][batching]
        assert burst["completed"] == 4 and burst["refused"] == burst["errors"] == 0
        assert burst["server_rss_mib"]["peak"] >= burst["server_rss_mib"]["after"] > 0
    assert report["sequential"]["requests"] == 10 and report["last_finish_off_over_on"] > 0


def test_lesson_outcomes_runs_the_lesson_for_every_category(tmp_path):
    import lesson_outcomes

    save_checkpoint(randomized("tiny-emoji"), tmp_path / "ckpt")
    out = tmp_path / "lesson.json"
    report = lesson_outcomes.main(["--checkpoint", str(tmp_path / "ckpt"), "--precision", "fp32", "--out", str(out)])
    assert json.loads(out.read_text()) == report and report["precision"] == "fp32"
    assert [o["category"] for o in report["outcomes"]] == list(randomized("tiny-emoji").config.class_names)
    for o in report["outcomes"]:
        late = {b["brick"]: b["late"]["pixel_change"] for b in o["bricks"]}
        assert late[o["least_late"][0]] == min(late.values())  # the least is the least measured
        assert all(late[m] == max(late.values()) for m in o["most_late"])
        for b in o["bricks"]:
            assert b["early"]["steps"] == LESSON_STEPS > b["fewer_steps"]["steps"] and 0 < b["late"]["saving"] < 1
            hundredths = round((b["early"]["pixel_change"] - b["late"]["pixel_change"]) * 100)  # as shown
            assert b["late_vs_early"] == ("less than" if hundredths >= 50 else "more than" if hundredths <= -50
                                          else "about as much as")
    for name, row in report["summary"].items():  # the counts add up over the lessons
        assert row["least_late"] == sum(name in o["least_late"] for o in report["outcomes"])
        assert sum(row["late_vs_early"].values()) == sum(row["late_vs_fewer_steps"].values()) == len(report["outcomes"])


def test_lesson_outcomes_can_run_a_lesson_for_every_emoji_of_a_model_labelled_by_emoji(tmp_path):
    import lesson_outcomes
    from test_labels import SPACE

    from lego.config import ARCHITECTURES
    from lego.model import LegoModel

    model = LegoModel(ARCHITECTURES["tiny-pg"].with_labels(SPACE))
    save_checkpoint(model, tmp_path / "ckpt")
    report = lesson_outcomes.main(["--checkpoint", str(tmp_path / "ckpt"), "--level", "finest", "--precision", "fp32",
                                   "--out", str(tmp_path / "lesson.json")])
    assert [o["category"].split(" (")[0] for o in report["outcomes"]] == ["cat face", "dog face", "eagle", "red apple"]
    assert report["level"] == "finest"


def test_the_estimates_benchmark_sets_the_app_estimate_against_the_measured_time_per_canvas(tmp_path):
    save_checkpoint(randomized("tiny-emoji"), tmp_path / "ckpt")
    out = tmp_path / "estimates.json"
    report = estimates.main(["--checkpoint", str(tmp_path / "ckpt"), "--repeats", "1", "--steps", "2",
                             "--out", str(out)])
    assert json.loads(out.read_text()) == report
    assert [r["case"] for r in report["rows"]] == [f"{s}x{s} {m}" for s, m in estimates.CASES]
    for row in report["rows"]:
        assert row["measured_s"] > 0 and row["error"] == pytest.approx(row["estimated_s"] / row["measured_s"] - 1,
                                                                       abs=0.1)  # both rounded


def test_throughput_runs_without_the_app_packages_and_reports_every_point(tmp_path):
    """As on a bare GPU machine: torch and lego only (gradio and plotly made unimportable)."""
    import subprocess

    out = tmp_path / "throughput.json"
    argv = ["--device", "cpu", "--arch", "tiny-emoji", "--batches", "1,3", "--precisions", "fp32,bf16",
            "--repeats", "1", "--burst", "3", "--out", str(out)]
    script = ("import runpy, sys\n"
              "for name in ('gradio', 'gradio_client', 'plotly'): sys.modules[name] = None\n"
              f"sys.argv = ['throughput.py', *{argv!r}]\n"
              "runpy.run_path('benchmarks/throughput.py', run_name='__main__')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["machine"]["device"] and report["model"] == "tiny-emoji (random weights)"
    path = report["request_path"]
    assert path["seconds_per_request"] > 0 and path["burst"]["requests"] == 3
    assert 1 <= path["burst"]["largest_batch"] <= 3 and path["pixels_vs_cpu_fp32"]["max_abs_levels"] >= 0
    assert set(report["evaluation"]) == {"fp32", "bf16"}
    assert all(len(e["brick_ms"]) == 3 and e["ms"] >= max(e["brick_ms"]) for e in report["evaluation"].values())
    rows = report["throughput"]
    assert len(rows) == 2 * 2 * 5 and not report["skipped"]  # precisions x batches x presets
    assert all(r["measured_speedup"] == 1.0 for r in rows if r["preset"] == "all")
    assert all(r["images_per_second"] == pytest.approx(r["batch"] / r["seconds"], rel=0.01) for r in rows)
    global_only = next(r for r in rows if r["preset"] == "global-only")
    assert global_only["predicted_speedup"] > 1  # fewer bricks (one timed repeat is too noisy for the measured ratio)


def options_without_help(path: Path) -> list[str]:
    """The options of one script whose ``add_argument`` call has no ``help=`` (nor ``**`` keywords that may carry
    it), by name, or by line where the name is computed."""
    missing = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_argument":
            if not {k.arg for k in node.keywords} & {"help", None}:  # arg None: **kwargs
                names = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
                missing.append(names[0] if names else f"line {node.lineno}")
    return missing


def test_every_option_of_the_benchmarks_and_the_lego_commands_has_help() -> None:
    """The README promises that --help explains every option; one without help= shows a bare name. Read from the
    source, so that no script is imported or run."""
    root = Path(__file__).resolve().parent.parent
    missing = [f"{path.relative_to(root)}:{option}"
               for path in sorted([*root.glob("benchmarks/*.py"), *root.glob("lego/*.py")])
               for option in options_without_help(path)]
    assert not missing, "options without help=: " + ", ".join(missing)
