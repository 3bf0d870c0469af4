"""What the app does, without the browser: validate a request, estimate it, run it, report it.

The app (``app.py``) only lays out components and wires them to these functions, so every
behaviour here is testable in plain Python.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .canvas import Canvas, CanvasError
from .checkpoint import DEFAULT_CHECKPOINT, CheckpointError, is_repo_id, load_checkpoint, read_config
from .config import LegoConfig
from .flops import ScheduleCost, brick_flops, brick_layout, evaluation_flops, format_flops, schedule_cost
from .images import to_uint8
from .labels import LabelError
from .model import Brick, LegoModel, parameter_counts
from .precision import autocast, dtype_of, resolve_precision
from .results import fingerprint
from .sampler import METHODS, SamplerSettings, StepInfo, sample_steps
from .schedule import BrickSchedule, ScheduleError, drop_late

MAX_SEED = 2**31 - 1
MAX_IMAGES = 4
MAX_STEPS = 100
NO_CLASS = "none (unconditional)"


class PlaygroundError(ValueError):
    """A request the playground refuses, with a message meant for the user."""


@dataclass(frozen=True)
class Limits:
    """What this machine agrees to serve. CPU defaults keep one request under about half a minute."""

    max_gflops: float = 3000.0
    max_pixels: int = 512 * 512
    max_side: int = 1024
    max_memory_bytes: int = 4 * 2**30

    @classmethod
    def for_device(cls, device: torch.device) -> "Limits":
        if device.type == "cuda":
            total = torch.cuda.get_device_properties(device).total_memory
            return cls(max_gflops=200_000.0, max_pixels=1024 * 1024, max_side=2048, max_memory_bytes=total // 2)
        return cls()


@dataclass(frozen=True)
class Request:
    label: int | None
    seed: int
    steps: int
    guidance: float
    method: str
    images: int
    width: int
    height: int
    schedule: BrickSchedule
    canvas: Canvas = Canvas()

    @property
    def settings(self) -> SamplerSettings:
        return SamplerSettings(steps=self.steps, method=self.method, guidance=self.guidance)

    @property
    def guided(self) -> bool:
        return self.guidance != 1.0 and self.label is not None

    @property
    def seeds(self) -> list[int]:
        return [self.seed + i for i in range(self.images)]

    def to_dict(self, config: LegoConfig) -> dict:
        d = asdict(self)
        d["schedule"] = self.schedule.to_dict()
        d["canvas"] = asdict(self.canvas)
        d["class"] = None if self.label is None else config.label_space().describe(self.label)
        d["seeds"] = self.seeds
        return d


def picker_info(config: LegoConfig) -> str:
    """The class picker's one-line help, for the levels this model has."""
    space = config.label_space()
    if space.depth == 1:
        return f"One of the model's {space.num_classes} classes, or none (no label: guidance is off)."
    return ("Type to search: an emoji ('cat face'), a sub-category ('animal-mammal') or a category "
            f"('Animals & Nature'). {space.counts()} classes.")


def class_choices(config: LegoConfig) -> list[str]:
    """What the class picker offers: every class, grouped under its category (see lego.labels)."""
    return config.label_space().choices()


def _number(name: str, value: object, integer: bool = False) -> float:
    if isinstance(value, bool):
        raise PlaygroundError(f"{name} must be a number, got {value!r}")
    if not isinstance(value, (int, float)):
        try:
            value = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise PlaygroundError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value):
        raise PlaygroundError(f"{name} must be a finite number, got {value}")
    if integer and value != int(value):
        raise PlaygroundError(f"{name} must be a whole number, got {value}")
    return int(value) if integer else float(value)


def parse_request(config: LegoConfig, class_name: str | None, seed: object, steps: object, guidance: object,
                  method: str, images: object, width: object, height: object,
                  schedule: BrickSchedule, canvas: Canvas | None = None) -> Request:
    """Turn raw UI/API values into a Request, or raise PlaygroundError saying what is wrong."""
    if class_name in (None, "", NO_CLASS):
        label = None
    else:
        try:
            label = config.label_space().resolve(class_name)
        except LabelError as exc:
            raise PlaygroundError(str(exc)) from None
    seed = _number("seed", seed, integer=True)
    if not 0 <= seed <= MAX_SEED:
        raise PlaygroundError(f"seed must be from 0 to {MAX_SEED}, got {seed}")
    steps = _number("steps", steps, integer=True)
    if not 1 <= steps <= MAX_STEPS:
        raise PlaygroundError(f"steps must be from 1 to {MAX_STEPS}, got {steps}")
    guidance = _number("guidance", guidance)
    if not 0 <= guidance <= 20:
        raise PlaygroundError(f"guidance must be from 0 to 20, got {guidance}")
    if method not in METHODS:
        raise PlaygroundError(f"sampler must be one of {', '.join(METHODS)}, got {method!r}")
    images = _number("number of images", images, integer=True)
    if not 1 <= images <= MAX_IMAGES:
        raise PlaygroundError(f"number of images must be from 1 to {MAX_IMAGES}, got {images}")
    width = _number("width", width, integer=True)
    height = _number("height", height, integer=True)
    unit = config.size_unit
    for name, value in (("width", width), ("height", height)):
        if value <= 0 or value % unit:
            raise PlaygroundError(f"{name} must be a positive multiple of {unit} pixels for this model, got {value}")
    try:
        schedule.check_bricks(config.num_bricks)
        schedule.mask(steps)
    except ScheduleError as exc:
        raise PlaygroundError(str(exc)) from None
    canvas = canvas or Canvas()
    try:
        canvas.check(config)
    except CanvasError as exc:
        raise PlaygroundError(str(exc)) from None
    return Request(label, seed, steps, guidance, method, images, width, height, schedule, canvas)


@dataclass(frozen=True)
class Estimate:
    cost: ScheduleCost
    seconds: float  # predicted wall time from the measured throughput
    memory_bytes: int

    @property
    def gflops(self) -> float:
        return self.cost.total / 1e9

    def summary(self) -> str:
        c = self.cost
        return (f"**{format_flops(c.total)}** for this request, {format_flops(c.reference_total)} with every brick: "
                f"saving **{c.saving:.0%}**, predicted speed-up **{c.predicted_speedup:.2f}x**; "
                f"about {self.seconds:.1f} s here, peak memory about {self.memory_bytes / 2**20:.0f} MiB")


def peak_memory_bytes(config: LegoConfig, request: Request) -> int:
    """Rough activation peak: the largest brick's chunk of tokens and attention weights, plus whole-canvas tensors."""
    batch = request.images * (2 if request.guided else 1)
    pixels = request.width * request.height
    peak = 0
    for k in range(config.num_bricks):
        tokens, span = brick_layout(config, k, request.height, request.width, request.canvas)
        chunk = min(tokens * batch, max(Brick.max_chunk_tokens, span * batch))  # chunks hold whole regions
        working = chunk * config.hidden_size * (4 + config.mlp_ratio) * 4
        attention = (chunk // span) * config.num_heads * span**2 * 4 * 2
        whole = tokens * batch * config.hidden_size * 4 * 2
        peak = max(peak, int(working + attention + whole))
    return peak + batch * pixels * config.channels * 4 * 8


def estimate(config: LegoConfig, request: Request, gflops_per_second: float) -> Estimate:
    cost = schedule_cost(config, request.schedule, request.settings, request.height, request.width, request.guided,
                         request.images, request.canvas)
    return Estimate(cost, cost.total / 1e9 / max(gflops_per_second, 1e-9), peak_memory_bytes(config, request))


def check_limits(estimate: Estimate, request: Request, limits: Limits) -> None:
    if max(request.width, request.height) > limits.max_side or request.width * request.height > limits.max_pixels:
        raise PlaygroundError(
            f"{request.width}x{request.height} is larger than this machine serves "
            f"(at most {limits.max_pixels} pixels and {limits.max_side} per side)")
    if estimate.gflops > limits.max_gflops:
        raise PlaygroundError(
            f"this request needs {estimate.gflops:,.0f} GFLOPs, more than this machine serves per request "
            f"({limits.max_gflops:,.0f}); lower the size, steps or number of images, or switch bricks off")
    if estimate.memory_bytes > limits.max_memory_bytes:
        raise PlaygroundError(
            f"this request needs about {estimate.memory_bytes / 2**30:.1f} GiB of memory, more than this machine "
            f"serves ({limits.max_memory_bytes / 2**30:.1f} GiB); lower the size or the number of images")


def is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, (MemoryError, torch.OutOfMemoryError)) or (
        isinstance(exc, RuntimeError) and ("out of memory" in str(exc) or "can't allocate memory" in str(exc)))


@dataclass
class Frame:
    """One step of the first image, as 8-bit pictures (the 'look inside' view replays these)."""

    step: int
    sigma: float
    active: list[bool]
    noisy: np.ndarray
    denoised: np.ndarray
    bricks: list[np.ndarray | None]


@dataclass
class RunRecord:
    request: Request
    images: list[np.ndarray]
    estimate: Estimate
    mask: list[list[bool]]
    step_seconds: list[float]
    brick_seconds: list[list[float]]
    precision: str
    frames: list[Frame] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(self.step_seconds)

    def report(self, config: LegoConfig) -> dict:
        cost = self.estimate.cost
        return {
            "request": self.request.to_dict(config),
            "precision": self.precision,
            "seconds": round(self.seconds, 4),
            "step_seconds": [round(s, 5) for s in self.step_seconds],
            "brick_seconds_per_step": [[round(s, 5) for s in row] for row in self.brick_seconds],
            "mask": self.mask,
            "flops": {"total": cost.total, "all_bricks": cost.reference_total, "per_brick": cost.per_brick,
                      "per_step": [s.total for s in cost.per_step], "saving": round(cost.saving, 4),
                      "predicted_speedup": round(cost.predicted_speedup, 4)},
            "bricks": brick_table(config),
        }


def display_noisy(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """x_t rescaled to unit variance so that early, very noisy states are visible."""
    return x / math.sqrt(1 + sigma**2)


def run(model: LegoModel, request: Request, estimate_: Estimate, precision: str = "auto",
        should_stop: Callable[[], bool] | None = None, keep_frames: bool = True) -> Iterator[StepInfo | RunRecord]:
    """Sample the request; yields every StepInfo, then the RunRecord. Stops when closed or asked.

    Running out of memory becomes a PlaygroundError (the process, and the next request, are fine).
    """
    steps = sample_steps(model, request.seeds, [request.label] * request.images, request.settings, request.schedule,
                         request.height, request.width, precision, should_stop, brick_estimates=keep_frames,
                         canvas=request.canvas)
    frames: list[Frame] = []
    while True:
        try:
            info = next(steps)
        except StopIteration as done:
            result = done.value
            break
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            steps.close()
            raise PlaygroundError(f"ran out of memory at {request.width}x{request.height} with {request.images} "
                                  "image(s); try a smaller size or fewer images") from None
        if keep_frames:
            frames.append(Frame(info.step, info.sigma, info.active,
                                to_uint8(display_noisy(info.x[:1], info.sigma))[0], to_uint8(info.denoised[:1])[0],
                                [None if b is None else to_uint8(b[:1])[0] for b in info.brick_denoised]))
        yield info
    yield RunRecord(request, list(to_uint8(result.images)), estimate_, result.mask, result.step_seconds,
                    result.brick_seconds, result.precision, pack_frames(frames))


def pack_frames(frames: list[Frame]) -> list[Frame]:
    """The same frames as views into one array: one allocation per run instead of hundreds of small ones,
    which keeps a cache of runs from fragmenting the heap."""
    pictures = [p for f in frames for p in (f.noisy, f.denoised, *f.bricks) if p is not None]
    if not pictures:
        return frames
    block = iter(np.stack(pictures))
    return [Frame(f.step, f.sigma, f.active, next(block), next(block),
                  [None if b is None else next(block) for b in f.bricks]) for f in frames]


def run_to_end(model: LegoModel, request: Request, estimate_: Estimate, precision: str = "auto",
               keep_frames: bool = False, cache: "RunCache | None" = None) -> RunRecord:
    precision = resolve_precision(precision, next(model.parameters()).device)
    if cache is not None and (hit := cache.get(request, precision, keep_frames)) is not None:
        return hit
    *_, record = run(model, request, estimate_, precision, keep_frames=keep_frames)
    if cache is not None:
        cache.put(record)
    return record


def frame_bytes(record: RunRecord) -> int:
    return sum(f.noisy.nbytes + f.denoised.nbytes + sum(b.nbytes for b in f.bricks if b is not None)
               for f in record.frames)


class FrameBudget:
    """Every session's stored steps (for Look inside) together stay under ``max_bytes``: past it, the
    oldest runs lose their frames first (Look inside then asks for a new run), so memory is bounded
    however many sessions there are. Runs that are gone (their session expired) are forgotten."""

    def __init__(self, max_bytes: int = 256 * 2**20) -> None:
        self.max_bytes = max_bytes
        self._runs: OrderedDict[int, tuple[weakref.ref, int]] = OrderedDict()
        self._lock = threading.RLock()  # a run's weakref callback may fire while the lock is held

    def admit(self, record: RunRecord) -> None:
        key = id(record)
        with self._lock:
            self._runs[key] = (weakref.ref(record, lambda _, k=key: self._forget(k)), frame_bytes(record))
            while self.used_bytes > self.max_bytes:
                ref, _ = self._runs.popitem(last=False)[1]
                if (oldest := ref()) is not None:
                    oldest.frames = []

    def _forget(self, key: int) -> None:
        with self._lock:
            self._runs.pop(key, None)

    @property
    def used_bytes(self) -> int:
        with self._lock:
            return sum(size for _, size in self._runs.values())


class RunCache:
    """Finished runs by request, so that a class replaying the same preset gets it instantly.

    Sampling is deterministic for a given request, model and precision, so a hit is exact.
    Bounded by the bytes its pictures take.
    """

    def __init__(self, max_bytes: int = 8 * 2**20) -> None:
        self.max_bytes = max_bytes
        self._runs: OrderedDict[tuple[Request, str], tuple[RunRecord, int]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _size(record: RunRecord) -> int:
        return frame_bytes(record) + sum(i.nbytes for i in record.images)

    def get(self, request: Request, precision: str, need_frames: bool = False) -> RunRecord | None:
        with self._lock:
            hit = self._runs.get((request, precision))
            if hit is None or (need_frames and not hit[0].frames):
                return None
            self._runs.move_to_end((request, precision))
            return hit[0]

    def put(self, record: RunRecord) -> None:
        size = self._size(record)
        if size > self.max_bytes:
            return
        with self._lock:
            self._runs[(record.request, record.precision)] = (record, size)
            while sum(s for _, s in self._runs.values()) > self.max_bytes:
                self._runs.popitem(last=False)

    def __len__(self) -> int:
        return len(self._runs)


@dataclass(frozen=True)
class LessonRow:
    brick: str
    saving: float  # share of the all-bricks FLOPs avoided
    pixel_difference: float  # mean absolute difference to the all-bricks image, 0-255
    image: np.ndarray


def late_drop_lesson(model: LegoModel, label: int | None, seed: int, throughput: float, precision: str = "auto",
                     cache: "RunCache | None" = None) -> tuple[np.ndarray, list[LessonRow]]:
    """The classroom experiment: every brick, then each brick in turn off for the last 40% of the steps."""
    config = model.config
    name = None if label is None else config.label_space().describe(label)

    def one(schedule: BrickSchedule) -> RunRecord:
        request = parse_request(config, name, seed, 18, 2.0, "heun", 1, config.image_size, config.image_size,
                                schedule)
        return run_to_end(model, request, estimate(config, request, throughput), precision, cache=cache)

    reference = one(BrickSchedule.all_on(config.num_bricks))
    rows = []
    for k in range(config.num_bricks):
        record = one(drop_late(config, k))
        diff = float(np.abs(record.images[0].astype(int) - reference.images[0].astype(int)).mean())
        rows.append(LessonRow(config.brick_name(k), record.estimate.cost.saving, diff, record.images[0]))
    return reference.images[0], rows


class OutputFolder:
    """Where the app writes downloadable files: one temporary root, oldest runs pruned, removed at exit."""

    def __init__(self, keep: int = 50) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="lego_playground_"))
        self.keep = keep
        self._count = 0
        self._lock = threading.Lock()
        atexit.register(shutil.rmtree, self.root, ignore_errors=True)

    def new_run(self) -> Path:
        with self._lock:
            self._count += 1
            path = self.root / f"run{self._count:06d}"
            path.mkdir()
            runs = sorted(p for p in self.root.iterdir() if p.is_dir())
            for old in runs[:-self.keep]:
                shutil.rmtree(old, ignore_errors=True)
        return path

    @staticmethod
    def pictures(folder: Path, images: Iterable[np.ndarray], names: Iterable[str]) -> list[str]:
        """PNG files, each written once under a temporary name and renamed into place.

        The app shows these files rather than handing Gradio pictures: Gradio caches a picture by
        its content and writes it again whenever it is shown again (a class running the same lesson
        shows the same pictures), which can truncate a copy that another browser is still fetching;
        a file is copied into its cache once."""
        paths = []
        for image, name in zip(images, names):
            path = folder / f"{name}.png"
            staging = folder / f".{name}.png.partial"
            Image.fromarray(image).save(staging, format="PNG")
            os.replace(staging, path)
            paths.append(str(path))
        return paths

    def write(self, record: "RunRecord", served: "Served", folder: Path | None = None) -> list[str]:
        """The run's PNGs and its JSON report, which names the model and its weights' fingerprint."""
        folder = folder or self.new_run()
        paths = self.pictures(folder, record.images, [f"lego_seed{seed}" for seed in record.request.seeds])
        report = folder / f"lego_seed{record.request.seed}_report.json"
        content = {"model": {"checkpoint": shown_source(served.key), "fingerprint": served.fingerprint},
                   **record.report(served.config)}
        report.write_text(json.dumps(content, indent=2))
        return paths + [str(report)]


# ZeroGPU Spaces lend a GPU per call for a declared number of seconds.
GPU_GFLOPS_PER_SECOND = 5_000.0  # a conservative effective rate for this small model on a shared GPU
GPU_MIN_SECONDS, GPU_MAX_SECONDS = 15, 120


def gpu_seconds(gflops: float) -> int:
    """The GPU time to ask ZeroGPU for: start-up margin plus the request's FLOPs at a conservative rate."""
    return int(min(GPU_MAX_SECONDS, GPU_MIN_SECONDS + gflops / GPU_GFLOPS_PER_SECOND))


@dataclass
class Served:
    """One model as the app serves it: its throughput, limits, run cache and brick names."""

    key: str
    model: LegoModel
    precision: str
    throughput: float  # GFLOP/s measured when loaded, for time estimates
    limits: Limits
    cache: RunCache
    fingerprint: str = ""  # of the weights as loaded: committed results apply only to the model they measured
    observed: deque = field(default_factory=lambda: deque(maxlen=9))  # GFLOP/s of recent runs

    @property
    def config(self) -> LegoConfig:
        return self.model.config

    def observe(self, record: "RunRecord") -> None:
        """Calibrate time estimates on the runs this machine really does: the throughput becomes the
        median of the recent runs' rates (a measurement taken while other runs were going, or a
        machine that speeds up or slows down, is corrected after a few runs)."""
        if record.seconds > 0:
            self.observed.append(record.estimate.cost.total / 1e9 / record.seconds)
            self.throughput = statistics.median(self.observed)

    @property
    def names(self) -> list[str]:
        return [self.config.brick_name(k) for k in range(self.config.num_bricks)]

    @classmethod
    def of(cls, key: str, model: LegoModel, precision: str = "auto", limits: Limits | None = None,
           cache_bytes: int = 8 * 2**20, compiled: bool = False) -> "Served":
        """``compiled`` serves a compiled inference copy, warmed up here (see ``lego.compiled``)."""
        device = next(model.parameters()).device
        precision = resolve_precision(precision, device)
        weights = fingerprint(model)
        if compiled:
            from .compiled import warm_up  # imports inductor (about a second): only when asked for

            model = model.for_inference(dtype_of(precision), compiled=True)
            seconds = warm_up(model, precision)
            print(f"compiled {key} in {seconds:.0f} s", file=sys.stderr, flush=True)
        return cls(key, model.eval(), precision, measure_throughput(model, precision),
                   limits or Limits.for_device(device), RunCache(cache_bytes), weights)


def allowed_checkpoint_dirs() -> list[Path]:
    """Where the app may read checkpoint directories from: the project's checkpoints/, the
    Hugging Face cache, and folders listed in LEGO_CHECKPOINT_DIRS (os.pathsep-separated)."""
    from huggingface_hub import constants

    roots = [DEFAULT_CHECKPOINT.parent, Path(constants.HF_HUB_CACHE)]
    roots += [Path(p) for p in os.environ.get("LEGO_CHECKPOINT_DIRS", "").split(os.pathsep) if p]
    return [r.resolve() for r in roots]


def shipped_checkpoints(like: LegoConfig) -> list[tuple[str, str]]:
    """(name, directory) of the project's checkpoints that a page laid out for ``like`` can switch to."""
    out = []
    for directory in sorted(DEFAULT_CHECKPOINT.parent.iterdir()):
        try:
            config = read_config(directory)
        except CheckpointError:  # not a LEGO model (the emoji judge), or not a checkpoint at all
            continue
        if config.num_bricks == like.num_bricks and config.size_unit == like.size_unit:
            out.append((directory.name, str(directory)))
    return out


def shown_source(key: str) -> str:
    """A checkpoint as users may see it: relative to the working folder, never a server's absolute path."""
    path = Path(key)
    if not path.is_absolute():
        return key
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return path.name


def checked_source(source: str) -> str:
    """A Hub repo id, or a directory inside an allowed folder; anything else is refused."""
    source = (source or "").strip()
    if not source or len(source) > 512 or "\x00" in source:
        raise PlaygroundError("give a checkpoint directory or a Hugging Face repo id (owner/name)")
    if is_repo_id(source) and not Path(source).exists():
        return source
    path = Path(source).expanduser().resolve()
    roots = allowed_checkpoint_dirs()
    if not any(path == r or path.is_relative_to(r) for r in roots):
        raise PlaygroundError(f"{shown_source(source)} is outside the folders this app may read checkpoints from "
                              f"({', '.join(shown_source(str(r)) for r in roots)}; add more with "
                              "LEGO_CHECKPOINT_DIRS)")
    if not path.is_dir():
        raise PlaygroundError(f"no checkpoint directory at {shown_source(source)}")
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
        raise PlaygroundError(f"the checkpoint {shown_source(key)} was unloaded to make room for other sessions' "
                              f"models (this server keeps {self.keep} besides its own); load it again in the "
                              "Model tab, or reload the page for the default model")

    def load(self, source: str, device: torch.device | None = None,
             accept: Callable[[LegoConfig], None] | None = None) -> Served:
        """Load a checkpoint into a slot. ``accept`` may refuse its config (PlaygroundError) before it
        takes a slot."""
        key = checked_source(source)
        with self._lock:
            if key == self.default.key or key in self._loaded:
                return self.default if key == self.default.key else self._loaded[key]
        try:
            model = load_checkpoint(key, device=device or next(self.default.model.parameters()).device)
        except CheckpointError as exc:
            raise PlaygroundError(str(exc)) from None
        if accept is not None:
            accept(model.config)
        default = self.default
        served = Served.of(key, model, default.precision, default.limits, compiled=default.model.compiled)
        with self._lock:
            self._loaded[key] = served
            while len(self._loaded) > self.keep:
                self._loaded.popitem(last=False)
        return served


@dataclass
class Comparison:
    """The same seed with every brick, with the request's schedule, and every brick at fewer steps."""

    full: RunRecord
    scheduled: RunRecord
    baseline: RunRecord

    @property
    def records(self) -> dict[str, RunRecord]:
        return {"all bricks": self.full, "schedule": self.scheduled,
                f"all bricks, {self.baseline.request.steps} steps": self.baseline}

    @property
    def pixel_difference(self) -> float:
        return float(np.abs(self.full.images[0].astype(int) - self.scheduled.images[0].astype(int)).mean())

    def summary(self) -> str:
        full, sch, base = self.full, self.scheduled, self.baseline
        measured = full.seconds / max(sch.seconds, 1e-9)
        return (f"Seed **{sch.request.seed}**. Schedule: {format_flops(sch.estimate.cost.total)}, {sch.seconds:.2f} s; "
                f"all bricks: {format_flops(full.estimate.cost.total)}, {full.seconds:.2f} s. "
                f"Predicted speed-up {sch.estimate.cost.predicted_speedup:.2f}x, measured {measured:.2f}x. "
                f"Honest baseline: every brick with {base.request.steps} steps costs "
                f"{format_flops(base.estimate.cost.total)} ({base.seconds:.2f} s). Mean absolute pixel difference "
                f"schedule vs all bricks: {self.pixel_difference:.1f} / 255.")


def compare(served: "Served", request: Request,
            on_run: Callable[[int, str], None] | None = None) -> Comparison:
    """Run the three variants of ``request`` (first image only), through the served model's cache."""
    config = served.config
    every = BrickSchedule.all_on(config.num_bricks)
    fewer = matched_steps(config, request)
    variants = [("all bricks", request.steps, every), ("schedule", request.steps, request.schedule),
                (f"all bricks, {fewer} steps", fewer, every)]
    runs = [(label, replace(request, steps=steps, schedule=schedule, images=1)) for label, steps, schedule in variants]
    estimates = [estimate(config, one, served.throughput) for _, one in runs]
    total = sum(e.gflops for e in estimates)
    if total > served.limits.max_gflops:  # one limit for everything the request will run
        raise PlaygroundError(
            f"this comparison runs three variants that need {total:,.0f} GFLOPs together, more than this machine "
            f"serves per request ({served.limits.max_gflops:,.0f}); lower the size or the steps")
    records = []
    for i, ((label, one), est) in enumerate(zip(runs, estimates)):
        if on_run is not None:
            on_run(i, label)
        records.append(run_to_end(served.model, one, est, served.precision, cache=served.cache))
    return Comparison(*records)


# Below this difference in mean pixel change (out of 255) two bricks count as tied: about the spread
# of the same comparison over a few seeds on the bundled model.
LESSON_TIE = 0.5


def lesson_verdict(rows: list[LessonRow], guess: int) -> str:
    """What the classroom experiment says about the learner's guess: every sentence from the measured rows."""
    order = sorted(range(len(rows)), key=lambda i: rows[i].pixel_difference)
    best, most = order[0], order[-1]
    tied = [i for i in order if rows[i].pixel_difference - rows[best].pixel_difference < LESSON_TIE]
    table = "\n".join(["| brick off for the last 40% | FLOPs saved | mean pixel change |", "|---|---|---|"]
                      + [f"| {r.brick} | {r.saving:.0%} | {r.pixel_difference:.1f} / 255 |" for r in rows])
    names = " and ".join(rows[i].brick for i in tied)
    if guess in tied:
        verdict = "You were right" if len(tied) == 1 else f"A tie you share: {names} changed the image least"
    else:
        verdict = f"Not this time: {names} changed the image least" + (" (a tie)" if len(tied) > 1 else "")
    moral = (f"In this run, switching {rows[most].brick} off late changed the image most "
             f"({rows[most].pixel_difference:.1f} / 255) and {names} least "
             f"({rows[best].pixel_difference:.1f} / 255); differences under {LESSON_TIE} / 255 count as a tie. "
             "Try another category or seed, or the same brick off for the *first* 40% in the Generate tab.")
    return (f"{verdict}. Dropping {rows[guess].brick} late saved {rows[guess].saving:.0%} of the FLOPs and changed "
            f"the image by {rows[guess].pixel_difference:.1f} / 255 on average.\n\n{table}\n\n{moral}")


def random_seed() -> int:
    return random.randint(0, MAX_SEED)


BRICK_ROLES = {
    "local": "local-feature enrichment: sharpens detail inside {r}x{r} pixel regions",
    "global": "global-content orchestration: sees the whole {r}x{r} image and sets the layout",
}


def brick_table(config: LegoConfig) -> list[dict]:
    params, _ = parameter_counts(config)
    rows = []
    for i, b in enumerate(config.bricks):
        kind = "global" if config.is_global(i) else "local"
        rows.append({"brick": config.brick_name(i), "region": b.region, "patch": b.patch, "depth": b.depth,
                     "parameters": params[i],
                     "flops_per_evaluation": brick_flops(config, i, config.image_size, config.image_size),
                     "role": BRICK_ROLES[kind].format(r=b.region)})
    return rows


def matched_steps(config: LegoConfig, request: Request) -> int:
    """The step count at which all bricks cost about what the request's schedule costs (the honest baseline)."""
    target = estimate(config, request, 1.0).cost.total
    best, best_gap = 1, math.inf
    for n in range(1, request.steps + 1):
        trial = replace(request, steps=n, schedule=BrickSchedule.all_on(config.num_bricks))
        gap = abs(estimate(config, trial, 1.0).cost.total - target)
        if gap < best_gap:
            best, best_gap = n, gap
    return best


def difference_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel absolute difference, amplified 4x and shown dark on white."""
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2)
    shade = 255 - np.clip(diff * 4, 0, 255)
    return np.repeat(shade[:, :, None], 3, axis=2).astype(np.uint8)


def region_overlay(image: np.ndarray, region: int, patch: int, scale: int = 4) -> np.ndarray:
    """The image enlarged, with patch lines (thin, light) and region lines (thick, dark) drawn over it."""
    big = np.kron(image, np.ones((scale, scale, 1), dtype=np.uint8))
    out = big.copy()
    h, w = image.shape[:2]
    for step, colour, width in ((patch, (200, 200, 255), 1), (region, (220, 30, 30), 2)):
        for y in range(0, h + 1, step):
            out[max(0, y * scale - width // 2): y * scale + (width + 1) // 2, :] = colour
        for x in range(0, w + 1, step):
            out[:, max(0, x * scale - width // 2): x * scale + (width + 1) // 2] = colour
    return out


def measure_throughput(model: LegoModel, precision: str, repeats: int = 3) -> float:
    """GFLOP/s of one guided evaluation at the training size, for time estimates."""
    config = model.config
    device = next(model.parameters()).device
    x = torch.randn(2, config.channels, config.image_size, config.image_size, device=device)
    labels = torch.zeros(2, dtype=torch.long, device=device)
    best = math.inf
    with model.inference_context(), autocast(precision, device):
        for _ in range(repeats + 1):
            start = time.perf_counter()
            model(x, torch.tensor(1.0, device=device), labels)
            best = min(best, time.perf_counter() - start)
    return evaluation_flops(config, config.image_size, config.image_size, batch=2).total / 1e9 / best
