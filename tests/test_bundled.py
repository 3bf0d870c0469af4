"""The checkpoints we ship: they load offline, sample, and carry their licences; the app opens on the one whose
pictures a class can name."""

import json
from dataclasses import replace
from pathlib import Path

import pytest

from lego.checkpoint import ALL_EMOJI_CHECKPOINT, DEFAULT_CHECKPOINT, fingerprint, load_checkpoint
from lego.config import ARCHITECTURES
from lego.request import DEFAULT_GUIDANCE, DEFAULT_METHOD, DEFAULT_STEPS
from lego.sampler import SamplerSettings, sample
from lego.schedule import preset

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("directory", [DEFAULT_CHECKPOINT, ALL_EMOJI_CHECKPOINT], ids=lambda d: d.name)
def test_each_shipped_checkpoint_loads_and_samples_a_64x64_image(directory):
    model = load_checkpoint(directory)
    shipped = ARCHITECTURES["emoji-s"].with_labels(model.config.label_space())
    assert model.config == replace(shipped, default_class=model.config.default_class,
                                   featured_classes=model.config.featured_classes)
    result = sample(model, [0, 1], [0, 8], SamplerSettings(steps=3, guidance=2.0),
                    preset("pg-recipe", model.config), precision="fp32")
    assert result.images.shape == (2, 3, 64, 64)
    assert result.images.isfinite().all() and result.images.std() > 0.05


@pytest.mark.parametrize("directory", [DEFAULT_CHECKPOINT, ALL_EMOJI_CHECKPOINT], ids=lambda d: d.name)
def test_each_shipped_checkpoint_has_its_files_and_a_model_card_with_licences(directory):
    sizes = {p.name: p.stat().st_size for p in directory.iterdir()}
    assert set(sizes) >= {"config.json", "model.safetensors", "README.md", "samples.png"}
    assert max(sizes.values()) <= 16 * 2**20
    card = (directory / "README.md").read_text()
    for needed in ("Apache-2.0", "CC-BY", "training images seen", "emoji-FD"):
        assert needed in card


def test_committed_schedule_results_belong_to_the_bundled_checkpoint_and_reach_the_editor():
    from lego import results

    sweep = results.read("schedules.json")
    assert sweep is not None, "run python benchmarks/schedules.py"
    model = load_checkpoint(ALL_EMOJI_CHECKPOINT)
    assert sweep["fingerprint"] == fingerprint(model)  # re-run the sweep after replacing the weights
    assert sweep["method"] == DEFAULT_METHOD  # the app's default requests get their measured quality
    pg = results.measured_quality(sweep, fingerprint(model), preset("pg-recipe", model.config), DEFAULT_STEPS,
                                  DEFAULT_METHOD, sweep["guidance"], square=True)
    assert pg is not None and pg["family"] in ("preset", "t_break")
    assert "emoji-FD" in results.quality_line(pg, sweep)
    # another sampler, size or step count was not measured: nothing is claimed
    for args in (("heun", True, DEFAULT_STEPS), (DEFAULT_METHOD, False, DEFAULT_STEPS),
                 (DEFAULT_METHOD, True, DEFAULT_STEPS + 1)):
        method, square, steps = args
        assert results.measured_quality(sweep, fingerprint(model), preset("pg-recipe", model.config), steps,
                                        method, sweep["guidance"], square) is None


def test_the_model_tab_offers_the_bundled_lego_checkpoints_only():
    from lego.serving import shipped_checkpoints

    from lego.serving import checked_source

    offered = {name: label for label, name in shipped_checkpoints(ARCHITECTURES["emoji-s"])}
    assert offered["lego-emoji-s"] == "lego-emoji-s: 9 classes, no single emoji: rougher pictures"  # no server path
    assert offered["lego-emoji-s-48"] == "lego-emoji-s-48: 9 categories, 33 sub-categories and 48 emoji"
    assert checked_source("lego-emoji-s") == str(ALL_EMOJI_CHECKPOINT.resolve())
    assert "emoji-judge" not in offered  # a checkpoint, but not a LEGO model
    assert shipped_checkpoints(ARCHITECTURES["tiny-pg"]) == []  # other brick layouts cannot be switched to


def test_measured_quality_is_shown_only_for_requests_like_those_the_sweep_measured():
    from gradio_client import Client

    from conftest import launched_app

    with launched_app(load_checkpoint(ALL_EMOJI_CHECKPOINT), max_gflops=3000) as (model, url):
        client = Client(url, verbose=False)
        pg = preset("pg-recipe", model.config).to_json()
        args = [0, DEFAULT_STEPS, DEFAULT_GUIDANCE, "", DEFAULT_METHOD, 1, 64, 64, "tiles", 0, False, "repeat", 5, pg,
                [], [], []]
        labelled = client.predict("Flags", *args, api_name="/estimate")
        unconditional = client.predict("none (unconditional)", *args, api_name="/estimate")
        middle = client.predict("Flags", *args[:3], "1-40", *args[4:], api_name="/estimate")
        client.close()
    assert "emoji-FD" in labelled and "emoji-FD" not in unconditional  # the sweep sampled labelled requests
    assert "emoji-FD" not in middle and "measured with guidance at every step, not at these" in middle  # nor these


def test_each_shipped_model_gets_its_own_sweep_in_the_estimate_and_the_lesson():
    """The estimate's measured quality and the take-away's recipe figures come from the sweep of the served weights:
    emoji named for the 48-emoji model, emoji-FD for the all-emoji one; a model no sweep measured gets neither."""
    from lego import results
    from lego.lesson import LESSON_GUIDANCE, LESSON_METHOD, LESSON_STEPS

    sweeps = results.read_sweeps()
    for directory, says in ((DEFAULT_CHECKPOINT, "named the emoji asked for"), (ALL_EMOJI_CHECKPOINT, "emoji-FD")):
        model = load_checkpoint(directory)
        sweep = results.sweep_for(sweeps, fingerprint(model))
        assert sweep is not None, f"run the schedule sweep for {directory.name}"
        pg = results.measured_quality(sweep, fingerprint(model), preset("pg-recipe", model.config), DEFAULT_STEPS,
                                      DEFAULT_METHOD, sweep["guidance"], square=True)
        assert says in results.quality_line(pg, sweep)
        sentence = results.recipe_measured(sweeps, fingerprint(model), model.config, LESSON_STEPS, LESSON_METHOD,
                                           LESSON_GUIDANCE)
        assert says in sentence and "with pg-recipe" in sentence
    assert results.recipe_measured(sweeps, "another model", model.config, LESSON_STEPS, LESSON_METHOD,
                                   LESSON_GUIDANCE) == ""


def test_the_default_model_draws_what_it_is_asked_for():
    """The app opens on the 48-emoji model: its emoji are told apart where the category model knows only
    categories, so a no-entry sign comes out red, a recycling symbol green (the default sampler, as the app runs it)."""
    model = load_checkpoint(DEFAULT_CHECKPOINT)
    space = model.config.label_space()
    assert space.sizes == (9, 33, 48) and space.names[:9] == model.config.class_names[:9]
    card = (DEFAULT_CHECKPOINT / "README.md").read_text()
    judged = json.loads((ROOT / "assets" / "benchmarks" / "emoji48.json").read_text())["accuracy"]["emoji"]
    assert "training/emoji48.txt" in card and f"emoji {judged:.1%}" in card  # the card shows the committed figures
    settings = SamplerSettings(steps=DEFAULT_STEPS, method=DEFAULT_METHOD, guidance=DEFAULT_GUIDANCE)
    colours = {}
    for name in ("no entry", "recycling symbol"):
        label = space.chain(space.resolve(name))
        images = sample(model, [0, 1], [label, label], settings).images  # in [-1, 1]
        colours[name] = images.mean(dim=(0, 2, 3))  # mean red, green, blue
    red, green, blue = colours["no entry"]
    assert red > green + 0.5 and red > blue + 0.5
    red, green, blue = colours["recycling symbol"]
    assert green > red + 0.5 and green > blue + 0.15  # green, if a bluish one
