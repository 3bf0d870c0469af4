import contextlib
import os
import shutil
import socket
from pathlib import Path

import pytest
import torch

from lego.config import ARCHITECTURES, LegoConfig
from lego.model import LegoModel


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"  # Debian's, driven by Playwright
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
# On CI a missing browser is a failure, not a skip.
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                                    reason="chromium is not installed")

ALL = [0, 1, 2, 3, 4]  # every one of the five step ranges
# The request controls by name, in the order /generate takes them (a three-brick model: b0-b2 are its ranges).
REQUEST = dict(category="Flags", seed=5, randomize=False, steps=6, guidance=2.0, guide="", sampler="heun", images=1,
               width=64, height=64, canvas_mode="tiles", stride=0, shift=False, coords="repeat", previews=True,
               preview_every=2, num_ranges=5, schedule_json="", brick_0=ALL, brick_1=ALL, brick_2=ALL)
NOT_TAKEN = {"/generate": (), "/estimate": ("randomize", "previews", "preview_every"),
             "/compare": ("randomize", "images", "previews", "preview_every")}


def api_args(api: str, **changes) -> list:
    """An endpoint's positional arguments, built by name: a new control breaks this one place, loudly."""
    unknown = set(changes) - set(REQUEST)
    assert not unknown, f"no such control: {unknown}"
    values = {**REQUEST, **changes}
    return [v for k, v in values.items() if k not in NOT_TAKEN[api]]


def generate_args(**changes) -> list:
    return api_args("/generate", **changes)


def randomized(arch: str | LegoConfig, seed: int = 0) -> LegoModel:
    """A tiny model (a named architecture or a config) with every weight random (DiT's init zeroes the
    outputs, which hides bugs)."""
    torch.manual_seed(seed)
    model = LegoModel(ARCHITECTURES[arch] if isinstance(arch, str) else arch)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.1)
    return model.eval()


@pytest.fixture(params=["tiny-pg", "tiny-pr", "tiny-u"])
def any_model(request) -> LegoModel:
    return randomized(request.param)


@pytest.fixture
def pg_model() -> LegoModel:
    return randomized("tiny-pg")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def emoji_levels_model() -> LegoModel:
    """A tiny random 64x64 model labelled at three levels, like the emoji data set (a few emoji)."""
    from lego.config import EMOJI_CATEGORIES
    from lego.labels import LabelSpace

    subs = (("face-smiling", 0), ("animal-mammal", 2), ("animal-bird", 2), ("food-fruit", 3))
    emoji = (("grinning face", 9), ("cat face", 10), ("black cat", 10), ("dog face", 10), ("eagle", 11),
             ("red apple", 12))
    keywords = {"cat face": ("kitten", "pet"), "dog face": ("puppy", "pet")}  # as the data set's CLDR keywords
    space = LabelSpace(EMOJI_CATEGORIES + tuple(n for n, _ in subs) + tuple(n for n, _ in emoji),
                       (9, len(subs), len(emoji)), (-1,) * 9 + tuple(p for _, p in subs) + tuple(p for _, p in emoji),
                       ((),) * (9 + len(subs)) + tuple(keywords.get(n, ()) for n, _ in emoji))
    model = randomized("tiny-emoji")
    levels = LegoModel(model.config.with_labels(space))
    torch.manual_seed(1)
    with torch.no_grad():
        for p in levels.parameters():
            p.normal_(0, 0.1)
    return levels.eval()


@contextlib.contextmanager
def launched_app(model: LegoModel | None = None, max_gflops: float = 150, precision: str = "fp32"):
    """The real app on a free loopback port, serving a tiny random 64x64 emoji model (in fp32 this
    machine's kernels give a row of a batch other bits than alone, so requests are not batched)."""
    import app
    from lego.request import Limits

    model = model or randomized("tiny-emoji")
    limits = Limits(max_gflops=max_gflops, max_pixels=256 * 256, max_side=512)
    demo = app.build_demo(model, limits=limits, precision=precision)
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True,
                **app.LAUNCH_OPTIONS)
    try:
        yield model, f"http://127.0.0.1:{port}/"
    finally:
        demo.close()
