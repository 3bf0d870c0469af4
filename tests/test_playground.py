import math

import numpy as np
import pytest

from lego.config import ARCHITECTURES
from lego.brick_table import brick_table
from lego.comparison import matched_steps
from lego.estimate import check_limits, estimate
from lego.request import Limits, PlaygroundError, parse_request
from lego.runs import Frame, run, run_to_end
from lego.visuals import DIVERGING, MIN_LIMIT, colour_bar, contributions, difference_map, region_overlay, same_scale
from lego.sampler import StepInfo
from lego.schedule import BrickSchedule, drop_late, preset

from conftest import randomized

CONFIG = ARCHITECTURES["tiny-emoji"]
ALL = BrickSchedule.all_on(3)


def req(**kw):
    args = dict(class_name="Flags", seed=1, steps=4, guidance=2.0, method="heun", images=1, width=64, height=64,
                schedule=ALL)
    args.update(kw)
    return parse_request(CONFIG, **args)


@pytest.mark.parametrize("change,message", [
    ({"guidance": math.nan}, "finite"),
    ({"guidance": math.inf}, "finite"),
    ({"guidance": "lots"}, "must be a number"),
    ({"steps": 2.5}, "whole number"),
    ({"steps": True}, "must be a number"),
    ({"seed": -1}, "seed must be from 0"),
    ({"width": 96}, "multiple of 64"),
    ({"height": -64}, "multiple of 64"),
    ({"images": 0}, "number of images must be from 1"),
    ({"method": "ddim"}, "sampler must be one of"),
    ({"class_name": "Dragons"}, "unknown class 'Dragons'"),
    ({"schedule": BrickSchedule(((), (), ((0.0, 0.5),)))}, "no brick is on at step"),
    ({"schedule": BrickSchedule.all_on(5)}, "describes 5 bricks but the model has 3"),
])
def test_parse_request_refuses_bad_values(change, message):
    with pytest.raises(PlaygroundError, match=message):
        req(**change)


def test_unconditional_request_is_not_guided():
    r = req(class_name="none (unconditional)")
    assert r.label is None and not r.guided


def test_limits_refuse_before_compute():
    r = req(width=256, height=256, images=4, steps=50)
    est = estimate(CONFIG, r, 100)
    with pytest.raises(PlaygroundError, match="GFLOPs, more than this machine serves"):
        check_limits(est, r, Limits(max_gflops=10))
    with pytest.raises(PlaygroundError, match="larger than this machine serves"):
        check_limits(est, r, Limits(max_pixels=128 * 128))
    check_limits(est, r, Limits(max_gflops=1e9))


def test_estimate_summary_and_saving():
    r = req(schedule=preset("pg-recipe", CONFIG), steps=10)
    est = estimate(CONFIG, r, 50)
    assert 0 < est.cost.saving < 1 and est.seconds == pytest.approx(est.gflops / 50)
    assert "saving **" in est.summary() and est.memory_bytes > 0


def test_run_streams_steps_then_a_record_with_frames():
    model = randomized("tiny-emoji")
    r = req(schedule=preset("pg-recipe", CONFIG), steps=5, images=2)
    items = list(run(model, r, estimate(CONFIG, r, 50.0), precision="fp32"))
    assert all(isinstance(i, StepInfo) for i in items[:-1]) and len(items) == 6
    record = items[-1]
    assert len(record.images) == 2 and record.images[0].shape == (64, 64, 3)
    assert len(record.frames) == 5 and record.frames[-1].bricks[2] is None and record.frames[0].bricks[2] is not None
    report = record.report(CONFIG)
    assert report["request"]["seeds"] == [1, 2] and len(report["brick_seconds_per_step"]) == 5
    assert report["bricks"][2]["role"].startswith("global-content orchestration")


def test_matched_steps_is_the_honest_baseline():
    r = req(schedule=preset("global-only", CONFIG), steps=18)
    n = matched_steps(CONFIG, r)
    full = estimate(CONFIG, req(steps=n), 1).cost.total
    sched = estimate(CONFIG, r, 1).cost.total
    assert n < 18 and abs(full - sched) <= abs(estimate(CONFIG, req(steps=n + 1), 1).cost.total - sched)


def test_difference_map_is_signed_on_a_diverging_scale_and_the_overlay_draws_regions():
    a = np.full((64, 64, 3), 100, np.uint8)
    b = a.copy()
    b[:8, :8] = 160  # lighter
    b[8:16, :8, 1] = 40  # darker in one channel only: a change of hue still shows
    d = difference_map(a, b)
    assert d.largest == 60 and d.limit == 60
    assert (d.picture[:8, :8] == DIVERGING[-1]).all()  # the largest lightening: the darkest red
    assert (d.picture[8:16, :8] == DIVERGING[0]).all()  # the largest darkening: the darkest blue
    assert (d.picture[16:] == 255).all()  # unchanged: white
    small = difference_map(a, a + 2)
    assert small.largest == 2 and small.limit == MIN_LIMIT  # rounding-sized changes stay pale
    assert (small.picture[..., 1] > 200).all() and (small.picture[..., 0] > small.picture[..., 2]).all()
    o = region_overlay(a, region=16, patch=4, scale=2)
    assert o.shape == (128, 128, 3) and (o[32, :, 0] == 220).all()


def test_colour_bar_runs_from_blue_through_white_to_red():
    bar = colour_bar(37, width=201, height=10)
    assert bar.shape[1] == 201 and bar.shape[0] > 10  # the gradient, and its labels below it
    assert (bar[0, 0] == DIVERGING[0]).all() and (bar[0, -1] == DIVERGING[-1]).all()
    assert (bar[0, 100] == 255).all()  # zero in the middle: white
    assert (bar[10:].min(axis=2) < 100).any()  # the range is written under it


def synthetic_frame(bricks: list[np.ndarray | None]) -> Frame:
    grey = np.full((16, 16, 3), 128, np.uint8)
    return Frame(3, 1.0, [b is not None for b in bricks], grey, next(b for b in reversed(bricks) if b is not None),
                 bricks, grey)


def test_contributions_have_signs_one_shared_scale_and_nothing_from_a_brick_that_is_off():
    grey = np.full((16, 16, 3), 128, np.uint8)
    b0 = grey.copy()
    b0[:4] = 168  # B0 lightens the top rows by 40 against no brick at all
    b2 = b0.copy()
    b2[:, :4] -= 10  # B2 darkens the left columns by 10 against B0 (B1 is off)
    changed = contributions(synthetic_frame([b0, None, b2]))
    assert changed.maps[1] is None and changed.peaks[1] == 0  # switched off: contributes nothing
    assert changed.below == [None, None, 0]  # B2 is measured against the nearest active brick below it
    assert changed.peaks == [40, 0, 10] and changed.limit == 40  # one scale: the largest change of any brick
    assert (changed.maps[0][:4, 5] == DIVERGING[-1]).all() and (changed.maps[0][4:] == 255).all()
    left = changed.maps[2][8, 0]  # darker: blue, and paler than B0's red since the scale is shared
    assert left[2] > left[0] and left.min() > DIVERGING[0].max() and (changed.maps[2][:, 4:] == 255).all()
    same = contributions(synthetic_frame([b0, None, b0.copy()]))
    assert same.peaks[2] == 0 and (same.maps[2] == 255).all()  # a brick that changed nothing is white
    assert [changed.caption(k) for k in (0, 2)] == ["B0 − none", "B2 − B0"]
    assert changed.text() == "±40 / 255 (B0 up to 40, B2 up to 10)"


def test_contributions_of_a_real_run_follow_its_schedule():
    model = randomized("tiny-emoji")
    schedule = BrickSchedule(((), ((0.0, 1.0),), ((0.0, 0.5),)))  # B0 off throughout, B2 off late
    r = req(schedule=schedule, steps=4)
    record = run_to_end(model, r, estimate(CONFIG, r, 50.0), "fp32", keep_frames=True)
    first, last = record.frames[0], record.frames[-1]
    assert np.abs(first.no_brick.astype(int) - 128).max() <= 3  # c_skip * x is about 0 at sigma 80: mid-grey
    early, late = contributions(first), contributions(last)
    assert early.below == [None, None, 1] and early.maps[0] is None and early.maps[2] is not None
    assert late.maps[2] is None and late.peaks[2] == 0 and late.limit >= max(late.peaks)
    assert (first.bricks[2] == first.denoised).all()  # the top active brick's estimate is the step's


def test_compared_pictures_are_enlarged_by_one_whole_factor():
    square = np.arange(64 * 64 * 3, dtype=np.uint32).reshape(64, 64, 3).astype(np.uint8)
    big = same_scale([square, square])
    assert all(b.shape == (256, 256, 3) for b in big)  # 4x: crisp pixels, every picture the same size
    assert (big[0][4:8, 8:12] == square[1, 2]).all()
    wide = np.zeros((64, 256, 3), np.uint8)
    assert same_scale([wide])[0].shape == (64, 256, 3)  # already as wide as shown: not enlarged
    assert same_scale([np.zeros((64, 128, 3), np.uint8)])[0].shape == (128, 256, 3)


def test_brick_table_has_roles_and_costs():
    rows = brick_table(CONFIG)
    assert [r["region"] for r in rows] == [8, 16, 64]
    assert rows[0]["role"].startswith("local-feature enrichment") and all(r["parameters"] > 0 for r in rows)
    assert rows[0]["sees"] == "8x8-pixel regions, 4x4 patches" and rows[2]["does"] == "sets the layout"


def test_run_to_end_without_frames():
    model = randomized("tiny-emoji")
    r = req(steps=2)
    record = run_to_end(model, r, estimate(CONFIG, r, 50.0), precision="fp32")
    assert record.frames == [] and len(record.step_seconds) == 2


def test_checkpoint_sources_are_confined(tmp_path, monkeypatch):
    from lego.serving import checked_source

    monkeypatch.setenv("LEGO_CHECKPOINT_DIRS", str(tmp_path / "allowed"))
    (tmp_path / "allowed" / "ckpt").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    assert checked_source(str(tmp_path / "allowed" / "ckpt")) == str((tmp_path / "allowed" / "ckpt").resolve())
    assert checked_source("owner/model-name") == "owner/model-name"
    for bad, message in [(str(tmp_path / "elsewhere"), "outside the folders"),
                         (str(tmp_path / "allowed" / ".." / "elsewhere"), "outside the folders"),
                         ("/etc/passwd", "outside the folders"), ("owner/../x", "outside the folders"),
                         ("", "give a checkpoint"), (str(tmp_path / "allowed" / "missing"), "no checkpoint directory")]:
        with pytest.raises(PlaygroundError, match=message):
            checked_source(bad)


def test_registry_loads_once_and_keeps_a_few(tmp_path, monkeypatch):
    from lego.checkpoint import save_checkpoint
    from lego.serving import ModelRegistry, Served

    monkeypatch.setenv("LEGO_CHECKPOINT_DIRS", str(tmp_path))
    for i in range(3):
        save_checkpoint(randomized("tiny-emoji", seed=i), tmp_path / f"m{i}")
    registry = ModelRegistry(Served.of("default", randomized("tiny-emoji"), "fp32"), keep=2)
    first = registry.load(str(tmp_path / "m0"))
    assert registry.load(str(tmp_path / "m0")) is first
    registry.load(str(tmp_path / "m1"))
    registry.load(str(tmp_path / "m2"))
    with pytest.raises(PlaygroundError, match="m0 was unloaded to make room"):  # never silently the default
        registry.get(first.key)
    with pytest.raises(PlaygroundError, match="load it again in the Model tab"):
        registry.get("unknown")
    assert registry.get(None) is registry.get("default") is registry.default
    before = list(registry._loaded)

    def refuse(config):
        raise PlaygroundError("not for this page")

    registry.load(str(tmp_path / "m1"))  # already loaded: no slot changes
    with pytest.raises(PlaygroundError, match="not for this page"):
        registry.load(str(tmp_path / "m0"), accept=refuse)
    assert list(registry._loaded) == before  # a refused load takes no slot
    (tmp_path / "m1" / "model.safetensors").write_bytes(b"broken")
    registry2 = ModelRegistry(registry.default)
    with pytest.raises(PlaygroundError, match="corrupt"):
        registry2.load(str(tmp_path / "m1"))


def test_comparison_runs_three_variants_and_explains_them():
    from lego.comparison import FULL, SCHEDULE, CompareProgress, compare_steps
    from lego.serving import Served

    served = Served.of("tiny", randomized("tiny-emoji"), "fp32")
    request = req(schedule=preset("global-only", CONFIG), steps=8, images=2)
    items = list(compare_steps(served, request, repeats=2))
    progress, result = items[:-1], items[-1]
    assert all(isinstance(p, CompareProgress) for p in progress)
    # the runs of a pair take turns step by step, the one going first swapping every step and every pair
    assert [(p.label, p.step) for p in progress[:6]] == [(FULL, 1), (SCHEDULE, 1), (SCHEDULE, 2), (FULL, 2),
                                                        (FULL, 3), (SCHEDULE, 3)]
    assert [(p.label, p.pair) for p in progress[16:18]] == [(SCHEDULE, 1), (FULL, 1)]
    fewer = result.baseline.request.steps
    assert [p.label for p in progress[32:]] == [f"all bricks, {fewer} steps"] * fewer  # the baseline comes last
    assert [p.done for p in progress] == list(range(1, progress[-1].total + 1))  # every step is reported
    assert progress[0].text() == "step 1/8 of all bricks (pair 1/2)"
    assert progress[-1].text() == f"step {fewer}/{fewer} of all bricks, {fewer} steps (the baseline)"
    assert fewer < 8 and result.scheduled.request.images == 1
    assert result.scheduled.estimate.cost.total < result.full.estimate.cost.total
    assert len(result.timing.ratios) == 2 and result.seconds[0] == pytest.approx(np.median(result.timing.full))
    assert result.pixel_difference > 0 and "Honest baseline" in result.summary()
    assert "over 2 paired runs" in result.summary()


def test_timed_runs_really_run_and_their_pictures_are_those_of_any_run():
    from lego.comparison import compare
    from lego.serving import Served

    served = Served.of("tiny", randomized("tiny-emoji"), "fp32")
    request = req(schedule=preset("pg-recipe", CONFIG), steps=3)
    first = compare(served, request, repeats=1)
    evaluations = []
    hook = served.model.register_forward_hook(lambda *_: evaluations.append(1))
    again = compare(served, request, repeats=1)  # the same request: the cache must not replay timed runs
    hook.remove()
    assert len(evaluations) >= 2 * 5  # all bricks and the schedule ran again (Heun: 5 evaluations in 3 steps)
    assert (again.full.images[0] == first.full.images[0]).all()
    assert (again.scheduled.images[0] == first.scheduled.images[0]).all()


def test_a_first_slow_run_does_not_make_a_schedule_faster_than_itself(monkeypatch):
    """Pairs take turns and the median is reported: a cold first run moves one pair's ratio, not the result."""
    import dataclasses

    import lego.comparison
    from lego.comparison import compare
    from lego.runs import RunRecord
    from lego.serving import Served

    real_run, seen = lego.comparison.run, []

    def timed_run(*args, **kwargs):
        for item in real_run(*args, **kwargs):
            if isinstance(item, RunRecord):
                slow = 3.0 if not seen else 1.0  # the first run of the comparison warms caches
                seen.append(item)
                item = dataclasses.replace(item, step_seconds=[slow] * len(item.step_seconds))
            yield item

    monkeypatch.setattr(lego.comparison, "run", timed_run)
    served = Served.of("tiny", randomized("tiny-emoji"), "fp32")
    timing = compare(served, req(steps=2)).timing  # every brick against itself
    assert timing.ratios.count(1.0) == 2 and timing.speedup == 1.0 and timing.covers(1.0)


def test_the_default_schedule_compared_with_itself_is_no_faster_than_itself():
    """Measured for real: the spread of the paired ratios contains 1.00. With n pairs, noise alone puts
    every ratio on one side of 1 with probability 2 / 2**n: 9 pairs keep that under 1 in 250."""
    from lego.comparison import compare
    from lego.serving import Served

    served = Served.of("tiny", randomized("tiny-emoji"), "fp32")
    timing = compare(served, req(steps=2), repeats=9).timing
    assert timing.covers(1.0), timing.ratios


def test_the_compute_limit_counts_every_run_of_a_comparison_repeats_included():
    from lego.comparison import Plan, compare_steps
    from lego.serving import Served

    served = Served.of("tiny", randomized("tiny-emoji"), "fp32")
    request = req(schedule=preset("pg-recipe", CONFIG), steps=10)
    planned = Plan.of(CONFIG, request, repeats=3)
    full, scheduled, baseline = (estimate(CONFIG, r, 1.0).gflops
                                 for r in (planned.full, planned.scheduled, planned.baseline))
    assert planned.gflops(CONFIG) == pytest.approx(3 * (full + scheduled) + baseline)
    assert planned.steps == 2 * 3 * 10 + planned.baseline.steps
    served.limits = Limits(max_gflops=(full + scheduled + baseline) * 2)  # the variants once fit; three pairs do not
    with pytest.raises(PlaygroundError, match="all bricks and the schedule 3 times each"):
        compare_steps(served, request)  # refused when called, before any compute


def test_lesson_verdict_names_the_least_harmful_brick():
    from lego.lesson import LessonRow, lesson_verdict

    rows = [LessonRow(f"B{k}", 0.1 * k, diff, np.zeros((2, 2, 3), np.uint8)) for k, diff in enumerate([9.0, 2.0, 5.0])]
    assert lesson_verdict(rows, 1).startswith("You were right")
    assert lesson_verdict(rows, 2).startswith("Not this time: B1 changed the image least")
    assert "| B2 | 20% | 5.0 / 255 |" in lesson_verdict(rows, 0)
    moral = "switching B0 off late changed the image most (9.0 / 255) and B1 least (2.0 / 255)"
    assert moral in lesson_verdict(rows, 0)
    # within the tie margin nobody is simply right or wrong
    close = [LessonRow(f"B{k}", 0.1 * k, diff, np.zeros((2, 2, 3), np.uint8)) for k, diff in enumerate([1.9, 2.0, 5.0])]
    assert lesson_verdict(close, 1).startswith("A tie you share: B0 and B1 changed the image least")
    assert lesson_verdict(close, 2).startswith("Not this time: B0 and B1 changed the image least (a tie)")
    assert "layout" not in lesson_verdict(close, 2)  # no claim the numbers on screen do not show


def test_frame_budget_bounds_every_sessions_frames_together():
    import gc

    from lego.runs import FrameBudget, frame_bytes, run_to_end
    from lego.serving import Served

    served = Served.of("tiny", randomized("tiny-emoji"), "fp32")
    runs = []
    for seed in range(3):
        request = parse_request(served.config, "Flags", seed, 4, 2.0, "heun", 1, 64, 64,
                                BrickSchedule.all_on(3))
        runs.append(run_to_end(served.model, request, estimate(served.config, request, 1.0), "fp32", keep_frames=True))
    size = frame_bytes(runs[0])
    budget = FrameBudget(max_bytes=int(2.5 * size))
    for record in runs:
        budget.admit(record)
    assert runs[0].frames == [] and runs[1].frames and runs[2].frames  # the oldest run gave its frames up
    assert budget.used_bytes == 2 * size
    del runs[2], record
    gc.collect()
    assert budget.used_bytes == size  # a run that is gone (its session expired) no longer counts


def test_time_estimates_follow_the_runs_this_machine_really_does():
    from dataclasses import replace as changed

    from lego.runs import run_to_end
    from lego.serving import Served

    served = Served.of("tiny", randomized("tiny-emoji"), "fp32")
    request = parse_request(served.config, "Flags", 0, 4, 2.0, "heun", 1, 64, 64, BrickSchedule.all_on(3))
    record = run_to_end(served.model, request, estimate(served.config, request, served.speed), "fp32")
    slow = changed(record, step_seconds=[s * 1000 for s in record.step_seconds])  # as if the machine were busy
    for _ in range(3):
        served.observe(slow)
    assert served.speed.scale == pytest.approx(slow.seconds / record.estimate.seconds)  # the median observed
    assert estimate(served.config, request, served.speed).seconds == pytest.approx(slow.seconds, rel=1e-6)
    served.observe(changed(slow, estimate=estimate(served.config, request, served.speed)))  # already scaled
    assert served.speed.scale == pytest.approx(slow.seconds / record.estimate.seconds)  # the scale is not compounded


def test_the_speed_fit_charges_small_images_their_fixed_costs_and_large_ones_their_flops():
    from lego.estimate import Speed, measure_speed

    model = randomized("tiny-emoji")
    speed = measure_speed(model, "fp32")
    assert speed.per_evaluation >= 0 and speed.per_brick >= 0 and speed.gflops_per_second > 0
    fixed = Speed(0.01, 0.002, 1.0)
    small = parse_request(CONFIG, "Flags", 0, 4, 2.0, "euler", 1, 64, 64, drop_late(CONFIG, 2))
    cost = estimate(CONFIG, small, 1.0).cost
    evaluations, brick_evaluations = 4, 4 * 3 - 2  # B2 off for the last 40% of 4 steps: 2 steps
    assert fixed.predict(CONFIG, small, cost) == pytest.approx(
        evaluations * 0.01 + brick_evaluations * 0.002 + cost.total / 1e9)
