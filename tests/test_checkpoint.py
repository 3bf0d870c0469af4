import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lego.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from lego.config import ARCHITECTURES
from lego.model import LegoModel

from conftest import randomized

ROOT = Path(__file__).resolve().parent.parent


def same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture
def saved(tmp_path):
    model = randomized("tiny-pg")
    save_checkpoint(model, tmp_path / "ckpt")
    return model, tmp_path / "ckpt"


def test_round_trip_is_exact(saved):
    model, path = saved
    assert sorted(os.listdir(path)) == ["README.md", "config.json", "model.safetensors"]
    loaded = load_checkpoint(path)
    assert loaded.config == model.config
    assert same_weights(model, loaded)
    assert not loaded.training


def test_half_precision_storage_round_trip(tmp_path):
    model = randomized("tiny-u")
    save_checkpoint(model, tmp_path / "half", dtype="float16")
    loaded = load_checkpoint(tmp_path / "half")
    expected = {k: v.half().float() for k, v in model.state_dict().items()}
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in expected.items())
    assert (tmp_path / "half" / "model.safetensors").stat().st_size < 0.6 * sum(
        v.numel() * 4 for v in model.state_dict().values())


def test_model_card_describes_the_bricks(saved):
    card = (saved[1] / "README.md").read_text()
    assert "| 2 | 16 | 4 | 1 |" in card and "arxiv.org/abs/2310.06389" in card


def test_no_pickle_in_the_checkpoint(saved):
    head = (saved[1] / "model.safetensors").read_bytes()[:8]
    header_len = int.from_bytes(head, "little")
    json.loads((saved[1] / "model.safetensors").read_bytes()[8:8 + header_len])  # safetensors JSON header


def test_corrupt_weights_name_the_file(saved):
    _, path = saved
    (path / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match=r"model\.safetensors is corrupt"):
        load_checkpoint(path)


def test_truncated_weights_name_the_file(saved):
    _, path = saved
    data = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"model\.safetensors"):
        load_checkpoint(path)


def test_wrong_config_gives_a_shape_error_naming_both_files(saved):
    _, path = saved
    config = json.loads((path / "config.json").read_text())
    config["hidden_size"] = 64
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"model\.safetensors does not match .*config\.json: "
                                              r"model\.0\.x_embedder\.proj\.weight has shape \[32, 5, 2, 2\], the "
                                              r"config's network \[64, 5, 2, 2\].*\(and \d+ more\)"):
        load_checkpoint(path)


def test_a_config_claiming_a_huge_network_is_refused_before_anything_is_built(saved, monkeypatch):
    """Anyone can publish a config.json: one that describes 10 billion parameters beside a small weights file
    is refused from the file's header, not after the memory for the network was taken."""
    _, path = saved
    config = json.loads((path / "config.json").read_text())
    config["hidden_size"], config["bricks"][0]["depth"] = 16384, 32
    (path / "config.json").write_text(json.dumps(config))

    def built(*args, **kwargs):
        raise AssertionError("the network was built")

    monkeypatch.setattr(LegoModel, "from_pretrained", built)
    with pytest.raises(CheckpointError, match=r"does not match .*shape \[32, 5, 2, 2\], the config's network "
                                              r"\[16384, 5, 2, 2\]"):
        load_checkpoint(path)


def test_weights_that_are_not_numbers_are_refused(saved):
    from safetensors.torch import load_file, save_file

    _, path = saved
    weights = load_file(path / "model.safetensors")
    name = next(iter(weights))
    weights[name] = torch.full_like(weights[name], float("nan"))
    save_file(weights, path / "model.safetensors")
    with pytest.raises(CheckpointError, match="not numbers"):
        load_checkpoint(path)


@pytest.mark.parametrize("mutate,message", [
    (lambda p: (p / "config.json").unlink(), r"missing .*config\.json"),
    (lambda p: (p / "model.safetensors").unlink(), r"missing .*model\.safetensors"),
    (lambda p: (p / "config.json").write_text("{nope"), r"config\.json is not valid JSON"),
    (lambda p: (p / "config.json").write_text('{"bricks": [], "hidden_size": 32}'), "at least one brick"),
    (lambda p: (p / "config.json").write_text('{"layers": 3}'), "unknown config keys"),
])
def test_broken_directories_give_clear_errors(saved, mutate, message):
    _, path = saved
    mutate(path)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


@pytest.mark.parametrize("source", ["../etc", "/no/such/dir", "a/b/c", "owner/../name", "just-a-name"])
def test_sources_that_are_neither_directory_nor_repo_id(source):
    with pytest.raises(CheckpointError, match="no checkpoint directory"):
        load_checkpoint(source)


def test_a_bundled_checkpoint_loads_by_name_or_by_its_path_from_the_root_in_any_working_directory(tmp_path):
    """A notebook elsewhere names 'checkpoints/lego-emoji-s' as the README does: never fetched from a Hub repo of
    that shape (nothing is downloaded here: the Hub cache is empty and offline)."""
    script = ("from lego.checkpoint import load_checkpoint\n"
              "for s in ('lego-emoji-s', 'checkpoints/lego-emoji-s'): print(load_checkpoint(s).config.num_bricks)\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
                               "HF_HUB_CACHE": str(tmp_path / "empty")})
    assert done.returncode == 0 and done.stdout.split() == ["3", "3"], done.stderr


def make_hub_cache(cache: Path, repo_id: str, files_from: Path) -> None:
    """The layout huggingface_hub leaves after a download: refs/main -> snapshots/<commit>/files."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for f in files_from.iterdir():
        shutil.copy(f, snapshot / f.name)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)


def run_cli(args, env_extra):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **env_extra}
    return subprocess.run([sys.executable, "-m", "lego", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_hub_repo_id_loads_offline_from_the_local_cache(saved, tmp_path):
    model, path = saved
    make_hub_cache(tmp_path / "hub", "lego-tests/tiny-pg", path)
    out = tmp_path / "hub.png"
    done = run_cli(["generate", "--checkpoint", "lego-tests/tiny-pg", "--steps", "2", "--out", str(out), "--quiet"],
                   {"HF_HUB_CACHE": str(tmp_path / "hub")})
    assert done.returncode == 0, done.stderr
    local = run_cli(["generate", "--checkpoint", str(path), "--steps", "2", "--out", str(tmp_path / "local.png"),
                     "--quiet"], {})
    assert local.returncode == 0, local.stderr
    hub, local = Image.open(out), Image.open(tmp_path / "local.png")
    assert np.array_equal(np.asarray(hub), np.asarray(local))
    assert hub.text["lego-playground-model"].startswith("lego-tests/tiny-pg (weights ")  # the same weights, named
    assert hub.text["lego-playground-model"].split()[-1] == local.text["lego-playground-model"].split()[-1]


def test_hub_repo_missing_from_cache_offline_is_a_clear_error(tmp_path):
    done = run_cli(["info", "--checkpoint", "lego-tests/absent"], {"HF_HUB_CACHE": str(tmp_path / "empty")})
    assert done.returncode == 2
    assert "not a local directory, nor in the local Hugging Face cache" in done.stderr
    assert "Traceback" not in done.stderr
    # shaped like a repo id, but a typo in a local path: said as such, with the LEGO checkpoints that are there
    save_checkpoint(randomized("tiny-emoji"), tmp_path / "checkpoints" / "real")
    (tmp_path / "checkpoints" / "judge").mkdir()  # weights, but no LEGO model's config: not offered
    (tmp_path / "checkpoints" / "judge" / "model.safetensors").write_bytes(b"")
    (tmp_path / "checkpoints" / "judge" / "config.json").write_text('{"kind": "classifier"}')
    done = subprocess.run([sys.executable, "-m", "lego", "info", "--checkpoint", "checkpoints/nope"], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_CACHE": str(tmp_path / "empty")},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.strip() == "error: no checkpoint directory at checkpoints/nope " \
                                                           "(checkpoints has real)"


def test_emoji_s_fits_one_file_under_16_mib_in_half_precision(tmp_path):
    from lego.model import LegoModel

    save_checkpoint(LegoModel(ARCHITECTURES["emoji-s"]), tmp_path / "emoji", dtype="float16")
    assert (tmp_path / "emoji" / "model.safetensors").stat().st_size <= 16 * 2**20
