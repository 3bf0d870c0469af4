"""Unconditional models (no classes) end to end: config, labels, model, sampler, FLOPs, checkpoint, CLI, request."""

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from lego.checkpoint import load_checkpoint, save_checkpoint
from lego.config import ARCHITECTURES, ConfigError, LegoConfig
from lego.flops import evaluation_flops, shared_flops
from lego.labels import LabelError
from lego.model import parameter_counts
from lego.request import NO_CLASS, PlaygroundError, class_picker, parse_request
from lego.sampler import SamplerSettings, sample
from lego.schedule import BrickSchedule

from conftest import randomized

ROOT = Path(__file__).resolve().parent.parent
CONFIG = replace(ARCHITECTURES["tiny-pg"], num_classes=0)


def test_zero_classes_is_a_config_and_an_empty_label_space():
    assert not CONFIG.conditional and ARCHITECTURES["tiny-pg"].conditional
    assert LegoConfig.from_dict(CONFIG.to_dict()) == CONFIG
    with pytest.raises(ConfigError, match="0 for an unconditional model"):
        replace(CONFIG, num_classes=-1)
    space = CONFIG.label_space()
    assert space.num_classes == 0 and space.choices() == [] and space.summary() == "no classes (unconditional)"
    assert space.row(None) == [-1]
    for ask in (lambda: space.row(0), lambda: space.resolve("1"), lambda: space.resolve("cat")):
        with pytest.raises(LabelError, match="this model is unconditional"):
            ask()


def test_the_model_has_no_label_embedder_and_takes_no_labels():
    model = randomized(CONFIG)
    assert model.y_embedder is None and not [k for k in model.state_dict() if k.startswith("y_embedder")]
    per_brick, shared = parameter_counts(CONFIG)
    assert shared == sum(p.numel() for p in model.t_embedder.parameters())
    assert sum(per_brick) + shared == sum(p.numel() for p in model.parameters())
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert model(x, torch.tensor([0.5, 2.0])).shape == x.shape
        with pytest.raises(ValueError, match="unconditional"):
            model(x, torch.tensor([0.5, 2.0]), torch.tensor([0, -1]))


def test_the_sampler_never_guides_an_unconditional_model():
    model = randomized(CONFIG)
    plain = sample(model, [4, 5], settings=SamplerSettings(steps=2, guidance=1.0))
    asked = sample(model, [4, 5], settings=SamplerSettings(steps=2, guidance=3.0))
    assert not asked.guided and torch.equal(asked.images, plain.images)
    with pytest.raises(LabelError, match="unconditional"):
        sample(model, [0], [1], settings=SamplerSettings(steps=1))


def test_flops_count_no_class_embedder():
    model = randomized(CONFIG)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(1, 3, 16, 16), torch.ones(1))
    predicted = evaluation_flops(CONFIG, 16, 16)
    assert counter.get_total_flops() == pytest.approx(predicted.total, rel=0.02)
    d = CONFIG.hidden_size
    assert shared_flops(ARCHITECTURES["tiny-pg"]) - shared_flops(CONFIG) == 2 * 3 * d


def test_a_checkpoint_round_trip_and_its_card(tmp_path):
    model = randomized(CONFIG)
    loaded = load_checkpoint(save_checkpoint(model, tmp_path / "ckpt"))
    assert loaded.config == CONFIG and loaded.y_embedder is None
    assert "an unconditional model" in (tmp_path / "ckpt" / "README.md").read_text()


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "lego", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_the_cli_generates_and_describes_an_unconditional_model(tmp_path):
    ckpt = str(save_checkpoint(randomized(CONFIG), tmp_path / "ckpt"))
    done = run_cli("generate", "--checkpoint", ckpt, "--steps", "2", "--out", str(tmp_path / "a.png"), "--json",
                   "--quiet")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["class"] is None and report["guided"] is False
    refused = run_cli("generate", "--checkpoint", ckpt, "--class", "1", "--out", str(tmp_path / "b.png"))
    assert refused.returncode == 2 and "this model is unconditional" in refused.stderr
    info = run_cli("info", "--checkpoint", ckpt)
    assert info.returncode == 0 and "unconditional" in info.stdout


def test_requests_and_the_class_picker():
    request = parse_request(CONFIG, NO_CLASS, 0, 4, 2.0, "heun", 1, 16, 16, BrickSchedule.all_on(3))
    assert request.label is None and not request.guided
    with pytest.raises(PlaygroundError, match="unconditional"):
        parse_request(CONFIG, "1", 0, 4, 2.0, "heun", 1, 16, 16, BrickSchedule.all_on(3))
    picker = class_picker(CONFIG)
    assert picker["choices"] == [NO_CLASS] and picker["value"] == NO_CLASS and picker["interactive"] is False
    assert "unconditional" in picker["info"]
    conditional = class_picker(ARCHITECTURES["tiny-pg"])
    assert conditional["choices"] == [NO_CLASS, "0", "1", "2"] and conditional["value"] == "0"
    assert conditional["interactive"]
