import json

import pytest

from lego.config import ARCHITECTURES
from lego.sampler import sigma_steps
from lego.schedule import (PRESETS, BrickSchedule, ScheduleError, load_schedule, off_steps, parse_schedule, preset,
                           schedule_text, top_brick_break)

PG = ARCHITECTURES["tiny-pg"]
PR = ARCHITECTURES["tiny-pr"]


def test_json_round_trip_of_every_preset():
    for name in PRESETS:
        s = preset(name, PG)
        again = BrickSchedule.from_json(s.to_json(), PG.num_bricks)
        assert again == s
        assert again.mask(18) == s.mask(18)


def test_mask_follows_step_midpoints_for_any_step_count():
    s = BrickSchedule((((0.0, 1.0),), ((0.0, 0.5),)))
    assert [row[1] for row in s.mask(4)] == [True, True, False, False]
    assert [row[1] for row in s.mask(5)] == [True, True, False, False, False]  # midpoint 0.5 is off
    assert all(row[0] for row in s.mask(7))


def test_pg_recipe_switches_the_top_brick_off_for_the_last_40_percent():
    mask = preset("pg-recipe", PG).mask(20)
    assert [row[2] for row in mask] == [True] * 12 + [False] * 8
    assert all(row[0] and row[1] for row in mask)


def test_pr_recipe_switches_the_top_local_brick_off_for_the_first_40_percent():
    mask = preset("pr-recipe", PR).mask(10)
    assert [row[2] for row in mask] == [False] * 4 + [True] * 6
    assert PR.bricks[2].region < PR.image_size


def test_local_only_and_global_only_presets():
    assert preset("local-only", PG).mask(3)[0] == [True, True, False]
    assert preset("global-only", PG).mask(3)[0] == [False, False, True]
    assert preset("global-only", ARCHITECTURES["tiny-u"]).mask(3)[0] == [True, False, False, False, True]


def test_t_break_sweep_ends():
    assert top_brick_break(PG, 0.0).mask(5) == BrickSchedule.all_on(3).mask(5)
    assert not any(row[2] for row in top_brick_break(PG, 1.0).mask(5))


def test_describe_shows_step_and_sigma_spans():
    sigmas = sigma_steps(10)
    text = preset("pg-recipe", PG).describe(10, sigmas)
    assert text[0] == [f"steps 1-10 (sigma {sigmas[0]:.3g} to 0)"]
    assert text[2] == [f"steps 1-6 (sigma {sigmas[0]:.3g} to {sigmas[6]:.3g})"]


def test_empty_brick_list_is_allowed_when_others_cover_each_step():
    s = BrickSchedule.from_json('{"bricks": {"0": [], "1": [[0, 1]], "2": []}}', 3)
    assert all(row == [False, True, False] for row in s.mask(6))


@pytest.mark.parametrize("text,message", [
    ('{"bricks": {"0": [[0, 1]], "1": [[0, 1]], "2": [[0, 1]], "3": [[0, 1]]}}', "unknown brick '3'"),
    ('{"bricks": {"top": [[0, 1]], "1": [[0, 1]], "2": [[0, 1]]}}', "unknown brick 'top'"),
    ('{"bricks": {"0": [[0, 1]], "1": [[0, 1]]}}', r"no entry for brick\(s\) \[2\]"),
    ('{"bricks": {"0": [[0, 0.6], [0.5, 1]], "1": [], "2": []}}', "overlap"),
    ('{"bricks": {"0": [[0, 1.5]], "1": [], "2": []}}', "out of range"),
    ('{"bricks": {"0": [[0.5, 0.5]], "1": [], "2": []}}', "out of range"),
    ('{"bricks": {"0": [[-0.1, 1]], "1": [], "2": []}}', "out of range"),
    ('{"bricks": {"0": [[0, "1"]], "1": [], "2": []}}', "pair of numbers"),
    ('{"bricks": {"0": "all", "1": [], "2": []}}', "list of"),
    ('{"bricks": [[0, 1]]}', "must be an object"),
    ('[1, 2]', "must be an object"),
    ('{"bricks": {"0": [[0, 1]]', "not valid JSON"),
])
def test_validation_messages(text, message):
    with pytest.raises(ScheduleError, match=message):
        BrickSchedule.from_json(text, 3)


def test_a_step_with_no_brick_is_refused_with_the_step_numbers_the_grid_shows():
    s = BrickSchedule.from_json('{"bricks": {"0": [[0, 0.5]], "1": [], "2": []}}', 3)
    with pytest.raises(ScheduleError, match=r"^no brick is on at steps 3-4 of 4: switch at least one brick on"):
        s.mask(4)
    gaps = BrickSchedule.from_json('{"bricks": {"0": [[0.1, 0.5], [0.6, 0.7]], "1": [], "2": []}}', 3)
    with pytest.raises(ScheduleError, match=r"^no brick is on at steps 1, 6 and 8-10 of 10:"):
        gaps.mask(10)
    with pytest.raises(ScheduleError, match=r"^no brick is on at step 1 of 10:"):
        BrickSchedule.from_json('{"bricks": {"0": [[0.1, 1]], "1": [], "2": []}}', 3).mask(10)


def test_oversized_json_is_refused():
    big = json.dumps({"bricks": {"0": [[0, 1]], "1": [], "2": []}, "pad": "x" * 70000})
    with pytest.raises(ScheduleError, match="larger than"):
        BrickSchedule.from_json(big, 3)


def test_unknown_preset_and_schedule_for_another_model():
    with pytest.raises(ScheduleError, match="unknown preset 'fast'"):
        preset("fast", PG)
    with pytest.raises(ScheduleError, match="describes 3 bricks but the model has 5"):
        preset("all", PG).check_bricks(5)
    with pytest.raises(ScheduleError, match="positive integer"):
        preset("all", PG).mask(0)


def test_load_schedule_from_preset_json_text_and_file(tmp_path):
    assert load_schedule("pg-recipe", PG) == preset("pg-recipe", PG)
    text = preset("pr-recipe", PG).to_json()
    assert load_schedule(text, PG) == preset("pr-recipe", PG)
    f = tmp_path / "s.json"
    f.write_text(text)
    assert load_schedule(str(f), PG) == preset("pr-recipe", PG)
    with pytest.raises(ScheduleError, match="none of these: a preset's name .* or a JSON file"):
        load_schedule(str(tmp_path / "missing.json"), PG)
    # the line a link or a PNG carries reads back as the schedule it was written from
    pg = preset("pg-recipe", PG)
    assert load_schedule(schedule_text(pg), PG).ranges == pg.ranges == parse_schedule(schedule_text(pg), PG).ranges


def test_a_request_names_a_preset_or_gives_json_never_a_file(tmp_path):
    assert parse_schedule(" pg-recipe ", PG) == preset("pg-recipe", PG)
    assert parse_schedule(preset("pr-recipe", PG).to_json(), PG) == preset("pr-recipe", PG)
    f = tmp_path / "s.json"
    f.write_text(preset("pr-recipe", PG).to_json())
    for text, message in ((str(f), "is none of these"),  # a path is not read: the app takes no file a request names
                          ("s.json", "the schedule 's.json' is none of these: a preset's name \\(all, pg-recipe")):
        with pytest.raises(ScheduleError, match=message):
            parse_schedule(text, PG)


def test_one_brick_schedules_and_their_errors():
    from lego.schedule import drop_early, drop_late, one_brick

    s = one_brick(PG, 1, ((0.5, 1.0),), "late middle")
    assert [row[1] for row in s.mask(4)] == [False, False, True, True] and all(row[0] and row[2] for row in s.mask(4))
    assert drop_late(PG, 2, 1.0).mask(5) == drop_early(PG, 2, 1.0).mask(5) == [[True, True, False]] * 5
    # off for the first 40% is off for the last 40% read backwards: the same steps from the other end
    assert drop_early(PG, 1).mask(18) == drop_late(PG, 1).mask(18)[::-1]
    assert [row[1] for row in drop_early(PG, 1).mask(18)] == [False] * 7 + [True] * 11
    assert top_brick_break(PG, 0.4).ranges == preset("pg-recipe", PG).ranges
    with pytest.raises(ScheduleError, match="unknown brick 3"):
        one_brick(PG, 3, (), "x")


def test_deep_nesting_is_refused_before_parsing_but_brackets_in_strings_do_not_count():
    from lego.schedule import MAX_JSON_DEPTH, check_nesting

    with pytest.raises(ScheduleError, match=f"nested more than {MAX_JSON_DEPTH} levels"):
        BrickSchedule.from_json("[" * 10_000, 3)
    check_nesting('{"name": "[[[[[[[[[[[[ \\" [[[[[[[["}', 2)  # inside a string, escaped quote included
    with pytest.raises(ScheduleError):
        check_nesting('{"a": [[{"b": 1}]]}', 3)
    check_nesting('{"a": [[{"b": 1}]]}', 4)


def test_a_range_of_one_step_is_labelled_as_that_step():
    from lego.sampler import sigma_steps
    from lego.schedule import grid_labels

    labels = grid_labels(5, 8, sigma_steps(8))
    assert [label.split(",")[0] for label in labels] == ["steps 1-2", "step 3", "steps 4-5", "step 6", "steps 7-8"]


def test_presets_for_a_stack_leave_out_those_it_has_no_bricks_for():
    from lego.config import BrickConfig, LegoConfig
    from lego.schedule import presets_for

    assert list(presets_for(PG)) == list(PRESETS)
    local = LegoConfig(image_size=16, num_classes=3, hidden_size=32, num_heads=2,
                       bricks=(BrickConfig(4, 2, 1), BrickConfig(8, 2, 1)))
    assert "global-only" not in presets_for(local) and "all" in presets_for(local)
    assert presets_for(local)["local-only"] == preset("local-only", local)


def test_the_preset_box_names_the_preset_whose_grid_the_ticks_are():
    from lego.schedule import from_grid, grid_preset, to_grid

    config = ARCHITECTURES["tiny-pg"]
    for name in ("all", "pg-recipe", "pr-recipe"):
        assert grid_preset(config, to_grid(preset(name, config), 5), 5, 8) == name
    assert grid_preset(config, [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [0, 1, 2]], 5, 8) == "pg-recipe"  # any order
    assert grid_preset(config, [[0, 1, 2, 3, 4], [0, 1, 2, 3, 4], [0, 1, 2, 3]], 5, 8) is None  # by hand: custom
    assert grid_preset(config, [[0, 1], [0, 1], [0, 1]], 2, 8) == "all"
    # 4 ranges cannot show pg-recipe at 8 steps: its nearest grid turns the top brick off from step 5, the preset
    # from step 6, and a run of it is not called the preset's
    nearest = to_grid(preset("pg-recipe", config), 4)
    assert from_grid(nearest, 4).mask(8) != preset("pg-recipe", config).mask(8)
    assert grid_preset(config, nearest, 4, 8) is None
    assert grid_preset(config, to_grid(preset("pg-recipe", config), 10), 10, 20) == "pg-recipe"


def test_what_a_schedule_leaves_out_is_said_in_steps_counted_from_1():
    mask = [[True, True], [True, False], [True, True], [False, False]]
    assert off_steps(mask, ["B0", "B1"]) == "B0 off at step 4 of 4; B1 off at step 2, step 4 of 4"
    assert off_steps([[False, True], [False, True]], ["B0", "B1"]) == "B0 off at every step"
    assert off_steps(BrickSchedule.all_on(2).mask(3), ["B0", "B1"]) == "every brick at every step"
