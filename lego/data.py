"""The emoji training set, built from the emoji-datasource npm packages.

    python -m lego.data build [--out data/emoji64.npz] [--cache data/npm]

Each package is fetched with ``npm pack`` (a tarball, no node_modules), its version checked,
and its 64x64 PNGs read straight from the tarball (nothing is extracted to disk) and
composited on white. Labels are the 9 categories of ``emoji.json``.

Class balance: skin-tone variants are recolourings of one drawing and would make "People &
Body" 60% of the images, so only each emoji's default form is kept (People is then 20%);
training then draws every category equally often (see ``class_weights``).

Outputs ``OUT`` (compressed arrays: images, labels, style, split) and ``OUT`` with suffix
``.manifest.json`` (per image: file, name, category, package, version, licence).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .config import EMOJI_CATEGORIES

VERSION = "16.0.0"
IMAGE_SIZE = 64
HELD_OUT_SHARE = 0.1


@dataclass(frozen=True)
class Source:
    style: str
    package: str
    licence: str
    credit: str


SOURCES = (
    Source("google", "emoji-datasource-google", "Apache-2.0", "Noto Emoji (c) Google LLC, Apache-2.0"),
    Source("twitter", "emoji-datasource-twitter", "CC-BY-4.0",
           "Twemoji graphics (c) Twitter, Inc. and other contributors, CC-BY 4.0"),
)
CREDITS = tuple(s.credit for s in SOURCES)


class DataError(RuntimeError):
    """The data set cannot be built or read."""


def tarball_name(source: Source) -> str:
    return f"{source.package}-{VERSION}.tgz"


def fetch(source: Source, cache: Path) -> Path:
    """The package tarball in ``cache``, fetched with ``npm pack`` if it is not there yet."""
    path = cache / tarball_name(source)
    if path.is_file():
        return path
    npm = shutil.which("npm")
    if npm is None:
        raise DataError("npm was not found: install Node.js (it brings npm), or put "
                        f"{tarball_name(source)} into {cache} by hand")
    cache.mkdir(parents=True, exist_ok=True)
    spec = f"{source.package}@{VERSION}"
    done = subprocess.run([npm, "pack", spec, "--pack-destination", str(cache), "--silent"],
                          capture_output=True, text=True, timeout=900)
    if done.returncode != 0 or not path.is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise DataError(f"npm pack {spec} failed (is the npm registry reachable?): {' '.join(tail)}")
    return path


def _read_tarball(path: Path, style: str) -> dict[str, bytes]:
    """One pass over the gzip stream (random access would re-inflate it for every member)."""
    wanted_dir = f"package/img/{style}/64/"
    files = {}
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            name = member.name
            if member.isfile() and (name in ("package/package.json", "package/emoji.json")
                                    or (name.startswith(wanted_dir) and name.endswith(".png"))):
                handle = tar.extractfile(member)
                if handle is not None:
                    files[name] = handle.read()
    for required in ("package/package.json", "package/emoji.json"):
        if required not in files:
            raise DataError(f"{path.name}: missing {required}")
    return files


def composite_on_white(png: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png)).convert("RGBA")
    if image.size != (IMAGE_SIZE, IMAGE_SIZE):
        image = image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)
    white = Image.new("RGBA", image.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, image).convert("RGB"))


def held_out(short_name: str) -> bool:
    """Deterministic split by emoji, so both styles of one emoji fall on the same side."""
    digest = hashlib.sha256(short_name.encode()).digest()
    return int.from_bytes(digest[:4], "little") / 2**32 < HELD_OUT_SHARE


def read_package(path: Path, source: Source) -> tuple[list[np.ndarray], list[dict]]:
    files = _read_tarball(path, source.style)
    version = json.loads(files["package/package.json"]).get("version")
    if version != VERSION:
        raise DataError(f"{path.name} holds version {version}, expected {VERSION}")
    images, records = [], []
    for entry in sorted(json.loads(files["package/emoji.json"]), key=lambda e: e.get("sort_order", 0)):
        category = entry.get("category")
        png = files.get(f"package/img/{source.style}/64/{entry.get('image')}")
        if category not in EMOJI_CATEGORIES or not entry.get(f"has_img_{source.style}") or png is None:
            continue
        images.append(composite_on_white(png))
        records.append({
            "file": entry["image"], "name": entry.get("short_name", ""), "category": category,
            "style": source.style, "package": source.package, "version": VERSION, "licence": source.licence,
        })
    return images, records


def build(out: Path, cache: Path) -> dict:
    images, records = [], []
    for source in SOURCES:
        imgs, recs = read_package(fetch(source, cache), source)
        images += imgs
        records += recs
    if not images:
        raise DataError("no images found in the packages")
    labels = np.array([EMOJI_CATEGORIES.index(r["category"]) for r in records], dtype=np.int16)
    style = np.array([[s.style for s in SOURCES].index(r["style"]) for r in records], dtype=np.int8)
    split = np.array([held_out(r["name"]) for r in records], dtype=bool)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, images=np.stack(images), labels=labels, style=style, held_out=split)
    manifest = {
        "categories": list(EMOJI_CATEGORIES), "credits": list(CREDITS),
        "note": "skin-tone variants dropped; held_out marks the evaluation split (by emoji name)",
        "images": records,
    }
    manifest_path(out).write_text(json.dumps(manifest, indent=1))
    return summary(out)


def manifest_path(data: Path) -> Path:
    return data.with_suffix(".manifest.json")


@dataclass
class EmojiData:
    images: np.ndarray  # (N, 64, 64, 3) uint8
    labels: np.ndarray  # (N,) category index
    held_out: np.ndarray  # (N,) bool

    def split(self, evaluation: bool) -> "EmojiData":
        keep = self.held_out if evaluation else ~self.held_out
        return EmojiData(self.images[keep], self.labels[keep], self.held_out[keep])

    def class_weights(self) -> np.ndarray:
        """Per-image sampling weight so that every category is drawn equally often."""
        counts = np.bincount(self.labels, minlength=len(EMOJI_CATEGORIES)).astype(np.float64)
        weights = 1.0 / counts[self.labels]
        return weights / weights.sum()


def load(path: str | Path) -> EmojiData:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no data set at {path}: build it with python -m lego.data build --out {path}")
    with np.load(path, allow_pickle=False) as f:
        return EmojiData(f["images"], f["labels"].astype(np.int64), f["held_out"])


def summary(path: Path) -> dict:
    data = load(path)
    counts = np.bincount(data.labels, minlength=len(EMOJI_CATEGORIES))
    return {
        "path": str(path), "images": int(len(data.labels)), "held_out": int(data.held_out.sum()),
        "bytes": path.stat().st_size,
        "per_category": {c: int(n) for c, n in zip(EMOJI_CATEGORIES, counts)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lego.data", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="fetch the npm packages and write the array file and manifest")
    b.add_argument("--out", type=Path, default=Path("data/emoji64.npz"))
    b.add_argument("--cache", type=Path, default=Path("data/npm"), help="where the package tarballs are kept")
    s = sub.add_parser("summary", help="counts per category")
    s.add_argument("path", type=Path)
    args = parser.parse_args(argv)
    try:
        result = build(args.out, args.cache) if args.command == "build" else summary(args.path)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
