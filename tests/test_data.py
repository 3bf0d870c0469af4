import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from lego.data import (ALLOWED_LICENCES, HELD_OUT_STYLE, METADATA, NAMES, STYLES, DataError, build, credits, emoji_name,
                       fetch, load, manifest_path, tarball_name)
from lego.render import RenderError, render_svg, svg_document

FIXTURE = Path(__file__).parent / "fixtures" / "npm"
FIXTURE_STYLES = tuple(c for c in STYLES if c.name in ("noto", "twemoji", "fxemoji", "emojione-v1", "flag"))


def build_fixture(out: Path) -> dict:
    """The data set of the cut packages in tests/fixtures/npm (no network)."""
    return build(out, FIXTURE, styles=FIXTURE_STYLES, progress=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "emoji.npz"
    summary = build_fixture(out)
    return out, summary, json.loads(manifest_path(out).read_text())


def records(manifest, **where):
    return [r for r in manifest["images"] if all(r[k] == v for k, v in where.items())]


def test_every_style_is_matched_by_code_point_or_exact_name(built):
    out, summary, manifest = built
    assert summary["per_style"] == {"noto": 5, "twemoji": 8, "fxemoji": 3, "flag": 2}
    # noto and twemoji through their chars.json, fxemoji by exact name ('redapple'), and its
    # 'grin' (another emoji, not in the cut emoji.json) is left unmatched, never guessed
    assert sorted(r["icon"] for r in records(manifest, style="fxemoji")) == ["redapple", "rocket", "soccerball"]
    assert {r["unified"] for r in records(manifest, name="red apple")} == {"1F34E"}
    # flag sets by ISO code; the square '1x1' variant of the same flag is not a second image
    assert sorted(r["icon"] for r in records(manifest, style="flag")) == ["jp-4x3", "us-4x3"]


def test_licences_are_read_from_each_package_and_share_alike_is_left_out(built):
    _, summary, manifest = built
    assert summary["excluded_styles"] == {"emojione-v1": "licence CC-BY-SA-4.0: not one of Apache-2.0, MIT, CC-BY-4.0"}
    licences = {(s["name"], s["licence"]) for s in manifest["styles"]}
    assert licences == {("noto", "Apache-2.0"), ("twemoji", "CC-BY-4.0"), ("fxemoji", "Apache-2.0"), ("flag", "MIT")}
    for r in manifest["images"]:
        assert r["licence"] in ALLOWED_LICENCES and r["package"].startswith("@iconify-json/") and r["version"]
    assert len(manifest["credits"]) == 4 and any("Twitter" in c and "CC-BY-4.0" in c for c in manifest["credits"])
    # a model card credits the art its model learnt from; the held-out style is the judge's yardstick only
    out = built[0]
    assert [c for c in credits(out) if "Twitter" in c] == [] and len(credits(out)) == 3
    assert [c.split(":")[0] for c in credits(out, held_out=True)] == ["twemoji"]


def test_three_label_levels_follow_the_metadata(built):
    out, _, manifest = built
    data = load(out)
    space = data.space
    assert space.sizes == (9, 6, 7)
    cat = space.names.index("cat face")
    assert [space.names[i] for i in space.chain(cat)] == ["Animals & Nature", "animal-mammal", "cat face"]
    for row, r in zip(data.labels, manifest["images"]):
        if row[2] >= 0:
            assert space.names[row[2]] == r["name"]
            assert list(row) == list(space.chain(int(row[2])))
        assert space.names[row[0]] == r["category"]


def test_an_emoji_carries_the_keywords_its_name_lacks_and_keeps_them_in_a_small_vocabulary(built):
    data = load(built[0])
    space = data.space
    ball = space.names.index("soccer ball")
    assert space.keywords[ball] == ("football", "futbol", "sport")  # 'soccer' and 'ball' are in the name
    assert all(k == () for k in space.keywords[:space.offset(2)])  # categories and sub-categories have none
    assert space.search("futbol") == [ball]
    small = data.restricted(emoji=["soccer ball", "cat face"]).space
    assert small.keywords[small.names.index("soccer ball")] == space.keywords[ball]
    assert small.keywords[small.names.index("cat face")] == ("animal", "kitten", "kitty", "pet")


def test_one_whole_style_is_held_out_and_emoji_only_it_draws_have_no_class(built):
    out, _, manifest = built
    data = load(out)
    styles = [s["name"] for s in manifest["styles"]]
    assert (data.held_out == (data.style == styles.index(HELD_OUT_STYLE))).all()
    train = data.split(evaluation=False)
    assert (train.labels >= 0).all()
    only_held = records(manifest, name="face with bags under eyes")
    assert [r["style"] for r in only_held] == [HELD_OUT_STYLE]
    assert "face with bags under eyes" not in data.space.names
    assert data.images.shape == (18, 64, 64, 3) and data.images.dtype == np.uint8
    corners = data.images[:, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert (corners > 240).mean() > 0.9  # transparency composited on white


def test_class_weights_draw_every_category_equally_and_every_emoji_within_it(built):
    data = load(built[0]).split(evaluation=False)
    w = data.class_weights()
    per_category = np.bincount(data.categories, weights=w)
    present = per_category[per_category > 0]
    assert np.allclose(present, present[0])
    fruit = data.labels[:, 2] == data.space.names.index("red apple")
    assert fruit.sum() == 2 and np.isclose(w[fruit].sum(), present[0])  # the only Food emoji, two styles


def test_the_renderer_works_at_any_size():
    svg = svg_document('<circle cx="8" cy="8" r="8" fill="#f00"/>', 0, 0, 16, 16, 64)
    for size in (16, 64, 200):
        image = render_svg(svg, size)
        assert image.shape == (size, size, 3)
        assert tuple(image[size // 2, size // 2]) == (255, 0, 0) and tuple(image[0, 0]) == (255, 255, 255)
    with pytest.raises(RenderError):
        render_svg("<svg", 64)


def test_an_emoji_is_named_as_phones_name_it_else_by_its_unicode_name(built):
    heart = {"unified": "2764-FE0F", "name": "HEAVY BLACK HEART", "short_name": "heart", "category": "Symbols"}
    assert emoji_name(heart, {"2764": "red heart"}) == "red heart"  # variation selectors do not matter
    assert emoji_name(heart, {}) == "heavy black heart"
    santa = {"unified": "1F385", "name": "FATHER CHRISTMAS", "short_name": "santa", "category": "People & Body"}
    assert emoji_name(santa, {}) == "father christmas (santa)"
    flag = {"unified": "1F1EF-1F1F5", "name": "Japan Flag", "short_name": "flag-jp", "category": "Flags"}
    assert emoji_name(flag, {}) == "flag: Japan"
    _, _, manifest = built
    assert manifest["names"] == {"package": NAMES[0], "version": NAMES[1]}
    assert {r["name"] for r in manifest["images"]} >= {"cat face", "flag: Japan", "red apple"}


def package(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_wrong_package_version_is_refused(tmp_path):
    payload = json.dumps({"version": "15.0.0"}).encode()
    package(tmp_path / tarball_name(*METADATA), {"package/package.json": payload, "package/emoji.json": b"[]"})
    with pytest.raises(DataError, match="holds version 15.0.0, expected 16.0.0"):
        build(tmp_path / "out.npz", tmp_path)
    (tmp_path / tarball_name(*METADATA)).write_bytes((FIXTURE / tarball_name(*METADATA)).read_bytes())
    package(tmp_path / tarball_name(*NAMES), {"package/package.json": payload, "package/en/data.json": b"[]"})
    with pytest.raises(DataError, match=f"holds version 15.0.0, expected {NAMES[1]}"):
        build(tmp_path / "out.npz", tmp_path)


def test_missing_npm_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no npm on this PATH
    with pytest.raises(DataError, match="npm was not found"):
        fetch(*METADATA, tmp_path / "empty-cache")


def test_missing_data_file_says_how_to_build_it(tmp_path):
    with pytest.raises(DataError, match="python -m lego.data build"):
        load(tmp_path / "nope.npz")


def test_a_restricted_data_set_keeps_the_styles_and_levels_asked_for(built):
    data = load(built[0])
    style = data.style_names[0]
    one = data.restricted([style], levels=1)
    assert len(one.labels) == int((data.style == 0).sum()) and set(one.style.tolist()) == {0}
    assert one.space.depth == 1 and one.labels.shape[1] == 1
    assert (one.labels[:, 0] == data.labels[data.style == 0, 0]).all()  # the categories are kept as they were
    with pytest.raises(DataError, match=f"no style nope in this data set; it has {style}"):
        data.restricted(["nope"])


def test_a_small_vocabulary_keeps_its_emoji_their_sub_categories_and_every_category(built, tmp_path):
    from lego.data import read_emoji_list

    data = load(built[0])
    space = data.space
    emoji = sorted({int(i) for i in data.labels[:, 2] if i >= 0})[:2]
    listed = tmp_path / "emoji.txt"
    listed.write_text(f"# two of them\n{space.names[emoji[0]]}\n\n{space.describe(emoji[1])}  # a picker entry\n")
    names = read_emoji_list(listed)
    small = data.restricted(emoji=names)
    assert small.space.sizes[0] == space.sizes[0] and small.space.names[:9] == space.names[:9]
    assert small.space.sizes[2] == 2 and len(small.labels) == int(np.isin(data.labels[:, 2], emoji).sum())
    for old, new in zip(data.labels[np.isin(data.labels[:, 2], emoji)], small.labels):  # the same names, renumbered
        assert [space.names[i] for i in old] == [small.space.names[i] for i in new]
        assert small.space.chain(int(new[2])) == tuple(int(i) for i in new)
    with pytest.raises(DataError, match="is a subcategory, not an emoji"):
        data.restricted(emoji=[space.names[space.chain(emoji[0])[1]]])
    style = data.style_names[int(data.style[np.isin(data.labels[:, 2], emoji)][0])]
    both = data.restricted([style], levels=2, emoji=names)  # every restriction at once keeps each of them
    assert len(both.labels) == int((np.isin(data.labels[:, 2], emoji) & (data.style == data.style_names.index(style)))
                                   .sum()) > 0
    assert both.space.sizes == small.space.sizes[:2] and both.labels.shape[1] == 2
    assert both.labels[:, 1].max() < sum(both.space.sizes)
    with pytest.raises(DataError, match="cannot read the emoji list"):
        read_emoji_list(tmp_path / "missing.txt")
