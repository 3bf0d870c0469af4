import math

import numpy as np
import pytest

from lego.config import ARCHITECTURES
from lego.brick_table import brick_table
from lego.comparison import REPEATS, matched_steps
from lego.lesson import LESSON_METHOD, LESSON_STEPS
from lego.sampler import METHOD_NAMES, SamplerSettings
from lego.estimate import check_limits, estimate
from lego.request import Limits, PlaygroundError, parse_request
from lego.runs import Frame, run, run_to_end
from lego.visuals import (DIVERGING, MIN_LIMIT, colour_bar, contributions, difference_map, difference_maps, diverging,
                          region_overlay, same_scale)
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
    with pytest.raises(PlaygroundError, match=r"needs about \d+\.\d GiB of memory, more than this machine serves"):
        check_limits(est, r, Limits(max_gflops=1e9, max_memory_bytes=est.memory_bytes - 1))
    smaller = [estimate(CONFIG, req(width=w, height=w, images=n), 100).memory_bytes for w, n in ((256, 1), (64, 4))]
    assert all(m < est.memory_bytes for m in smaller)  # memory grows with the canvas and the images


def test_the_run_cache_keeps_the_most_recent_runs_within_its_bytes():
    from lego.runs import RunCache

    model = randomized("tiny-emoji")
    records = [run_to_end(model, r, estimate(CONFIG, r, 50.0), "fp32", keep_frames=True)
               for r in (req(seed=1), req(seed=2), req(seed=3))]
    size = RunCache._size(records[0])
    cache = RunCache(max_bytes=2 * size)  # room for two
    cache.put(records[0])
    cache.put(records[1])
    assert cache.get(records[0].request, "fp32") is records[0]  # a hit is the most recent...
    cache.put(records[2])  # ...so the third pushes out the second
    assert cache.get(records[1].request, "fp32") is None and len(cache) == 2
    assert cache.get(records[2].request, "fp32", need_frames=True) is records[2]
    assert cache.get(records[0].request, "bf16") is None  # another precision draws other pixels
    records[2].frames.clear()  # the frame budget dropped its frames: Look inside needs a new run
    assert cache.get(records[2].request, "fp32", need_frames=True) is None
    too_big = RunCache(max_bytes=size - 1)
    too_big.put(records[0])
    assert len(too_big) == 0


def test_the_output_folder_keeps_the_newest_runs_only():
    from lego.outputs import OutputFolder

    folder = OutputFolder(keep=2)
    runs = [folder.new_run() for _ in range(3)]
    assert not runs[0].exists() and runs[1].is_dir() and runs[2].is_dir()
    assert len(list(folder.root.iterdir())) == 2
    folder._count = 999_998  # past the millionth run, names sort in another order than the runs were made
    runs = [folder.new_run() for _ in range(3)]
    assert [r.name for r in runs] == ["run999999", "run1000000", "run1000001"]
    assert not runs[0].exists() and runs[1].is_dir() and runs[2].is_dir()


def test_presets_on_the_range_grid_and_back():
    from lego.schedule import MAX_GRID_RANGES, ScheduleError, from_grid, grid_edges, to_grid

    pg = preset("pg-recipe", CONFIG)
    assert to_grid(pg, 5) == [[0, 1, 2, 3, 4], [0, 1, 2, 3, 4], [0, 1, 2]]  # the top brick off for the last 40%
    for name in ("all", "pg-recipe", "pr-recipe", "local-only", "global-only"):
        schedule = preset(name, CONFIG)
        assert all(from_grid(to_grid(schedule, 5), 5).mask(s) == schedule.mask(s) for s in (5, 8, 18)), name
    with pytest.raises(ScheduleError, match=r"brick 0: unknown range\(s\) \[7\]"):
        from_grid([[7], [], []], 5)
    with pytest.raises(ScheduleError, match=f"from 1 to {MAX_GRID_RANGES}"):
        grid_edges(MAX_GRID_RANGES + 1)


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


def test_change_maps_share_one_scale_that_a_few_outliers_do_not_set():
    a = np.full((10, 10, 3), 100, np.uint8)
    more, less = a + 20, a + 10  # every pixel lighter: by 20 in one picture, by 10 in the other
    more[0, 0] = 255  # one pixel changed a lot
    (m, n), limit = difference_maps(a, [more, less])
    assert limit == 20  # above 99% of the 200 pixels' changes, not the outlier's 155
    assert (m[0, 0] == DIVERGING[-1]).all() and (m[5, 5] == DIVERGING[-1]).all()  # full colour: 20 or more
    assert (n == diverging(np.full((10, 10), 10), 20)).all() and (n[5, 5] > m[5, 5]).all()  # the paler: less
    assert difference_maps(a, [a + 1, a])[1] == MIN_LIMIT


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
    assert [r["tokens"] for r in rows] == [(64 // r["patch"]) ** 2 for r in rows]  # patches over the image


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
                         ("", "give a checkpoint"), (3, "give a checkpoint"),
                         (str(tmp_path / "allowed" / "missing"), "no checkpoint directory"),
                         # a bare name that is neither bundled nor a folder here: the bundled ones, named
                         ("lego-emoji", r"named 'lego-emoji' \(the bundled ones: lego-emoji-s, lego-emoji-s-48\)")]:
        with pytest.raises(PlaygroundError, match=message):
            checked_source(bad)
    with pytest.raises(PlaygroundError) as refused:  # said as typed, never as the server resolved it
        checked_source("../elsewhere")
    assert str(refused.value).startswith("../elsewhere is outside the folders")


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

    assert registry.load(str(tmp_path / "m1")) is registry.get(before[0])  # already loaded: the same one, and
    assert list(registry._loaded) == before[::-1]  # now the most recently used, the last to be dropped
    with pytest.raises(PlaygroundError, match="not for this page"):
        registry.load(str(tmp_path / "m0"), accept=refuse)
    assert list(registry._loaded) == before[::-1]  # a refused load takes no slot
    (tmp_path / "m1" / "model.safetensors").write_bytes(b"broken")
    registry2 = ModelRegistry(registry.default)
    with pytest.raises(PlaygroundError, match="corrupt"):
        registry2.load(str(tmp_path / "m1"))


def test_the_app_model_picked_by_path_is_the_one_served_and_loaded_models_keep_its_settings(tmp_path, monkeypatch):
    from lego.checkpoint import save_checkpoint
    from lego.serving import ModelRegistry, Served

    monkeypatch.setenv("LEGO_CHECKPOINT_DIRS", str(tmp_path))
    save_checkpoint(randomized("tiny-emoji"), tmp_path / "own")
    save_checkpoint(randomized("tiny-emoji", seed=1), tmp_path / "other")
    default = Served.of("the app's", randomized("tiny-emoji"), "fp32", cache_bytes=2**20, batching="off",
                        source=str(tmp_path / "own"))
    registry = ModelRegistry(default)
    assert registry.load(str(tmp_path / "own")) is default and not registry._loaded  # no second copy
    other = registry.load(str(tmp_path / "other"))
    assert other.cache.max_bytes == 2**20 and other.batching == "off" and other.batcher is None
    assert default.shown == "own"  # a server path outside the working folder shows as its name


def test_comparison_runs_three_variants_and_explains_them():
    from lego.comparison import FULL, SCHEDULE, CompareProgress, compare_steps
    from lego.serving import Served

    served = Served.of("tiny", randomized("tiny-emoji"), "fp32")
    request = req(schedule=preset("global-only", CONFIG), steps=8, images=2)
    items = list(compare_steps(served, request, repeats=2))
    progress, result = items[:-1], items[-1]
    assert all(isinstance(p, CompareProgress) for p in progress)
    # the three runs of a round take turns step by step, the one going first moving on every step and every round
    fewer = result.baseline.request.steps
    base = f"all bricks, {fewer} steps"
    assert [(p.label, p.step) for p in progress[:6]] == [(FULL, 1), (SCHEDULE, 1), (base, 1), (SCHEDULE, 2),
                                                        (base, 2), (FULL, 2)]
    per_round = 2 * 8 + fewer
    assert [(p.label, p.round) for p in progress[per_round:per_round + 3]] == [(SCHEDULE, 1), (base, 1), (FULL, 1)]
    assert sorted(p.label for p in progress[:per_round]) == sorted([FULL] * 8 + [SCHEDULE] * 8 + [base] * fewer)
    assert [p.done for p in progress] == list(range(1, progress[-1].total + 1))  # every step is reported
    assert progress[0].text() == "step 1/8 of all bricks (round 1/2)"
    assert fewer < 8 and result.scheduled.request.images == 1
    assert result.scheduled.estimate.cost.total < result.full.estimate.cost.total
    assert len(result.timing.ratios) == len(result.timing.baseline) == 2
    assert result.seconds == pytest.approx([np.median(t) for t in (result.timing.full, result.timing.scheduled,
                                                                   result.timing.baseline)])
    assert result.pixel_difference > 0 and "the honest baseline, every brick with" in result.summary()
    assert "over 2 rounds" in result.summary()
    # the summary opens with what was drawn and what the schedule left out
    assert result.summary().startswith("*Flags*, seed **1**: B0 local r8/p4 off at every step; B1 local r16/p8 off at "
                                       "every step (the **global-only** preset).")


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
                # the first run of each variant warms caches (the one going first in the first round)
                slow = 3.0 if item.request not in seen else 1.0
                seen.append(item.request)
                item = dataclasses.replace(item, step_seconds=[slow] * len(item.step_seconds))
            yield item

    monkeypatch.setattr(lego.comparison, "run", timed_run)
    served = Served.of("tiny", randomized("tiny-emoji"), "fp32")
    result = compare(served, req(steps=4))  # every brick against itself
    timing = result.timing
    assert timing.ratios.count(1.0) == REPEATS - 1 and timing.speedup == 1.0 and timing.covers(1.0)
    assert result.seconds == [4.0, 4.0, result.baseline.request.steps]  # a slow first run moves no median
    assert "it is the all-bricks run and any difference is the machine's noise" in result.summary()


def test_compare_says_what_it_will_run_before_it_runs():
    from lego.comparison import preview

    from lego.comparison import Plan

    names = [CONFIG.brick_name(k) for k in range(CONFIG.num_bricks)]
    pg = req(schedule=preset("pg-recipe", CONFIG), steps=10)
    need = Plan.of(CONFIG, pg).gflops(CONFIG)
    text = preview(CONFIG, names, pg, need)
    assert text.startswith("**Will compare** *Flags*, seed **1**: ") and "(the **pg-recipe** preset)" in text
    assert text.endswith("against every brick, and every brick with 9 steps.")
    assert preview(CONFIG, names, req(steps=10), need).startswith("Nothing to compare: the schedule runs every")
    # past the per-request limit: said before the class presses Compare, as Compare would refuse it
    assert preview(CONFIG, names, pg, need * 0.99).startswith("Compare would refuse these settings: this comparison "
                                                              "runs three variants")


def test_the_speed_up_line_leads_with_what_the_paired_runs_show():
    """A median of 1.17x over ratios from 0.95x to 1.30x is no measurable speed-up: the line must say so first,
    not print the median in bold and take it back at the end."""
    from types import SimpleNamespace

    from lego.comparison import Comparison, PairedTiming

    def line(full: tuple, scheduled: tuple, same: bool = False) -> str:
        records = SimpleNamespace(mask=[[True]]), SimpleNamespace(mask=[[True]] if same else [[False]])
        return Comparison(*records, None, PairedTiming(full, scheduled, full), "", "").speed_line()

    noisy = line((0.95, 1.17, 1.30), (1.0, 1.0, 1.0))
    assert noisy.startswith("**No measurable speed-up** this time: the rounds' ratios include 1.00x: **1.17x**")
    assert "Measured speed-up" not in noisy
    clear = line((1.12, 1.28, 1.37), (1.0, 1.0, 1.0))
    assert clear.startswith("**Measured speed-up** of the schedule over every brick: **1.28x** (from 1.12x to 1.37x")
    assert line((1.0, 1.0), (1.0, 1.0), same=True).startswith("**No speed-up to measure**: this schedule runs every")


def test_the_default_schedule_compared_with_itself_is_no_faster_than_itself():
    """Measured for real: the spread of the paired ratios contains 1.00. With n pairs, noise alone puts
    every ratio on one side of 1 with probability 2 / 2**n: 9 pairs keep that under 1 in 250."""
    from lego.comparison import compare
    from lego.serving import Served

    served = Served.of("tiny", randomized("tiny-emoji"), "fp32")
    timing = compare(served, req(steps=2), repeats=9).timing
    assert timing.covers(1.0), timing.ratios


def test_the_compute_limit_counts_every_run_of_a_comparison_repeats_included():
    from lego.comparison import Plan, check_skips_something, compare_steps
    from lego.serving import Served

    served = Served.of("tiny", randomized("tiny-emoji"), "fp32")
    request = req(schedule=preset("pg-recipe", CONFIG), steps=10)
    planned = Plan.of(CONFIG, request, repeats=3)
    full, scheduled, baseline = (estimate(CONFIG, r, 1.0).gflops
                                 for r in (planned.full, planned.scheduled, planned.baseline))
    assert planned.gflops(CONFIG) == pytest.approx(3 * (full + scheduled + baseline))
    assert planned.steps == 3 * (2 * 10 + planned.baseline.steps)
    served.limits = Limits(max_gflops=(full + scheduled + baseline) * 2)  # the variants once fit; three pairs do not
    with pytest.raises(PlaygroundError, match=f"the schedule and the baseline\\) {REPEATS} times each"):
        compare_steps(served, request)  # refused when called, before any compute
    check_skips_something(request)
    with pytest.raises(PlaygroundError, match="untick some step ranges in the Generate tab"):
        check_skips_something(req(schedule=preset("all", CONFIG), steps=10))  # every brick: the app has no lesson


def lesson_of(late, early=None, fewer=None, steps=(LESSON_STEPS - 3, LESSON_STEPS - 2, LESSON_STEPS - 1)):
    """A lesson with these pixel changes (late, early and fewer-steps rows per brick), as if measured."""
    from lego.lesson import Lesson, LessonRow

    pic = np.zeros((2, 2, 3), np.uint8)
    early = early or late
    fewer = fewer or late

    def rows(diffs, label, saving, step_counts=(LESSON_STEPS,) * 3):
        return tuple(LessonRow(f"{label} {k}", saving(k), d, pic, n)
                     for k, (d, n) in enumerate(zip(diffs, step_counts)))

    return Lesson("Flags", 0, ("B0", "B1", "B2"), pic, rows(late, "late", lambda k: 0.1 * (k + 1)),
                  rows(early, "early", lambda k: 0.1 * (k + 1)), rows(fewer, "fewer", lambda k: 0.12 * (k + 1), steps))


def reversed_savings(late):
    """``lesson_of`` with the late savings the other way round: the top brick saves least (10%), B0 most (30%)."""
    import dataclasses

    lesson = lesson_of(late)
    rows = tuple(dataclasses.replace(r, saving=0.1 * (3 - k)) for k, r in enumerate(lesson.late))
    return dataclasses.replace(lesson, late=rows)


def test_late_verdict_names_the_least_harmful_brick_and_ties_are_ties():
    from lego.lesson import late_verdict

    lesson = lesson_of([9.0, 2.0, 5.0])
    assert late_verdict(lesson, 1).startswith("**You were right.**")
    assert late_verdict(lesson, 2).startswith("**Not this time: B1 changed the image least.**")
    assert "| B2 | 30% | 5.00 / 255 |" in late_verdict(lesson, 0)
    assert "Your brick, B0, off late saved 10% of the FLOPs and changed the image by 9.00 / 255" in \
        late_verdict(lesson, 0)
    # within the tie margin nobody is simply right or wrong
    close = lesson_of([1.9, 2.0, 5.0])
    assert late_verdict(close, 1).startswith("**A tie you share: B0 and B1 changed the image least.**")
    assert late_verdict(close, 2).startswith("**Not this time: B0 and B1 changed the image least (a tie).**")
    # the margin is counted in the hundredths shown: 0.49 apart is a tie, 0.50 apart is not
    assert "tie" in late_verdict(lesson_of([2.0, 2.49, 9.0]), 0).split(".**")[0]
    assert late_verdict(lesson_of([2.0, 2.5, 9.0]), 1).startswith("**Not this time: B0 changed the image least.**")


def test_early_vs_late_stage_says_what_the_numbers_say():
    from lego.lesson import early_late_verdict

    text = early_late_verdict(lesson_of([1.0, 2.0, 3.0], early=[4.0, 2.2, 1.0]), 0)
    assert text.startswith("**B0** off for the first 40% (saving 10%) changed the image by **4.00 / 255**; off for "
                           "the last 40% (saving 10%), by **1.00 / 255**.")
    assert "In this run, dropping it late changed the image less than dropping it early." in text
    assert "| B1 | 2.20 / 255 | 2.00 / 255 |" in text
    assert text.endswith("Dropping the brick late changed the image less than dropping it early for B0; more for B2; "
                         "about as much (a tie) for B1.")
    tie = early_late_verdict(lesson_of([1.0, 2.0, 3.0], early=[4.0, 2.2, 1.0]), 1)
    assert "dropping it late changed the image about as much as (within 0.5 / 255: a tie) dropping it early" in tie
    late_worse = early_late_verdict(lesson_of([1.0, 2.0, 3.0], early=[4.0, 2.2, 1.0]), 2)
    assert "dropping it late changed the image more than dropping it early" in late_worse


def test_cost_stage_sets_each_late_drop_against_fewer_steps():
    from lego.lesson import cost_verdict

    lesson = lesson_of([1.0, 2.0, 3.0], fewer=[3.0, 2.1, 0.5])
    text = cost_verdict(lesson, 0)
    assert text.startswith("**B0** off late saved 10% of the FLOPs and changed the image by **1.00 / 255**. Every "
                           f"brick with {LESSON_STEPS - 3} instead of {LESSON_STEPS} steps, the nearest cost, "
                           "saved 12% and changed it by "
                           "**3.00 / 255**. In this run, dropping B0 late changed the image less than simply taking "
                           "fewer steps.")
    assert f"| B2 | 30% saved, 3.00 / 255 | {LESSON_STEPS - 1} steps: 36% saved, 0.50 / 255 |" in text
    assert "more than simply taking fewer steps" in cost_verdict(lesson, 2)
    assert "about as much as (within 0.5 / 255: a tie) simply taking fewer steps" in cost_verdict(lesson, 1)


def test_take_away_states_only_what_was_measured():
    from lego.lesson import take_away

    text = take_away(lesson_of([1.0, 2.0, 6.0], early=[3.0, 2.0, 1.0], fewer=[0.5, 2.2, 6.3]), 2)
    assert text.split("\n\n") == [  # what a class needs first, then the rest folded away
        "- Dropped for the last 40% of the steps, B0 changed the image least (1.00 / 255) and B2 most (6.00 / 255).",
        "- Your guess, B2, was not the least change: it changed the image by 6.00 / 255.",
        "- B0 changed the picture less but saved less: 10% of the FLOPs against the top brick's 30%.",
        f"- All of this is one picture: Flags, seed 0, {LESSON_STEPS} {METHOD_NAMES[LESSON_METHOD]} "
        "steps. Differences under 0.5 / 255 count as ties.",
        "<details><summary>More: the paper's recipe, dropping early, fewer steps</summary>",
        "- The paper's recipe (the pg-recipe preset) drops the top brick, B2, late all the same: on the paper's "
        "ImageNet models, judged over 50,000 pictures, that saved time at no loss of quality for the last 30% of "
        "the steps, and lost some for the last 50% (FID, a distance to real pictures where lower is better: 2.24 "
        "with every brick, 2.05 and 3.10; this lesson drops 40%, between the two). A pixel change says how far one "
        "picture moved, not whether it got worse: look at the pictures and judge which you would rather have.",
        "- Dropping the brick late changed the image less than dropping it early for B0; more for B2; about as much "
        "(a tie) for B1.",
        "- Dropping the brick late changed the image more than running every brick with fewer steps (the nearest "
        "cost) for B0; about as much (a tie) for B1 and B2.",
        "</details>"]
    measured = "Over many pictures of this model, the judge named the emoji asked for in 58.9% of them."
    with_sweep = take_away(lesson_of([1.0, 2.0, 6.0], early=[3.0, 2.0, 1.0], fewer=[0.5, 2.2, 6.3]), 2, measured)
    assert with_sweep.split("\n\n")[6] == f"- {measured}"  # right after the paper's figures
    tied_least = take_away(lesson_of([1.0, 1.3, 6.0]), 1)
    assert "B0 and B1 tied for the least change (1.00 / 255 and 1.30 / 255) and B2 most" in tied_least
    assert "Your guess, B1, shares that tie." in tied_least
    assert "Your guess, B0, was right." in take_away(lesson_of([1.0, 2.0, 6.0]), 0)
    assert "That agrees with the paper's recipe (the pg-recipe preset), which drops the top brick, B2, late." in \
        take_away(lesson_of([6.0, 2.0, 1.0]), 0)  # the top brick changed the picture least
    assert "So B1 was the better trade here: 20% of the FLOPs saved, against the top brick's 10%, for less change." \
        in take_away(reversed_savings([2.0, 1.0, 6.0]), 1)
    all_tied = take_away(lesson_of([1.0, 1.2, 1.4]), 2)
    assert "every brick changed the image about as much (1.00 / 255, 1.20 / 255 and 1.40 / 255): a tie." in all_tied
    assert "least" not in all_tied and "most" not in all_tied


@pytest.mark.parametrize("seed", range(40))
def test_no_stage_contradicts_the_numbers_it_shows(seed):
    """Random measurements: every comparison in every stage agrees with the two numbers it compares, as shown."""
    import re

    from lego.lesson import cost_verdict, early_late_verdict, late_verdict
    from lego.visuals import TIE

    rng = np.random.default_rng(seed)
    late, early, fewer = (list(np.round(rng.uniform(0, 3, 3), 3)) for _ in range(3))
    lesson = lesson_of(late, early, fewer)
    lesson = type(lesson)(**{**lesson.__dict__, **{  # stored as measured: rounded to what is shown
        k: tuple(type(r)(r.label, r.saving, round(r.pixel_difference, 2), r.image, r.steps) for r in getattr(lesson, k))
        for k in ("late", "early", "fewer")}})
    for guess in range(3):
        # the early stage shows early then late in bold, the cost stage late then fewer steps
        for text, late_first in ((early_late_verdict(lesson, guess), False), (cost_verdict(lesson, guess), True)):
            shown = [float(x) for x in re.findall(r"\*\*([0-9.]+) / 255\*\*", text)]
            late_shown, other = shown if late_first else shown[::-1]
            claim = re.search(r"dropping (?:it|B\d) late changed the image (less than|more than|about as much as)",
                              text).group(1)
            if round(abs(late_shown - other) * 100) < TIE * 100:
                assert claim == "about as much as"
            else:
                assert claim == ("less than" if late_shown < other else "more than")
        shown = [float(x) for x in re.findall(r"\| B\d \| \d+% \| ([0-9.]+) / 255 \|", late_verdict(lesson, guess))]
        named = re.search(r"(?:changed the image least|You were right)", late_verdict(lesson, guess))
        assert named and len(shown) == 3
        least = [k for k in range(3) if round((shown[k] - min(shown)) * 100) < TIE * 100]
        verdict = late_verdict(lesson, guess)
        if guess in least:
            assert verdict.startswith("**You were right" if len(least) == 1 else "**A tie you share")
        else:
            assert verdict.startswith("**Not this time: " + " and ".join(f"B{k}" for k in least))


def test_lesson_runs_every_variant_and_measures_it():
    from lego.lesson import EVERY_BRICK, LESSON_STEPS, lesson_plan, run_lesson
    from lego.schedule import drop_early, drop_late
    from lego.serving import Served

    served = Served.of("tiny", randomized("tiny-emoji"), "fp32")
    lesson = run_lesson(served, 8, seed=3)
    plan = lesson_plan(CONFIG, 8, 3)
    assert list(plan)[:7] == [EVERY_BRICK] + [f"{n} off for the last 40%" for n in lesson.names] + \
        [f"{n} off for the first 40%" for n in lesson.names]
    assert plan[f"{lesson.names[1]} off for the first 40%"].schedule == drop_early(CONFIG, 1)
    assert plan[f"{lesson.names[1]} off for the last 40%"].schedule == drop_late(CONFIG, 1)
    reference = run_to_end(served.model, plan[EVERY_BRICK], estimate(CONFIG, plan[EVERY_BRICK], 1.0), "fp32")
    assert np.array_equal(lesson.reference, reference.images[0]) and lesson.category == "Flags"
    for rows in (lesson.late, lesson.early, lesson.fewer):
        for row in rows:
            measured = np.abs(row.image.astype(int) - reference.images[0].astype(int)).mean()
            assert row.pixel_difference == round(measured, 2)
    for late, early, fewer in zip(lesson.late, lesson.early, lesson.fewer):
        # the honest baseline: every brick, at the step count nearest in FLOPs to this late drop
        assert fewer.steps == matched_steps(CONFIG, plan[late.label]) < LESSON_STEPS
        assert 0 < late.saving and abs(fewer.saving - late.saving) < 1 / LESSON_STEPS
        assert early.steps == late.steps == LESSON_STEPS and early.image.shape == (64, 64, 3)
    assert len(served.cache) == len(plan)  # each run is small enough for the served model's cache


def test_a_second_lesson_is_replayed_without_sampling(monkeypatch):
    import lego.lesson
    from lego.lesson import LessonCache, lesson_steps, run_lesson
    from lego.runs import RunCache
    from lego.serving import Served

    served = Served.of("tiny", randomized("tiny-emoji"), "fp32")
    calls = []
    sampling = lego.lesson.run
    monkeypatch.setattr(lego.lesson, "run", lambda *a, **k: calls.append(1) or sampling(*a, **k))
    store = LessonCache()
    first = run_lesson(served, 2, store=store)
    runs = len(lego.lesson.lesson_plan(served.config, 2, 0))
    assert len(calls) == runs and len(store) == 1
    served.cache = RunCache()  # a class generating images has pushed every lesson run out of the run cache
    again = lesson_steps(served, 2, store=store)
    with pytest.raises(StopIteration) as done:
        next(again)  # no progress to report: nothing is sampled
    assert done.value.value is first and len(calls) == runs
    other_seed = run_lesson(served, 2, seed=1, store=store)  # the key holds the seed (and model and category)
    assert len(calls) == 2 * runs and other_seed is not first and len(store) == 2
    assert LessonCache.key(served, 2, 0) != LessonCache.key(Served.of("b", randomized("tiny-emoji", 1), "fp32"), 2, 0)
    small = LessonCache(max_bytes=int(1.5 * first.nbytes))
    small.put(("a",), first)
    small.put(("b",), other_seed)
    assert small.get(("a",)) is None and small.get(("b",)) is other_seed  # bounded: the oldest lesson goes


def test_a_stopped_lesson_samples_no_further_and_the_next_one_reuses_finished_runs(monkeypatch):
    import lego.lesson
    from lego.lesson import lesson_steps, run_lesson
    from lego.serving import Served

    served = Served.of("tiny", randomized("tiny-emoji"), "fp32")
    evaluations = []
    served.model.register_forward_pre_hook(lambda *_: evaluations.append(1))
    steps = lesson_steps(served, 0)
    seen = [next(steps) for _ in range(LESSON_STEPS + 3)]  # the first run, and three steps of the second
    runs = len(lego.lesson.lesson_plan(served.config, 0, 0))
    assert str(seen[-1]) == f"run 2/{runs} ({served.names[0]} off for the last 40%), step 3/{LESSON_STEPS}"
    steps.close()  # what Stop does: the generator is not resumed
    stopped_at = len(evaluations)
    per_step = SamplerSettings(steps=LESSON_STEPS, method=LESSON_METHOD).evaluations_per_step()
    assert stopped_at == sum(per_step) + sum(per_step[:3])
    assert len(served.cache) == 1  # the finished run is kept
    calls = []
    sampling = lego.lesson.run
    monkeypatch.setattr(lego.lesson, "run", lambda *a, **k: calls.append(1) or sampling(*a, **k))
    run_lesson(served, 0)
    assert len(calls) == runs - 1 and len(evaluations) > stopped_at  # the finished run is replayed, the rest sampled


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


def test_look_inside_opens_at_the_latest_step_within_three_quarters_where_the_most_bricks_run():
    from ui.inside import opening_step

    on, top_off = [True] * 3, [True, True, False]
    assert opening_step([on] * 8) == 6  # three quarters of the way
    assert opening_step([on] * 5 + [top_off] * 3) == 5  # pg-recipe at 8 steps: before the top brick goes
    assert opening_step([top_off] * 2 + [on] * 6) == 6
    assert opening_step([top_off] * 8) == 6  # no step runs every brick: as many as any
    assert opening_step([on]) == 1


def test_an_absurd_size_is_refused_before_its_cost_is_worked_out():
    """The page's live estimate takes the Width box's raw number: 64e9 pixels wide in overlap mode once took
    minutes, and memory, to count its windows before the size was checked."""
    import gradio as gr

    from lego.serving import Served
    from ui.context import AppContext

    s = Served.of("default", randomized("tiny-emoji"), "fp32")
    with pytest.raises(gr.Error, match="larger than this machine serves"):
        AppContext.parse(s, None, 0, 8, 2.0, "", "dpm++2m", 1, 64 * 10**9, 64, "overlap", 0, False, "repeat", 4,
                         "", [[0, 1, 2, 3]] * s.config.num_bricks)


def test_windows_are_counted_without_listing_them():
    from lego.canvas import window_count, window_starts

    for length in range(1, 80):
        for window, stride in ((16, 8), (16, 4), (16, 16), (8, 2)):
            for shift in range(0, 2 * stride):
                assert window_count(length, window, stride, shift) == len(window_starts(length, window, stride, shift))
    assert window_count(64 * 10**9, 16, 8) == 8 * 10**9 - 1
