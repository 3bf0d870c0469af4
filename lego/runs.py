"""Running a request: its steps as they happen, the finished record, and the bounded stores of finished runs."""

from __future__ import annotations

import itertools
import math
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from .brick_table import brick_table
from .config import LegoConfig
from .estimate import Estimate
from .images import to_uint8
from .model import LegoModel, skip_weight
from .precision import resolve_precision
from .request import PlaygroundError, Request
from .sampler import StepInfo, sample_steps


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
    no_brick: np.ndarray  # the estimate with every brick skipped, c_skip * x: what the lowest brick adds to


@dataclass
class RunRecord:
    request: Request
    images: list[np.ndarray]
    estimate: Estimate
    mask: list[list[bool]]
    step_seconds: list[float]
    brick_seconds: list[list[float]]
    precision: str
    batch_images: int  # images sampled in one batch with this request's, its own included
    frames: list[Frame] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(self.step_seconds)

    def report(self, config: LegoConfig) -> dict:
        cost = self.estimate.cost
        return {
            "request": self.request.to_dict(config),
            "precision": self.precision,
            "batch_images": self.batch_images,
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
        keep_frames: bool = True) -> Iterator[StepInfo | RunRecord]:
    """Sample the request; yields every StepInfo, then the RunRecord. Closing it stops the sampling.

    Running out of memory becomes a PlaygroundError (the process, and the next request, are fine).
    """
    for parts in run_together(model, [request], [estimate_], precision, keep_frames):
        yield parts[0]


def batch_key(request: Request) -> tuple:
    """Requests with equal keys can share one batch: the same shape, steps, sampler, schedule and
    canvas, and all guided or all not, at the same steps (seeds, classes and guidance scales may differ)."""
    return (request.height, request.width, request.steps, request.method, request.schedule, request.canvas,
            request.guided, request.guidance_interval)


def run_together(model: LegoModel, requests: Sequence[Request], estimates: Sequence[Estimate],
                 precision: str = "auto", keep_frames: bool = True) -> Iterator[list[StepInfo] | list[RunRecord]]:
    """Sample requests with one ``batch_key`` as one batch: yields, every step, each request's part
    of it, then each request's RunRecord. A request's pixels are those it gets alone wherever the
    network computes every row of a batch as it would alone (``lego.batching`` checks that)."""
    if len({batch_key(r) for r in requests}) != 1:
        raise ValueError("these requests cannot share a batch")
    first, space = requests[0], model.config.label_space()
    spans = list(itertools.pairwise(itertools.accumulate((r.images for r in requests), initial=0)))
    steps = sample_steps(model, [s for r in requests for s in r.seeds],
                         [k for r in requests for k in r.image_labels(space)], first.settings, first.schedule,
                         first.height, first.width, precision, brick_estimates=keep_frames,
                         canvas=first.canvas,
                         guidance=[r.guidance if r.guided else 1.0 for r in requests for _ in range(r.images)])
    sigma_data = model.config.sigma_data
    frames: list[list[Frame]] = [[] for _ in requests]
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
            size = f"{first.width}x{first.height}"
            if len(requests) == 1:
                raise PlaygroundError(f"ran out of memory at {size} with {first.images} image(s); try a smaller "
                                      "size or fewer images") from None
            raise PlaygroundError(f"ran out of memory at {size} in a batch of {spans[-1][1]} images shared with "
                                  "other users; try again in a moment, or a smaller size") from None
        parts = [info.rows(a, b) for a, b in spans]
        if keep_frames:  # every request's first image, each kind of picture converted for all requests at once
            firsts = [a for a, _ in spans]
            x = info.x[firsts]
            noisy, denoised, no_brick = (to_uint8(t) for t in (display_noisy(x, info.sigma), info.denoised[firsts],
                                                                 skip_weight(info.sigma, sigma_data) * x))
            bricks = [None if b is None else to_uint8(b[firsts]) for b in info.brick_denoised]
            for k, kept in enumerate(frames):
                kept.append(Frame(info.step, info.sigma, info.active, noisy[k], denoised[k],
                                  [None if b is None else b[k] for b in bricks], no_brick[k]))
        yield parts
    images = to_uint8(result.images)
    yield [RunRecord(r, list(images[a:b]), e, result.mask, result.step_seconds, result.brick_seconds,
                     result.precision, spans[-1][1], pack_frames(kept))
           for r, e, (a, b), kept in zip(requests, estimates, spans, frames)]


def pack_frames(frames: list[Frame]) -> list[Frame]:
    """The same frames as views into one array: one allocation per run instead of hundreds of small ones,
    which keeps a cache of runs from fragmenting the heap."""
    pictures = [p for f in frames for p in (f.noisy, f.denoised, *f.bricks, f.no_brick) if p is not None]
    if not pictures:
        return frames
    block = iter(np.stack(pictures))
    return [Frame(f.step, f.sigma, f.active, next(block), next(block),
                  [None if b is None else next(block) for b in f.bricks], next(block)) for f in frames]


def run_to_end(model: LegoModel, request: Request, estimate_: Estimate, precision: str = "auto",
               keep_frames: bool = False, cache: RunCache | None = None) -> RunRecord:
    precision = resolve_precision(precision, next(model.parameters()).device)
    if cache is not None and (hit := cache.get(request, precision, keep_frames)) is not None:
        return hit
    *_, record = run(model, request, estimate_, precision, keep_frames=keep_frames)
    if cache is not None:
        cache.put(record)
    return record


def fastest(record: RunRecord, again: Sequence[RunRecord]) -> RunRecord:
    """``record`` with each step's and brick's time the least of its own and those of the same request run
    ``again``: other work on a shared machine only ever adds time, so one slow step would otherwise show a
    schedule that skips work as slower than every brick."""
    timed = [record, *again]
    return replace(record, step_seconds=[min(steps) for steps in zip(*(r.step_seconds for r in timed))],
                   brick_seconds=[[min(bricks) for bricks in zip(*rows)]
                                  for rows in zip(*(r.brick_seconds for r in timed))])


def frame_bytes(record: RunRecord) -> int:
    return sum(p.nbytes for f in record.frames for p in (f.noisy, f.denoised, f.no_brick, *f.bricks) if p is not None)


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
