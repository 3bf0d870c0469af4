import pytest
import torch

from lego.config import ARCHITECTURES, BrickConfig, ConfigError, LegoConfig
from lego.canvas import coordinates
from lego.model import LegoModel, NoActiveBrickError

from conftest import randomized

SIGMA = torch.tensor([0.7, 3.0])
LABELS = torch.tensor([1, -1])


def manual_stack(model: LegoModel, x, sigma, labels, active):
    """The skipping contract written out brick by brick, independently of LegoModel.forward."""
    sd = model.config.sigma_data
    s = sigma.reshape(-1, 1, 1, 1)
    c_in = 1 / (s**2 + sd**2).sqrt()
    cond = model.t_embedder(sigma.log() / 4) + model.y_embedder(labels)
    coords = coordinates(x.shape[2], x.shape[3], model.config.image_size).expand(x.shape[0], -1, -1, -1)
    prev, outs = None, []
    for i, brick in enumerate(model.model):
        if not active[i]:
            outs.append(None)
            continue
        feed = torch.cat([c_in * x, coords], 1)
        if i > 0:
            feed = torch.cat([prev if prev is not None else torch.zeros_like(x), feed], 1)
        prev = brick(feed, cond)
        outs.append(sd**2 / (s**2 + sd**2) * x + s * sd / (s**2 + sd**2).sqrt() * prev)
    return outs


@pytest.mark.parametrize("height,width", [(16, 16), (16, 48), (32, 16)])
def test_output_shapes_square_and_non_square(any_model, height, width):
    x = torch.randn(2, 3, height, width)
    outs = any_model(x, SIGMA, LABELS, return_all=True)
    assert len(outs) == any_model.num_bricks
    assert all(o.shape == x.shape for o in outs)
    assert any_model(x, SIGMA, LABELS).shape == x.shape


def test_all_bricks_on_is_the_plain_stack_bit_for_bit(any_model):
    x = torch.randn(2, 3, 16, 32)
    on = [True] * any_model.num_bricks
    with torch.no_grad():
        plain = any_model(x, SIGMA, LABELS)
        scheduled = any_model(x, SIGMA, LABELS, active=on)
        manual = manual_stack(any_model, x, SIGMA, LABELS, on)[-1]
    assert torch.equal(plain, scheduled)
    assert torch.equal(plain, manual)


def test_top_brick_off_equals_stack_up_to_brick_below(any_model):
    x = torch.randn(2, 3, 16, 16)
    n = any_model.num_bricks
    with torch.no_grad():
        every = any_model(x, SIGMA, LABELS, return_all=True)
        top_off = any_model(x, SIGMA, LABELS, active=[True] * (n - 1) + [False])
    assert torch.equal(top_off, every[n - 2])


@pytest.mark.parametrize("active", [[False, True, True], [True, False, True], [False, False, True],
                                    [True, False, False]])
def test_skipped_bricks_follow_the_contract(pg_model, active):
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        got = pg_model(x, SIGMA, LABELS, active=active, return_all=True)
        want = manual_stack(pg_model, x, SIGMA, LABELS, active)
    for g, w, on in zip(got, want, active):
        assert (g is None) == (not on)
        if on:
            assert torch.equal(g, w)


def test_brick_zero_off_differs_from_all_on(pg_model):
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        full = pg_model(x, SIGMA, LABELS)
        skipped = pg_model(x, SIGMA, LABELS, active=[False, True, True])
    assert not torch.allclose(full, skipped)


def test_at_sigma_zero_the_denoiser_returns_its_input(pg_model):
    """EDM's D(x; 0) = x: the skip weight is 1 and the network's weight 0, every brick's estimate included."""
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        estimates = pg_model(x, torch.zeros(2), LABELS, return_all=True)
    assert all(torch.equal(e, x) for e in estimates)


def test_every_brick_off_is_a_clear_error(pg_model):
    with pytest.raises(NoActiveBrickError, match="every brick is switched off"):
        pg_model(torch.randn(1, 3, 16, 16), SIGMA[:1], LABELS[:1], active=[False, False, False])


def test_canvas_must_tile_every_region(pg_model):
    with pytest.raises(ConfigError, match="multiple of 16"):
        pg_model(torch.randn(1, 3, 16, 24), SIGMA[:1])


def test_local_brick_never_looks_outside_its_region():
    model = randomized("tiny-pg")
    x = torch.randn(1, 3, 16, 32)
    y = x.clone()
    y[:, :, :4, :4] += 1.0  # change one 4x4 region of brick 0
    only_first = [True, False, False]
    with torch.no_grad():
        a = model(x, SIGMA[:1], LABELS[:1], active=only_first)
        b = model(y, SIGMA[:1], LABELS[:1], active=only_first)
    changed = (a - b).abs().sum(dim=(0, 1)) > 0
    assert changed[:4, :4].any()
    changed[:4, :4] = False
    assert not changed.any()


def test_coordinates_for_non_square_canvas():
    c = coordinates(16, 48, 16, "squeeze")
    assert c.shape == (2, 16, 48)
    assert torch.equal(c[0, :, 0], torch.linspace(-1, 1, 16))  # rows along the height
    assert torch.equal(c[1, 0, :], torch.linspace(-1, 1, 48))  # columns along the width
    assert (c[0].std(dim=1) == 0).all() and (c[1].std(dim=0) == 0).all()


def test_adaln_modulation_runs_once_per_image_not_per_region(pg_model):
    batches = []
    hooks = [m.adaLN_modulation.register_forward_hook(lambda mod, inp, out: batches.append(out.shape[0]))
             for brick in pg_model.model for m in brick.blocks]
    with torch.no_grad():
        pg_model(torch.randn(2, 3, 32, 32), SIGMA, LABELS)
    for h in hooks:
        h.remove()
    assert batches and set(batches) == {2}


def test_parameter_names_follow_the_released_layout(pg_model):
    names = set(pg_model.state_dict())
    for key in ["model.0.x_embedder.proj.weight", "model.2.blocks.0.attn.qkv.weight", "model.1.blocks.0.attn.proj.bias",
                "model.0.blocks.0.mlp.fc1.weight", "model.0.blocks.0.mlp.fc2.bias",
                "model.0.blocks.0.adaLN_modulation.1.weight", "model.2.final_layer.linear.weight",
                "model.2.final_layer.adaLN_modulation.1.bias", "t_embedder.mlp.0.weight", "t_embedder.mlp.2.bias",
                "y_embedder.embedding_table.weight"]:
        assert key in names
    assert pg_model.model[0].x_embedder.proj.in_channels == 5  # [c_in x, coords]
    assert pg_model.model[1].x_embedder.proj.in_channels == 8  # [F, c_in x, coords]


def test_label_minus_one_is_the_zero_vector(pg_model):
    emb = pg_model.y_embedder(torch.tensor([-1]))
    assert torch.allclose(emb, pg_model.y_embedder.embedding_table.bias[None])


@pytest.mark.parametrize("bricks,message", [
    ((), "at least one brick"),
    ((BrickConfig(6, 4, 1),), "not a multiple of patch"),
    ((BrickConfig(12, 4, 1),), "not a multiple of region"),
    ((BrickConfig(4, 2, 0),), "brick 0's depth must be a whole number of at least 1, got 0"),
    ((BrickConfig(4, 2, 1.5),), "brick 0's depth must be a whole number of at least 1, got 1.5"),
    ("abc", "bricks must be a list"),
    ([4, 2, 1], "each brick must be an object"),
])
def test_config_validation(bricks, message):
    with pytest.raises(ConfigError, match=message):
        LegoConfig(image_size=16, hidden_size=32, num_heads=2, bricks=bricks)


@pytest.mark.parametrize("field,value,message", [
    ("num_heads", 0, "num_heads must be a whole number of at least 1, got 0"),
    ("hidden_size", 32.0, "hidden_size must be a whole number"),
    ("image_size", 0, "image_size must be a whole number"),
    ("image_size", True, "image_size must be a whole number"),
    ("mlp_ratio", float("nan"), "mlp_ratio must be a positive number, got nan"),
    ("mlp_ratio", -1, "mlp_ratio must be a positive number"),
    ("mlp_ratio", 0.01, "leaves the MLP no hidden units"),
    ("sigma_data", "x", "sigma_data must be a positive number, got 'x'"),
    ("num_classes", 2.5, "num_classes must be a whole number"),
    ("class_names", "abc", "class_names must be a list"),
    ("class_names", [1, 2, 3], "class_names must be text"),
    ("learned_positions", "yes", "learned_positions must be true or false"),
])
def test_a_config_with_a_malformed_value_says_which_and_why(field, value, message):
    """Read from a config.json anyone can write: a clear refusal, not a ZeroDivisionError or a TypeError when the
    network is built."""
    fields = dict(image_size=16, hidden_size=32, num_heads=2, num_classes=3, bricks=[dict(region=4, patch=2, depth=1)])
    with pytest.raises(ConfigError, match=message):
        LegoConfig.from_dict({**fields, field: value})


def test_config_dict_round_trip():
    for config in ARCHITECTURES.values():
        assert LegoConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="unknown config keys"):
        LegoConfig.from_dict({**ARCHITECTURES["tiny-pg"].to_dict(), "bogus": 1})


def test_bf16_weight_copy_matches_autocast_and_follows_weight_changes(pg_model):
    x = torch.randn(2, 3, 16, 32)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        reference = pg_model(x, SIGMA, LABELS)
        copy = pg_model.for_inference(torch.bfloat16)
        assert next(copy.parameters()).dtype == torch.bfloat16
        assert torch.equal(copy(x, SIGMA, LABELS), reference)  # same rounding as autocast's per-call casts
        assert pg_model.for_inference(torch.bfloat16) is copy  # cached
        next(pg_model.parameters()).add_(1.0)  # an in-place update (as the EMA does)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):  # a fresh autocast weight cache
        assert pg_model.for_inference(torch.bfloat16) is not copy
        assert torch.equal(pg_model.for_inference(torch.bfloat16)(x, SIGMA, LABELS), pg_model(x, SIGMA, LABELS))
    assert pg_model.for_inference(torch.float32) is pg_model
    assert "_inference_copies" not in dict(pg_model.named_modules())


def test_parameter_counts_without_building_weights_match_a_real_model():
    from lego.model import brick_parameters, parameter_counts, shared_parameters

    for config in ARCHITECTURES.values():
        with torch.device("meta"):  # shapes only: the paper's L layout has 500M parameters
            real = LegoModel(config)
        assert parameter_counts(config) == (tuple(brick_parameters(real)), shared_parameters(real))
