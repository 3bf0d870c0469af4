"""The emoji training set: many emoji styles from npm, labelled at three levels.

    python -m lego.data build [--out data/emoji64.npz] [--cache data/npm] [--size 64]   # --size 32: data/emoji32.npz

Art: the iconify emoji sets (``@iconify-json/*``, one ``icons.json`` of SVG bodies each), rendered
with resvg at ``--size`` pixels on white. Labels: ``emoji-datasource``'s ``emoji.json`` gives
every emoji its category, sub-category and Unicode name; icons are matched to it by code point.
An emoji's class is named by ``emojibase-data``'s English CLDR name, the one phones show ('red heart',
'recycling symbol'), where the Unicode name is archaic ('heavy black heart'), and carries its keywords
from the same package, the words a phone's emoji search finds it by ('car', 'poop').

Licences are read from each package itself (``info.json`` and ``package.json``), not assumed:
a style is used only under a licence that allows shipping a model trained on it and the
pictures it makes, with credit (Apache-2.0, MIT, CC-BY-4.0). Share-alike, non-commercial and
unknown licences are left out, and the summary says which and why.

Matching, most trusted first: the package's own ``chars.json`` (code point -> icon name);
the icon's name in another package's ``chars.json`` (several sets share the Unicode names);
the icon's name equal, ignoring case and punctuation, to an ``emoji.json`` name. Nothing is
matched by a partial name. Skin-tone variants (recolourings of one drawing) are not matched.

Split: one whole style (``HELD_OUT_STYLE``) is held out of every training set, the judge's
included, so that the judge's accuracy on it says how it does on drawings it has never seen.

Outputs ``OUT`` (compressed arrays: images, labels (N, 3) = category, sub-category and emoji
index per image, style, held_out) and ``OUT`` with suffix ``.manifest.json`` (the label
vocabularies, the styles with source, version and licence, and a record per image).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import EMOJI_CATEGORIES
from .labels import LEVELS, LabelError, LabelSpace, folded
from .render import RenderError, render_svg, svg_document

IMAGE_SIZE = 64
METADATA = ("emoji-datasource", "16.0.0")
NAMES = ("emojibase-data", "16.0.3")  # CLDR names of the same emoji version


@dataclass(frozen=True)
class Candidate:
    """An iconify set to try. ``flag_suffix``: a set of country flags whose icons are named by
    ISO 3166 code and this suffix ('us-4x3'); they are matched to the emoji 'flag-us'."""

    name: str
    version: str
    flag_suffix: str | None = None


# Every candidate style; each package's own licence decides whether it is used. Few emoji sets
# draw country flags, so three flag sets give the Flags category drawings in several styles.
STYLES = (
    Candidate("noto", "1.2.9"), Candidate("noto-v1", "1.2.5"), Candidate("twemoji", "1.2.5"),
    Candidate("fluent-emoji-flat", "1.2.6"), Candidate("fluent-emoji", "1.2.7"), Candidate("fxemoji", "1.2.2"),
    Candidate("streamline-emojis", "1.2.4"), Candidate("emojione-v1", "1.2.3"), Candidate("emojione", "1.2.3"),
    Candidate("flag", "1.2.12", flag_suffix="-4x3"), Candidate("circle-flags", "1.2.11", flag_suffix=""),
    Candidate("flagpack", "1.2.8", flag_suffix=""),
)
HELD_OUT_STYLE = "twemoji"  # complete (every emoji) and drawn unlike the others: the judge's test
ALLOWED_LICENCES = ("Apache-2.0", "MIT", "CC-BY-4.0")


class DataError(RuntimeError):
    """The data set cannot be built or read."""


@dataclass(frozen=True)
class Style:
    name: str
    package: str
    version: str
    licence: str
    author: str
    icons: dict
    chars: dict[str, str]  # code point -> icon name
    default_size: tuple[float, float]
    flag_suffix: str | None = None

    @property
    def credit(self) -> str:
        return f"{self.name}: art (c) {self.author}, {self.licence} (npm {self.package}@{self.version})"


def tarball_name(package: str, version: str) -> str:
    return f"{package.lstrip('@').replace('/', '-')}-{version}.tgz"


def fetch(package: str, version: str, cache: Path) -> Path:
    """The package tarball in ``cache``, fetched with ``npm pack`` if it is not there yet."""
    path = cache / tarball_name(package, version)
    if path.is_file():
        return path
    npm = shutil.which("npm")
    if npm is None:
        raise DataError("npm was not found: install Node.js (it brings npm), or put "
                        f"{path.name} into {cache} by hand")
    cache.mkdir(parents=True, exist_ok=True)
    spec = f"{package}@{version}"
    done = subprocess.run([npm, "pack", spec, "--pack-destination", str(cache), "--silent"],
                          capture_output=True, text=True, timeout=900)
    if done.returncode != 0 or not path.is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise DataError(f"npm pack {spec} failed (is the npm registry reachable?): {' '.join(tail)}")
    return path


def read_json_members(path: Path, names: tuple[str, ...]) -> dict[str, object]:
    """Named JSON files of a package tarball, in one pass over the gzip stream."""
    found: dict[str, object] = {}
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            if member.isfile() and member.name in names:
                handle = tar.extractfile(member)
                if handle is not None:
                    found[member.name] = json.loads(handle.read())
    missing = [n for n in names if n not in found and not n.endswith("chars.json")]
    if missing:
        raise DataError(f"{path.name}: missing {', '.join(missing)}")
    return found


def licence_of(package_json: dict, info: dict) -> str:
    """The SPDX id both metadata files agree on; 'unknown' when they disagree or say nothing."""
    declared = package_json.get("license")
    spdx = (info.get("license") or {}).get("spdx")
    return declared if declared and declared == spdx else "unknown"


def read_style(path: Path, candidate: Candidate) -> Style:
    files = read_json_members(path, ("package/package.json", "package/info.json", "package/icons.json",
                                     "package/chars.json"))
    package_json, info, icons = files["package/package.json"], files["package/info.json"], files["package/icons.json"]
    version = candidate.version
    if package_json.get("version") != version:
        raise DataError(f"{path.name} holds version {package_json.get('version')}, expected {version}")
    author = (info.get("author") or {}).get("name", "its authors")
    size = (icons.get("width", 16), icons.get("height", 16))
    return Style(candidate.name, package_json["name"], version, licence_of(package_json, info), author,
                 icons["icons"], files.get("package/chars.json") or {}, size, candidate.flag_suffix)


def code_point_key(code: str) -> str:
    """Lower-case code points without variation selectors: '2764-FE0F' and '2764' are one emoji."""
    return "-".join(p for p in code.lower().split("-") if p and p != "fe0f")


def name_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


@dataclass
class Catalogue:
    """emoji.json: every emoji's place in the three levels, found by code point or by exact name."""

    entries: list[dict]
    by_code: dict[str, int]
    by_name: dict[str, int]

    @classmethod
    def read(cls, path: Path) -> "Catalogue":
        files = read_json_members(path, ("package/package.json", "package/emoji.json"))
        if files["package/package.json"].get("version") != METADATA[1]:
            raise DataError(f"{path.name} holds version {files['package/package.json'].get('version')}, "
                            f"expected {METADATA[1]}")
        entries = sorted((e for e in files["package/emoji.json"] if e.get("category") in EMOJI_CATEGORIES),
                         key=lambda e: e.get("sort_order", 0))
        by_code, by_name = {}, {}
        for i, e in enumerate(entries):
            for code in (e.get("unified"), e.get("non_qualified")):
                if code:
                    by_code.setdefault(code_point_key(code), i)
            for n in [e.get("name") or ""] + list(e.get("short_names") or []):
                if n:
                    by_name.setdefault(name_key(n), i)
        return cls(entries, by_code, by_name)

    def match(self, styles: list[Style]) -> dict[str, dict[str, int]]:
        """Per style: icon name -> emoji entry, each emoji at most once per style."""
        shared_names: dict[str, str] = {}  # icon name -> code point, from every chars.json
        for style in styles:
            for code, icon in style.chars.items():
                shared_names.setdefault(name_key(icon), code)
        matches = {}
        for style in styles:
            own = {icon: code for code, icon in style.chars.items()}
            found: dict[str, int] = {}
            taken: set[int] = set()
            for icon in style.icons:
                entry = self.entry_of(style, icon, own.get(icon), shared_names)
                if entry is not None and entry not in taken:
                    found[icon] = entry
                    taken.add(entry)
            matches[style.name] = found
        return matches

    def entry_of(self, style: Style, icon: str, own_code: str | None, shared_names: dict[str, str]) -> int | None:
        if style.flag_suffix is not None:
            code = re.fullmatch("([a-z]{2})" + re.escape(style.flag_suffix), icon)
            return self.by_name.get(name_key(f"flag-{code.group(1)}")) if code else None
        for code in (own_code, shared_names.get(name_key(icon))):
            if code is not None and code_point_key(code) in self.by_code:
                return self.by_code[code_point_key(code)]
        return self.by_name.get(name_key(icon))


def cldr_annotations(path: Path) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """emojibase-data's English CLDR name of every emoji, and its keywords (the words a phone's emoji search
    finds it by: 'car' for the automobile), by code point."""
    files = read_json_members(path, ("package/package.json", "package/en/data.json"))
    if files["package/package.json"].get("version") != NAMES[1]:
        raise DataError(f"{path.name} holds version {files['package/package.json'].get('version')}, "
                        f"expected {NAMES[1]}")
    entries = files["package/en/data.json"]
    return ({code_point_key(e["hexcode"]): e["label"] for e in entries if e.get("label")},
            {code_point_key(e["hexcode"]): tuple(e.get("tags") or ()) for e in entries})


def label_space(entries: list[dict], used: set[int], cldr: dict[str, str],
                keywords: dict[str, tuple[str, ...]]) -> tuple[LabelSpace, dict[int, int]]:
    """Category, sub-category and emoji levels over the emoji that have training images; an emoji's keywords are
    those of ``keywords`` that its name does not already hold.

    Returns the space and, per used catalogue entry, its emoji class index."""
    subcategories: list[tuple[str, str]] = []
    for i in sorted(used):
        key = (entries[i]["category"], entries[i]["subcategory"])
        if key not in subcategories:
            subcategories.append(key)
    subcategories.sort(key=lambda k: EMOJI_CATEGORIES.index(k[0]))  # stable: catalogue order within a category
    emoji = sorted(used, key=lambda i: (EMOJI_CATEGORIES.index(entries[i]["category"]),
                                        subcategories.index((entries[i]["category"], entries[i]["subcategory"])), i))
    n_cat, n_sub = len(EMOJI_CATEGORIES), len(subcategories)
    emoji_names: list[str] = []
    for i in emoji:  # two emoji with one name are told apart by their short names
        name = emoji_name(entries[i], cldr)
        emoji_names.append(f"{name} ({entries[i]['short_name']})" if name in emoji_names else name)
    names = list(EMOJI_CATEGORIES) + [s for _, s in subcategories] + emoji_names
    parents = ([-1] * n_cat + [EMOJI_CATEGORIES.index(c) for c, _ in subcategories]
               + [n_cat + subcategories.index((entries[i]["category"], entries[i]["subcategory"])) for i in emoji])
    words = [tuple(k for k in keywords.get(code_point_key(entries[i].get("unified") or ""), ())
                   if folded(k) not in folded(name).split()) for i, name in zip(emoji, emoji_names)]
    space = LabelSpace(tuple(names), (n_cat, n_sub, len(emoji)), tuple(parents), ((),) * (n_cat + n_sub) + tuple(words))
    return space, {entry: n_cat + n_sub + k for k, entry in enumerate(emoji)}


def emoji_name(entry: dict, cldr: dict[str, str]) -> str:
    """'red heart', 'flag: Egypt': the CLDR name; an emoji CLDR does not name gets its Unicode name in lower
    case, with the short name people type when the Unicode name does not contain it."""
    known_name = cldr.get(code_point_key(entry.get("unified") or ""))
    if known_name:
        return known_name
    name = (entry.get("name") or entry.get("short_name") or "").strip()
    if entry.get("category") == "Flags" and name.endswith(" Flag"):
        return "flag: " + name[:-5]
    short = (entry.get("short_name") or "").replace("_", " ").strip()
    name = name.lower()
    known = all(re.sub(r"\d+$", "", word) in name for word in short.lower().split())
    return f"{name} ({short})" if short and not known else name


def build(out: Path, cache: Path, size: int = IMAGE_SIZE, styles: tuple = STYLES, progress: bool = True) -> dict:
    catalogue = Catalogue.read(fetch(*METADATA, cache))
    cldr, keywords = cldr_annotations(fetch(*NAMES, cache))
    used_styles, excluded = [], {}
    for candidate in styles:
        style = read_style(fetch(f"@iconify-json/{candidate.name}", candidate.version, cache), candidate)
        if style.licence in ALLOWED_LICENCES:
            used_styles.append(style)
        else:
            excluded[candidate.name] = f"licence {style.licence}: not one of {', '.join(ALLOWED_LICENCES)}"
    if not used_styles:
        raise DataError("no style with a usable licence")
    matches = catalogue.match(used_styles)
    trained = {e for s in used_styles if s.name != HELD_OUT_STYLE for e in matches[s.name].values()}
    if not trained:
        raise DataError("no emoji matched outside the held-out style")
    space, emoji_class = label_space(catalogue.entries, trained, cldr, keywords)
    images, labels, style_ids, records = [], [], [], []
    total = sum(len(m) for m in matches.values())
    for s_index, style in enumerate(used_styles):
        for icon, entry in matches[style.name].items():
            body = style.icons[icon]
            width, height = body.get("width", style.default_size[0]), body.get("height", style.default_size[1])
            svg = svg_document(body["body"], body.get("left", 0), body.get("top", 0), width, height, size)
            try:
                images.append(render_svg(svg, size))
            except RenderError as exc:
                raise DataError(f"{style.package} icon {icon}: {exc}") from exc
            e = catalogue.entries[entry]
            emoji = emoji_class.get(entry, -1)  # -1: only the held-out style draws it
            sub = space.parents[emoji] if emoji >= 0 else -1
            labels.append((EMOJI_CATEGORIES.index(e["category"]), sub, emoji))
            style_ids.append(s_index)
            records.append({"style": style.name, "icon": icon, "unified": e["unified"], "name": emoji_name(e, cldr),
                            "category": e["category"], "subcategory": e["subcategory"], "package": style.package,
                            "version": style.version, "licence": style.licence})
            if progress and len(images) % 1000 == 0:
                print(f"rendered {len(images)}/{total}", file=sys.stderr)
    out.parent.mkdir(parents=True, exist_ok=True)
    held_index = [s.name for s in used_styles].index(HELD_OUT_STYLE) if HELD_OUT_STYLE in matches else -1
    style_arr = np.array(style_ids, dtype=np.int8)
    np.savez_compressed(out, images=np.stack(images), labels=np.array(labels, dtype=np.int32), style=style_arr,
                        held_out=style_arr == held_index)
    manifest = {
        "label_space": {"names": list(space.names), "sizes": list(space.sizes), "parents": list(space.parents),
                        "keywords": [list(k) for k in space.keywords]},
        "styles": [{"name": s.name, "package": s.package, "version": s.version, "licence": s.licence,
                    "author": s.author, "images": len(matches[s.name]), "held_out": s.name == HELD_OUT_STYLE}
                   for s in used_styles],
        "excluded_styles": excluded, "metadata": {"package": METADATA[0], "version": METADATA[1]},
        "names": {"package": NAMES[0], "version": NAMES[1]},
        "credits": [s.credit for s in used_styles], "size": size,
        "note": "default skin tone only; held_out marks the style kept out of every training set",
        "images": records,
    }
    manifest_path(out).write_text(json.dumps(manifest, indent=1))
    return summary(out)


def manifest_path(data: Path) -> Path:
    return data.with_suffix(".manifest.json")


def read_manifest(data: str | Path) -> dict:
    path = manifest_path(Path(data))
    if not path.is_file():
        raise DataError(f"no manifest at {path}: build the data with python -m lego.data build --out {data}")
    return json.loads(path.read_text())


def credits(data: str | Path, held_out: bool = False) -> list[str]:
    """One credit line per style that training learns from, or (``held_out``) that is kept for judging only: a
    model card credits the art its model learnt from, and a judge's card the art it was scored on apart."""
    m = read_manifest(data)
    return [line for style, line in zip(m["styles"], m["credits"]) if style["held_out"] == held_out]


def provenance(data: str | Path) -> str:
    """One sentence on what the data set holds, for model cards."""
    m = read_manifest(data)
    train = [f"{s['name']} ({s['images']:,})" for s in m["styles"] if not s["held_out"]]
    held = [s["name"] for s in m["styles"] if s["held_out"]]
    return (f"{m['size']}x{m['size']} renderings of the iconify emoji sets {', '.join(train)}, labelled through "
            f"{m['metadata']['package']} {m['metadata']['version']}, default skin tone only, categories drawn "
            f"equally often and every emoji equally often within its category"
            + (f"; the {held[0]} style is held out of training, for evaluation." if held else "."))


@dataclass
class EmojiData:
    images: np.ndarray  # (N, H, W, 3) uint8
    labels: np.ndarray  # (N, 3): category, sub-category, emoji, as indices into the label space (-1: none)
    held_out: np.ndarray  # (N,) bool
    style: np.ndarray  # (N,) index into style_names
    space: LabelSpace
    style_names: tuple[str, ...] = ()

    @property
    def categories(self) -> np.ndarray:
        return self.labels[:, 0]

    def subset(self, keep: np.ndarray) -> "EmojiData":
        return EmojiData(self.images[keep], self.labels[keep], self.held_out[keep], self.style[keep], self.space,
                         self.style_names)

    def restricted(self, styles: list[str] | None = None, levels: int | None = None,
                   emoji: list[str] | None = None) -> "EmojiData":
        """Only the images of ``styles``, labelled on the top ``levels`` levels only (for comparisons:
        fewer styles and coarser labels, as the first bundled model had), of the ``emoji`` named only."""
        data = self.only_emoji(self.emoji_indices(emoji)) if emoji else self
        if styles:
            unknown = set(styles) - set(self.style_names)
            if unknown:
                raise DataError(f"no style {', '.join(sorted(unknown))} in this data set; it has "
                                f"{', '.join(self.style_names)}")
            data = data.subset(np.isin(data.style, [self.style_names.index(s) for s in styles]))
        if levels and levels < data.space.depth:
            space = data.space.sub(range(data.space.offset(levels)))
            data = EmojiData(data.images, data.labels[:, :levels], data.held_out, data.style, space, data.style_names)
        return data

    def emoji_indices(self, names: list[str]) -> list[int]:
        """The emoji ``names`` (any name the picker takes) as indices of ``space``, each checked to be an emoji."""
        space, chosen = self.space, []
        for name in names:
            try:
                index = space.resolve(name)
            except LabelError as exc:
                raise DataError(str(exc)) from None
            if space.level_of(index) != space.depth - 1:
                raise DataError(f"{name!r} is a {space.level_name(space.level_of(index))}, not an emoji")
            chosen.append(index)
        return chosen

    def only_emoji(self, emoji: list[int]) -> "EmojiData":
        """The images of ``emoji`` (indices from ``emoji_indices``), in a label space of those emoji, their
        sub-categories and every category: a small vocabulary a small model can learn to draw on a CPU. Every
        category stays, so that a checkpoint labelled by category extends to it (``lego.train``)."""
        space, finest = self.space, self.space.depth - 1
        chosen = sorted(set(emoji))
        kept = list(range(space.sizes[0]))
        for level in range(1, space.depth):  # each level: the ancestors of the chosen emoji, in the old order
            kept += sorted({space.chain(i)[level] for i in chosen})
        new_index = {old: new for new, old in enumerate(kept)}
        subset = space.sub(kept)
        keep = np.isin(self.labels[:, finest], chosen)
        labels = np.vectorize(lambda i: new_index.get(int(i), -1), otypes=[np.int64])(self.labels[keep])
        return EmojiData(self.images[keep], labels, self.held_out[keep], self.style[keep], subset, self.style_names)

    def split(self, evaluation: bool) -> "EmojiData":
        return self.subset(self.held_out if evaluation else ~self.held_out)

    def class_weights(self) -> np.ndarray:
        """Per-image sampling weight: every category equally often, and within it every emoji."""
        emoji = self.labels[:, -1]  # the finest level
        per_emoji = np.unique(emoji, return_inverse=True, return_counts=True)
        images_of_emoji = per_emoji[2][per_emoji[1]].astype(np.float64)
        emoji_per_category = np.array([len(np.unique(emoji[self.categories == c])) for c in range(self.space.sizes[0])])
        weights = 1.0 / (images_of_emoji * np.maximum(emoji_per_category[self.categories], 1))
        return weights / weights.sum()


def read_emoji_list(path: str | Path | None) -> list[str] | None:
    """The emoji a list file names, one a line ('#' starts a comment); None: no file, every emoji."""
    if not path:
        return None
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(f"cannot read the emoji list {path}: {exc}") from None
    return [name for name in (line.split("#")[0].strip() for line in lines) if name]


def load(path: str | Path) -> EmojiData:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no data set at {path}: build it with python -m lego.data build --out {path}")
    manifest = read_manifest(path)
    if "label_space" not in manifest:
        raise DataError(f"{path} is a data set of an older format: rebuild it with python -m lego.data build")
    labels = manifest["label_space"]  # keywords: none in a data set built before they were
    space = LabelSpace(*(tuple(labels[k]) for k in ("names", "sizes", "parents")),
                       tuple(tuple(k) for k in labels.get("keywords", ())))
    styles = tuple(s["name"] for s in manifest["styles"])
    with np.load(path, allow_pickle=False) as f:
        return EmojiData(f["images"], f["labels"].astype(np.int64), f["held_out"], f["style"].astype(np.int64), space,
                         styles)


def summary(path: Path) -> dict:
    data = load(path)
    manifest = read_manifest(path)
    counts = np.bincount(data.categories, minlength=len(EMOJI_CATEGORIES))
    return {
        "path": str(path), "images": int(len(data.labels)), "held_out": int(data.held_out.sum()),
        "bytes": path.stat().st_size, "label_levels": dict(zip(LEVELS, data.space.sizes)),
        "per_style": {s["name"]: s["images"] for s in manifest["styles"]},
        "held_out_style": next((s["name"] for s in manifest["styles"] if s["held_out"]), None),
        "excluded_styles": manifest["excluded_styles"],
        "per_category": {c: int(n) for c, n in zip(EMOJI_CATEGORIES, counts)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lego.data", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="fetch the npm packages, render every style and write the arrays and manifest")
    b.add_argument("--out", type=Path,
                   help="the arrays to write, the manifest beside them (default data/emojiSIZE.npz: "
                        "data/emoji64.npz, which training and evaluation read, at the default size)")
    b.add_argument("--cache", type=Path, default=Path("data/npm"),
                   help="where the package tarballs are kept (default data/npm)")
    b.add_argument("--size", type=int, default=IMAGE_SIZE, help=f"pixels per side (default {IMAGE_SIZE})")
    s = sub.add_parser("summary", help="counts per style and category")
    s.add_argument("path", type=Path, help="the .npz data file to summarise")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":  # another size never replaces the 64x64 data training reads by default
            result = build(args.out or Path(f"data/emoji{args.size}.npz"), args.cache, args.size)
        else:
            result = summary(args.path)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
