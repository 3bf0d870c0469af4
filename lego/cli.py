"""Command line: ``python -m lego generate`` and ``python -m lego info``."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

import torch
from dataclasses import asdict, replace
from pathlib import Path
from urllib.parse import urlsplit

from tqdm import tqdm

from .canvas import COORDS, MODES, CanvasError
from .checkpoint import DEFAULT_CHECKPOINT, CheckpointError, fingerprint, load_checkpoint
from .config import ARCHITECTURES, ConfigError
from .flops import evaluation_flops, format_flops, schedule_cost
from .images import grid, to_pil
from .model import LegoModel, brick_parameters, count_parameters, shared_parameters
from .paths import is_file
from .precision import PRECISIONS, default_device
from .request import DEFAULT_GUIDANCE, DEFAULT_METHOD, DEFAULT_STEPS, MAX_GUIDANCE, PlaygroundError
from .sampler import METHODS, sample
from .schedule import PRESETS, ScheduleError, load_schedule
from .serving import shown_source
from .settings_text import from_text, png_info, read_png, to_text


def whole(text: str) -> int:
    """A whole number in digits 0-9 only: int() would also read '٣' and '1_6' (the settings text and the app refuse
    the first, and read the second as 16)."""
    if not re.fullmatch(r"[+-]?[0-9]+", text.strip()):
        raise argparse.ArgumentTypeError(f"not a whole number written in digits 0-9: {text!r}")
    return int(text)


def decimal(text: str) -> float:
    """A number in digits 0-9, such as 2.5 or 1e-3."""
    if not re.fullmatch(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", text.strip()):
        raise argparse.ArgumentTypeError(f"not a number written in digits 0-9: {text!r}")
    return float(text)


def parse_size(text: str) -> tuple[int, int]:
    """'WIDTHxHEIGHT' (or one number for a square) -> (height, width)."""
    parts = text.lower().split("x")
    try:
        values = [whole(p) for p in parts]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"size must look like 64x64, got {text!r}") from None
    if len(values) == 1:
        values *= 2
    if len(values) != 2:
        raise argparse.ArgumentTypeError(f"size must look like 64x64, got {text!r}")
    if min(values) <= 0:
        raise argparse.ArgumentTypeError(f"size must be at least 1 pixel a side, got {text!r}")
    width, height = values
    return height, width


# generate's options that are settings (lego.settings_text): given ones replace those of --settings
SETTING_OPTIONS = {"class_name": "draw", "seed": "seed", "images": "images", "steps": "steps", "sampler": "sampler",
                   "guidance": "guidance", "guide": "guide", "churn": "churn", "canvas": "canvas", "stride": "stride",
                   "coords": "coords"}
MAX_CLI_IMAGES = 16


def made_with(model: str) -> str | None:
    """The checkpoint directory a PNG names (``model``, as ``read_png`` gives it), where it is here: a picture is
    made again on the weights that made it, not on the default model (an app's run names its checkpoint relative to
    the app's folder)."""
    name = model.rsplit(" (weights ", 1)[0]
    here = (Path(name), DEFAULT_CHECKPOINT.parent.parent / name, DEFAULT_CHECKPOINT.parent / name)  # run anywhere
    found = [p for p in here if name and (p / "config.json").is_file()]
    return str(found[0]) if found else None


def checked_out(out: str) -> Path:
    """``--out`` before any sampling: a PNG, since only a PNG carries the settings that make it again."""
    path = Path(out)
    if path.suffix.lower() != ".png" or path.is_dir():
        raise PlaygroundError(f"--out must name a .png file (it carries the picture's settings), not {out!r}")
    return path


def checked_device(name: str | None) -> torch.device:
    if name is None:
        return default_device()
    try:
        device = torch.device(name)
    except RuntimeError:
        raise PlaygroundError(f"unknown --device {name!r}: use cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise PlaygroundError("--device cuda, but this machine has no CUDA GPU that torch can use: use --device cpu")
    return device


def settings_source(source: str) -> tuple[str, str]:
    """The settings text ``--settings`` names, and the model a PNG says made it ('' for a link or a text): a PNG
    that carries them, the app's link, or the text itself."""
    if source and (is_file(source) or "=" not in source):
        return read_png(source)
    return urlsplit(source).query if "://" in source else source, ""


def _generate(args: argparse.Namespace) -> int:
    out = checked_out(args.out)
    device = checked_device(args.device)
    text, made_by = settings_source(args.settings or "")
    found = made_with(made_by)  # the checkpoint the PNG names, where it is on this machine
    source = args.checkpoint or found
    if source and not args.checkpoint:
        print(f"note: using {source}, which made {args.settings} (--checkpoint picks another)", file=sys.stderr)
    source = source or str(DEFAULT_CHECKPOINT)
    model = load_checkpoint(source, device=device)
    config = model.config
    weights = fingerprint(model)
    if made_by and not made_by.endswith(f"(weights {weights})"):  # other weights draw another picture: said
        missing = "" if args.checkpoint or found else ", which is not on this machine"
        print(f"note: {args.settings} was made with {made_by}{missing}; {source} ({weights}) draws another picture",
              file=sys.stderr)
    overrides = {key: getattr(args, name) for name, key in SETTING_OPTIONS.items() if getattr(args, name) is not None}
    if args.size:
        overrides["size"] = f"{args.size[1]}x{args.size[0]}"
    if args.shift is not None:
        overrides["shift"] = int(args.shift)
    schedule = None if args.schedule is None else load_schedule(args.schedule, config)
    chosen = from_text(config, text, MAX_CLI_IMAGES, overrides, schedule)
    req, churn = chosen.request, chosen.churn
    schedule, canvas, height, width, label = req.schedule, req.canvas, req.height, req.width, req.label
    settings = replace(req.settings, churn=churn)
    seeds = req.seeds
    cost = schedule_cost(config, schedule, settings, height, width, req.guided, images=len(seeds), canvas=canvas)

    with tqdm(total=settings.steps, unit="step", disable=args.quiet, file=sys.stderr) as bar:
        result = sample(model, seeds, req.image_labels(config.label_space()), settings, schedule, height, width,
                        precision=args.precision, callback=lambda info: bar.update(1), canvas=canvas,
                        compiled=args.compile)
    out.parent.mkdir(parents=True, exist_ok=True)
    settings_line = to_text(config, req, churn)
    carried = png_info(settings_line, shown_source(source), weights)
    grid(to_pil(result.images)).save(out, pnginfo=carried)
    report = {
        "out": str(out), "model": {"checkpoint": shown_source(source), "fingerprint": weights},  # as the app's report
        "seeds": seeds, "class": None if label is None else config.label_space().describe(label),
        "drawn": req.drawn(config),
        "size": f"{width}x{height}", "canvas": asdict(canvas),
        "schedule": schedule.to_dict(),
        "steps": settings.steps, "sampler": settings.method, "guidance": settings.guidance, "guided": req.guided,
        "guidance_interval": req.guidance_interval,
        "precision": result.precision, "seconds": round(result.seconds, 3), "flops": cost.total,
        "all_bricks_flops": cost.reference_total, "saving": round(cost.saving, 4),
        "predicted_speedup": round(cost.predicted_speedup, 3), "settings": settings_line,
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(f"wrote {out} ({width}x{height}, {len(seeds)} image(s), seeds {seeds[0]}..{seeds[-1]})")
        if not config.conditional:
            print("  an unconditional model: no class, no guidance")
        if report["drawn"]:
            print(f"  drew {'; '.join(report['drawn'])}: one emoji of {report['class']} per picture, picked by "
                  "its seed")
        spans = schedule.describe(settings.steps, settings.sigmas())
        for k, text in enumerate(spans):
            print(f"  {config.brick_name(k)}: {'; '.join(text)}")
        print(f"time {result.seconds:.2f} s on {result.precision}; {format_flops(cost.total)} "
              f"vs {format_flops(cost.reference_total)} with all bricks: saving {cost.saving:.1%}, "
              f"predicted speed-up {cost.predicted_speedup:.2f}x")
        print(f"settings (in the PNG too; --settings {out} makes it again): {settings_line}")
    return 0


def _info(args: argparse.Namespace) -> int:
    model = LegoModel(ARCHITECTURES[args.arch]) if args.arch else load_checkpoint(args.checkpoint)
    config = model.config
    height, width = args.size or (config.image_size, config.image_size)
    config.check_canvas(height, width)
    flops = evaluation_flops(config, height, width)
    params = brick_parameters(model)
    classes = f"{config.num_classes} classes" if config.conditional else "unconditional"
    positions = "learned position tables" if config.learned_positions else "sin-cos position tables"
    what = f"architecture {args.arch}, random weights" if args.arch else shown_source(str(args.checkpoint))
    print(f"LEGO model ({what}): {config.image_size}x{config.image_size} training size, {classes}, "
          f"hidden {config.hidden_size}, {config.num_heads} heads, {positions}; canvas multiples of {config.size_unit}")
    print(f"parameters: {count_parameters(model):,} ({shared_parameters(model):,} shared)")
    print(f"FLOPs per image per evaluation at {width}x{height}: {format_flops(flops.total)}")
    for i, b in enumerate(config.bricks):
        print(f"  {config.brick_name(i):<22} depth {b.depth}  {params[i]:>10,} params  "
              f"{format_flops(flops.bricks[i]):>13} ({flops.bricks[i] / flops.total:.0%})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lego" if Path(sys.argv[0]).name == "lego" else "python -m lego",  # the installed command's name
        description="LEGO bricks diffusion: sample pictures and count their cost",
        epilog="More commands, each with --help: python -m lego.data (the emoji data set), lego.train (training and "
               "export), lego.metrics (the judge and evaluation), lego.convert (the paper's checkpoints), "
               "lego.export_static (the classroom edition) and lego.deploy (a Hugging Face Space). The app: "
               "python app.py.")
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="sample images, printing time, FLOPs and the saving over all bricks")
    gen.add_argument("--checkpoint", help="directory or Hub repo id (default: the one a --settings PNG was made with, "
                                          f"else {shown_source(str(DEFAULT_CHECKPOINT))})")
    gen.add_argument("--settings", metavar="PNG_LINK_OR_TEXT",
                     help="a PNG written by the app or by this command (it carries its settings), the app's link to "
                          "a run's settings, or its query (draw=Flags&seed=5&...); the options below replace what it "
                          "says, and what neither gives takes the app's default")
    gen.add_argument("--class", dest="class_name",
                     help="a picker entry, a class name at any level or an index; none for unconditional (default: "
                          "the class the app's picker starts on)")
    gen.add_argument("--seed", type=whole, help="the first picture's seed (default 0)")
    gen.add_argument("--images", type=whole, choices=range(1, MAX_CLI_IMAGES + 1), metavar=f"1..{MAX_CLI_IMAGES}",
                     help="pictures, with seeds seed, seed+1, ..., side by side in one PNG (default 1)")
    gen.add_argument("--steps", type=whole, help=f"sampling steps (default {DEFAULT_STEPS})")
    gen.add_argument("--sampler", choices=METHODS, help=f"default {DEFAULT_METHOD}")
    gen.add_argument("--guidance", type=decimal,
                     help=f"classifier-free guidance (1 = off, at most {MAX_GUIDANCE}; default {DEFAULT_GUIDANCE:g})")
    gen.add_argument("--guide", metavar="LOW-HIGH",
                     help="guide only the steps whose noise level sigma is in (LOW, HIGH], such as 1-40: a quarter "
                          "less work at the default steps (default: every step)")
    gen.add_argument("--churn", type=decimal,
                     help="EDM stochastic churn, with --sampler heun or euler only (default 0: deterministic)")
    gen.add_argument("--size", type=parse_size, help="WIDTHxHEIGHT (default: training size)")
    gen.add_argument("--canvas", choices=MODES, help="how the full-image brick covers a larger canvas "
                                                     "(see lego/canvas.py; default tiles)")
    gen.add_argument("--stride", type=whole, help="overlap: pixels between windows (default 0: half a window)")
    gen.add_argument("--shift", action=argparse.BooleanOptionalAction,
                     help="overlap: move the windows between steps (default no)")
    gen.add_argument("--coords", choices=COORDS, help="coordinates on a larger canvas (see lego/canvas.py; "
                                                      "default repeat)")
    gen.add_argument("--schedule", help=f"preset ({', '.join(PRESETS)}), a line such as 0-1;0-1;0-0.6 (each brick's "
                                        "ranges of the run, from 0 to 1), JSON text or JSON file (default all)")
    gen.add_argument("--precision", choices=PRECISIONS, default="auto",
                     help="auto: bf16 where this machine runs it fast, else fp32 (as the app)")
    gen.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    gen.add_argument("--compile", action="store_true",
                     help="compile the bricks: tens of seconds of warm-up, pays for many images or large canvases")
    gen.add_argument("--out", default="lego.png", help="output PNG (default lego.png)")
    gen.add_argument("--json", action="store_true", help="print a JSON report instead of text")
    gen.add_argument("--quiet", action="store_true", help="no progress bar")
    gen.set_defaults(run=_generate, parser=gen)

    info = sub.add_parser("info", help="bricks, parameters and FLOPs per evaluation")
    src = info.add_mutually_exclusive_group()
    src.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT),
                     help=f"directory or Hub repo id (default {shown_source(str(DEFAULT_CHECKPOINT))})")
    src.add_argument("--arch", choices=sorted(ARCHITECTURES), help="a named architecture (random weights)")
    info.add_argument("--size", type=parse_size, help="WIDTHxHEIGHT")
    info.set_defaults(run=_info, parser=info)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # said by the command's own parser, whose usage lists the options it has
        args.parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return args.run(args)
    except BrokenPipeError:  # the output piped into a command that stopped reading (| head): not a fault
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - so that Python's flush at exit has nowhere to fail
        return 0
    except (CheckpointError, ConfigError, ScheduleError, CanvasError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path the file system refuses: missing, unreadable, a name too long
        print(f"error: {exc.strerror or exc}: {str(exc.filename)[:80]}" if exc.filename else f"error: {exc}",
              file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as exc:
        if not isinstance(exc, (MemoryError, torch.OutOfMemoryError)) and "allocate" not in str(exc):
            raise  # a fault of ours, with its traceback
        print("error: out of memory: this machine cannot hold that many pixels at once; try a smaller --size or "
              "fewer --images", file=sys.stderr)
        return 2
