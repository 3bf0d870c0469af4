"""Settings as one line of text: a link's query and a PNG's text chunk, read back through the app's checks."""

import pytest

from lego.canvas import Canvas
from lego.request import PlaygroundError, parse_request
from lego.schedule import BrickSchedule, preset
from lego.schedule import parse_schedule_text, schedule_text
from lego.settings_text import from_text, to_text

from conftest import emoji_levels_model, randomized


def test_every_setting_survives_the_round_trip_at_each_label_level():
    config = emoji_levels_model().config
    schedule = BrickSchedule((((0.0, 0.2), (0.4, 1.0)), (), ((0.0, 1.0),)))
    for draw in ("cat face", "animal-mammal", "Animals & Nature", None):
        request = parse_request(config, draw, 123, 12, 3.5, "heun", 3, 128, 64, schedule,
                                Canvas("overlap", 16, True, "squeeze"), guidance_interval="0.5-20")
        text = to_text(config, request, churn=0.5)
        back = from_text(config, text)
        assert back.request == request and back.churn == 0.5, text
        assert from_text(config, "?" + text).request == request  # a link's query, as the page gives it


def test_stride_and_shift_are_kept_only_where_windows_overlap():
    """Where no brick overlaps, stride and shift change nothing, and the settings a picture carries say so."""
    config = emoji_levels_model().config
    every = BrickSchedule.all_on(config.num_bricks)

    def request(mode: str, size: int, *options) -> object:
        return parse_request(config, "cat face", 1, 8, 2, "dpm++2m", 1, size, 64, every, Canvas(mode, *options))

    for mode, size in (("tiles", 128), ("overlap", 64), ("global", 128)):
        dropped = request(mode, size, 16, True)
        assert (dropped.canvas.stride, dropped.canvas.shift) == (0, False), mode
        assert "&stride=0&shift=0&" in to_text(config, dropped)
        assert dropped == request(mode, size)
    wide = request("overlap", 128, 16, True)
    assert wide.canvas == Canvas("overlap", 16, True) and "&stride=16&shift=1&" in to_text(config, wide)


def test_a_short_link_takes_the_apps_defaults_and_reads_as_written():
    config = randomized("tiny-emoji").config
    request = from_text(config, "draw=Flags&seed=4").request
    assert request.guidance_interval is None and "guide=" not in to_text(config, request)  # guided at every step
    middle = from_text(config, "draw=Flags&guide=1-40").request
    assert middle.guidance_interval == (1.0, 40.0) and "&guide=1-40&" in to_text(config, middle)
    assert (request.steps, request.method, request.guidance, request.images) == (8, "dpm++2m", 2.0, 1)
    assert (request.width, request.height) == (64, 64) and request.schedule.ranges == ((((0.0, 1.0),),) * 3)
    assert "schedule=0-1;0-1;0-0.6" in to_text(config, parse_request(
        config, "Flags", 0, 8, 2, "dpm++2m", 1, 64, 64, preset("pg-recipe", config)))


def test_schedule_text_reads_back_and_says_what_is_wrong():
    schedule = BrickSchedule((((0.0, 0.5),), (), ((0.25, 1.0),)))
    assert schedule_text(schedule) == "0-0.5;off;0.25-1"
    assert parse_schedule_text("0-0.5;off;0.25-1", 3).ranges == schedule.ranges
    for text, message in [("0-1;0-1", "gives 2 bricks"), ("0-1;0-1;half", "'half' is not a range"),
                          ("0-1;0-1;0.6-0.2", "brick 2"),
                          ("0-1;0-1;0-\u0661", "is not a range"),
                          ("0-1;0-1;" + ",".join(["0-0.1"] * 65), "more than 64")]:
        with pytest.raises(Exception, match=message):
            parse_schedule_text(text, 3)


@pytest.mark.parametrize("text, message", [
    ("seed=-1", "seed must be from 0"), ("steps=ten", "steps must be a number"), ("sampler=ddim", "sampler must be"),
    ("size=64", "size must look like 64x64"), ("size=48x64", "multiple of"), ("canvas=blend", "canvas mode"),
    ("shift=2", "shift must be from 0 to 1"), ("draw=dragons", "unknown class"), ("images=5", "from 1 to 4"),
    ("sedd=3", "unknown setting 'sedd'"), ("seed=1&seed=2", "given twice"), ("churn=-1", "churn must be"),
    ("schedule=0-0.5;off;off", "no brick is on"), ("seed=\u0663", "written in digits 0-9"),
    ("steps=\uff18", "written in digits 0-9"), ("draw=\u0661", "unknown class"),
    ("guide=40-1", "0 <= low < high"), ("guide=1", "two noise levels"), ("guide=1-inf", "finite|number"),
])
def test_bad_settings_are_refused_with_a_message(text, message):
    config = randomized("tiny-emoji").config
    with pytest.raises(PlaygroundError, match=message):
        from_text(config, text)


def test_the_command_line_may_ask_for_more_images_and_override_a_setting():
    config = randomized("tiny-emoji").config
    chosen = from_text(config, "draw=Flags&images=3&seed=1", max_images=16, overrides={"images": 12, "seed": 9})
    assert (chosen.request.images, chosen.request.seed) == (12, 9)
    assert from_text(config, "__theme=dark&seed=2").request.seed == 2  # the page's own keys are not settings


def test_a_links_schedule_goes_into_the_grid_that_draws_it_exactly_or_else_into_the_json_box():
    from ui.link import grid_for

    thirds = parse_schedule_text(schedule_text(BrickSchedule((((0.0, 1 / 3),), ((0.0, 1.0),), ((1 / 3, 1.0),)))), 3)
    assert grid_for(thirds, 10) == (3, [[0], [0, 1, 2], [1, 2]])  # edges written to 6 digits still fall on the grid
    assert grid_for(parse_schedule_text("0-1;0-1;0-0.6", 3), 10) == (5, [[0, 1, 2, 3, 4]] * 2 + [[0, 1, 2]])
    assert grid_for(parse_schedule_text("0-1;0-1;0-0.55", 3), 10) is None  # no grid of at most 10 ranges has 0.55


def test_numbers_read_back_exactly_however_they_are_written():
    config = randomized("tiny-emoji").config
    schedule = BrickSchedule((((0.0, 0.1250001),), ((1e-05, 1.0),), ((-0.0, 1 / 3), (0.5, 1.0))))
    request = parse_request(config, "Flags", 3, 4, 1.23456789, "heun", 1, 64, 64, schedule)
    text = to_text(config, request, churn=0.1 + 0.2)
    back = from_text(config, text)
    assert back.request.guidance == 1.23456789 and back.churn == 0.1 + 0.2
    assert back.request.schedule.ranges == schedule.ranges and back.request.schedule.mask(4) == schedule.mask(4)
    assert "schedule=0-0.1250001;1e-05-1;0-0.3333333333333333,0.5-1" in text  # shortest exact, never "-0"


def test_a_link_without_draw_draws_what_the_app_draws_first_and_a_typed_plus_is_understood():
    config = emoji_levels_model().config
    space = config.label_space()
    first = space.first_finest()
    assert from_text(config, "seed=1").request.label == first and space.level_name(space.level_of(first)) == "emoji"
    assert from_text(config, "sampler=dpm++2m").request.method == "dpm++2m"  # "+" reads as a space in a query
    assert from_text(config, "fbclid=abc&utm_source=x&seed=2").request.seed == 2  # added by sites that pass links on


@pytest.mark.parametrize("text, message", [
    ("&".join(f"__k{i}=1" for i in range(65)), "cannot be read"),
    ("size=" + "9" * 5000 + "x64", "width must be a finite number"),
    ("seed=2147483647&images=2", "seed \\+ number of images - 1 must be at most 2147483647"),
    ("draw=" + "x" * 70_000, "longer than 64 KiB"),
])
def test_hostile_settings_are_refused_with_a_short_message(text, message):
    config = randomized("tiny-emoji").config
    with pytest.raises(PlaygroundError, match=message) as refused:
        from_text(config, text)
    assert len(str(refused.value)) < 300


def test_a_png_is_read_for_its_text_without_decoding_its_pixels(tmp_path):
    import struct
    import zlib

    from lego.settings_text import read_png

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    bomb = tmp_path / "bomb.png"  # a header that claims 30000 x 30000 pixels, and nothing else
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)))
    with pytest.raises(PlaygroundError, match="is not a PNG that can be read"):
        read_png(bomb)
