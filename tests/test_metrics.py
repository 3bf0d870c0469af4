from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lego.data import load
from lego.judge import JUDGE_DIR, augment, features, level_accuracy, level_targets, load_judge, predict, to_tensor
from lego.labels import LabelSpace
from lego.metrics import balanced_sample, evaluate, frechet_distance, judge_view, nearest_distances

from conftest import emoji_levels_model, randomized
from test_data import build_fixture

SPACE = LabelSpace(("A", "B", "a1", "b1", "x", "y", "z"), (2, 2, 3), (-1, -1, 0, 1, 2, 2, 3))


@pytest.fixture(scope="module")
def fixture_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "emoji.npz"
    build_fixture(out)
    return load(out)


def test_frechet_distance_known_values():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2000, 8))
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-6)
    near = frechet_distance(a, a + 0.5)
    far = frechet_distance(a, a + 2.0)
    assert near == pytest.approx(8 * 0.25, rel=1e-6) and far == pytest.approx(8 * 4.0, rel=1e-6)
    wide = frechet_distance(a, a * 3)  # same mean, std 1 vs 3: 8 * (1 + 9 - 2*3) = 32
    assert wide == pytest.approx(32, rel=0.05)


def test_nearest_distance_finds_copies_across_reference_chunks():
    ref = torch.rand(5000, 3, 4, 4) * 2 - 1
    gen = torch.stack([ref[3], ref[4999], ref[7] * 0.5])
    d = nearest_distances(gen, ref)
    assert d[0] == pytest.approx(0, abs=1e-6) and d[1] == pytest.approx(0, abs=1e-6) and d[2] > 0.05


def test_accuracy_per_level_counts_only_labelled_images():
    labels = torch.tensor([[0, 2, 4], [0, 2, 5], [1, 3, 6], [1, 3, -1]])
    predicted = torch.tensor([[0, 2, 4], [0, 2, 4], [0, 3, 6], [1, 2, 5]])
    assert level_accuracy(predicted, labels, SPACE) == {"category": 0.75, "subcategory": 0.75, "emoji": 0.6667}
    assert [t.tolist() for t in level_targets(labels, SPACE)] == [[0, 0, 1, 1], [0, 0, 1, 1], [0, 1, 2, -1]]


def test_augmentation_keeps_shape_range_and_white_surroundings():
    gen = torch.Generator().manual_seed(0)
    white = torch.ones(16, 3, 64, 64)
    out = augment(white, gen)
    assert out.shape == white.shape and out.min() >= -1 and out.max() <= 1
    assert out.mean() > 0.9  # a white image stays (nearly) white: the fill outside is white, not black
    images = torch.rand(8, 3, 64, 64) * 2 - 1
    a, b = augment(images, torch.Generator().manual_seed(1)), augment(images, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, images)


def test_balanced_sample_takes_the_same_number_of_every_category(fixture_data):
    rng = np.random.default_rng(0)
    picks = balanced_sample(fixture_data, 3, rng)
    counts = np.bincount(fixture_data.categories[picks])
    assert set(counts[counts > 0]) == {3} and (counts > 0).sum() == len(np.unique(fixture_data.categories))
    others = balanced_sample(fixture_data, 1, rng, exclude=picks[:1])
    assert picks[0] not in others or (fixture_data.categories == fixture_data.categories[picks[0]]).sum() == 1


def test_a_floor_sample_is_disjoint_where_the_data_allows_and_never_one_leftover_repeated():
    """A category of 6 drawings asked for 20 twice (a small vocabulary's held-out style): the second sample is drawn
    from all 6, as the first was, not 20 copies of whatever the first left; a category of 40 gives two disjoint."""
    data = SimpleNamespace(categories=np.array([0] * 6 + [1] * 40))
    for seed in range(20):
        rng = np.random.default_rng(seed)
        reference = balanced_sample(data, 20, rng)
        other = balanced_sample(data, 20, rng, exclude=reference)
        small, large = other[other < 6], other[other >= 6]
        assert len(small) == len(large) == 20
        assert len(np.unique(small)) >= 4  # iid from 6: all but a rare draw see at least four of them
        assert not set(large) & set(reference) and len(np.unique(large)) == 20


def test_the_judge_sees_every_model_size_at_its_own():
    small = torch.zeros(2, 3, 32, 32)
    assert judge_view(small).shape == (2, 3, 64, 64) and judge_view(torch.zeros(1, 3, 64, 64)).shape[-1] == 64


def test_shipped_judge_names_real_emoji_of_the_held_out_style(fixture_data):
    judge = load_judge(JUDGE_DIR)
    held = fixture_data.split(evaluation=True)
    known = held.labels[:, 2] >= 0
    names = [fixture_data.space.names[i] for i in held.labels[known, 2]]
    predicted = predict(judge, to_tensor(held.images[known]))
    named = [judge.space.names[i] for i in predicted[:, 2]]
    assert sum(a == b for a, b in zip(names, named)) >= len(names) // 2  # 1,904 emoji: chance is 0.05%
    categories = predict(judge, to_tensor(held.images))[:, 0].tolist()
    named = [judge.space.names[c] for c in categories]
    assert sum(a == fixture_data.space.names[c] for a, c in zip(named, held.labels[:, 0])) >= len(held.images) // 2
    assert features(judge, to_tensor(held.images)).shape == (len(held.images), 256)


def test_evaluate_reports_every_figure_at_equal_sample_sizes(fixture_data):
    judge = load_judge(JUDGE_DIR)
    result = evaluate(randomized("tiny-emoji"), judge, fixture_data, "pg-recipe", per_category=1, steps=2,
                      precision="fp32")
    assert result["samples"] == 9 and result["schedule"]["name"] == "pg-recipe" and result["label_level"] == "category"
    assert set(result["accuracy"]) == {"category"} and result["category_accuracy"] == result["accuracy"]["category"]
    assert result["emoji_fd"] > max(result["emoji_fd_floor"], 0)  # random weights are far from emoji
    assert result["emoji_fd_floor_training_styles"] > 0 and result["copies"] == 0
    levels = evaluate(emoji_levels_model(), judge, fixture_data, per_category=2, steps=2, precision="fp32")
    assert levels["label_level"] == "emoji" and set(levels["accuracy"]) == {"category", "subcategory", "emoji"}
    assert set(levels["requests"]) <= {"grinning face", "cat face", "black cat", "dog face", "eagle", "red apple"}
    with pytest.raises(ValueError, match="no emoji labels"):
        evaluate(randomized("tiny-emoji"), judge, fixture_data, per_category=1, steps=2, level="emoji")


def test_auroc_known_values():
    from lego.judge import auroc

    assert auroc(torch.tensor([3.0, 4.0]), torch.tensor([1.0, 2.0])) == 1.0
    assert auroc(torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])) == 0.0
    assert auroc(torch.tensor([1.0, 3.0]), torch.tensor([2.0, 2.0])) == 0.5
    assert auroc(torch.tensor([2.0]), torch.tensor([2.0])) == 0.5


def test_kernel_distance_is_unbiased_and_grows_with_the_shift():
    from lego.metrics import kernel_distance

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(200, 16)), rng.normal(size=(200, 16))
    same = kernel_distance(a, b)
    assert abs(same) < 0.05  # two samples of one distribution: about zero even at n=200
    assert kernel_distance(a, b + 0.5) > 10 * abs(same) and kernel_distance(a, b + 1.0) > kernel_distance(a, b + 0.5)


def test_the_command_line_says_what_is_missing_without_a_traceback(tmp_path, capsys):
    from lego.metrics import main as metrics_main

    data = tmp_path / "emoji.npz"
    build_fixture(data)
    common = ["evaluate", "--data", str(data)]
    for argv, message in (([*common, "--checkpoint", str(tmp_path / "none")], "no checkpoint directory at"),
                          ([*common, "--checkpoint", "checkpoints/lego-emoji-s", "--judge", str(tmp_path)],
                           "no judge at"),
                          (["evaluate", "--checkpoint", "checkpoints/lego-emoji-s", "--data", str(tmp_path / "x.npz")],
                           "no data set at")):
        assert metrics_main(argv) == 2
        assert capsys.readouterr().err.startswith(f"error: {message}")
    # a mistake in the options: one line, no traceback, before or without any sampling
    model = [*common, "--checkpoint", "checkpoints/lego-emoji-s"]
    for extra, message in ((["--schedule", "pg-recip"], "error: the schedule 'pg-recip' is none of these"),
                           (["--level", "emoji"], "error: this model has no emoji labels")):
        assert metrics_main([*model, "--per-category", "1", *extra]) == 2
        assert capsys.readouterr().err.startswith(message)
    for extra in (["--per-category", "0"], ["--steps", "-3"]):
        with pytest.raises(SystemExit):  # argparse's own refusal, naming the option
            metrics_main([*model, *extra])
        assert "must be 1 or more" in capsys.readouterr().err
    for command in ("evaluate", "train-judge"):  # every option explained, each default given once
        with pytest.raises(SystemExit):
            metrics_main([command, "--help"])
        shown = " ".join(capsys.readouterr().out.split())
        assert "(default: None)" not in shown and "(default: False)" not in shown and str(JUDGE_DIR.parent) not in shown
        assert shown.count("default:") == shown.count("(default") and "(default: data/emoji64.npz)" in shown
        assert "--data DATA the emoji data" in shown


def test_the_judge_is_scored_on_a_vocabulary_only_with_the_labels_it_was_trained_on(fixture_data):
    from lego.data import DataError
    from lego.metrics import judge_on_held_out

    emoji = sorted({int(i) for i in fixture_data.labels[:, 2] if i >= 0})[:2]
    with pytest.raises(DataError, match="trained on another data set"):  # the fixture is not the judge's data
        judge_on_held_out(load_judge(JUDGE_DIR), fixture_data, emoji)


def test_a_model_of_some_emoji_is_judged_on_those_unless_told_otherwise(fixture_data):
    """Scored against every emoji, a 48-emoji model would be asked for emoji it never learnt."""
    from lego.config import ARCHITECTURES
    from lego.metrics import trained_emoji
    from lego.model import LegoModel

    space = fixture_data.space
    emoji = list(range(space.offset(2), space.num_classes))[:2]
    few = fixture_data.only_emoji(emoji)
    model = LegoModel(ARCHITECTURES["tiny-emoji"].with_labels(few.space))
    assert trained_emoji(model, fixture_data) == [space.names[i] for i in emoji]
    assert fixture_data.emoji_indices(trained_emoji(model, fixture_data)) == emoji  # what --emoji would pick
    assert trained_emoji(LegoModel(ARCHITECTURES["tiny-emoji"].with_labels(space)), fixture_data) == []
