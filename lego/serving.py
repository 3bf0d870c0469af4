"""The models an app serves: the default one, a few more loaded on request, and where checkpoints may come from."""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from .batching import BATCHING, LOG, Batcher, rows_independent
from .canvas import Canvas
from .checkpoint import SHIPPED, CheckpointError, bundled, fingerprint, is_repo_id, load_checkpoint, read_config
from .config import LegoConfig
from .estimate import Estimate, Speed, measure_speed
from .messages import quoted
from .model import LegoModel
from .precision import autocast, dtype_of, resolve_precision
from .request import Limits, PlaygroundError, Request, class_picker
from .runs import RunCache, RunRecord, run
from .sampler import StepInfo


@dataclass
class Served:
    """One model as the app serves it: its speed here, limits, run cache and brick names."""

    key: str
    model: LegoModel
    precision: str
    speed: Speed  # measured when loaded, for time estimates
    limits: Limits
    cache: RunCache
    fingerprint: str = ""  # of the weights as loaded: committed results apply only to the model they measured
    observed: deque = field(default_factory=lambda: deque(maxlen=9))  # measured over predicted, recent runs
    batcher: Batcher | None = None  # shares batches between users' requests; None runs each alone
    batching: str = "off"  # as asked for ("auto", "on" or "off"): models loaded later are asked the same
    source: str = ""  # where the weights came from (a resolved directory or a Hub repo id), when known

    @property
    def shown(self) -> str:
        """The model as users may see it: its checkpoint without server paths, else its key."""
        return shown_source(self.source or self.key)

    def sample(self, request: Request, estimate_: Estimate) -> Iterator[StepInfo | RunRecord]:
        """A request's steps, then its RunRecord: in a shared batch when batching is on. Closing
        the iterator stops the request."""
        if self.batcher is None:
            return run(self.model, request, estimate_, self.precision)
        return iter(self.batcher.submit(request, estimate_))

    @property
    def config(self) -> LegoConfig:
        return self.model.config

    def observe(self, record: RunRecord) -> None:
        """Calibrate time estimates on the runs this machine really does: the speed's scale becomes the
        median of the recent runs' measured over predicted time (a measurement taken while other runs
        were going, or a machine that speeds up or slows down, is corrected after a few runs)."""
        if record.batch_images != record.request.images:
            return  # its time was shared with other requests
        predicted = record.estimate.seconds / record.estimate.scale
        if record.seconds > 0 and predicted > 0:
            self.observed.append(record.seconds / predicted)
            self.speed = replace(self.speed, scale=statistics.median(self.observed))

    @property
    def names(self) -> list[str]:
        return [self.config.brick_name(k) for k in range(self.config.num_bricks)]

    @classmethod
    def of(cls, key: str, model: LegoModel, precision: str = "auto", limits: Limits | None = None,
           cache_bytes: int = 8 * 2**20, compiled: bool = False, batching: str = "auto", source: str = "") -> Served:
        """``compiled`` serves a compiled inference copy, warmed up here (see ``lego.compiled``).
        ``batching`` is "on", "off", or "auto": on where it leaves every request's pixels unchanged.
        ``source`` is the checkpoint the model was loaded from (see ``normalised_source``)."""
        asked = batching
        if batching not in BATCHING:
            raise ValueError(f"batching must be one of {BATCHING}, got {batching!r}")
        device = next(model.parameters()).device
        precision = resolve_precision(precision, device)
        weights = fingerprint(model)
        if compiled:
            model = model.for_inference(dtype_of(precision), compiled=True)
            seconds = warm_up(model, precision)
            print(f"compiled {key} in {seconds:.0f} s", file=sys.stderr, flush=True)
        if batching == "auto":
            batching = "on" if rows_independent(model, precision) else "off"
            LOG.info("%s: batching requests together is %s (%s: a batch %s each image the pixels it gets alone)",
                     key, batching, precision, "gives" if batching == "on" else "would not give")
        return cls(key, model.eval(), precision, measure_speed(model, precision),
                   limits or Limits.for_device(device), RunCache(cache_bytes), weights,
                   batcher=Batcher(model, precision) if batching == "on" else None, batching=asked,
                   source=normalised_source(source) if source else "")


def allowed_checkpoint_dirs() -> list[Path]:
    """Where the app may read checkpoint directories from: the project's checkpoints/, the
    Hugging Face cache, and folders listed in LEGO_CHECKPOINT_DIRS (os.pathsep-separated)."""
    from huggingface_hub import constants

    roots = [SHIPPED, Path(constants.HF_HUB_CACHE)]
    roots += [Path(p) for p in os.environ.get("LEGO_CHECKPOINT_DIRS", "").split(os.pathsep) if p]
    return [r.resolve() for r in roots]


def fits_page(config: LegoConfig, page: LegoConfig) -> bool:
    """Whether a page built for ``page`` can serve ``config``: one row of controls per brick, and canvas sizes
    in steps of the same unit."""
    return config.num_bricks == page.num_bricks and config.size_unit == page.size_unit


def shipped_configs(like: LegoConfig | None = None) -> list[tuple[str, LegoConfig]]:
    """(name, config) of the project's LEGO checkpoints (those that a page laid out for ``like`` can switch to)."""
    out = []
    for directory in sorted(SHIPPED.iterdir()):
        try:
            config = read_config(directory)
        except CheckpointError:  # not a LEGO model (the emoji judge), or not a checkpoint at all
            continue
        if like is None or fits_page(config, like):
            out.append((directory.name, config))
    return out


def shipped_checkpoints(like: LegoConfig) -> list[tuple[str, str]]:
    """(label, name) of ``shipped_configs``: the picker's values are bare names (``checked_source`` finds them),
    so no server path is ever shown; the labels say what each can draw, and that a model knowing coarse classes
    only draws blends of them ('lego-emoji-s: 9 classes, no single emoji: rougher pictures')."""
    def label(name: str, config: LegoConfig) -> str:
        coarse = config.conditional and config.label_space().depth == 1
        return f"{name}: {config.label_space().summary()}" + (", no single emoji: rougher pictures" if coarse else "")

    return [(label(name, config), name) for name, config in shipped_configs(like)]


def class_picker_for(config: LegoConfig) -> dict:
    """The class picker (``lego.request.class_picker``); for a model labelled by category only, its help names a
    shipped checkpoint with finer labels, where the pictures a class can name come from."""
    picker = class_picker(config)
    if config.conditional and config.label_space().depth == 1:
        finer = next((name for name, other in shipped_configs(config) if other.label_space().depth > 1), None)
        if finer:
            picker["info"] += f" For pictures you can name, load {finer} in the Model tab."
    return picker


def shown_source(key: str) -> str:
    """A checkpoint as users may see it: relative to the working folder, never a server's absolute path."""
    path = Path(key)
    if not path.is_absolute():
        return key
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return path.name


def normalised_source(source: str) -> str:
    """One spelling per checkpoint: a Hub repo id as given, a directory as its resolved path."""
    if is_repo_id(source) and not Path(source).exists():
        return source
    return str(Path(source).expanduser().resolve())


def checked_source(source: str) -> str:
    """A Hub repo id, or a directory inside an allowed folder; anything else is refused."""
    source = source.strip() if isinstance(source, str) else ""
    if not source or len(source) > 512 or "\x00" in source:
        raise PlaygroundError("give a checkpoint directory or a Hugging Face repo id (owner/name)")
    try:
        return _checked_source(source)
    except OSError as exc:  # a name the file system refuses to look up (too long, say)
        raise PlaygroundError(f"cannot look up {quoted(source[:60] + ('...' if len(source) > 60 else ''))}: "
                              f"{exc.strerror or exc}") from None


def _checked_source(source: str) -> str:
    shipped = bundled(source)
    if "/" not in source and shipped is not None:  # a name from the picker
        return str(shipped.resolve())
    normalised = normalised_source(source)
    if is_repo_id(normalised):  # a Hub id: a local path comes back resolved, from the root
        return normalised
    path = Path(normalised)
    if "/" not in source and not path.is_dir():  # neither a bundled name nor a folder here
        raise PlaygroundError(f"no bundled checkpoint is named {quoted(source)} (the bundled ones: "
                              f"{', '.join(name for name, _ in shipped_configs())}); or give a directory or a Hugging "
                              "Face repo id (owner/name)")
    roots = allowed_checkpoint_dirs()
    if not any(path == r or path.is_relative_to(r) for r in roots):  # what was typed, never a resolved path
        raise PlaygroundError(f"{source} is outside the folders this app may read checkpoints from "
                              f"({', '.join(shown_source(str(r)) for r in roots)}; add more with "
                              "LEGO_CHECKPOINT_DIRS)")
    if not path.is_dir():
        raise PlaygroundError(f"no checkpoint directory at {source}")
    return str(path)


class ModelRegistry:
    """The default model and a few more loaded on request (least recently used ones dropped)."""

    def __init__(self, default: Served, keep: int = 2) -> None:
        self.default = default
        self.keep = keep
        self._loaded: OrderedDict[str, Served] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str | None) -> Served:
        """The session's model; never silently another one."""
        if key in (None, self.default.key):
            return self.default
        with self._lock:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
        raise PlaygroundError(self.unloaded(key))

    def unloaded(self, key: str) -> str:
        return (f"the checkpoint {shown_source(key)} was unloaded to make room for other sessions' models (this "
                f"server keeps {self.keep} besides its own); load it again in the Model tab, or reload the page "
                "for the default model")

    def load(self, source: str, device: torch.device | None = None,
             accept: Callable[[LegoConfig], None] | None = None) -> Served:
        """Load a checkpoint into a slot. ``accept`` may refuse its config (PlaygroundError) before it
        takes a slot."""
        key = checked_source(source)
        with self._lock:
            if key == self.default.source:  # the app's own model, under its own key
                return self.default
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
        try:
            model = load_checkpoint(key, device=device or next(self.default.model.parameters()).device)
        except CheckpointError as exc:
            raise PlaygroundError(str(exc)) from None
        if accept is not None:
            accept(model.config)
        default = self.default
        served = Served.of(key, model, default.precision, default.limits, default.cache.max_bytes,
                           compiled=default.model.compiled, batching=default.batching, source=key)
        with self._lock:
            self._loaded[key] = served
            while len(self._loaded) > self.keep:
                old, dropped = self._loaded.popitem(last=False)
                if dropped.batcher is not None:  # else its idle worker would hold the model for minutes
                    dropped.batcher.close(timeout=0, reason=self.unloaded(old))
        return served


def warm_up(model: LegoModel, precision: str, sizes: tuple[tuple[int, int], ...] | None = None,
            batches: tuple[int, ...] = (1, 2)) -> float:
    """Run one evaluation per batch size and canvas size so that requests find their graphs
    compiled; returns the seconds spent. Sizes default to the training size and a 1x2 canvas."""
    start = time.perf_counter()
    config = model.config
    device = next(model.parameters()).device
    s = config.image_size
    sizes = sizes or ((s, s), (s, 2 * s))
    net = model.for_inference(dtype_of(precision), compiled=True)
    with net.inference_context(), autocast(precision, device):
        for height, width in sizes:
            for batch in batches:
                x = torch.randn(batch, config.channels, height, width, device=device)
                net(x, torch.tensor(1.0, device=device), canvas=Canvas())
    return time.perf_counter() - start
