"""Import the authors' published LEGO checkpoints without executing anything they contain.

    python -m lego.convert LEGO-L-PG-64.pkl OUT_DIR [--num-heads N] [--dtype float16]

The published files are EDM "persistence" pickles: the preconditioning wrapper carries the
source code of its module, which ``pickle.load`` would execute. This module reads them with a
restricted unpickler instead:

- tensors are rebuilt through torch's own rebuild functions, their storages through
  ``torch.load(..., weights_only=True)``;
- the persistent-object hook is replaced by one that returns the object's stored state as
  data (its source code is kept as a string and never run);
- the few model classes of the released code, torch.nn and timm are stood in for by inert
  records of their state;
- any other global (``os.system``, ``builtins.eval``, ``subprocess.Popen`` ...) is refused with
  an error naming it.

From the EMA network's tensors the architecture is inferred, the keys are mapped onto
``LegoModel`` (they share names), and a checkpoint directory is written:

- in the source's precision unless another is asked for (float32 for the published files), so
  that the converted model gives the same outputs;
- with the position tables when training moved them away from the sin-cos table (every trained
  snapshot: the authors' training updates them), see ``lego.positions``;
- without a class embedder for an unconditional network (no ``y_embedder``).
"""

from __future__ import annotations

import argparse
import collections
import io
import math
import pickle
import sys
from pathlib import Path
from typing import Any

import torch

from .checkpoint import save_checkpoint
from .config import BrickConfig, ConfigError, LegoConfig
from .model import LegoModel
from .positions import is_sincos

PERSISTENT_HOOK = ("torch_utils.persistence", "_reconstruct_persistent_obj")
RELEASED_MODULES = ("training.lego_models", "training.networks")
STAND_IN_PREFIXES = ("torch.nn.modules.", "timm.")
HEADS_BY_HIDDEN = {384: 6, 1024: 16, 1152: 16}  # the released S, L and XL sizes
DTYPE_NAMES = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}


class ConversionError(ValueError):
    """The file is not a LEGO checkpoint we can read safely."""


class StandIn:
    """Inert record of a pickled object: its class name and the state pickle hands it."""

    qualname = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _stand_in(module: str, name: str) -> type:
    return type(name, (StandIn,), {"qualname": f"{module}.{name}"})


class PersistentRecord(StandIn):
    """What a persistence pickle's object really holds: class name, state, and the (unrun) source."""

    def __init__(self, meta: Any) -> None:
        super().__init__()
        if not isinstance(meta, dict) or meta.get("type") != "class":
            raise ConversionError("unexpected persistent-object record in the pickle")
        self.qualname = str(meta.get("class_name"))
        self.state = meta.get("state")  # meta["module_src"] is never looked at, let alone run


def _rebuild_parameter(data: torch.Tensor, requires_grad: bool, backward_hooks: Any, *args: Any) -> torch.Tensor:
    return data.detach()


def _load_storage(data: bytes) -> Any:
    return torch.load(io.BytesIO(data), weights_only=True)


def _reconstructor(cls: type, base: type, state: Any) -> Any:
    if not (isinstance(cls, type) and issubclass(cls, StandIn)):
        raise ConversionError(f"refusing to rebuild {cls!r}")
    return cls()


class EasyDict(dict):
    """Stand-in for dnnlib.EasyDict: a plain dict."""


SAFE_GLOBALS: dict[tuple[str, str], Any] = {
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("builtins", "object"): object,
    ("dnnlib.util", "EasyDict"): EasyDict,
    PERSISTENT_HOOK: PersistentRecord,
}


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in SAFE_GLOBALS:
            return SAFE_GLOBALS[(module, name)]
        if module in RELEASED_MODULES or module.startswith(STAND_IN_PREFIXES):
            if not name.isidentifier():
                raise ConversionError(f"refusing global {module}.{name}")
            return _stand_in(module, name)
        raise ConversionError(f"refusing to load {module}.{name}: not needed to rebuild tensors or modules")

    def persistent_load(self, pid: Any) -> Any:
        raise ConversionError(f"unsupported persistent id {pid!r} (expected a plain EDM pickle)")


def read_pickle(path: str | Path) -> Any:
    with open(path, "rb") as f:
        try:
            return RestrictedUnpickler(f).load()
        except ConversionError:
            raise
        except (pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError, RuntimeError) as exc:
            raise ConversionError(f"{path} could not be read as a LEGO checkpoint: {exc}") from None


def _module_state(node: Any) -> dict:
    state = node.state if isinstance(node, StandIn) else None
    if isinstance(state, tuple):  # (dict, slots) form
        state = state[0]
    if not isinstance(state, dict):
        raise ConversionError(f"unexpected object {getattr(node, 'qualname', type(node).__name__)} in the network")
    return state


def flatten(node: Any, prefix: str = "") -> dict[str, torch.Tensor]:
    """A module tree of stand-ins -> a state dict (parameters and buffers, dotted names)."""
    state = _module_state(node)
    out: dict[str, torch.Tensor] = {}
    for group in ("_parameters", "_buffers"):
        for name, tensor in (state.get(group) or {}).items():
            if tensor is not None:
                if not isinstance(tensor, torch.Tensor):
                    raise ConversionError(f"{prefix}{name} is not a tensor")
                out[prefix + name] = tensor
    for name, child in (state.get("_modules") or {}).items():
        if child is not None:
            out.update(flatten(child, f"{prefix}{name}."))
    return out


def find_network(data: Any) -> tuple[Any, dict]:
    """The LEGO stack inside the EMA wrapper, and the wrapper's own attributes."""
    if not isinstance(data, dict) or "ema" not in data:
        raise ConversionError("expected a dict with an 'ema' entry (an EDM training snapshot)")
    wrapper = _module_state(data["ema"])
    network = (wrapper.get("_modules") or {}).get("model")
    if network is None:
        raise ConversionError("the 'ema' network has no 'model' inside it")
    return network, wrapper


def infer_config(weights: dict[str, torch.Tensor], wrapper: dict, num_heads: int | None = None) -> LegoConfig:
    indices = sorted({int(k.split(".")[1]) for k in weights if k.startswith("model.")})
    if not indices or indices != list(range(len(indices))):
        raise ConversionError("no bricks (model.0, model.1, ...) found in the network")
    bricks = []
    hidden = channels = None
    learned = False
    for i in indices:
        w = weights[f"model.{i}.x_embedder.proj.weight"]
        hidden, in_channels, patch = w.shape[0], w.shape[1], w.shape[2]
        if i == 0:
            channels = in_channels - 2
        table = weights[f"model.{i}.pos_embed"]
        grid = math.isqrt(table.shape[1])
        learned = learned or not is_sincos(table, grid)
        depth = len({k.split(".")[3] for k in weights if k.startswith(f"model.{i}.blocks.")})
        bricks.append(BrickConfig(patch * grid, patch, depth))
    if channels != 3:
        raise ConversionError(f"this network works on {channels} channels: only pixel-space (RGB) models are "
                              "supported; latent models need the Stable Diffusion VAE")
    heads = num_heads or HEADS_BY_HIDDEN.get(hidden)
    if heads is None:
        raise ConversionError(f"cannot tell the number of attention heads for hidden size {hidden}: pass --num-heads")
    mlp = weights["model.0.blocks.0.mlp.fc1.weight"].shape[0] / hidden
    labels = weights.get("y_embedder.embedding_table.weight")
    image = max(b.region for b in bricks)
    return LegoConfig(image_size=image, channels=channels, num_classes=0 if labels is None else labels.shape[1],
                      hidden_size=hidden, num_heads=heads, mlp_ratio=mlp, bricks=tuple(bricks),
                      sigma_data=float(wrapper.get("sigma_data", 0.5)), learned_positions=learned)


def source_dtype(weights: dict[str, torch.Tensor]) -> str:
    """The precision the network was saved in (the widest, should its tensors differ)."""
    dtypes = {t.dtype for t in weights.values() if t.is_floating_point()}
    for dtype, name in DTYPE_NAMES.items():
        if dtype in dtypes:
            return name
    raise ConversionError(f"unsupported tensor types in the network: {sorted(map(str, dtypes))}")


def to_lego_model(weights: dict[str, torch.Tensor], config: LegoConfig) -> LegoModel:
    model = LegoModel(config)
    ours = model.state_dict()
    mapped = {}
    for key, tensor in weights.items():
        if key.endswith(".pos_embed") and not config.learned_positions:
            continue  # the sin-cos table (infer_config checked it): ours is computed, not stored
        if key.startswith("map_augment."):
            continue  # augmentation conditioning is unused at sampling time
        if key not in ours:
            raise ConversionError(f"unexpected tensor {key} {tuple(tensor.shape)}")
        if key.endswith(".pos_embed"):
            tensor = tensor.reshape(ours[key].shape)  # theirs is (1, tokens, hidden)
        if tensor.shape != ours[key].shape:
            raise ConversionError(f"{key}: shape {tuple(tensor.shape)}, expected {tuple(ours[key].shape)}")
        mapped[key] = tensor.float()
    missing = sorted(set(ours) - set(mapped))
    if missing:
        raise ConversionError(f"the checkpoint lacks {len(missing)} tensors, e.g. {missing[:3]}")
    model.load_state_dict(mapped, strict=True)
    return model.eval()


CARD = """## Origin

Converted with `python -m lego.convert` from {source}, published by Huangjie Zheng et al. with
"Learning Stackable and Skippable LEGO Bricks for Efficient, Reconfigurable, and Variable-Resolution
Diffusion Modeling" (ICLR 2024; code: github.com/JegZheng/LEGODiffusion, MIT licence; weights on
Hugging Face: hjzheng/LEGO-Diffusion). Trained on ImageNet at 64x64: use under ImageNet's terms of
access (non-commercial research and education). Nothing in the original file was executed during
conversion.

{precision} {positions}
"""


def card_notes(config: LegoConfig, original: str, stored: str) -> tuple[str, str]:
    """The card's two sentences on what conversion kept: the precision, and the position tables."""
    if stored == original:
        precision = f"Weights are stored in {stored}, the precision of the original file: outputs are the same."
    else:
        precision = (f"Weights are stored in {stored}, converted from the original's {original} on request: outputs "
                     "differ slightly from the original's.")
    positions = ("The position tables moved away from the sin-cos table in training; they are stored with the "
                 "weights and used as learned." if config.learned_positions else
                 "The position tables are the fixed sin-cos table.")
    return precision, positions


def convert(source: str | Path, out: str | Path, num_heads: int | None = None, dtype: str | None = None) -> Path:
    """``dtype`` None keeps the source's precision (exact); a narrower one is on request."""
    data = read_pickle(source)
    network, wrapper = find_network(data)
    weights = flatten(network)
    try:
        config = infer_config(weights, wrapper, num_heads)
    except KeyError as exc:
        raise ConversionError(f"not a LEGO network: it has no tensor {exc.args[0]}") from None
    except ConfigError as exc:  # e.g. a --num-heads that does not divide the hidden size
        raise ConversionError(str(exc)) from None
    model = to_lego_model(weights, config)
    original = source_dtype(weights)
    stored = dtype or original
    precision, positions = card_notes(config, original, stored)
    card = CARD.format(source=Path(source).name, precision=precision, positions=positions)
    return save_checkpoint(model, out, dtype=stored, card={"training": card, "credits": ""})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lego.convert", description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a published .pkl file")
    parser.add_argument("out", type=Path, help="output checkpoint directory")
    parser.add_argument("--num-heads", type=int, help="attention heads, when the hidden size does not tell")
    parser.add_argument("--dtype", choices=list(DTYPE_NAMES.values()),
                        help="how to store the weights (default: the source's precision, float32 for the published "
                             "files; float16 halves the files and changes outputs slightly)")
    args = parser.parse_args(argv)
    try:
        print(convert(args.source, args.out, args.num_heads, args.dtype))
    except (ConversionError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
