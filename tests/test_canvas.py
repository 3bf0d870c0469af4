import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from lego.canvas import Canvas, CanvasError, blend_weights, coordinates, window_starts
from lego.config import ConfigError
from lego.flops import evaluation_flops, schedule_cost
from lego.sampler import SamplerSettings, sample
from lego.schedule import BrickSchedule


SIGMA = torch.tensor([1.5])
LABEL = torch.tensor([1])
GLOBAL_ONLY = [False, False, True]


def run(model, x, canvas, active=None, step=0):
    with torch.no_grad():
        return model(x, SIGMA.expand(x.shape[0]), LABEL.expand(x.shape[0]), active=active, canvas=canvas, step=step)


@pytest.mark.parametrize("mode", ["tiles", "overlap", "global"])
@pytest.mark.parametrize("height,width", [(16, 48), (32, 16), (32, 32)])
def test_every_option_on_non_square_canvases(pg_model, mode, height, width):
    x = torch.randn(2, 3, height, width)
    out = run(pg_model, x, Canvas(mode=mode, shift=True), step=3)
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_overlap_with_stride_equal_to_window_is_tiles(pg_model):
    x = torch.randn(1, 3, 32, 48)
    assert torch.equal(run(pg_model, x, Canvas("overlap", stride=16)), run(pg_model, x, Canvas("tiles")))


def test_training_size_canvas_is_the_same_for_every_option(pg_model):
    x = torch.randn(1, 3, 16, 16)
    base = run(pg_model, x, Canvas("tiles"))
    for canvas in (Canvas("overlap"), Canvas("global"), Canvas("overlap", coords="extend"), Canvas(coords="squeeze")):
        assert torch.equal(run(pg_model, x, canvas), base)


@pytest.mark.parametrize("height,width,stride", [(16, 48, 8), (48, 32, 4), (64, 64, 12), (16, 16, 8)])
def test_blending_weights_sum_to_one_everywhere(height, width, stride):
    ys, xs = window_starts(height, 16, stride), window_starts(width, 16, stride)
    weights = blend_weights(height, width, 16, ys, xs)
    total = torch.zeros(height, width)
    for k, (y, x) in enumerate((y, x) for y in ys for x in xs):
        total[y:y + 16, x:x + 16] += weights[k]
    torch.testing.assert_close(total, torch.ones(height, width))
    assert ys[0] == 0 and ys[-1] == height - 16 and xs[-1] == width - 16


def test_shifted_windows_still_cover_the_canvas():
    for offset in range(8):
        starts = window_starts(64, 16, 8, offset)
        covered = torch.zeros(64)
        for s in starts:
            covered[s:s + 16] = 1
        assert covered.all()


@pytest.mark.parametrize("mode,reaches", [("tiles", False), ("overlap", True), ("global", True)])
def test_a_change_in_one_tile_reaches_the_others_only_when_coupled(pg_model, mode, reaches):
    x = torch.randn(1, 3, 16, 48)
    y = x.clone()
    y[:, :, 4:12, 4:12] += 2.0  # inside the first 16x16 tile
    a = run(pg_model, x, Canvas(mode), GLOBAL_ONLY)
    b = run(pg_model, y, Canvas(mode), GLOBAL_ONLY)
    far = (a - b)[..., 32:].abs().max()  # the third tile
    near = (a - b)[..., 16:32].abs().max()
    if mode == "tiles":
        assert near == 0 and far == 0
    elif mode == "overlap":
        assert near > 0  # through the window that straddles the first two tiles
    else:
        assert far > 0
    assert ((a - b)[..., :16].abs().max() > 0)


def test_coordinates_squeeze_and_extend():
    squeeze, extend = coordinates(16, 48, 16, "squeeze"), coordinates(16, 48, 16, "extend")
    assert squeeze[1].max() == 1 and squeeze[1].min() == -1
    assert extend[1].max() > 2.9 and torch.allclose(extend[0], squeeze[0])  # height is the training size
    torch.testing.assert_close(coordinates(16, 16, 16, "extend"), coordinates(16, 16, 16, "squeeze"))


@pytest.mark.parametrize("canvas,step", [(Canvas("overlap"), 0), (Canvas("overlap", stride=4), 0),
                                         (Canvas("global"), 0), (Canvas("overlap", shift=True), 0),
                                         (Canvas("overlap", shift=True), 1), (Canvas("overlap", shift=True), 2)])
def test_analytic_flops_follow_the_option(pg_model, canvas, step):
    x = torch.randn(1, 3, 32, 48)
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter, torch.no_grad():
        pg_model(x, SIGMA, LABEL, canvas=canvas, step=step)
    predicted = evaluation_flops(pg_model.config, 32, 48, canvas=canvas, step=step)
    counts = counter.get_flop_counts()  # windows call the brick's parts, not the brick itself
    parts = ["x_embedder", "final_layer"] + [f"blocks.{j}" for j in range(pg_model.config.bricks[2].depth)]
    got = sum(sum(counts.get(f"LegoModel.model.2.{part}", {}).values()) for part in parts)
    assert got == pytest.approx(predicted.bricks[2], rel=0.02)
    tiles = evaluation_flops(pg_model.config, 32, 48).bricks[2]
    assert predicted.bricks[2] > tiles


def test_shifted_windows_cost_more_on_the_steps_that_add_windows(pg_model):
    config, shifted = pg_model.config, Canvas("overlap", shift=True)
    per_step = [evaluation_flops(config, 48, 48, canvas=shifted, step=s).total for s in range(5)]
    plain = evaluation_flops(config, 48, 48, canvas=Canvas("overlap")).total
    assert per_step[0] == per_step[4] == plain and max(per_step[1:4]) > plain  # four positions in turn
    settings = SamplerSettings(steps=4, method="euler")
    cost = schedule_cost(config, BrickSchedule.all_on(3), settings, 48, 48, guided=False, canvas=shifted)
    assert cost.total == sum(per_step[:4]) == cost.reference_total


def test_global_attention_grows_quadratically_tiles_linearly(pg_model):
    config = pg_model.config
    small, big = (32, 32), (64, 64)  # 4x the area
    ratio = {m: evaluation_flops(config, *big, canvas=Canvas(m)).bricks[2]
             / evaluation_flops(config, *small, canvas=Canvas(m)).bricks[2] for m in ("tiles", "overlap", "global")}
    assert ratio["tiles"] == pytest.approx(4, rel=0.01)
    assert 3.5 < ratio["overlap"] < 6
    assert ratio["global"] > 4.5


@pytest.mark.parametrize("kwargs,message", [
    ({"mode": "stretch"}, "canvas mode must be one of"),
    ({"coords": "wrap"}, "coordinates must be one of"),
    ({"stride": -4}, "non-negative"),
])
def test_bad_canvas_options(kwargs, message):
    with pytest.raises(CanvasError, match=message):
        Canvas(**kwargs)


def test_bad_stride_and_size_are_clear_errors(pg_model):
    with pytest.raises(CanvasError, match="at most the window"):
        run(pg_model, torch.randn(1, 3, 16, 48), Canvas("overlap", stride=32))
    with pytest.raises(CanvasError, match="multiple of 4"):
        run(pg_model, torch.randn(1, 3, 16, 48), Canvas("overlap", stride=6))
    with pytest.raises(ConfigError, match="multiple of 16"):
        run(pg_model, torch.randn(1, 3, 16, 40), Canvas("global"))


def test_sampling_a_wide_canvas_with_shifted_windows(pg_model):
    result = sample(pg_model, [0], [1], SamplerSettings(steps=3, guidance=2.0), height=16, width=64,
                    canvas=Canvas("overlap", shift=True, coords="extend"))
    assert result.images.shape == (1, 3, 16, 64)


def test_repeated_coordinates_give_every_tile_the_training_positions():
    trained = coordinates(16, 16, 16, "repeat")
    wall = coordinates(32, 48, 16, "repeat")
    for y in (0, 16):
        for x in (0, 16, 32):
            torch.testing.assert_close(wall[:, y:y + 16, x:x + 16], trained)
    torch.testing.assert_close(trained, coordinates(16, 16, 16, "squeeze"))


def test_tiles_with_repeated_coordinates_are_independent_training_size_images(pg_model):
    x = torch.randn(1, 3, 32, 48)
    wall = run(pg_model, x, Canvas("tiles", coords="repeat"))
    for y in (0, 16):
        for left in (0, 16, 32):
            alone = run(pg_model, x[:, :, y:y + 16, left:left + 16], Canvas("tiles"))
            torch.testing.assert_close(wall[:, :, y:y + 16, left:left + 16], alone)


def test_many_canvas_sizes_leave_a_bounded_cache(pg_model):
    from lego.model import _sincos_table, _window_plan

    for side in range(48, 48 + 16 * 12, 16):  # a dozen sizes, each with its own table and windows
        x = torch.randn(1, 3, 32, side)
        run(pg_model, x, Canvas("global"))
        run(pg_model, x, Canvas("overlap", shift=True), step=side // 16)
    assert _sincos_table.cache_info().currsize <= 8 and _window_plan.cache_info().currsize <= 16
    hits = _sincos_table.cache_info().hits
    run(pg_model, torch.randn(1, 3, 32, side), Canvas("global"))  # the last size again: its table is reused
    assert _sincos_table.cache_info().hits > hits
