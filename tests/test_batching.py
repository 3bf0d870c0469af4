"""Requests from several users in one batch: each gets the pixels, steps, previews and report it
would get alone, can be stopped alone, and fails alone (with its batch) when memory runs out."""

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from gradio_client import Client

from lego.batching import Batcher, rows_independent
from lego.estimate import estimate
from lego.images import to_uint8
from lego.request import PlaygroundError, parse_request
from lego.runs import RunRecord, run
from lego.schedule import BrickSchedule

from conftest import generate_args, launched_app, randomized

PRECISION = "bf16"
TIMINGS = ("seconds", "step_seconds", "brick_seconds_per_step", "batch_images")


@pytest.fixture(scope="module")
def model():
    model = randomized("tiny-emoji")
    if not rows_independent(model, PRECISION):
        pytest.skip("this machine's bf16 kernels compute a row of a batch differently from the row alone")
    return model


def request(model, category="Flags", seed=0, guidance=2.0, steps=6, images=1):
    req = parse_request(model.config, category, seed, steps, guidance, "dpm++2m", images, 64, 64,
                        BrickSchedule.all_on(model.config.num_bricks))
    return req, estimate(model.config, req, 50.0)


def consume(items) -> tuple[list, RunRecord]:
    """Every step's previews (as the app shows them) and the record."""
    previews, record = [], None
    for item in items:
        if isinstance(item, RunRecord):
            record = item
        else:
            previews.append(to_uint8(item.denoised))
    return previews, record


def same_run(a: tuple[list, RunRecord], b: tuple[list, RunRecord], config) -> None:
    (previews_a, ra), (previews_b, rb) = a, b
    assert all(torch.equal(torch.as_tensor(x), torch.as_tensor(y)) for x, y in zip(previews_a, previews_b, strict=True))
    assert all((x == y).all() for x, y in zip(ra.images, rb.images, strict=True))
    for fa, fb in zip(ra.frames, rb.frames, strict=True):
        for pa, pb in zip((fa.noisy, fa.denoised, fa.no_brick, *fa.bricks), (fb.noisy, fb.denoised, fb.no_brick,
                                                                            *fb.bricks), strict=True):
            assert (pa == pb).all()
    report_a, report_b = ra.report(config), rb.report(config)
    for key in TIMINGS:
        report_a.pop(key), report_b.pop(key)
    assert report_a == report_b


def blocking(batcher: Batcher, model) -> Iterator:
    """A long request of its own kind, already running (its first step is out): the requests sent while it
    runs gather for the next round, however slowly the machine picks them up. Consume the steps it returns."""
    steps = iter(batcher.submit(*request(model, "Animals & Nature", seed=99, steps=60)))
    next(steps)
    return steps


def test_a_shared_batch_gives_every_request_its_own_pixels_previews_frames_and_report(model):
    batcher = Batcher(model, PRECISION)
    first = blocking(batcher, model)
    asked = [request(model, "Flags", 3, 2.0), request(model, "Smileys & Emotion", 7, 3.5),
             request(model, "Food & Drink", 11, 1.5, images=2)]
    tickets = [batcher.submit(*a) for a in asked]
    shared = [consume(t) for t in tickets]
    assert [r.batch_images for _, r in shared] == [4, 4, 4]  # one batch of 1 + 1 + 2 images
    assert consume(first)[1].batch_images == 1
    for (req, est), got in zip(asked, shared):
        same_run(got, consume(run(model, req, est, PRECISION)), model.config)
        assert got[1].batch_images == 4


def test_stopping_one_request_of_a_batch_leaves_the_others_running_to_the_same_end(model):
    batcher = Batcher(model, PRECISION)
    first = blocking(batcher, model)
    asked = [request(model, "Flags", s) for s in (1, 2, 3)]
    stopped, *others = [batcher.submit(*a) for a in asked]
    steps = iter(stopped)
    next(steps), next(steps)
    steps.close()  # what Stop does to the request's iterator
    assert stopped.cancelled
    for (req, est), ticket in zip(asked[1:], others):
        got = consume(ticket)
        assert got[1].batch_images == 3
        same_run(got, consume(run(model, req, est, PRECISION)), model.config)
    consume(first)


def test_a_request_that_cannot_join_waits_only_for_the_round_in_flight(model):
    batcher = Batcher(model, PRECISION)
    first = blocking(batcher, model)
    long, other = batcher.submit(*request(model, steps=40)), batcher.submit(*request(model, steps=5))
    seen: dict[str, list[float]] = {"long": [], "other": []}

    def watch(name, ticket):
        for _ in ticket:
            seen[name].append(time.perf_counter())

    threads = [threading.Thread(target=watch, args=a) for a in (("long", long), ("other", other))]
    for t in threads:
        t.start()
    consume(first)
    for t in threads:
        t.join(60)
    # the two batches of the round advance in turn: the short one is done long before the long one
    assert len(seen["other"]) == 6 and len(seen["long"]) == 41
    assert seen["other"][-1] < seen["long"][len(seen["long"]) // 2]


def test_running_out_of_memory_fails_that_batch_only_with_a_clear_message_and_the_batcher_goes_on(model):
    batcher = Batcher(model, PRECISION)
    net = model.for_inference(torch.bfloat16)  # the copy the sampler runs

    def no_memory_for_big_batches(module, args):
        if args[0].shape[0] > 4:  # 3 guided images: 6 rows
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    hook = net.register_forward_pre_hook(no_memory_for_big_batches)
    try:
        first = blocking(batcher, model)
        big = [batcher.submit(*request(model, "Flags", s)) for s in (1, 2, 3)]
        small = batcher.submit(*request(model, "Flags", 5, steps=4))  # another kind: its own batch of 1
        for ticket in big:
            with pytest.raises(PlaygroundError, match="ran out of memory .* in a batch of 3 images shared"):
                consume(ticket)
        assert consume(small)[1].batch_images == 1
        consume(first)
    finally:
        hook.remove()
    req, est = request(model, "Flags", 1)
    same_run(consume(batcher.submit(req, est)), consume(run(model, req, est, PRECISION)), model.config)  # as usual


def test_a_fault_outside_the_steps_fails_that_round_only_and_the_batcher_goes_on(model):
    batcher = Batcher(model, PRECISION)
    real_groups = batcher.groups

    def broken_once(tickets):
        batcher.groups = real_groups
        raise ValueError("a bug in grouping")

    batcher.groups = broken_once
    with pytest.raises(RuntimeError, match="sampling failed: a bug in grouping"):
        consume(batcher.submit(*request(model, "Flags", 1)))
    req, est = request(model, "Flags", 2)
    same_run(consume(batcher.submit(req, est)), consume(run(model, req, est, PRECISION)), model.config)  # not hanging


def test_the_app_admits_a_class_of_thirty_at_once_and_batches_them(model):
    with launched_app(model, precision=PRECISION) as (_, url):
        outcomes: list = [None] * 30
        together = threading.Barrier(30)

        def student(k: int) -> None:
            client = Client(url, verbose=False)
            together.wait(120)  # everyone presses Generate at once
            try:
                outcomes[k] = client.predict(*generate_args(seed=100 + k, steps=20, sampler="dpm++2m", previews=False,
                                                            preview_every=3), api_name="/generate")
            except Exception as exc:  # noqa: BLE001 - every failure is reported below
                outcomes[k] = exc
            finally:
                client.close()

        threads = [threading.Thread(target=student, args=(k,)) for k in range(30)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
    failures = [o for o in outcomes if not isinstance(o, tuple)]
    assert not failures, failures[:3]
    reports = [json.loads(Path(next(f for f in o[5] if f.endswith(".json"))).read_text()) for o in outcomes]
    assert sorted(r["request"]["seed"] for r in reports) == list(range(100, 130))
    assert max(r["batch_images"] for r in reports) > 1  # students shared batches


def test_an_unloaded_model_is_freed_and_its_batcher_says_why(tmp_path, monkeypatch):
    import gc
    import weakref

    from lego.checkpoint import save_checkpoint
    from lego.serving import ModelRegistry, Served

    monkeypatch.setenv("LEGO_CHECKPOINT_DIRS", str(tmp_path))
    for i in range(2):
        save_checkpoint(randomized("tiny-emoji", seed=i), tmp_path / f"m{i}")
    registry = ModelRegistry(Served.of("default", randomized("tiny-emoji"), PRECISION, batching="on"), keep=1)
    first = registry.load(str(tmp_path / "m0"))
    consume(first.batcher.submit(*request(first.model, steps=2)))  # its worker now idles, holding the model
    worker, batcher, held = first.batcher._worker, first.batcher, weakref.ref(first.model)
    assert worker is not None and worker.is_alive()
    del first
    registry.load(str(tmp_path / "m1"))  # takes m0's slot
    worker.join(5)
    assert not worker.is_alive()
    with pytest.raises(PlaygroundError, match="m0 was unloaded to make room"):  # a request that raced the unload
        batcher.submit(*request(registry.default.model))
    del batcher
    gc.collect()
    assert held() is None
