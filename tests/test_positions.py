"""Position tables: the fixed sin-cos table of trained models, a converted model's learned table at and
beyond the training size."""

from dataclasses import replace

import pytest
import torch

from lego.canvas import Canvas, CanvasError
from lego.checkpoint import load_checkpoint, save_checkpoint
from lego.config import ARCHITECTURES
from lego.positions import SINCOS_TOLERANCE, is_sincos, learned_on_grid, sincos_2d
from lego.request import NO_CLASS, PlaygroundError, parse_request
from lego.sampler import SamplerSettings, sample
from lego.schedule import BrickSchedule

from conftest import randomized

SIGMA = torch.tensor([1.5])


def learned(seed: int = 0):
    """tiny-pg whose tables were moved (as training moves them), stored with its weights."""
    model = randomized(replace(ARCHITECTURES["tiny-pg"], learned_positions=True), seed)
    with torch.no_grad():
        for brick in model.model:
            brick.pos_embed.add_(torch.randn_like(brick.pos_embed) * 0.1)
    return model


def run(model, x, canvas=Canvas()):
    with torch.no_grad():
        return model(x, SIGMA.expand(x.shape[0]), torch.ones(x.shape[0], dtype=torch.long), canvas=canvas)


def test_models_we_train_keep_the_fixed_table():
    model = randomized("tiny-pg")
    assert not model.config.learned_positions
    assert not [k for k in model.state_dict() if k.endswith("pos_embed")]  # recomputed, never stored
    assert all(is_sincos(b.pos_embed, b.region // b.patch) for b in model.model)


def test_a_learned_table_is_stored_loaded_and_used(tmp_path):
    model = learned()
    assert [k for k in model.state_dict() if k.endswith("pos_embed")] == [f"model.{i}.pos_embed" for i in range(3)]
    loaded = load_checkpoint(save_checkpoint(model, tmp_path / "ckpt"))
    assert loaded.config.learned_positions
    for ours, theirs in zip(loaded.model, model.model):
        assert torch.equal(ours.pos_embed, theirs.pos_embed)
    x = torch.randn(1, 3, 16, 16)
    assert torch.equal(run(loaded, x), run(model, x))
    fixed = randomized(replace(model.config, learned_positions=False))
    fixed.load_state_dict({k: v for k, v in model.state_dict().items() if not k.endswith("pos_embed")})
    assert not torch.allclose(run(fixed, x), run(model, x))  # the learned table made the difference


def test_rounding_counts_as_the_sin_cos_table():
    table = sincos_2d(32, 4, 4)
    assert is_sincos(table + SINCOS_TOLERANCE / 2, 4) and not is_sincos(table + 3 * SINCOS_TOLERANCE, 4)


def test_tiles_use_the_learned_table_per_tile():
    """With tiles and repeated coordinates every tile is exactly a training-size sample."""
    model = learned()
    x = torch.randn(1, 3, 16, 32)
    wide = run(model, x)
    assert torch.equal(wide[..., :16], run(model, x[..., :16])) and torch.equal(wide[..., 16:], run(model, x[..., 16:]))


@pytest.mark.parametrize("canvas", [Canvas("tiles", coords="squeeze"), Canvas("tiles", coords="extend"),
                                    Canvas("overlap", shift=True, coords="extend"), Canvas("global", coords="repeat"),
                                    Canvas("global", coords="squeeze")])
def test_every_supported_option_runs_beyond_the_training_size(canvas):
    model = learned()
    x = torch.randn(2, 3, 32, 48)
    out = run(model, x, canvas)
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_global_attention_tiles_or_interpolates_the_table():
    table = learned().model[2].pos_embed  # the full-image brick: a 4x4 token grid
    tiled = learned_on_grid(table, 4, 8, 12, "repeat").reshape(8, 12, -1)
    square = table.reshape(4, 4, -1)
    assert torch.equal(tiled[4:, 8:], square) and torch.equal(tiled[:4, 4:8], square)
    assert torch.allclose(learned_on_grid(table, 4, 4, 4, "squeeze"), table, atol=1e-6)  # same grid: unchanged
    resized = learned_on_grid(table, 4, 8, 8, "squeeze").reshape(8, 8, -1)
    for (i, j), (k, m) in {(0, 0): (0, 0), (0, 7): (0, 3), (7, 0): (3, 0), (7, 7): (3, 3)}.items():
        torch.testing.assert_close(resized[i, j], square[k, m])  # corner tokens on corner tokens
    with pytest.raises(ValueError, match="never held"):
        learned_on_grid(table, 4, 8, 8, "extend")


def test_global_attention_with_extended_coordinates_is_refused_before_any_compute():
    model = learned()
    config = model.config
    with pytest.raises(CanvasError, match="use repeat .* or squeeze"):
        Canvas("global", coords="extend").check(config, 32, 32)
    Canvas("global", coords="extend").check(config, 16, 16)  # at the training size every option is the same
    Canvas("global", coords="extend").check(replace(config, learned_positions=False), 32, 32)  # sin-cos extends
    with pytest.raises(CanvasError, match="never held"):
        sample(model, [0], settings=SamplerSettings(steps=1), height=32, width=32, canvas=Canvas("global",
                                                                                                 coords="extend"))
    with pytest.raises(PlaygroundError, match="never held"):
        parse_request(config, NO_CLASS, 0, 2, 2.0, "heun", 1, 32, 32, BrickSchedule.all_on(3),
                      Canvas("global", coords="extend"))
