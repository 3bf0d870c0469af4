"""The importer on a synthetic pickle laid out like the published LEGO files, and on hostile ones."""

import collections
import copy
import os
import pickle
import subprocess
import sys
import types

import pytest
import torch
from torch import nn

from lego import model as lego_model
from lego.checkpoint import load_checkpoint
from lego.convert import ConversionError, convert, read_pickle

from conftest import randomized


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
        if isinstance(module, lego_model.Brick):  # the released code keeps the table as a frozen parameter
            table = module._buffers.pop("pos_embed")
            module._non_persistent_buffers_set.discard("pos_embed")
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


@pytest.mark.parametrize("name", ["tiny-pg", "tiny-pr"])
def test_conversion_gives_the_same_network_and_runs_nothing(name, tmp_path):
    model = randomized(name)
    marker = tmp_path / "marker"
    source = tmp_path / "lego.pkl"
    source.write_bytes(persistent_pickle(model, marker))
    out = convert(source, tmp_path / "converted", num_heads=model.config.num_heads, dtype="float32")
    assert not marker.exists()
    converted = load_checkpoint(out)
    assert [b for b in converted.config.bricks] == list(model.config.bricks)
    assert converted.config.hidden_size == 32 and converted.config.num_classes == 3
    x = torch.randn(2, 3, 16, 16)
    sigma, labels = torch.tensor([0.5, 4.0]), torch.tensor([1, -1])
    with torch.no_grad():
        assert torch.equal(converted(x, sigma, labels), model(x, sigma, labels))
    card = (out / "README.md").read_text()
    assert "Nothing in the original file was executed" in card and "ImageNet" in card


def test_a_wrong_head_count_or_missing_hint_is_a_clear_error(tmp_path):
    model = randomized("tiny-pg")
    source = tmp_path / "lego.pkl"
    source.write_bytes(persistent_pickle(model, tmp_path / "marker"))
    with pytest.raises(ConversionError, match="--num-heads"):
        convert(source, tmp_path / "out")


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


def test_the_app_serves_a_converted_directory(tmp_path):
    import app

    model = randomized("tiny-pr")
    source = tmp_path / "lego.pkl"
    source.write_bytes(persistent_pickle(model, tmp_path / "marker"))
    out = convert(source, tmp_path / "converted", num_heads=2)
    demo = app.build_demo(load_checkpoint(out))
    labels = [b.label for b in demo.blocks.values() if getattr(b, "label", None)]
    assert "B0 global r16/p4" in labels  # one schedule row per converted brick
