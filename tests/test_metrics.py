import numpy as np
import pytest
import torch

from lego.data import load
from lego.metrics import (CLASSIFIER_DIR, evaluate, features, frechet_distance, load_classifier, nearest_distances,
                          predict, to_tensor)

from conftest import randomized
from test_data import build_fixture


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


def test_nearest_distance_finds_copies():
    ref = torch.rand(10, 3, 8, 8) * 2 - 1
    gen = torch.stack([ref[3], ref[7] * 0.5])
    d = nearest_distances(gen, ref)
    assert d[0] == pytest.approx(0, abs=1e-6) and d[1] > 0.05


def test_shipped_classifier_recognises_real_emoji(fixture_data):
    classifier = load_classifier(CLASSIFIER_DIR)
    images = to_tensor(fixture_data.images)
    accuracy = (predict(classifier, images) == torch.from_numpy(fixture_data.labels)).float().mean()
    assert accuracy > 0.6  # 9 classes: chance is 0.11
    assert features(classifier, images).shape == (36, 128)


def test_evaluate_reports_every_figure(fixture_data):
    result = evaluate(randomized("tiny-emoji"), load_classifier(CLASSIFIER_DIR), fixture_data, "pg-recipe",
                      per_class=1, steps=2, precision="fp32")
    assert result["samples"] == 9 and result["schedule"]["name"] == "pg-recipe"
    assert result["emoji_fd"] > result["emoji_fd_floor"] > 0  # random weights are far from emoji
    assert 0 <= result["category_accuracy"] <= 1 and result["copies"] == 0
