import pytest
import torch

from lego.collage import CollageMaker, CollageStyle, pastel


def solid_emoji() -> tuple[torch.Tensor, torch.Tensor]:
    """Category 0: black squares on white; category 1: plain white (invisible on any wall)."""
    images = torch.full((6, 3, 64, 64), 255, dtype=torch.uint8)
    images[:3, :, 16:48, 16:48] = 0
    return images, torch.tensor([0, 0, 0, 1, 1, 1])


def test_collage_crops_have_the_training_size_and_range():
    maker = CollageMaker(*solid_emoji(), num_classes=2, size=64)
    out = maker(torch.tensor([0, 1, 0]), torch.Generator().manual_seed(0))
    assert out.shape == (3, 3, 64, 64) and out.dtype == torch.float32
    assert out.min() >= -1 and out.max() <= 1


def test_a_collage_shows_only_its_category_on_a_pastel_background():
    maker = CollageMaker(*solid_emoji(), num_classes=2, size=96)
    gen = torch.Generator().manual_seed(1)
    for _ in range(5):
        walls = (maker(torch.tensor([0, 1]), gen) + 1) / 2
        dark, blank = walls
        assert (dark.amin(0) < 0.05).float().mean() > 0.05  # many black emoji (~17% of a wall) in every crop
        background = blank.flatten(1)
        assert torch.allclose(background, background[:, :1], atol=1e-5)  # nothing drawn: one flat colour
        colour = background[:, 0]
        style = CollageStyle()
        assert style.value[0] - 1e-5 <= colour.max() <= style.value[1] + 1e-5
        saturation = 1 - colour.min() / colour.max()
        assert style.saturation[0] - 1e-4 <= saturation <= style.saturation[1] + 1e-4


def test_pastel_colours_cover_the_hues():
    colours = pastel(600, CollageStyle(), torch.Generator().manual_seed(0), torch.device("cpu"))[:, :, 0, 0]
    assert set(colours.argmax(1).tolist()) == {0, 1, 2}  # reds, greens and blues all occur


def test_collages_follow_the_generator():
    maker = CollageMaker(*solid_emoji(), num_classes=2, size=64)
    labels = torch.tensor([0, 0])
    a = maker(labels, torch.Generator().manual_seed(7))
    b = maker(labels, torch.Generator().manual_seed(7))
    c = maker(labels, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def dark_runs_per_row(wall: torch.Tensor) -> int:
    dark = (wall.amin(0) < 0).int()  # (H, W), 1 where an emoji is drawn
    return int((dark[:, 1:] - dark[:, :-1]).clamp(min=0).sum(1).max() + dark[:, 0].max())


def test_cell_size_sets_how_many_emoji_a_crop_holds():
    images, labels = solid_emoji()
    gen = torch.Generator().manual_seed(2)
    big = CollageMaker(images, labels, 2, 96, CollageStyle(cell_min=32, cell_max=32))
    small = CollageMaker(images, labels, 2, 96, CollageStyle(cell_min=8, cell_max=8))
    assert max(dark_runs_per_row(big(torch.tensor([0]), gen)[0]) for _ in range(5)) <= 4  # 96 / 32 + 1
    assert min(dark_runs_per_row(small(torch.tensor([0]), gen)[0]) for _ in range(5)) >= 8


def test_impossible_cell_sizes_are_refused():
    for low, high in ((40, 20), (2, 8)):
        with pytest.raises(ValueError, match="collage cells"):
            CollageStyle(cell_min=low, cell_max=high)
