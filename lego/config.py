"""Serialisable architecture description of a LEGO stack.

A config is plain data (JSON round trip through ``to_dict``/``from_dict``) so that a
checkpoint directory's ``config.json`` fully determines the network.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .labels import LabelError, LabelSpace


class ConfigError(ValueError):
    """An architecture description that cannot be built."""


@dataclass(frozen=True)
class BrickConfig:
    """One brick: attention stays inside ``region`` x ``region`` pixel squares."""

    region: int
    patch: int
    depth: int

    def tokens_per_region(self) -> int:
        return (self.region // self.patch) ** 2


@dataclass(frozen=True)
class LegoConfig:
    image_size: int = 64
    channels: int = 3
    num_classes: int = 9
    hidden_size: int = 256
    num_heads: int = 4
    mlp_ratio: float = 4.0
    bricks: tuple[BrickConfig, ...] = field(default_factory=tuple)
    sigma_data: float = 0.5
    class_names: tuple[str, ...] = ()
    # Labels at several levels (lego.labels): classes per level, and each class's parent one level up.
    # Empty: one level of num_classes.
    label_levels: tuple[int, ...] = ()
    class_parents: tuple[int, ...] = ()
    # Per class, the words the picker also finds it by ('car' for 'automobile'); empty: names only.
    class_keywords: tuple[tuple[str, ...], ...] = ()
    # Position tables stored with the weights instead of the fixed sin-cos table (lego.positions): only
    # converted checkpoints whose tables moved in training have them.
    learned_positions: bool = False
    # The class the app's picker opens on (a class name or picker entry), chosen for the first picture a
    # newcomer sees; empty: the first emoji, or the first class of a model without emoji labels.
    default_class: str = ""
    # Classes a demo shows unasked (the classroom edition's grid), chosen by looking at what this model draws
    # well; empty: the first emoji of each category.
    featured_classes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Accept JSON-shaped input (lists and dicts) and normalise it to tuples of BrickConfig.
        sequences = ("bricks", "class_names", "label_levels", "class_parents", "featured_classes", "class_keywords")
        for name in sequences:  # a string would pass as a list of its letters
            if not isinstance(getattr(self, name), (list, tuple)):
                raise ConfigError(f"{name} must be a list, got {getattr(self, name)!r}")
        if not all(isinstance(b, (BrickConfig, dict)) for b in self.bricks):
            raise ConfigError(f"each brick must be an object with region, patch and depth, got {self.bricks!r}")
        bricks = tuple(b if isinstance(b, BrickConfig) else BrickConfig(**b) for b in self.bricks)
        object.__setattr__(self, "bricks", bricks)
        for name in sequences[1:-1]:
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not all(isinstance(k, (list, tuple)) for k in self.class_keywords):
            raise ConfigError("class_keywords must be a list of lists of words")
        object.__setattr__(self, "class_keywords", tuple(tuple(k) for k in self.class_keywords))
        self.validate()

    def validate(self) -> None:
        if not self.bricks:
            raise ConfigError("a LEGO config needs at least one brick")
        for name in ("image_size", "channels", "hidden_size", "num_heads"):
            _check_whole(name, getattr(self, name), least=1)
        for name in ("mlp_ratio", "sigma_data"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ConfigError(f"{name} must be a positive number, got {value!r}")
        if int(self.hidden_size * self.mlp_ratio) < 1:
            raise ConfigError(f"mlp_ratio {self.mlp_ratio} leaves the MLP no hidden units")
        texts = (("class_names", self.class_names), ("featured_classes", self.featured_classes),
                 ("class_keywords", [w for k in self.class_keywords for w in k]),
                 ("default_class", (self.default_class,)))
        for name, values in texts:
            if not all(isinstance(v, str) for v in values):
                raise ConfigError(f"{name} must be text, got {values!r}")
        for name, values in (("label_levels", self.label_levels), ("class_parents", self.class_parents)):
            for v in values:
                _check_whole(name, v, least=-1)
        if not isinstance(self.learned_positions, bool):
            raise ConfigError(f"learned_positions must be true or false, got {self.learned_positions!r}")
        if self.hidden_size % self.num_heads:
            raise ConfigError(f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}")
        if self.hidden_size % 4:
            raise ConfigError("hidden_size must be a multiple of 4 for the 2-D sin-cos position table")
        if isinstance(self.num_classes, bool) or not isinstance(self.num_classes, int) or self.num_classes < 0:
            raise ConfigError(f"num_classes must be a whole number, 0 for an unconditional model, got "
                              f"{self.num_classes!r}")
        if self.class_names and len(self.class_names) != self.num_classes:
            raise ConfigError(f"{len(self.class_names)} class names given for {self.num_classes} classes")
        if self.class_keywords and len(self.class_keywords) != self.num_classes:
            raise ConfigError(f"{len(self.class_keywords)} keyword lists given for {self.num_classes} classes")
        if self.label_levels:
            if sum(self.label_levels) != self.num_classes or len(self.class_parents) != self.num_classes:
                raise ConfigError(f"label levels {self.label_levels} and {len(self.class_parents)} parents do not "
                                  f"describe {self.num_classes} classes")
            try:
                self.label_space()
            except LabelError as exc:
                raise ConfigError(str(exc)) from exc
        chosen = (("default_class", (self.default_class,)), ("featured_classes", self.featured_classes))
        for field_name, names in chosen:
            for name in filter(None, names):
                try:
                    self.label_space().resolve(name)
                except LabelError as exc:
                    raise ConfigError(f"{field_name}: {exc}") from exc
        for i, b in enumerate(self.bricks):
            for name in ("region", "patch", "depth"):
                _check_whole(f"brick {i}'s {name}", getattr(b, name), least=1)
            if b.region % b.patch:
                raise ConfigError(f"brick {i}: region {b.region} is not a multiple of patch {b.patch}")
            if self.image_size % b.region:
                raise ConfigError(f"brick {i}: image size {self.image_size} is not a multiple of region {b.region}")

    def label_space(self) -> LabelSpace:
        names = self.class_names or tuple(str(i) for i in range(self.num_classes))
        return _label_space(names, self.label_levels or (self.num_classes,),
                            self.class_parents or (-1,) * self.num_classes, self.class_keywords)

    def with_labels(self, space: LabelSpace) -> "LegoConfig":
        """This architecture conditioned on another label space (keeping the default and featured classes it has)."""
        def known(name: str) -> bool:
            try:
                space.resolve(name)
            except LabelError:
                return False
            return True

        return replace(self, num_classes=space.num_classes, class_names=space.names,
                       label_levels=space.sizes if space.depth > 1 else (),
                       class_parents=space.parents if space.depth > 1 else (), class_keywords=space.keywords,
                       default_class=self.default_class if known(self.default_class) else "",
                       featured_classes=tuple(filter(known, self.featured_classes)))

    @property
    def conditional(self) -> bool:
        """Whether the model takes a class (an unconditional one has no label embedder and no guidance)."""
        return self.num_classes > 0

    @property
    def num_bricks(self) -> int:
        return len(self.bricks)

    @property
    def size_unit(self) -> int:
        """Canvas height and width must be multiples of this (every brick's region tiles them)."""
        unit = 1
        for b in self.bricks:
            unit = _lcm(unit, b.region)
        return unit

    def is_global(self, index: int) -> bool:
        """A brick whose region covers the whole training image."""
        return self.bricks[index].region >= self.image_size

    def brick_name(self, index: int) -> str:
        b = self.bricks[index]
        kind = "global" if self.is_global(index) else "local"
        return f"B{index} {kind} r{b.region}/p{b.patch}"

    def check_canvas(self, height: int, width: int) -> None:
        unit = self.size_unit
        for name, value in (("height", height), ("width", width)):
            if not isinstance(value, int) or value <= 0 or value % unit:
                raise ConfigError(f"{name} must be a positive multiple of {unit} for this model, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["bricks"] = [asdict(b) for b in self.bricks]
        for name in ("class_names", "label_levels", "class_parents", "featured_classes"):
            d[name] = list(getattr(self, name))
        d["class_keywords"] = [list(k) for k in self.class_keywords]
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LegoConfig":
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown config keys: {sorted(unknown)}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ConfigError(f"malformed config: {exc}") from exc


def _check_whole(name: str, value: Any, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ConfigError(f"{name} must be a whole number of at least {least}, got {value!r}")


@functools.lru_cache(maxsize=32)
def _label_space(names: tuple[str, ...], sizes: tuple[int, ...], parents: tuple[int, ...],
                 keywords: tuple[tuple[str, ...], ...]) -> LabelSpace:
    """Built and checked once per model (every request resolves its class through it)."""
    return LabelSpace(names, sizes, parents, keywords)


def _lcm(a: int, b: int) -> int:
    from math import gcd

    return a * b // gcd(a, b)


EMOJI_CATEGORIES = (
    "Smileys & Emotion",
    "People & Body",
    "Animals & Nature",
    "Food & Drink",
    "Travel & Places",
    "Activities",
    "Objects",
    "Symbols",
    "Flags",
)

# Named architectures. "emoji-s" is the size intended for the bundled checkpoint: about 6M
# parameters, so that its fp16 weights are one small file (11 MiB) and a whole training state
# (fp32 weights, fp16 EMA, bf16 Adam moments) is about 58 MB to move between machines; its FLOPs are spread over the
# bricks (about 42% / 21% / 37%) so that skipping any one of them visibly saves compute.
ARCHITECTURES: dict[str, LegoConfig] = {
    "emoji-s": LegoConfig(
        image_size=64,
        num_classes=len(EMOJI_CATEGORIES),
        hidden_size=224,
        num_heads=4,
        bricks=(BrickConfig(8, 2, 1), BrickConfig(16, 4, 2), BrickConfig(64, 4, 3)),
        class_names=EMOJI_CATEGORIES,
    ),
    # The training-efficiency pair (benchmarks/lego_vs_dit.py): emoji-s's bricks at hidden size 128,
    # and a plain DiT (one full-image brick) whose depth matches its FLOPs per evaluation (1.03x).
    "compare-lego": LegoConfig(
        image_size=64, num_classes=len(EMOJI_CATEGORIES), hidden_size=128, num_heads=2,
        bricks=(BrickConfig(8, 2, 1), BrickConfig(16, 4, 2), BrickConfig(64, 4, 3)),
        class_names=EMOJI_CATEGORIES,
    ),
    "compare-dit": LegoConfig(
        image_size=64, num_classes=len(EMOJI_CATEGORIES), hidden_size=128, num_heads=2,
        bricks=(BrickConfig(64, 4, 8),), class_names=EMOJI_CATEGORIES,
    ),
    # A tiny 64x64 emoji model: exercises training and the app on the real data in seconds.
    "tiny-emoji": LegoConfig(
        image_size=64, num_classes=len(EMOJI_CATEGORIES), hidden_size=32, num_heads=2,
        bricks=(BrickConfig(8, 4, 1), BrickConfig(16, 8, 1), BrickConfig(64, 16, 1)),
        class_names=EMOJI_CATEGORIES,
    ),
    # A 32x32 stack for label and data comparisons on a CPU (benchmarks/labels_cpu.py).
    "calib-32": LegoConfig(
        image_size=32, num_classes=len(EMOJI_CATEGORIES), hidden_size=128, num_heads=2,
        bricks=(BrickConfig(4, 2, 1), BrickConfig(8, 2, 1), BrickConfig(32, 4, 2)),
        class_names=EMOJI_CATEGORIES,
    ),
    # The layout of the authors' LEGO-L-PG-64 (ImageNet 64x64), for timing with random weights
    # (benchmarks/throughput.py); a converted checkpoint carries its own config.
    "paper-l-pg-64": LegoConfig(
        image_size=64, num_classes=1000, hidden_size=1024, num_heads=16,
        bricks=(BrickConfig(4, 2, 6), BrickConfig(16, 8, 8), BrickConfig(64, 2, 12)),
    ),
    # Tiny stacks for tests: progressive growth, progressive refinement and U-shaped.
    "tiny-pg": LegoConfig(
        image_size=16, num_classes=3, hidden_size=32, num_heads=2,
        bricks=(BrickConfig(4, 2, 1), BrickConfig(8, 2, 1), BrickConfig(16, 4, 1)),
    ),
    "tiny-pr": LegoConfig(
        image_size=16, num_classes=3, hidden_size=32, num_heads=2,
        bricks=(BrickConfig(16, 4, 1), BrickConfig(8, 2, 1), BrickConfig(4, 2, 1)),
    ),
    "tiny-u": LegoConfig(
        image_size=16, num_classes=3, hidden_size=32, num_heads=2,
        bricks=(BrickConfig(16, 4, 1), BrickConfig(8, 2, 1), BrickConfig(4, 2, 1),
                BrickConfig(8, 2, 1), BrickConfig(16, 4, 1)),
    ),
}
