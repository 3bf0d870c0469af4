"""Committed results as figures and tables; which model a result belongs to."""

import torch

from lego import results
from lego.checkpoint import fingerprint
from lego.config import ARCHITECTURES
from lego.schedule import BrickSchedule, preset, top_brick_break

from conftest import randomized


def test_fingerprint_follows_the_weights_not_their_storage_precision():
    model = randomized("tiny-emoji")
    same = randomized("tiny-emoji")
    assert fingerprint(model) == fingerprint(same)
    assert fingerprint(model.half()) == fingerprint(same)  # fp16 storage, same model
    with torch.no_grad():
        next(same.parameters()).mul_(1.5)
    assert fingerprint(same) != fingerprint(model)


def sweep_of(rows):
    return {"fingerprint": "abc", "guidance": 2.0, "per_class": 10, "seed_sets": 2, "rows": [
        {"label": label, "family": "t", "steps": steps, "schedule": schedule.to_dict(), "saving": saving,
         "emoji_fd": fd, "emoji_fd_spread": 1.0, "category_accuracy": 0.5, "gflops_per_image": 1.0,
         "seconds_per_image": 0.1, "floor": 30.0, "emoji_fd_sets": [fd - 5, fd + 5]}
        for label, schedule, steps, saving, fd in rows]}


def test_measured_quality_matches_the_schedule_by_its_mask_at_the_same_steps():
    config = ARCHITECTURES["tiny-emoji"]
    sweep = sweep_of([("all", BrickSchedule.all_on(3), 18, 0.0, 40.0),
                              ("t_break 0.4", top_brick_break(config, 0.4), 18, 0.1, 41.0)])
    row = results.measured_quality(sweep, "abc", preset("pg-recipe", config), 18, "heun", 2.0, True)
    assert row is not None and row["label"] == "t_break 0.4"  # the same mask under another name
    line = results.quality_line(row, sweep)
    assert ("lower is better) **41** (every brick: 40; worse in every seed set, by 1 and 1; real emoji against real "
            "emoji: 30)") in line
    row["emoji_fd_sets"] = [35.0, 47.0]  # every brick: 35 and 45; one set the same, one worse
    assert "the seed sets disagree, so no measurable difference" in results.quality_line(row, sweep)
    assert results.measured_quality(sweep, "other", preset("pg-recipe", config), 18, "heun", 2.0, True) is None
    assert results.measured_quality(sweep, "abc", preset("pg-recipe", config), 18, "heun", 3.0, True) is None
    assert results.measured_quality(sweep, "abc", preset("local-only", config), 18, "heun", 2.0, True) is None
    assert results.measured_quality(None, "abc", preset("pg-recipe", config), 18, "heun", 2.0, True) is None
    sweep["method"] = "dpm++2m"  # a sweep names its sampler; one without a name predates that and used Heun
    assert results.measured_quality(sweep, "abc", preset("pg-recipe", config), 18, "dpm++2m", 2.0, True) is row
    assert results.measured_quality(sweep, "abc", preset("pg-recipe", config), 18, "heun", 2.0, True) is None


def test_missing_or_broken_results_read_as_none(tmp_path):
    (tmp_path / "broken.json").write_text("{not json")
    assert results.read("broken.json", tmp_path) is None
    assert results.read("absent.json", tmp_path) is None
    assert results.figure("absent_figure.json", tmp_path) is None


def test_the_results_tab_reads_the_committed_figures_into_its_tables():
    sweep, training, speed = (results.read(n) for n in ("schedules.json", "training_efficiency.json", "speed.json"))
    table = results.schedule_table(sweep["rows"])
    assert len(table) == len(sweep["rows"]) and all(len(row) == len(results.SCHEDULE_COLUMNS) for row in table)
    full = max(sweep["rows"], key=lambda r: r["gflops_per_image"])
    assert table[sweep["rows"].index(full)][3] == "0%"  # savings are counted from every brick at full steps
    assert all(row[4].endswith("%") and row[5] > 0 for row in table)
    assert table[0][0] == "t_break 0 (every brick)" and "t_break 0.4 (pg-recipe)" in [row[0] for row in table]
    assert "seed sets" in results.sweep_caption(sweep) and sweep["command"] in results.sweep_caption(sweep)
    small = results.read("schedules_emoji48.json")  # the default model's sweep: the emoji named per schedule
    named = results.schedule_table(small["rows"], "emoji")
    assert [row[1] for row in named] == [f"{r['accuracy']['emoji']:.1%}" for r in small["rows"]]
    assert len(results.EMOJI_SCHEDULE_COLUMNS) == len(named[0]) and "--emoji" in small["command"]
    assert "dotted line" in results.sweep_caption(sweep) and "dotted line" not in results.sweep_caption(small)
    rows = results.training_table(training)
    assert len(rows) == sum(len(run["points"]) for run in training["runs"])
    assert all(len(row) == len(results.TRAINING_COLUMNS) for row in rows)
    summary = results.speed_summary(speed)
    assert f"{speed['default_request']['fp32 eager']['seconds']} s" in summary and "Heun, 18 steps" in summary


def test_the_speed_summary_names_the_machine_either_way_a_benchmark_recorded_it():
    speed = results.read("speed.json")
    newer = {**speed, "machine": {"device": "Some CPU", "threads": 2}, "request": "DPM-Solver++(2M), 8 steps"}
    text = results.speed_summary(newer)
    assert text.startswith("Measured on Some CPU with 2 threads") and "(DPM-Solver++(2M), 8 steps)" in text
