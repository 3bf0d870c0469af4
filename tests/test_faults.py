"""Faults and safety: memory exhaustion, clients vanishing mid-run, bad checkpoints, no unsafe loading."""

import re
import subprocess
import sys
import time
from pathlib import Path

import gradio as gr
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from gradio_client.utils import Status

from lego.checkpoint import save_checkpoint
from lego.comparison import REPEATS

from conftest import api_args, generate_args, launched_app, randomized

ROOT = Path(__file__).resolve().parent.parent

OOM_SCRIPT = """
import resource, sys
sys.path[:0] = [{root!r}, {tests!r}]
from conftest import randomized
from lego.estimate import estimate
from lego.request import PlaygroundError, parse_request
from lego.runs import run_to_end
from lego.schedule import BrickSchedule

model = randomized("tiny-emoji")
config, every = model.config, BrickSchedule.all_on(3)
small = parse_request(config, "Flags", 1, 2, 2.0, "heun", 1, 64, 64, every)
run_to_end(model, small, estimate(config, small, 1.0), "fp32")  # warm up: allocator and kernels
size = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (size + 400 * 2**20, resource.RLIM_INFINITY))
big = parse_request(config, "Flags", 1, 2, 2.0, "heun", 4, 2048, 2048, every)
try:
    run_to_end(model, big, estimate(config, big, 1.0), "fp32")
    print("NO-OOM")
except PlaygroundError as exc:
    print("FRIENDLY:", exc)
record = run_to_end(model, small, estimate(config, small, 1.0), "fp32")
print("ALIVE", len(record.images))
"""


def test_running_out_of_memory_is_a_friendly_error_and_the_process_lives_on():
    script = OOM_SCRIPT.format(root=str(ROOT), tests=str(ROOT / "tests"))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "FRIENDLY: ran out of memory at 2048x2048 with 4 image(s)" in done.stdout
    assert "ALIVE 1" in done.stdout


def test_app_refuses_a_corrupt_checkpoint_at_start_without_a_traceback(tmp_path):
    save_checkpoint(randomized("tiny-pg"), tmp_path / "ckpt")
    (tmp_path / "ckpt" / "model.safetensors").write_bytes(b"not safetensors")
    done = subprocess.run([sys.executable, "app.py", "--checkpoint", str(tmp_path / "ckpt"), "--port", "0"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "model.safetensors is corrupt" in done.stderr and "Traceback" not in done.stderr


def test_no_unpickling_anywhere_outside_the_converter():
    unsafe = re.compile(r"pickle\.(loads?|Unpickler)\b|torch\.load\(|weights_only\s*=\s*False|allow_pickle\s*=\s*True")
    tracked = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True)
    product = [ROOT / p for p in tracked.stdout.split() if not p.startswith("tests/")]
    assert ROOT / "lego" / "convert.py" in product and len(product) > 50
    offenders = [str(p) for p in product if p != ROOT / "lego" / "convert.py" and unsafe.search(p.read_text())]
    assert offenders == []


def test_the_ui_offers_no_upload_and_does_not_share_by_default():
    import app

    demo = app.build_demo(randomized("tiny-emoji"))
    uploads = [b for b in demo.blocks.values()
               if isinstance(b, (gr.File, gr.UploadButton, gr.Image, gr.Gallery, gr.ImageSlider)) and b.interactive]
    assert uploads == []
    args = app.build_parser().parse_args([])
    assert args.share is False and args.host == "127.0.0.1"


def test_stop_with_previews_off_ends_the_sampling_within_a_step():
    with launched_app() as (model, url):
        rows = []  # (time, rows) of each network call: a CPU runs an evaluation's 4 rows (2 images, guided) in parts
        hook = model.register_forward_hook(lambda _, inputs, __: rows.append((time.perf_counter(), len(inputs[0]))))
        client = Client(url, verbose=False)
        job = client.submit(*generate_args(seed=1, steps=50, images=2, width=256, height=256, previews=False,
                                           preview_every=1), api_name="/generate")
        deadline = time.perf_counter() + 60
        while len(job.outputs()) < 3 and time.perf_counter() < deadline:  # "starting", then step 1
            time.sleep(0.02)
        job.cancel()
        stopped_at = time.perf_counter()
        time.sleep(3)
        hook.remove()
        evaluations = sum(n for _, n in rows) / 4
        after = sum(n for t, n in rows if t > stopped_at) / 4
        assert evaluations < 20 and after <= 2  # Heun: two evaluations a step; 99 for the whole run
        client.close()


def test_stop_a_comparison_ends_its_sampling_within_a_step_and_frees_the_worker():
    from ui.compare import stopped_status

    with launched_app() as (model, url):
        evaluations = []
        hook = model.register_forward_hook(lambda *_: evaluations.append(time.perf_counter()))
        client = Client(url, verbose=False)
        job = client.submit(*api_args("/compare", seed=1, steps=36, width=128, height=128, brick_2=[0, 1, 2]),
                            api_name="/compare")
        deadline = time.perf_counter() + 60
        while len(job.outputs()) < 3 and time.perf_counter() < deadline:  # "starting", then step 1
            time.sleep(0.02)
        status = job.outputs()[-1][-1]
        running = r"Running: step \d+/\d+ of (all bricks|schedule|all bricks, \d+ steps)"
        assert re.fullmatch(rf"{running} \(round 1/{REPEATS}\)", status), status
        job.cancel()
        stopped_at = time.perf_counter()
        time.sleep(3)
        after = [t for t in evaluations if t > stopped_at]
        assert len(after) <= 2 and len(evaluations) < 40  # Heun: two a step; the comparison needs hundreds
        start = time.perf_counter()
        quick = client.predict(*api_args("/compare", seed=2, steps=2, brick_2=[0, 1, 2]), api_name="/compare")
        opening = r"\*Flags\*, seed \*\*2\*\*: B2 .+ off at step 2 of 2 \(the \*\*pg-recipe\*\* preset\)\."
        assert re.match(opening, quick[-1]), quick[-1]
        assert time.perf_counter() - start < 30  # the worker is free
        hook.remove()
        client.close()
    where = status.removeprefix("Running: ")
    assert stopped_status(status) == f"Stopped at {where}: no comparison was finished. Press Compare to run again."
    assert stopped_status("Running: starting").startswith("Stopped before its first step: no comparison was finished")
    assert stopped_status(quick[-1]) == gr.skip()  # a finished comparison keeps its summary


def test_stop_names_where_each_kind_of_run_was_and_leaves_a_finished_one_alone():
    from lego.lesson import LessonProgress
    from ui.context import running, stopped
    from ui.generate import stopped_status as generate_stopped

    detail = "seed **5** · 1.2 GFLOPs"  # the request's summary after the place is not repeated
    assert generate_stopped(running("step 3/18", detail)) == (
        "Stopped at step 3/18: no image was finished. Press Generate to run again.")
    assert generate_stopped(running(detail=detail)).startswith("Stopped before its first step:")
    where = str(LessonProgress(2, 5, "A off", 3, 12))
    assert stopped(running(where), "the lesson was not finished", "Run") == (
        f"Stopped at {where}: the lesson was not finished. Press Run to run again.")
    for done in ("Done: Flags, seed 0.", "The run failed: a kernel failed", "seed **5** · 0.80 s measured"):
        assert generate_stopped(done) == gr.skip()


def test_deeply_nested_schedule_json_is_refused_with_a_message():
    with launched_app() as (_, url):
        client = Client(url, verbose=False)
        for api in ("/generate", "/compare", "/estimate"):  # each refuses it, no HTTP 500
            try:
                client.predict(*api_args(api, seed=1, steps=2, schedule_json="[" * 1000), api_name=api)
            except Exception as exc:  # noqa: BLE001 - the message is what matters
                assert "nested more than 8 levels" in str(exc), str(exc)
            else:
                raise AssertionError(f"{api} accepted 1,000 nested brackets")
        client.close()


def test_compare_counts_all_three_variants_against_the_compute_limit():
    from lego.estimate import estimate
    from lego.request import parse_request
    from lego.schedule import BrickSchedule

    with launched_app() as (model, url):  # the test app serves at most 150 GFLOPs per request
        config, every = model.config, BrickSchedule.all_on(3)
        one = estimate(config, parse_request(config, "Flags", 1, 50, 2.0, "heun", 1, 256, 256, every), 1.0).gflops
        assert one < 150 < 3 * one  # alone it is served; the comparison's three variants together are not
        client = Client(url, verbose=False)
        try:
            client.predict(*api_args("/compare", seed=1, steps=50, width=256, height=256, brick_2=[0, 1, 2]),
                           api_name="/compare")
        except Exception as exc:  # noqa: BLE001 - the message is what matters
            assert "three variants" in str(exc) and "more than this machine serves per request (150)" in str(exc)
        else:
            raise AssertionError("the comparison ran past the per-request limit")
        client.close()


def test_a_refused_request_logs_one_line_and_no_traceback(caplog, capfd):
    import logging

    with launched_app() as (_, url):
        caplog.set_level(logging.INFO, logger="lego_playground")  # from here on: the request's lines only
        client = Client(url, verbose=False)
        try:
            client.predict(*generate_args(seed=1, steps=2, previews=False, schedule_json="{not json"),
                           api_name="/generate")
        except Exception as exc:  # noqa: BLE001 - the message is what matters
            assert "schedule is not valid JSON" in str(exc)
        try:  # a class the picker does not have: checked before the request is read, and alike
            client.predict(*generate_args(category="Dragons", steps=2, previews=False), api_name="/generate")
        except Exception as exc:  # noqa: BLE001 - the message is what matters
            assert "unknown class 'Dragons'" in str(exc)
        with pytest.raises(AppError):  # out of a slider's range: Gradio's own check, said as ours are
            client.predict(*generate_args(steps=51, previews=False), api_name="/generate")
        client.close()
    printed = capfd.readouterr()
    assert "Traceback" not in printed.err + printed.out
    lines = [r.getMessage() for r in caplog.records if r.name == "lego_playground"]
    assert lines[0].startswith("refused: schedule is not valid JSON")
    assert lines[1].startswith("refused: unknown class 'Dragons'")
    assert lines[2] == "refused: steps: value 51 is greater than maximum value 50." and len(lines) == 3


def test_a_fault_during_a_run_is_reported_as_a_failure_with_a_traceback_and_the_app_goes_on(caplog):
    import logging

    import torch

    with launched_app() as (model, url):
        net = model.for_inference(torch.float32)  # the copy the sampler runs

        def broken(module, args):
            if args[0].shape[-1] == 128:  # only this request's size
                raise RuntimeError("a kernel failed")

        hook = net.register_forward_pre_hook(broken)
        caplog.set_level(logging.INFO, logger="lego_playground")
        client = Client(url, verbose=False)
        job = client.submit(*generate_args(seed=1, steps=2, width=128, height=128, previews=False),
                            api_name="/generate")
        try:
            job.result(timeout=60)
            raise AssertionError("the run should have failed")
        except Exception as exc:  # noqa: BLE001 - the message is what matters
            assert "the run failed: a kernel failed" in str(exc)
        statuses = [o[1] for o in job.outputs()]
        assert statuses[-1] == "The run failed: a kernel failed"  # not "Stopped", not a run in progress
        failures = [r for r in caplog.records if r.name == "lego_playground" and r.getMessage() == "a run failed"]
        assert len(failures) == 1 and failures[0].exc_info is not None  # a fault of ours: its traceback is logged
        hook.remove()
        assert client.predict(*generate_args(seed=1, steps=2, previews=False),
                              api_name="/generate")[1].startswith("seed **1**")
        client.close()


def test_uploads_are_refused_past_a_token_size():
    import httpx

    with launched_app() as (_, url):
        big = httpx.post(url + "gradio_api/upload", files={"files": ("x.bin", b"x" * 50_000)}, timeout=30)
        assert big.status_code == 413


def test_the_output_folder_is_removed_when_the_app_exits():
    script = ("import sys; sys.path[:0] = [{root!r}]\n"
              "from lego.outputs import OutputFolder\n"
              "folder = OutputFolder(); folder.new_run(); print(folder.root)\n").format(root=str(ROOT))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    root = Path(done.stdout.strip())
    assert done.returncode == 0 and root.name.startswith("lego_playground_") and not root.exists()


def test_one_client_cannot_fill_the_queue(caplog):
    import logging

    caplog.set_level(logging.INFO, logger="lego_playground")
    with launched_app() as (_, url):
        greedy, other = Client(url, verbose=False), Client(url, verbose=False)
        slow = generate_args(seed=1, steps=50, images=2, width=256, height=256, preview_every=1)
        first = greedy.submit(*slow, api_name="/generate")
        deadline = time.perf_counter() + 60
        while len(first.outputs()) < 2 and time.perf_counter() < deadline:  # running
            time.sleep(0.02)
        waiting = [greedy.submit(*slow, api_name="/generate") for _ in range(2)]  # queued behind it
        joined = {Status.IN_QUEUE, Status.PROCESSING, Status.ITERATING, Status.PROGRESS}
        while not all(w.status().code in joined for w in waiting) and time.perf_counter() < deadline:
            time.sleep(0.02)
        try:
            greedy.predict(*slow, api_name="/generate")  # a fourth at once: refused before it joins the queue
            outcome = "ran"
        except Exception as exc:  # noqa: BLE001 - the message is what matters
            outcome = str(exc)
        assert "this session already has 3 requests waiting or running (at most 3)" in outcome, outcome
        assert any("a session with 3 requests waiting" in r.getMessage() for r in caplog.records)
        for job in [first, *waiting]:
            job.cancel()
        quick = other.predict(*generate_args(seed=2, steps=2, previews=False),
                              api_name="/generate")  # another session is still served
        assert len(quick[0]) == 1
        greedy.close()
        other.close()


def test_a_session_whose_model_was_unloaded_is_told_so_not_switched(tmp_path, monkeypatch):
    monkeypatch.setenv("LEGO_CHECKPOINT_DIRS", str(tmp_path))
    for k in range(3):
        save_checkpoint(randomized("tiny-emoji", seed=k + 1), tmp_path / f"m{k}")
    with launched_app() as (_, url):
        sessions = [Client(url, verbose=False) for _ in range(3)]
        for k, client in enumerate(sessions):  # the server keeps two besides its own: m0 is unloaded
            client.predict(str(tmp_path / f"m{k}"), api_name="/load_model")
        args = generate_args(seed=1, steps=2, previews=False)
        try:
            sessions[0].predict(*args, api_name="/generate")
            outcome = "generated"
        except Exception as exc:  # noqa: BLE001 - the message is what matters
            outcome = str(exc)
        assert "m0 was unloaded to make room" in outcome and str(tmp_path) not in outcome
        sessions[0].predict(str(tmp_path / "m0"), api_name="/load_model")  # as the message says
        assert len(sessions[0].predict(*args, api_name="/generate")[0]) == 1
        for client in sessions:
            client.close()
