import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from lego.config import EMOJI_CATEGORIES
from lego.data import DataError, build, fetch, load, manifest_path, SOURCES

FIXTURE = Path(__file__).parent / "fixtures" / "npm"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "emoji.npz"
    summary = build(out, FIXTURE)
    return out, summary


def test_build_from_the_package_tarballs(built):
    out, summary = built
    data = load(out)
    assert data.images.shape == (36, 64, 64, 3) and data.images.dtype == np.uint8
    assert summary["per_category"] == {c: 4 for c in EMOJI_CATEGORIES}  # 2 emoji x 2 styles
    corners = data.images[:, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert (corners > 240).mean() > 0.9  # alpha composited on white


def test_manifest_credits_every_image(built):
    out, _ = built
    manifest = json.loads(manifest_path(out).read_text())
    assert len(manifest["images"]) == 36
    licences = {(r["package"], r["licence"], r["version"]) for r in manifest["images"]}
    assert licences == {("emoji-datasource-google", "Apache-2.0", "16.0.0"),
                        ("emoji-datasource-twitter", "CC-BY-4.0", "16.0.0")}
    assert any("Twemoji" in c for c in manifest["credits"]) and any("Noto" in c for c in manifest["credits"])


def test_held_out_split_keeps_both_styles_of_an_emoji_together(built):
    out, _ = built
    data = load(out)
    names = [r["name"] for r in json.loads(manifest_path(out).read_text())["images"]]
    side = {}
    for name, held in zip(names, data.held_out):
        assert side.setdefault(name, held) == held


def test_class_weights_draw_every_category_equally(built):
    data = load(built[0])
    data.labels[:10] = 0  # make one class over-represented
    w = data.class_weights()
    per_class = np.bincount(data.labels, weights=w, minlength=9)
    present = per_class[per_class > 0]
    assert np.allclose(present, present[0])


def test_wrong_package_version_is_refused(tmp_path):
    payload = json.dumps({"version": "15.0.0"}).encode()
    with tarfile.open(tmp_path / "emoji-datasource-google-16.0.0.tgz", "w:gz") as tar:
        for name, data in [("package/package.json", payload), ("package/emoji.json", b"[]")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(DataError, match="holds version 15.0.0, expected 16.0.0"):
        build(tmp_path / "out.npz", tmp_path)


def test_missing_npm_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no npm on this PATH
    with pytest.raises(DataError, match="npm was not found"):
        fetch(SOURCES[0], tmp_path / "empty-cache")


def test_missing_data_file_says_how_to_build_it(tmp_path):
    with pytest.raises(DataError, match="python -m lego.data build"):
        load(tmp_path / "nope.npz")
