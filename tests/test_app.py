"""The real app, launched in-process on a free port with a tiny random model, driven through gradio_client."""

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from PIL import Image

from lego.comparison import REPEATS
from lego.config import EMOJI_CATEGORIES
from lego.lesson import LESSON_STEPS, lesson_plan
from lego.request import NO_CLASS
from lego.flops import schedule_cost
from lego.sampler import SamplerSettings
from lego.schedule import BrickSchedule, from_grid, preset, schedule_text
from lego.settings_text import from_text
from lego.visuals import difference_maps, tied

from conftest import api_args, generate_args, launched_app



@pytest.fixture(scope="module")
def served():
    with launched_app() as (model, url):
        client = Client(url, verbose=False)
        yield model, client, url
        client.close()


def plot(output) -> dict:
    return json.loads(output["plot"])


def test_generate_streams_previews_and_returns_images_charts_report(served):
    model, client, _ = served
    job = client.submit(*generate_args(images=2, width=128, height=64, brick_2=[0, 1, 2]), api_name="/generate")
    outputs = list(job)
    first, *galleries = [o[0] for o in outputs[:-1]]  # a step repeats the preview on show until the next one
    assert first == []  # emptied: a value, as every output streamed to a script is (the layout is the page's)
    previews = [g for before, g in zip([[]] + galleries, galleries) if g and g != before]
    assert len(previews) == 3 and len(outputs) == 1 + 6 + 1  # start, a status per step with previews at 2, 4, 6
    assert galleries[0] == [] and galleries[1] == galleries[2] == previews[0]
    gallery, status, flops, times, heat, files, seed = outputs[-1]
    assert seed == 5 and "seeds **5-6**" in status
    from PIL import Image

    # the gallery shows the very files offered for download, each written once (see OutputFolder.pictures)
    from pathlib import Path

    assert [Path(g["image"]).name for g in gallery] == ["lego_seed5.png", "lego_seed6.png"]
    pictures = [Image.open(g["image"]) for g in gallery]
    assert len(pictures) == 2 and all(p.size == (128, 64) and p.format == "PNG" for p in pictures)
    assert len(plot(flops)["data"]) == 3  # one trace per brick
    assert [t["name"] for t in plot(times)["data"]][-1] == "sampler and conditioning"
    schedule = BrickSchedule(((((0.0, 1.0),),) * 2) + (((0.0, 0.6),),))
    assert plot(heat)["data"][0]["z"] == [[int(r[k]) for r in schedule.mask(6)] for k in range(3)]
    report = json.loads(open([f for f in files if f.endswith(".json")][0]).read())
    expected = schedule_cost(model.config, schedule, SamplerSettings(steps=6, guidance=2.0), 64, 128, True, 2)
    assert report["flops"]["total"] == expected.total < report["flops"]["all_bricks"]
    assert report["request"]["seeds"] == [5, 6] and report["request"]["class"] == "Flags"
    assert len(report["step_seconds"]) == 6 and report["mask"] == schedule.mask(6)
    assert len([f for f in files if f.endswith(".png")]) == 2
    # each picture carries its own settings (one image, its seed), the report the whole request's
    carried = [from_text(model.config, p.text["lego-playground"]).request for p in pictures]
    assert [(r.seed, r.images, r.width, r.height) for r in carried] == [(5, 1, 128, 64), (6, 1, 128, 64)]
    assert all(r.schedule.ranges == schedule.ranges and r.label == EMOJI_CATEGORIES.index("Flags") for r in carried)
    assert from_text(model.config, report["settings"]).request.seeds == [5, 6]
    assert pictures[0].text["lego-playground-model"].endswith(f"(weights {report['model']['fingerprint']})")


def test_previews_can_be_switched_off_and_seed_can_be_random(served):
    _, client, _ = served
    outputs = list(client.submit(*generate_args(previews=False, randomize=True, seed=0), api_name="/generate"))
    # a status update at the start and after every step (Stop acts there), but no preview image
    shown = [o[1].split(" · ")[0] for o in outputs[:-1]]
    assert shown == ["Running: starting"] + [f"Running: step {i}/6" for i in range(1, 7)]
    assert all(o[0] == [] for o in outputs[:-1])  # no picture until the end
    assert len(outputs[-1][0]) == 1
    assert outputs[-1][-1] != 0 and f"seed **{outputs[-1][-1]}**" in outputs[-1][1]


def test_a_repeated_request_is_replayed_from_the_cache(served):
    _, client, _ = served
    a = client.predict(*generate_args(previews=False, seed=77), api_name="/generate")
    b = client.predict(*generate_args(previews=False, seed=77), api_name="/generate")
    assert "replayed" not in a[1] and "replayed (" in b[1]
    assert open(a[0][0]["image"], "rb").read() == open(b[0][0]["image"], "rb").read()
    reports = [json.loads(open(next(f for f in r[5] if f.endswith(".json"))).read()) for r in (a, b)]
    assert [r["replayed"] for r in reports] == [False, True]  # a script can tell a timed run from a replay


def test_lesson_runs_every_stage_and_reports_what_it_measured(served):
    model, client, _ = served
    names = [model.config.brick_name(k) for k in range(3)]
    job = client.submit("Flags", names[2], 0, api_name="/lesson")
    outputs = list(job)
    (status, pair, late, *each_late, every, early, late_pic, early_map, late_map, early_text, every2, late2, fewer,
     late_map2, fewer_map, cost, take) = outputs[-1]
    runs, steps = len(lesson_plan(model.config, 0, 0)), LESSON_STEPS
    first = f"Running: run 1/{runs} (every brick), step"
    assert [o[0] for o in outputs[:3]] == ["Running: starting", f"{first} 1/{steps}", f"{first} 2/{steps}"]  # each step
    assert status.startswith("Done: Flags, seed 0") and len(pair) == 2
    assert all(f"| {n} |" in late for n in names) and "FLOPs saved" in late
    changes = {n: float(re.search(rf"\| {re.escape(n)} \| \d+% \| ([\d.]+) / 255 \|", late)[1]) for n in names}
    least = [n for n in names if tied(changes[n], min(changes.values()))]  # as shown, to the hundredth
    verdict = ("You were right" if least == [names[2]] else "A tie you share" if names[2] in least
               else "Not this time")
    shows = "*Flags, seed 0:* "  # each stage names what its pictures show
    assert all(text.startswith(shows) for text in (late, early_text, cost))
    assert late.removeprefix(shows).startswith(f"**{verdict}")  # the verdict the measured table calls for
    assert f"**{names[2]}** off for the first 40%" in early_text and "fewer steps" in cost
    # one line more where the brick that changed the picture least is not the top one: what it saved, against it
    assert take.count("\n- ") == (5 if names[2] in least else 6)
    assert every == every2 and late_pic == late2 and fewer.endswith(".png")
    # every brick's own late drop beside the guessed one's: whichever changed the picture least, the class sees it
    assert [u["label"] for u in each_late] == [f"{n} off late" for n in names]  # named on a model switch too
    drops = [np.asarray(Image.open(u["value"]).convert("RGB")) for u in each_late]
    assert np.array_equal(drops[2], np.asarray(Image.open(late_pic).convert("RGB")))  # the guess: the slider's
    assert not np.array_equal(drops[0], drops[2]) and not np.array_equal(drops[1], drops[2])
    # each change as a map, every map of stages 4 and 5 on one scale: the paler one changed less, and the late
    # drop's map is the same picture on both stages
    reference = np.asarray(Image.open(every).convert("RGB"))
    pictures = [np.asarray(Image.open(p).convert("RGB")) for p in (early, late_pic, late_pic, fewer)]
    maps, limit = difference_maps(reference, pictures)
    for text in (early_text, cost):
        assert text.endswith(f"In the change maps, full colour is a change of {limit} / 255 or more.")
    assert all(np.array_equal(np.asarray(Image.open(m).convert("RGB")), want)
               for m, want in zip((early_map, late_map, late_map2, fewer_map), maps))
    again = client.predict("Flags", names[2], 0, api_name="/lesson")
    assert "replayed from the cache" in again[0] and again[2] == late  # the same lesson, instantly
    # a call without a guess, or with a brick the model lacks, is refused (the page waits for a guess)
    for guess, message in ((None, "make your guess first"), ("B9", "guess: 'B9' is not one of B0 local")):
        with pytest.raises(AppError, match=message):
            client.predict("Flags", guess, 0, api_name="/lesson")
    # a seed out of range is refused before the lesson says it has started (and the page moves on to the run)
    job = client.submit("Flags", names[2], 3_000_000_000, api_name="/lesson")
    with pytest.raises(AppError, match="seed must be from 0 to"):
        job.result()
    assert job.outputs() == []


def test_a_stopped_lesson_stops_sampling_and_the_next_one_runs(served):
    model, client, _ = served
    evaluations = []
    slow = model.register_forward_pre_hook(lambda *_: evaluations.append(time.sleep(0.01)))  # seconds long
    try:
        job = client.submit("Symbols", model.config.brick_name(0), 7, api_name="/lesson")  # nothing cached
        deadline = time.perf_counter() + 60
        while len(job.outputs()) < 4 and time.perf_counter() < deadline:  # it is really sampling
            time.sleep(0.02)
        job.cancel()
        time.sleep(1.0)
        settled = len(evaluations)
        time.sleep(1.0)
        assert len(evaluations) == settled  # sampling has ended
        assert settled < 300  # well before the lesson's end (about 330 evaluations)
        result = client.predict("Symbols", model.config.brick_name(0), 7, api_name="/lesson")
        assert result[0].startswith("Done: Symbols, seed 7")
    finally:
        slow.remove()


def test_estimate_before_running(served):
    model, client, _ = served
    text = client.predict(*api_args("/estimate", seed=0, steps=18, coords="squeeze",
                                    schedule_json=preset("pg-recipe", model.config).to_json()), api_name="/estimate")
    assert "saving **" in text and "predicted speed-up" in text
    with pytest.raises(AppError, match="no brick is on at step"):  # refused, as /generate would refuse it
        client.predict(*api_args("/estimate", seed=0, steps=18, coords="squeeze", brick_0=[0, 1], brick_1=[],
                                 brick_2=[]), api_name="/estimate")


def test_guiding_only_the_middle_steps_costs_less_and_travels_with_the_picture(served):
    _, client, _ = served
    args = dict(previews=False, steps=8, sampler="dpm++2m", seed=3, category="Flags")
    every = client.predict(*generate_args(**args), api_name="/generate")
    middle = client.predict(*generate_args(guide="1-40", **args), api_name="/generate")
    report = json.loads(open([f for f in middle[5] if f.endswith(".json")][0]).read())
    full = json.loads(open([f for f in every[5] if f.endswith(".json")][0]).read())
    assert report["request"]["guidance_interval"] == [1.0, 40.0] and full["request"]["guidance_interval"] is None
    assert report["flops"]["total"] * 16 == full["flops"]["total"] * 12  # 4 of the 8 steps guided
    assert open(middle[0][0]["image"], "rb").read() != open(every[0][0]["image"], "rb").read()
    assert middle[1].endswith(" · guided at 4 of 8 steps") and "guided at" not in every[1]  # the status line
    png = [f for f in middle[5] if f.endswith(".png")][0]
    assert "&guide=1-40&" in Image.open(png).text["lego-playground"]
    estimates = [client.predict(*api_args("/estimate", guide=guide, **args), api_name="/estimate")
                 for guide in ("", "1-40")]
    flops = [float(re.match(r"\*\*([\d.]+) [MG]FLOPs\*\*", text)[1]) for text in estimates]
    assert flops[1] == pytest.approx(flops[0] * 12 / 16, rel=1e-3), estimates
    assert "Guided at" not in estimates[0] and "Guided at 4 of 8 steps: **" in estimates[1]
    assert "**25%** less work" in estimates[1]  # the brick saving above it compares at the same guided steps: 0%


# Where a slider or number box has bounds, Gradio's own check answers first ("less than minimum value").
@pytest.mark.parametrize("change,message", [
    ({"width": 96}, "multiple of 64"),
    ({"width": 0}, "less than minimum value 64"),
    ({"width": 100000, "height": 100000}, "greater than maximum value 512"),
    ({"width": 512, "height": 512}, "512x512 is larger than this machine serves"),
    ({"width": 256, "height": 256, "images": 4, "steps": 50}, "GFLOPs, more than this machine serves"),
    ({"steps": 0}, "less than minimum value 2"),
    ({"steps": 10**6}, "greater than maximum value 50"),
    ({"guidance": -1}, "less than minimum value 0"),
    ({"seed": -3}, "less than minimum value 0"),
    ({"seed": 2**40}, "seed must be from 0"),
    ({"category": "Dragons"}, "unknown class 'Dragons'; the class choices are: Smileys & Emotion"),
    ({"images": 9}, "greater than maximum value 4"),
    ({"brick_0": [0, 1], "brick_1": [], "brick_2": []}, "no brick is on at step"),
    ({"schedule_json": '{"bricks": {"7": [[0, 1]]}}'}, "unknown brick '7'"),
    ({"schedule_json": "{not json"}, "not valid JSON"),
    ({"schedule_json": "{" + " " * 70000 + "}"}, "larger than"),  # refused before it is parsed
    ({"canvas_mode": "stretch"}, "'stretch' is not one of tiles, overlap, global"),
    ({"guide": "40-1"}, "0 <= low < high"),
    ({"canvas_mode": "overlap", "width": 128, "stride": 40}, "multiple of 16"),
])
def test_bad_input_is_refused_with_a_clear_message(served, change, message):
    _, client, _ = served
    with pytest.raises(AppError, match=message):
        client.predict(*generate_args(**change), api_name="/generate")
    ok = client.predict(*generate_args(previews=False, steps=2), api_name="/generate")
    assert len(ok[0]) == 1


def test_compare_all_bricks_schedule_and_matched_baseline(served):
    from PIL import Image

    model, client, _ = served
    sched = preset("pg-recipe", model.config).to_json()
    job = client.submit(*api_args("/compare", seed=3, steps=10, coords="squeeze", schedule_json=sched),
                        api_name="/compare")
    outputs = list(job)
    statuses = [o[-1] for o in outputs[:-1]]
    assert statuses[0] == "Running: starting" and statuses[1] == f"Running: step 1/10 of all bricks (round 1/{REPEATS})"
    before, diff, bar, base, totals, files, text = outputs[-1]
    pictures = [Image.open(p) for p in (*before, diff, base)]
    assert {p.size for p in pictures} == {(256, 256)}  # 64x64 enlarged 4x, all at one scale
    assert Image.open(bar).size[0] == 256
    assert re.search(r"\*\*(Measured|No measurable) speed-up\*\*", text)  # which one, the machine's noise decides
    assert f"over {REPEATS} rounds" in text and "predicted from FLOPs" in text
    assert "the honest baseline, every brick with" in text and "/ 255 at most" in text
    names = plot(totals)["data"][0]["x"]
    assert names[0] == "all bricks" and names[1] == "schedule" and names[2].startswith("all bricks,<br>")
    fewer = int(names[2].split("<br>")[1].split()[0])  # "9 steps", on a line of its own
    assert len(statuses) == 1 + REPEATS * (2 * 10 + fewer)  # a status at every step of every round's three runs

    # the files: each run's picture at its own size, carrying settings that make it again, and the figures
    assert [Path(f).name for f in files] == [
        "lego_seed3_all_bricks.png", "lego_seed3_schedule.png", f"lego_seed3_all_bricks_{fewer}_steps.png",
        "lego_seed3_compare_report.json"]
    carried = [from_text(model.config, Image.open(f).text["lego-playground"]).request for f in files[:3]]
    assert [r.steps for r in carried] == [10, 10, fewer]
    every = BrickSchedule.all_on(model.config.num_bricks)
    assert [r.schedule.mask(r.steps) for r in carried] == [
        every.mask(10), preset("pg-recipe", model.config).mask(10), every.mask(fewer)]
    report = json.loads(Path(files[3]).read_text())
    runs = report["runs"]
    assert list(runs) == ["all bricks", "schedule", f"all bricks, {fewer} steps"]
    assert runs["all bricks"]["mean_change"] == 0 and runs["schedule"]["steps"] == 10
    assert all(len(r["seconds_per_round"]) == REPEATS for r in runs.values())
    assert runs["schedule"]["flops"] < runs["all bricks"]["flops"]
    shown = np.asarray(Image.open(files[0]), int), np.asarray(Image.open(files[1]), int)
    assert runs["schedule"]["mean_change"] == pytest.approx(np.abs(shown[1] - shown[0]).mean(), abs=1e-4)
    assert f"by {runs['schedule']['mean_change']:.2f} / 255 per pixel" in text
    assert f"by {runs[f'all bricks, {fewer} steps']['mean_change']:.2f} / 255. At about the same cost" in text
    speed = report["speedup"]
    assert speed["low"] <= speed["measured"] <= speed["high"] and speed["rounds"] == REPEATS
    assert f"**{speed['measured']:.2f}x**" in text and f"{speed['predicted']:.2f}x" in text
    assert speed["measurable"] == text.count("**Measured speed-up**")
    assert report["model"]["checkpoint"] and "schedule=" in report["settings"]
    assert report["request"]["seed"] == 3 and report["request"]["drawn"] == carried[1].drawn(model.config)
    assert statuses[-1].endswith(f"(round {REPEATS}/{REPEATS})")
    gflops = plot(totals)["data"][0]["y"]
    assert gflops[1] < gflops[0] and abs(gflops[2] - gflops[1]) < abs(gflops[0] - gflops[1])


def test_cancelled_run_with_previews_stops_within_a_step_and_frees_the_worker(served):
    model, client, _ = served
    calls = []  # the time of each network call of the 256x256 request (a CPU runs its 4 rows one at a time)
    hook = model.register_forward_hook(lambda _, inputs, __: calls.append(time.perf_counter())
                                       if inputs[0].shape[-1] == 256 else None)
    job = client.submit(*generate_args(steps=50, width=256, height=256, images=2, preview_every=1),
                        api_name="/generate")
    deadline = time.perf_counter() + 60
    while len(job.outputs()) < 2 and time.perf_counter() < deadline:  # it is really sampling
        time.sleep(0.05)
    assert not job.done()
    job.cancel()
    cancelled_at = time.perf_counter()
    result = client.predict(*generate_args(previews=False, steps=2), api_name="/generate")
    assert len(result[0]) == 1  # the worker is free for the next request
    time.sleep(2)
    hook.remove()
    assert sum(t > cancelled_at for t in calls) <= 2 * 4  # at most the step in flight (Heun: 2 evaluations)


@pytest.mark.parametrize("mode,coords", [("tiles", "repeat"), ("overlap", "squeeze"), ("global", "extend")])
def test_wide_and_square_canvases_with_each_option(served, mode, coords):
    _, client, _ = served
    for width, height in ((256, 64), (192, 192)):
        out = client.predict(*generate_args(previews=False, steps=2, width=width, height=height, canvas_mode=mode,
                                            shift=True, coords=coords), api_name="/generate")
        from PIL import Image

        assert Image.open(out[0][0]["image"]).size == (width, height)
        report = json.loads(open([f for f in out[5] if f.endswith(".json")][0]).read())
        assert report["request"]["canvas"]["mode"] == mode and report["request"]["canvas"]["coords"] == coords


def test_the_picker_offers_what_the_model_can_draw(served):
    model, client, _ = served
    picker = next(c["props"] for c in client.config["components"] if c.get("props", {}).get("label") == "What to draw")
    offered = [c[1] if isinstance(c, (list, tuple)) else c for c in picker["choices"]]
    assert offered == [NO_CLASS, *model.config.label_space().choices()]
    assert set(EMOJI_CATEGORIES) <= set(offered) and picker["value"] == EMOJI_CATEGORIES[0]


def test_on_zero_gpu_spaces_the_gpu_time_follows_the_request_cost(monkeypatch):
    """The `spaces` package only works on Hugging Face's ZeroGPU; a stand-in records what the app asks of it."""
    import sys
    import types

    import app
    from conftest import randomized
    from lego.estimate import GPU_MAX_SECONDS, GPU_MIN_SECONDS

    asked = {}
    stand_in = types.ModuleType("spaces")

    def gpu(duration):
        def wrap(fn):
            asked[fn.__name__] = duration
            return fn
        return wrap

    stand_in.GPU = gpu
    monkeypatch.setitem(sys.modules, "spaces", stand_in)
    monkeypatch.setattr("lego.estimate.GPU_GFLOPS_PER_SECOND", 1.0)  # a tiny model: make its cost count
    app.build_demo(randomized("tiny-emoji"), precision="fp32")
    key = app.DEFAULT_KEY  # the session's model, a gr.State the browser does not send through the API

    def seconds(api: str, *args) -> int:  # called as Gradio calls the event: each brick's ranges by name
        settings, bricks = args[:-3], args[-3:]
        return asked[api[1:]](key, *settings, **{f"brick_{k}": ticks for k, ticks in enumerate(bricks)})

    small = seconds("/generate", *generate_args(steps=2))
    big = seconds("/generate", *generate_args(steps=50, width=256, height=256, images=2))
    refused = seconds("/generate", *generate_args(steps=0))
    assert GPU_MIN_SECONDS <= small < big <= GPU_MAX_SECONDS and refused == GPU_MIN_SECONDS
    assert seconds("/compare", *api_args("/compare", seed=1, steps=50, width=256, height=256, coords="squeeze")) > small


def test_a_session_can_switch_checkpoints_and_others_keep_theirs(served, tmp_path, monkeypatch):
    from conftest import randomized
    from lego.checkpoint import save_checkpoint

    _, client, url = served
    monkeypatch.setenv("LEGO_CHECKPOINT_DIRS", str(tmp_path))
    save_checkpoint(randomized("tiny-emoji", seed=1), tmp_path / "other")
    save_checkpoint(randomized("tiny-pr"), tmp_path / "wrong-shape")
    args = generate_args(previews=False, steps=2, seed=123)
    before = open(client.predict(*args, api_name="/generate")[0][0]["image"], "rb").read()

    switcher = Client(url, verbose=False)
    info, status = switcher.predict(str(tmp_path / "other"), api_name="/load_model")  # what a script reads, only
    assert "**other**" in info and str(tmp_path) not in info and "B2 global r64/p16" in info  # no server paths
    assert status.startswith("Loaded **other** for this browser tab:")  # the tab's status line says it worked
    outputs = switcher.predict(*args, api_name="/generate")
    after = open(outputs[0][0]["image"], "rb").read()
    assert after != before  # other weights
    report = json.loads(open([f for f in outputs[5] if f.endswith(".json")][0]).read())
    assert report["model"]["checkpoint"] == "other" and len(report["model"]["fingerprint"]) == 16
    still = open(client.predict(*args, api_name="/generate")[0][0]["image"], "rb").read()
    assert still == before  # the first session kept its model

    with pytest.raises(AppError, match="laid out for 3"):
        switcher.predict(str(tmp_path / "wrong-shape"), api_name="/load_model")
    with pytest.raises(AppError, match="outside the folders this app may read"):
        switcher.predict("/etc", api_name="/load_model")
    with pytest.raises(AppError, match="outside the folders this app may read"):  # no way out by ..
        switcher.predict(str(tmp_path / ".." / ".." / "etc"), api_name="/load_model")
    switcher.close()


def test_progress_is_counted_in_steps(served):
    _, client, _ = served
    job = client.submit(*generate_args(steps=50, width=192, height=192, images=2, previews=False),  # seconds long
                        api_name="/generate")
    seen = []
    deadline = time.perf_counter() + 60
    while not job.done() and time.perf_counter() < deadline:
        progress = job.status().progress_data
        if progress:
            seen.append((progress[0].index, progress[0].length, progress[0].unit))
        time.sleep(0.05)
    job.result()
    assert seen, "no progress was reported"
    assert all(length == 50 and unit == "steps" for _, length, unit in seen)
    assert len({index for index, _, _ in seen}) > 1  # it moved


def test_the_api_documents_the_types_the_server_takes_and_no_server_path(served):
    _, client, _ = served
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    parameters = {p["parameter_name"]: p["python_type"]["type"] for p in api["/generate"]["parameters"]}
    # one list of step-range indices per brick, by name; a slider of whole steps takes whole numbers
    assert [parameters[f"brick_{k}"] for k in range(3)] == ["list[int]"] * 3
    assert not [name for name in parameters if name.startswith("param_")]
    assert parameters["steps"] == parameters["width"] == parameters["seed"] == "int"
    assert parameters["guidance"] == "float"
    assert client.predict(*generate_args(steps=2, brick_0=[0, 1, 2, 3, 4]), api_name="/generate")[0]  # as documented
    # a list that also takes typed text is documented as text: a class by name or index, a checkpoint's folder
    assert parameters["category"] == parameters["guide"] == "str"
    assert api["/load_model"]["parameters"][0]["python_type"]["type"] == "str"
    assert len(api["/load_model"]["returns"]) == 2  # the model and the status, not every tab's controls
    source = next(c["props"] for c in client.config["components"]
                  if c["props"].get("label", "").startswith("Checkpoint"))
    choices = [value for _, value in source["choices"]]
    assert choices and not [c for c in choices if "/" in c]  # bare names: no server path


def test_the_api_offers_the_documented_endpoints_only_and_refuses_bad_numbers(served):
    _, client, _ = served
    api = client.view_api(return_format="dict", print_info=False)
    # the page's own helpers (presets, range labels, statuses, the Lesson's presenter mode) are not an API
    assert set(api["named_endpoints"]) == {"/generate", "/estimate", "/compare", "/lesson", "/load_model"}
    assert not api["unnamed_endpoints"]
    for bad, message in (({"num_ranges": 2.5}, "number of ranges must be a whole number, got 2.5"),
                         ({"stride": 2.5}, "overlap stride must be a whole number, got 2.5"),
                         # Gradio's own checks of a range or of the choices, and values of the wrong type, said as
                         # ours are: in one line that names the parameter
                         ({"preview_every": 0}, "preview_every: value 0 is less than minimum value 1"),
                         ({"steps": 51}, "steps: value 51 is greater than maximum value 50"),
                         ({"steps": "abc"}, "steps: 'abc' is not a number"),
                         ({"seed": 1.5}, "seed: must be a whole number, got 1.5"),  # not rounded to 2
                         ({"seed": "seven"}, "seed: 'seven' is not a number"),
                         ({"sampler": "ddim"}, "sampler: 'ddim' is not one of heun, euler, dpm++2m"),
                         ({"canvas_mode": "foo"}, "canvas_mode: 'foo' is not one of tiles, overlap, global"),
                         ({"shift": "yes"}, "shift: 'yes' is not true or false"),
                         ({"brick_1": ["x"]}, "brick_1: ['x'] is not a list of range indices (whole numbers)"),
                         ({"brick_2": 3}, "brick_2: 3 is not a list of range indices"),
                         ({"guide": 5}, "guide: 5 is not text"),
                         ({"schedule_json": "hello"}, "the schedule 'hello' is none of these: a preset's name (all, ")):
        with pytest.raises(Exception, match=re.escape(message)):
            client.predict(*generate_args(**{"steps": 2, **bad}), api_name="/generate")


def test_the_api_takes_any_number_of_ranges_and_a_preset_by_name(served):
    model, client, _ = served

    def mask(outputs) -> list:
        return json.loads(open([f for f in outputs[5] if f.endswith(".json")][0]).read())["mask"]

    # ten ranges, where the page's boxes start with five: brick 2 off in the last two tenths
    ten = [list(range(10)), list(range(10)), list(range(8))]
    outputs = client.predict(*generate_args(steps=10, num_ranges=10, brick_0=ten[0], brick_1=ten[1], brick_2=ten[2],
                                            previews=False), api_name="/generate")
    assert mask(outputs) == from_grid(ten, 10).mask(10)
    named = client.predict(*generate_args(steps=10, schedule_json="pg-recipe", previews=False), api_name="/generate")
    assert mask(named) == preset("pg-recipe", model.config).mask(10) != mask(outputs)
    # the line a PNG's settings and a link carry ("0-1;0-1;0-0.6") is a schedule too
    line = client.predict(*generate_args(steps=10, schedule_json=schedule_text(preset("pg-recipe", model.config)),
                                         previews=False), api_name="/generate")
    assert mask(line) == mask(named)


def test_compare_of_a_schedule_that_skips_nothing_runs_nothing_and_says_what_to_do(served):
    model, client, _ = served
    calls = []
    hook = model.register_forward_hook(lambda *_: calls.append(1))
    try:  # refused as any request a script sends is, not answered with empty pictures to unpack
        with pytest.raises(AppError) as refusal:
            client.predict(*api_args("/compare", seed=3, steps=2), api_name="/compare")
    finally:
        hook.remove()
    assert str(refusal.value.message).startswith("nothing to compare: the schedule runs every brick at every step")
    assert "untick some step ranges in the Generate tab" in refusal.value.message and not calls
