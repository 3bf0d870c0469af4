"""Checkpoint directories in Hugging Face layout: config.json + model.safetensors + README.md.

Saving and loading go through ``PyTorchModelHubMixin`` (weights as safetensors only, never
pickle); a Hub repo id is resolved to a local snapshot with ``snapshot_download`` first, so
the same code serves local folders, the Hub, and the offline cache. Every failure is turned
into a ``CheckpointError`` that names the file at fault.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import re
from pathlib import Path

import torch
from huggingface_hub import snapshot_download
from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
from safetensors import SafetensorError, safe_open

from .config import ConfigError, LegoConfig
from .flops import brick_flops, format_flops
from .model import LegoModel, parameter_counts
from .paths import is_file

SHIPPED = Path(__file__).resolve().parent.parent / "checkpoints"
# What the app, the CLI and the screenshots open on: 48 emoji drawn so that a class can name them.
DEFAULT_CHECKPOINT = SHIPPED / "lego-emoji-s-48"
# Trained on every emoji, labelled by category only (mostly blobs): the model the committed benchmark figures measure.
ALL_EMOJI_CHECKPOINT = SHIPPED / "lego-emoji-s"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "README.md"
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
_STORAGE_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be found, read or matched to its config."""


def save_checkpoint(model: LegoModel, directory: str | Path, dtype: str = "float32",
                    card: dict | None = None) -> Path:
    """Write the model; ``dtype`` sets how weights are stored (float16 halves the file). The model card is
    written anew: one left from earlier weights would describe them (the Hub's mixin keeps an existing one)."""
    if dtype not in _STORAGE_DTYPES:
        raise ValueError(f"dtype must be one of {sorted(_STORAGE_DTYPES)}, got {dtype!r}")
    directory = Path(directory)
    (directory / CARD_FILE).unlink(missing_ok=True)
    stored = model if dtype == "float32" else copy.deepcopy(model).to(_STORAGE_DTYPES[dtype])
    stored.save_pretrained(directory, model_card_kwargs=card_fields(model.config, dtype, card))
    return readable(directory)


def readable(directory: Path) -> Path:
    """Files readable by everyone (0644): the weights are written through a private temporary file."""
    for path in Path(directory).iterdir():
        if path.is_file():
            path.chmod(0o644)
    return Path(directory)


def card_fields(config: LegoConfig, dtype: str, extra: dict | None = None) -> dict:
    per_brick, shared = parameter_counts(config)
    rows = [
        f"| {i} | {b.region} | {b.patch} | {b.depth} | {p / 1e6:.2f}M | "
        f"{format_flops(brick_flops(config, i, config.image_size, config.image_size))} |"
        for i, (b, p) in enumerate(zip(config.bricks, per_brick))
    ]
    fields = {
        "bricks_table": "\n".join(rows),
        "total_parameters": f"{(sum(per_brick) + shared) / 1e6:.2f}M",
        "shared_parameters": f"{shared / 1e3:.1f}k",
        "image_size": config.image_size,
        "hidden_size": config.hidden_size,
        "num_heads": config.num_heads,
        "classes": class_summary(config),
        "dtype": dtype,
        "training": "",
        "credits": "",
    }
    fields.update(extra or {})
    return fields


def is_repo_id(source: str) -> bool:
    return bool(REPO_ID.match(source)) and ".." not in source


def bundled(source: str) -> Path | None:
    """A checkpoint shipped with the project, by its name ('lego-emoji-s', as the app's picker shows it) or its path
    from the project's root ('checkpoints/lego-emoji-s'), from any working directory: never a Hub repo of that
    name."""
    name = source.removeprefix(f"{SHIPPED.name}/")
    if not name or "/" in name or name in (".", ".."):
        return None
    path = SHIPPED / name
    return path if is_file(path / CONFIG_FILE) else None


def resolve_source(source: str | Path, local_files_only: bool | None = None) -> Path:
    """A local directory as is, a bundled checkpoint by name, or a Hub repo id downloaded (or found in the cache)."""
    path = Path(source)
    if path.is_dir():
        return path
    text = str(source)
    if (shipped := bundled(text)) is not None:
        return shipped
    if not SHIPPED.is_dir() and (path.parent == SHIPPED or path.parts[0] == SHIPPED.name):
        raise CheckpointError(f"no checkpoint directory at {text}: the bundled checkpoints come with a clone of the "
                              "project, and this copy of lego was installed without one (install the clone in place, "
                              "pip install -e ., or give a checkpoint directory or Hub repo id)")
    if not is_repo_id(text) or path.exists() or text.startswith((".", "/", "~")):
        raise CheckpointError(f"no checkpoint directory at {text} (and it is not a Hub repo id of the form owner/name)")
    # 'checkpoints/nope': a typo in a local path (or the bundled folder's, from elsewhere), not a repo to fetch
    parent = SHIPPED if path.parts[0] == SHIPPED.name and not path.parent.is_dir() else path.parent
    if parent.is_dir():
        folders = sorted(p.name for p in parent.iterdir() if (p / WEIGHTS_FILE).is_file() and is_lego(p))
        raise CheckpointError(f"no checkpoint directory at {text}" + (
            f" ({parent} has {', '.join(folders)})" if folders else ""))
    kwargs = {} if local_files_only is None else {"local_files_only": local_files_only}
    try:
        return Path(snapshot_download(text, allow_patterns=[CONFIG_FILE, WEIGHTS_FILE, CARD_FILE], **kwargs))
    except LocalEntryNotFoundError:
        raise CheckpointError(f"{text} is not a local directory, nor in the local Hugging Face cache, and the Hub "
                              "cannot be reached (offline?)") from None
    except (HfHubHTTPError, OSError, ValueError) as exc:
        raise CheckpointError(f"could not fetch {text} from the Hub: {exc}") from None


def is_lego(directory: Path) -> bool:
    """Whether ``directory`` holds a LEGO model's config (not the emoji judge's, say)."""
    try:
        read_config(directory)
    except CheckpointError:
        return False
    return True


def read_config(directory: Path) -> LegoConfig:
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"missing {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON: {exc}") from None
    except (RecursionError, ValueError):  # valid JSON that Python will not read: deep nesting, a huge number
        raise CheckpointError(f"{path} nests too deeply, or holds too long a number, to be a config") from None
    try:
        return LegoConfig.from_dict(data)
    except (ConfigError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{path} does not describe a LEGO model: {exc}") from None


def load_checkpoint(source: str | Path, device: str | torch.device = "cpu",
                    local_files_only: bool | None = None) -> LegoModel:
    """Load a model in eval mode from a directory or a Hub repo id."""
    directory = resolve_source(source, local_files_only)
    config = read_config(directory)  # clear error before the library builds anything
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"missing {weights}")
    check_weights_fit(config, weights)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the mixin prints a progress line
            model = LegoModel.from_pretrained(str(directory), strict=True, map_location=str(torch.device(device)))
    except SafetensorError as exc:
        raise CheckpointError(f"{weights} is corrupt or not a safetensors file: {exc}") from None
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:3])
        raise CheckpointError(f"{weights} does not match {directory / CONFIG_FILE}: {detail}") from None
    if not all(torch.isfinite(t).all() for t in model.state_dict().values()):
        raise CheckpointError(f"{weights} holds weights that are not numbers (NaN or infinite): every picture the "
                              "model drew would be blank")
    return model.float().eval()


def check_weights_fit(config: LegoConfig, weights: Path) -> None:
    """The weights file's tensor names and shapes, read from its header, against those the config describes, before
    anything is built: a config.json that claims a huge network beside small weights is refused without the memory
    that network would take."""
    try:
        with safe_open(weights, "pt") as f:
            stored = {name: tuple(f.get_slice(name).get_shape()) for name in f.keys()}
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{weights} is corrupt or not a safetensors file: {exc}") from None
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        wanted = {name: tuple(t.shape) for name, t in LegoModel(config).state_dict().items()}
    problems = [f"{name} has shape {list(stored[name])}, the config's network {list(shape)}"
                for name, shape in wanted.items() if name in stored and stored[name] != shape]
    problems += [f"{name} is missing" for name in wanted if name not in stored]
    problems += [f"{name} is not in the model" for name in stored if name not in wanted]
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise CheckpointError(f"{weights} does not match {weights.parent / CONFIG_FILE}: "
                              + "; ".join(problems[:3]) + more)


def class_summary(config: LegoConfig) -> str:
    """The label levels for a model card: names where they are few, counts where they are many."""
    space = config.label_space()
    if not config.conditional:
        return "none: an unconditional model (no class to pick, no guidance)"
    if space.depth == 1:
        return ", ".join(config.class_names) or f"{config.num_classes} classes"
    top = ", ".join(space.names[:space.sizes[0]])
    return (f"{top}; then " + ", ".join(f"{n:,} {space.level_name(k)} classes" for k, n in enumerate(space.sizes)
                                         if k > 0) + " (conditioning on any level, or none)")


def fingerprint(model: torch.nn.Module) -> str:
    """Short hash of the weights rounded to fp16: results apply to the model they were measured on."""
    digest = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().to("cpu", torch.float16).contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]
