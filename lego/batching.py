"""Requests from different users that can share a forward pass, run as one batch.

A class pressing Generate together sends many requests that differ only in seed, class and
guidance. One worker thread per served model runs them in *rounds*: the requests that arrived
while the previous round ran are grouped by ``batch_key`` and each group is sampled as one
batch; a round's groups advance a step at a time in turn, so a request that cannot join a batch
waits only for the round in flight. Each request still sees its own steps, can be stopped on its
own (its rows then go on being computed, unseen, until its batch ends), and gets its own record.

Sharing a batch must not change anyone's pixels. That holds where the network computes every row
of a batch exactly as it would alone, which depends on the kernels a machine picks: on this
project's CPU it holds in bf16 and not in fp32 (a split reduction differs by about 3e-7).
``rows_independent`` checks it on the served model, and batching is used only where it holds,
unless asked for regardless.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from .canvas import Canvas
from .estimate import Estimate
from .model import LegoModel
from .precision import autocast, dtype_of
from .request import PlaygroundError, Request
from .runs import RunRecord, batch_key, run_together
from .sampler import CPU_CALL_PIXELS, StepInfo

LOG = logging.getLogger("lego_playground")
BATCHING = ("auto", "on", "off")
MAX_BATCH_IMAGES = 32  # at the training size; larger pictures make smaller batches
# The worker waits this long for more work before it ends: a thread's first parallel operation starts its own
# pool of compute threads (about 0.1 s on a 2-core CPU), so one worker serves a whole lesson or class.
IDLE_SECONDS = 120.0


def rows_independent(model: LegoModel, precision: str) -> bool:
    """Whether one evaluation gives every image the same numbers alone as in a batch (bit for bit), for the
    batch sizes the sampler's calls really have here: up to CPU_CALL_PIXELS worth of rows on a CPU, up to
    a full guided batch on a GPU."""
    config = model.config
    device = next(model.parameters()).device
    size = config.image_size
    largest = (max(1, CPU_CALL_PIXELS // size**2) if device.type == "cpu" else 2 * MAX_BATCH_IMAGES)
    net = model.for_inference(dtype_of(precision))
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(largest, config.channels, size, size, generator=generator).to(device)
    labels = torch.arange(largest, device=device) % config.num_classes if config.conditional else None
    sigma = torch.tensor(1.0, device=device)

    def evaluate(rows: slice) -> torch.Tensor:
        return net(x[rows], sigma, None if labels is None else labels[rows], canvas=Canvas())

    with net.inference_context(), autocast(precision, device):
        alone = torch.cat([evaluate(slice(i, i + 1)) for i in range(largest)])
        return all(torch.equal(evaluate(slice(0, b)), alone[:b]) for b in sorted({2, largest // 2, largest}) if b > 1)


@dataclass
class Ticket:
    """One request's place in the batcher: iterate it for its steps, then its RunRecord."""

    request: Request
    estimate: Estimate
    _items: queue.SimpleQueue = field(default_factory=queue.SimpleQueue, repr=False)
    _cancelled: threading.Event = field(default_factory=threading.Event, repr=False)

    def __iter__(self) -> Iterator[StepInfo | RunRecord]:
        """Like ``lego.runs.run``: closing the iterator (a user's Stop) cancels the request."""
        try:
            while True:
                item = self._items.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if isinstance(item, RunRecord):
                    return
        finally:
            self.cancel()

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def deliver(self, item: StepInfo | RunRecord | BaseException) -> None:
        if not self.cancelled:
            self._items.put(item)


_BATCHERS: weakref.WeakSet[Batcher] = weakref.WeakSet()


@atexit.register
def _stop_workers() -> None:
    """End idle workers before the interpreter does: a worker killed while it waits makes the C++ runtime
    abort at exit ("terminate called without an active exception")."""
    for batcher in list(_BATCHERS):
        batcher.close()


class Batcher:
    """Runs a served model's requests in shared batches (see the module docstring)."""

    def __init__(self, model: LegoModel, precision: str) -> None:
        self.model = model
        self.precision = precision
        self.max_pixels = MAX_BATCH_IMAGES * model.config.image_size ** 2
        self._waiting: list[Ticket] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._worker: threading.Thread | None = None  # runs while there is work, then ends
        self._closed: str | None = None  # why new requests are refused, once closed
        _BATCHERS.add(self)

    def close(self, timeout: float = 5.0, reason: str = "the server is shutting down") -> None:
        """Stop taking requests, refusing them with ``reason``; the worker finishes what it has and
        ends (``timeout`` 0: without waiting for it)."""
        with self._lock:
            self._closed = self._closed or reason
            self._arrived.notify_all()
            worker = self._worker
        if worker is not None:
            worker.join(timeout)

    def submit(self, request: Request, estimate_: Estimate) -> Ticket:
        ticket = Ticket(request, estimate_)
        with self._lock:
            if self._closed:
                raise PlaygroundError(self._closed)
            self._waiting.append(ticket)
            self._arrived.notify()
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="lego-batcher", daemon=True)
                self._worker.start()
        return ticket

    def groups(self, tickets: list[Ticket]) -> list[list[Ticket]]:
        """Tickets with one batch key, in order of arrival, cut into batches of at most
        ``max_pixels`` (a request larger than that on its own runs alone)."""
        by_key: dict[tuple, list[list[Ticket]]] = {}
        for t in tickets:
            batches = by_key.setdefault(batch_key(t.request), [[]])
            pixels = sum(m.request.images * m.request.width * m.request.height for m in batches[-1])
            if batches[-1] and pixels + t.request.images * t.request.width * t.request.height > self.max_pixels:
                batches.append([])
            batches[-1].append(t)
        return [batch for batches in by_key.values() for batch in batches]

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._waiting and not self._closed:
                    self._arrived.wait(IDLE_SECONDS)
                arrived = [t for t in self._waiting if not t.cancelled]
                self._waiting = []
                if not arrived:
                    self._worker = None
                    return
            try:
                self._round(self.groups(arrived))
            except Exception as exc:  # noqa: BLE001 - a fault outside a batch's steps: fail its requests, keep serving
                LOG.exception("a round of %d request(s) failed", len(arrived))
                for t in arrived:  # those already finished have stopped listening
                    t.deliver(RuntimeError(f"sampling failed: {exc}"))

    def _round(self, groups: list[list[Ticket]]) -> None:
        """Step every batch of the round in turn until all have finished."""
        start = time.perf_counter()
        running = []
        for members in groups:
            steps = run_together(self.model, [t.request for t in members], [t.estimate for t in members],
                                 self.precision)
            running.append((members, steps))
        while running:
            for entry in list(running):
                members, steps = entry
                if all(t.cancelled for t in members):
                    steps.close()
                    running.remove(entry)
                    continue
                try:
                    parts = next(steps)
                except StopIteration:
                    running.remove(entry)
                    continue
                except Exception as exc:  # noqa: BLE001 - handed to every request of the batch
                    if not isinstance(exc, PlaygroundError):
                        LOG.exception("a batch of %d request(s) failed", len(members))
                    for t in members:  # one exception object each: they are raised in different threads
                        t.deliver(PlaygroundError(str(exc)) if isinstance(exc, PlaygroundError) else
                                  RuntimeError(f"sampling failed: {exc}"))
                    running.remove(entry)
                    continue
                for t, part in zip(members, parts):
                    t.deliver(part)
        LOG.info("round of %d batch(es), %s request(s), in %.2f s", len(groups),
                 "+".join(str(len(g)) for g in groups), time.perf_counter() - start)
