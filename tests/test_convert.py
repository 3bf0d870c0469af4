"""The importer on a synthetic pickle laid out like the published LEGO files, and on hostile ones."""

import collections
import copy
import os
import pickle
import subprocess
import sys
import types
from dataclasses import replace

import pytest
import torch
from gradio_client import Client
from safetensors import safe_open
from torch import nn

from lego import model as lego_model
from lego.checkpoint import load_checkpoint
from lego.config import ARCHITECTURES
from lego.convert import ConversionError, convert, main, read_pickle
from lego.positions import SINCOS_TOLERANCE, sincos_2d
from lego.request import NO_CLASS

from conftest import generate_args, launched_app, randomized

# The two trained snapshots: a conditional stack, and an unconditional one (no label embedder).
SNAPSHOTS = {"conditional": ARCHITECTURES["tiny-pg"], "unconditional": replace(ARCHITECTURES["tiny-pr"], num_classes=0)}


def fake_module(name: str) -> types.ModuleType:
    """A stand-in module (and its parents) so that pickle can name classes in it."""
    parent, _, child = name.rpartition(".")
    module = sys.modules.get(name) or types.ModuleType(name)
    sys.modules[name] = module
    if parent:
        setattr(fake_module(parent), child, module)
    return module


def released_class(module: str, name: str, base: type) -> type:
    """A class that pickles by reference as module.name, like the released code's classes."""
    existing = getattr(fake_module(module), name, None)
    if existing is not None and existing.__bases__ == (base,):
        return existing
    cls = type(name, (base,), {"__module__": module})
    setattr(fake_module(module), name, cls)
    return cls


def persistent_pickle(model: lego_model.LegoModel, marker) -> bytes:
    """An EDM training snapshot: persistent EDMPrecondLEGO wrapping the released LEGO module tree."""
    tree = copy.deepcopy(model)
    for attribute in [a for a in vars(tree) if a == "config" or a.startswith("_hub_mixin")]:
        delattr(tree, attribute)  # the released LEGO class keeps plain attributes only
    renames = {lego_model.LegoModel: ("training.lego_models", "LEGO"),
               lego_model.Brick: ("training.lego_models", "LEGO_module"),
               lego_model.DiTBlock: ("training.lego_models", "DiTBlock"),
               lego_model.FinalLayer: ("training.lego_models", "FinalLayer"),
               lego_model.TimestepEmbedder: ("training.lego_models", "TimestepEmbedder"),
               lego_model.LabelEmbedder: ("training.lego_models", "LabelEmbedder"),
               lego_model.Attention: ("timm.models.vision_transformer", "Attention"),
               lego_model.Mlp: ("timm.layers.mlp", "Mlp"),
               lego_model.PatchEmbed: ("timm.layers.patch_embed", "PatchEmbed")}
    for module in tree.modules():
        if type(module) in renames:
            where, name = renames[type(module)]
            module.__class__ = released_class(where, name, type(module))
        if isinstance(module, lego_model.Brick):  # the released code keeps the table as a (1, tokens, hidden) parameter
            table = module.pos_embed.detach()
            del module.pos_embed  # our buffer, or the parameter that training moved
            module.pos_embed = nn.Parameter(table[None].clone(), requires_grad=False)

    def reconstruct(meta):  # what EDM would run: executes the embedded source
        exec(meta["module_src"], {})

    persistence = fake_module("torch_utils.persistence")
    persistence._reconstruct_persistent_obj = reconstruct
    fake_module("torch_utils").persistence = persistence

    class Persistent:
        def __reduce__(self):
            meta = {"type": "class", "version": 6, "class_name": "EDMPrecondLEGO",
                    "module_src": f"import pathlib\npathlib.Path({str(marker)!r}).write_text('executed')\n",
                    "state": {"training": False, "_parameters": collections.OrderedDict(),
                              "_buffers": collections.OrderedDict(),
                              "_modules": collections.OrderedDict(model=tree), "sigma_data": 0.5,
                              "_init_kwargs": {"model_type": "tiny"}}}
            return reconstruct, (meta,)

    reconstruct.__module__, reconstruct.__qualname__ = "torch_utils.persistence", "_reconstruct_persistent_obj"
    reconstruct.__name__ = "_reconstruct_persistent_obj"
    return pickle.dumps({"ema": Persistent(), "loss_fn": None, "augment_pipe": None,
                         "dataset_kwargs": {"class_name": "training.dataset.ImageFolderDataset"}})


def trained(model: lego_model.LegoModel, steps: int = 3, lr: float = 1e-4) -> lego_model.LegoModel:
    """The model after a few Adam steps of the stage-wise EDM loss with every tensor trainable, the
    position tables included, as the authors' training loop leaves them."""
    moved = copy.deepcopy(model).train()
    for brick in moved.model:
        table = brick.pos_embed
        del brick.pos_embed
        brick.pos_embed = nn.Parameter(table.clone())
    optimiser = torch.optim.Adam(moved.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(1)
    labels = torch.tensor([0, 1, 2, -1]) if model.config.conditional else None
    for _ in range(steps):
        images = torch.randn(4, 3, 16, 16, generator=generator)
        sigma = torch.rand(4, generator=generator) * 4 + 0.1
        noisy = images + sigma.reshape(-1, 1, 1, 1) * torch.randn(4, 3, 16, 16, generator=generator)
        loss = sum(((d - images) ** 2).mean() for d in moved(noisy, sigma, labels, return_all=True))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return moved.eval()


def loaded_directly(network: lego_model.LegoModel) -> lego_model.LegoModel:
    """The same tensors, position tables included, loaded straight into our model: the reference."""
    direct = lego_model.LegoModel(replace(network.config, learned_positions=True))
    direct.load_state_dict({k: v.detach() for k, v in network.state_dict().items()}, strict=True)
    return direct.eval()


def max_difference(a: lego_model.LegoModel, b: lego_model.LegoModel) -> float:
    """Largest difference between two models' denoised estimates, every brick's, through the full denoiser."""
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(2)) * 2
    sigma = torch.tensor([0.5, 4.0])
    labels = torch.tensor([1, -1]) if a.config.conditional else None
    with torch.no_grad():
        pairs = zip(a(x, sigma, labels, return_all=True), b(x, sigma, labels, return_all=True))
        return max((p - q).abs().max().item() for p, q in pairs)


def stored_dtypes(directory) -> set[str]:
    with safe_open(directory / "model.safetensors", "pt") as f:
        return {f.get_slice(k).get_dtype() for k in f.keys()}


@pytest.mark.parametrize("name", ["tiny-pg", "tiny-pr"])
def test_conversion_gives_the_same_network_and_runs_nothing(name, tmp_path):
    model = randomized(name)
    marker = tmp_path / "marker"
    source = tmp_path / "lego.pkl"
    source.write_bytes(persistent_pickle(model, marker))
    out = convert(source, tmp_path / "converted", num_heads=model.config.num_heads)
    assert not marker.exists()
    converted = load_checkpoint(out)
    assert [b for b in converted.config.bricks] == list(model.config.bricks)
    assert converted.config.hidden_size == 32 and converted.config.num_classes == 3
    assert not converted.config.learned_positions  # the sin-cos table: computed, not stored
    x = torch.randn(2, 3, 16, 16)
    sigma, labels = torch.tensor([0.5, 4.0]), torch.tensor([1, -1])
    with torch.no_grad():
        assert torch.equal(converted(x, sigma, labels), model(x, sigma, labels))
    card = (out / "README.md").read_text()
    assert "Nothing in the original file was executed" in card and "ImageNet" in card
    assert "fixed sin-cos table" in card


@pytest.mark.parametrize("kind", SNAPSHOTS)
def test_trained_snapshots_convert_exactly_and_run_nothing(kind, tmp_path):
    model = randomized(SNAPSHOTS[kind])
    network = trained(model)
    before, after = model.state_dict(), network.state_dict()
    assert all(not torch.equal(after[k], before[k]) for k in before)  # every tensor moved ...
    for i, brick in enumerate(network.model):  # ... the position tables past what conversion used to accept
        fixed = sincos_2d(32, brick.region // brick.patch, brick.region // brick.patch)
        assert (brick.pos_embed - fixed).abs().max() > 1e-4 > SINCOS_TOLERANCE, i
    marker = tmp_path / "marker"
    source = tmp_path / "lego.pkl"
    source.write_bytes(persistent_pickle(network, marker))

    out = convert(source, tmp_path / "converted", num_heads=2)
    assert not marker.exists()
    converted = load_checkpoint(out)
    assert converted.config.learned_positions and converted.config.num_classes == model.config.num_classes
    assert converted.config.bricks == model.config.bricks
    assert stored_dtypes(out) == {"F32"}  # the source's precision
    difference = max_difference(converted, loaded_directly(network))
    print(f"\n{kind} snapshot converted to float32: max |D difference| {difference:.3g}")
    assert difference <= 1e-6
    card = (out / "README.md").read_text()
    assert "stored as float32" in card and "the precision of the original file" in card
    assert "stored with the weights" in card


def test_float16_only_on_request_and_the_card_says_so(tmp_path):
    network = trained(randomized(SNAPSHOTS["conditional"]))
    source = tmp_path / "lego.pkl"
    source.write_bytes(persistent_pickle(network, tmp_path / "marker"))
    out = convert(source, tmp_path / "half", num_heads=2, dtype="float16")
    assert stored_dtypes(out) == {"F16"}
    assert "converted from the original's float32 on request" in (out / "README.md").read_text()
    difference = max_difference(load_checkpoint(out), loaded_directly(network))
    print(f"\nconditional snapshot converted to float16: max |D difference| {difference:.3g}")
    assert 0 < difference < 1e-2


def test_the_fixture_runs_its_source_when_unpickled_plainly(tmp_path):
    """The marker tests above mean something: plain pickle would have written it."""
    marker = tmp_path / "marker"
    pickle.loads(persistent_pickle(randomized(SNAPSHOTS["unconditional"]), marker))
    assert marker.read_text() == "executed"


def test_a_wrong_head_count_or_missing_hint_is_a_clear_error(tmp_path, capsys):
    model = randomized("tiny-pg")
    source = tmp_path / "lego.pkl"
    source.write_bytes(persistent_pickle(model, tmp_path / "marker"))
    with pytest.raises(ConversionError, match="--num-heads"):
        convert(source, tmp_path / "out")
    hidden = model.config.hidden_size
    with pytest.raises(ConversionError, match=f"hidden_size {hidden} is not divisible by num_heads 3"):
        convert(source, tmp_path / "out", num_heads=3)
    assert main([str(source), str(tmp_path / "out"), "--num-heads", "3"]) == 2
    assert capsys.readouterr().err.startswith("error: hidden_size")  # one line, no traceback
    assert not (tmp_path / "out").exists()


class Hostile:
    def __init__(self, call):
        self.call = call

    def __reduce__(self):
        return self.call


@pytest.mark.parametrize("call,refused", [
    (lambda m: (os.system, (f"touch {m}",)), "refusing to load posix.system"),
    (lambda m: (eval, (f"open({str(m)!r}, 'w')",)), "refusing to load builtins.eval"),
    (lambda m: (subprocess.Popen, (["touch", str(m)],)), "refusing to load subprocess.Popen"),
    (lambda m: (getattr, ("text", "upper")), "refusing to load builtins.getattr"),
])
def test_hostile_pickles_are_refused(tmp_path, call, refused):
    marker = tmp_path / "marker"
    source = tmp_path / "evil.pkl"
    source.write_bytes(pickle.dumps({"ema": Hostile(call(marker))}))
    with pytest.raises(ConversionError, match=refused):
        read_pickle(source)
    assert not marker.exists()


def test_not_a_pickle_and_not_a_snapshot(tmp_path):
    (tmp_path / "a.pkl").write_bytes(b"hello")
    with pytest.raises(ConversionError, match="could not be read"):
        convert(tmp_path / "a.pkl", tmp_path / "out")
    (tmp_path / "b.pkl").write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(ConversionError, match="'ema' entry"):
        convert(tmp_path / "b.pkl", tmp_path / "out")


def test_a_network_without_a_needed_tensor_is_a_clear_error(tmp_path):
    model = randomized("tiny-pg")
    del model.model[0].blocks[0].mlp.fc1
    source = tmp_path / "lego.pkl"
    source.write_bytes(persistent_pickle(model, tmp_path / "marker"))
    with pytest.raises(ConversionError, match="it has no tensor model.0.blocks.0.mlp.fc1.weight"):
        convert(source, tmp_path / "out", num_heads=2)


def test_the_app_serves_both_converted_snapshots(tmp_path):
    for kind, config in SNAPSHOTS.items():
        source = tmp_path / f"{kind}.pkl"
        source.write_bytes(persistent_pickle(trained(randomized(config)), tmp_path / "marker"))
        out = convert(source, tmp_path / kind, num_heads=2)
        with launched_app(load_checkpoint(out)) as (model, url):
            client = Client(url, verbose=False)
            picker = next(c["props"] for c in client.config["components"]
                          if c.get("props", {}).get("label") == "What to draw")
            category = "1" if model.config.conditional else NO_CLASS
            gallery, status, *_ = client.predict(*small_request(category), api_name="/generate")
            assert len(gallery) == 1 and "seed **3**" in status, kind
            if model.config.conditional:
                assert picker["interactive"] is not False and len(picker["choices"]) == 4
            else:
                assert picker["interactive"] is False and "unconditional" in picker["info"]
            client.close()
        assert not (tmp_path / "marker").exists()


def small_request(category: str) -> list:
    """The Generate endpoint's inputs: a 16x16 image in 2 Heun steps, every brick on."""
    return generate_args(category=category, seed=3, steps=2, width=16, height=16, previews=False, preview_every=1)
