"""Scoring generated emoji with the judge: accuracy at three levels, emoji-FD, copies, contact sheets.

    python -m lego.metrics train-judge [--data data/emoji64.npz] [--out checkpoints/emoji-judge] [--epochs 20]
    python -m lego.metrics evaluate --checkpoint DIR [--level emoji] [--draw] [--per-category 20] [--sheet S.png]
        [--out m.json]

Requests are drawn per category (the same number for each), at the finest label level the model
has unless ``--level`` says otherwise: a random emoji of the category, a random sub-category,
or the category itself (with ``--draw``, sampled as the app samples a coarser class: one of its
emoji per picture, picked by the seed). The judge then names every generated image at each level up to the
requested one.

emoji-FD is the Frechet distance between Gaussian fits of the judge's features; emoji-KID, the
unbiased kernel distance between them, is reported beside it. Both are measured at one size n:
generated images against n images of the held-out style (a reference neither the judge nor the
model has seen), beside two floors at that n: another n held-out images (the same style: the
lowest possible), and n images of the training styles (what a model that reproduced its
training data exactly would score).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from .checkpoint import CheckpointError, load_checkpoint, readable
from .config import ConfigError
from .data import HELD_OUT_STYLE, DataError, EmojiData, credits, load, read_emoji_list, read_manifest
from .images import captioned_grid, to_pil
from .judge import (JUDGE_DIR, EmojiJudge, auroc, confidence, features, level_accuracy, load_judge, predict,
                    to_tensor, train_judge)
from .labels import LEVELS, LabelError, LabelSpace
from .model import LegoModel
from .request import PlaygroundError, parse_interval
from .sampler import METHODS, SamplerSettings, sample
from .schedule import ScheduleError, load_schedule

# Copies closer than this (RMS over [0, 1] pixels) to a training image are flagged as memorised.
COPY_THRESHOLD = 0.04
JUDGE_SIZE = 64


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2), through symmetric eigendecompositions."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.linalg.eigvalsh(root_a @ s_b @ root_a)  # same spectrum as S_a S_b
    trace_root = np.sqrt(np.clip(cross, 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * trace_root)


def kernel_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Unbiased squared MMD with the cubic polynomial kernel (KID, Binkowski et al. 2018): unlike the
    Frechet distance it has no small-sample bias, so two samples of one distribution score about 0."""
    d = a.shape[1]
    k_aa, k_bb, k_ab = ((a @ a.T) / d + 1) ** 3, ((b @ b.T) / d + 1) ** 3, ((a @ b.T) / d + 1) ** 3
    m, n = len(a), len(b)
    return float((k_aa.sum() - np.trace(k_aa)) / (m * (m - 1)) + (k_bb.sum() - np.trace(k_bb)) / (n * (n - 1))
                 - 2 * k_ab.mean())


def nearest_distances(generated: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Root-mean-square pixel distance (images in [0, 1]) of each generated image to its nearest reference."""
    g = ((generated.clamp(-1, 1) + 1) / 2).flatten(1).double()
    out = []
    for chunk in reference.split(2048):
        r = ((chunk + 1) / 2).flatten(1).double()
        d2 = (g.pow(2).sum(1, keepdim=True) - 2 * g @ r.T + r.pow(2).sum(1)).clamp(min=0)
        out.append(d2.min(dim=1).values)
    return (torch.stack(out).min(dim=0).values / g.shape[1]).sqrt().float()


def judge_view(images: torch.Tensor) -> torch.Tensor:
    """Images as the judge was trained to see them: 64x64 (smaller models' images are enlarged)."""
    if images.shape[-2:] == (JUDGE_SIZE, JUDGE_SIZE):
        return images
    return F.interpolate(images, size=(JUDGE_SIZE, JUDGE_SIZE), mode="bilinear", align_corners=False)


def balanced_sample(data: EmojiData, per_category: int, rng: np.random.Generator,
                    exclude: np.ndarray | None = None) -> np.ndarray:
    """Indices of ``per_category`` images of every category present (without repeats where possible).

    With ``exclude``, a category's images are drawn from those not excluded only where enough are left to fill its
    share without repeats; otherwise from all of them, as the excluded sample was. A floor drawn from the one or two
    images a reference happened to leave would be that image repeated, far from "another sample of the same
    drawings", and would make a model look better than real."""
    picks = []
    for c in np.unique(data.categories):
        pool = np.flatnonzero(data.categories == c)
        if exclude is not None and len(rest := np.setdiff1d(pool, exclude)) >= per_category:
            pool = rest
        picks.append(rng.choice(pool, per_category, replace=len(pool) < per_category))
    return np.concatenate(picks)


def requests(model_space: LabelSpace, judge: EmojiJudge, level: int, per_category: int, rng: np.random.Generator,
             classes: set[int] | None = None) -> tuple[list[int], list[list[int]]]:
    """Model labels to sample (among ``classes`` when given) and, for each, the judge's class per level
    (-1 where not asked)."""
    judge_index = {(judge.space.level_of(i), name): i for i, name in enumerate(judge.space.names)}
    labels, targets = [], []
    for category in range(model_space.sizes[0]):
        pool = [i for i in model_space.members(category, level) if (level, model_space.names[i]) in judge_index
                and (classes is None or i in classes)]
        for i in rng.choice(pool, per_category, replace=len(pool) < per_category) if pool else []:
            target = judge.space.chain(judge_index[(level, model_space.names[int(i)])])
            labels.append(int(i))
            targets.append(list(target) + [-1] * (judge.space.depth - len(target)))
    return labels, targets


def judge_on_held_out(judge: EmojiJudge, data: EmojiData, emoji: list[int]) -> dict[str, float]:
    """The judge's accuracy per level on the held-out drawings of ``emoji`` (indices into ``data.space``, which
    the judge was trained on): what "as good as real" reads for a model of those emoji only."""
    if judge.space != data.space:
        raise DataError("the judge was trained on another data set: its labels differ from this one's")
    keep = data.held_out & np.isin(data.labels[:, -1], emoji)
    seen = judge_view(to_tensor(data.images[keep]))
    return level_accuracy(predict(judge, seen), torch.from_numpy(data.labels[keep]), judge.space)


def trained_emoji(model: LegoModel, data: EmojiData) -> list[str]:
    """The emoji a model trained on some of the data's (lego.train --emoji) knows; none for one that knows them
    all, or whose labels are not the data's three levels."""
    space = model.config.label_space()
    if space.depth != 3 or data.space.depth != 3 or space.sizes[-1] >= data.space.sizes[-1]:
        return []
    return list(space.names[space.offset(2):])


def evaluate(model: LegoModel, judge: EmojiJudge, data: EmojiData, schedule_spec: str = "all", per_category: int = 20,
             steps: int = 18, guidance: float = 2.0, seed: int = 0, precision: str = "auto", batch: int = 18,
             method: str = "heun", compiled: bool = False, level: str | None = None,
             classes: set[int] | None = None, draw: bool = False,
             guidance_interval: tuple[float, float] | None = None, progress: bool = False) -> dict:
    """Generate ``per_category`` images of every category and score them (see the module docstring).
    ``classes`` limits the requests to these classes (a model trained on a subset of the emoji). With ``draw``,
    a request for a coarser class is sampled as the app samples it: as one of its emoji, picked by the seed."""
    space = model.config.label_space()
    depth = space.depth if level is None else LEVELS.index(level) + 1
    if depth > space.depth:
        raise ValueError(f"this model has no {level} labels: it has {space.depth} label level(s)")
    schedule = load_schedule(schedule_spec, model.config)
    settings = SamplerSettings(steps=steps, guidance=guidance, method=method, guidance_interval=guidance_interval)
    rng = np.random.default_rng(seed)
    labels, targets = requests(space, judge, depth - 1, per_category, rng, classes)
    if not labels:
        raise ValueError("none of this model's classes is known to the judge")
    seeds = [seed + i for i in range(len(labels))]
    start = time.perf_counter()
    sampled = [space.draw(label, s) for label, s in zip(labels, seeds)] if draw else labels
    chunks = [sample(model, seeds[i:i + batch], sampled[i:i + batch], settings, schedule, precision=precision,
                     compiled=compiled).images
              for i in tqdm(range(0, len(labels), batch), desc=f"sampling {len(labels)} pictures", unit="batch",
                            disable=not progress, file=sys.stderr)]
    seconds = time.perf_counter() - start
    generated = torch.cat(chunks).clamp(-1, 1)
    n = len(generated)
    seen = judge_view(generated)
    judged = level_accuracy(predict(judge, seen), torch.tensor(targets), judge.space)

    held, train = data.split(evaluation=True), data.split(evaluation=False)
    per = -(-n // len(np.unique(held.categories)))
    reference = balanced_sample(held, per, rng)[:n]
    same_style = balanced_sample(held, per, rng, exclude=reference)[:n]
    training_styles = balanced_sample(train, per, rng)[:n]
    real_seen = {name: judge_view(to_tensor(d.images[idx])) for name, d, idx in
                 (("reference", held, reference), ("same", held, same_style), ("training", train, training_styles))}
    feats = {name: features(judge, images) for name, images in real_seen.items()}
    gen_feats = features(judge, seen)
    sure_real, sure_generated = confidence(judge, real_seen["reference"]), confidence(judge, seen)
    nearest = nearest_distances(generated, to_tensor(train.images))
    return {
        "schedule": schedule.to_dict(), "steps": steps, "sampler": method, "guidance": guidance,
        "guidance_interval": guidance_interval, "guided_steps": sum(settings.guided_steps()),
        "evaluations": sum(settings.evaluations_per_step()), "samples": n, "seed": seed,
        "label_level": LEVELS[depth - 1] if space.depth > 1 else "category",
        "drawn_as_emoji": draw,
        "accuracy": judged, "category_accuracy": judged["category"],
        "emoji_fd": round(frechet_distance(gen_feats, feats["reference"]), 3),
        "emoji_fd_floor": round(frechet_distance(feats["same"], feats["reference"]), 3),
        "emoji_fd_floor_training_styles": round(frechet_distance(feats["training"], feats["reference"]), 3),
        "emoji_kid": round(kernel_distance(gen_feats, feats["reference"]), 4),
        "emoji_kid_floor": round(kernel_distance(feats["same"], feats["reference"]), 4),
        "emoji_kid_floor_training_styles": round(kernel_distance(feats["training"], feats["reference"]), 4),
        "judge_confidence": {"generated": round(float(sure_generated.mean()), 4),
                             "real": round(float(sure_real.mean()), 4),
                             "auroc_real_over_generated": round(auroc(sure_real, sure_generated), 4)},
        "nearest_train_rms": {"mean": round(float(nearest.mean()), 4), "min": round(float(nearest.min()), 4)},
        "copies": int((nearest < COPY_THRESHOLD).sum()), "copy_threshold": COPY_THRESHOLD,
        "sampling_seconds": round(seconds, 1),
        "requests": [space.names[i] for i in labels], "drawn": [space.names[i] for i in sampled] if draw else None,
        "_images": generated, "_categories": [t[0] for t in targets],
    }


def contact_sheet(images: torch.Tensor | np.ndarray, captions: list[str], categories: list[int], columns: int,
                  path: Path) -> Path:
    """One row per category: the first ``columns`` images of each, enlarged, captioned below."""
    pictures = to_pil(images) if isinstance(images, torch.Tensor) else [Image.fromarray(a) for a in images]
    picked = [k for c in dict.fromkeys(categories) for k in [i for i, x in enumerate(categories) if x == c][:columns]]
    sheet = captioned_grid([pictures[k] for k in picked], [captions[k] for k in picked], columns=columns)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def real_sheet(data: EmojiData, columns: int, path: Path, seed: int = 0) -> Path:
    """The held-out style's own drawings, chosen as the evaluation chooses requests: the sheet to compare with."""
    held = data.split(evaluation=True)
    picks = balanced_sample(held, columns, np.random.default_rng(seed))
    names = [held.space.names[e] if e >= 0 else "?" for e in held.labels[picks, -1]]
    return contact_sheet(held.images[picks], names, list(held.categories[picks]), columns, path)


def markdown(result: dict, judge_accuracy: dict | None, command: str) -> str:
    acc = ", ".join(
        f"{lvl} {a:.1%}" + (f" ({a / judge_accuracy[lvl]:.0%} of the judge's {judge_accuracy[lvl]:.1%} on real "
                            f"{HELD_OUT_STYLE})" if judge_accuracy and judge_accuracy.get(lvl) else "")
        for lvl, a in result["accuracy"].items())
    return "\n".join([
        f"- top-1 accuracy of generated images, as named by the judge: {acc}",
        f"- emoji-FD {result['emoji_fd']} at n={result['samples']} (floors at the same n: another sample of the "
        f"held-out style {result['emoji_fd_floor']}, the training styles "
        f"{result['emoji_fd_floor_training_styles']})",
        f"- emoji-KID (no small-sample bias) {result['emoji_kid']} (floors: the held-out style "
        f"{result['emoji_kid_floor']}, the training styles {result['emoji_kid_floor_training_styles']})",
        f"- the judge's confidence that it sees one particular emoji (top probability at the finest level): "
        f"generated {result['judge_confidence']['generated']:.2f}, real {result['judge_confidence']['real']:.2f}; "
        f"a real image is the surer one in {result['judge_confidence']['auroc_real_over_generated']:.0%} of pairs",
        f"- nearest training image, RMS pixel distance: mean {result['nearest_train_rms']['mean']}; "
        f"{result['copies']} of {result['samples']} closer than {result['copy_threshold']} (copies)",
        f"- {result['samples']} images conditioned on the {result['label_level']} level, {result['steps']} "
        f"{result['sampler']} steps, guidance {result['guidance']}, schedule {result['schedule']['name']}; "
        f"reproduce: `{command}`",
    ])


def at_least_one(text: str) -> int:
    """An argparse type: a count that must be 1 or more (pictures per category, steps)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


DATA_HELP = "the emoji data that python -m lego.data build writes"
JUDGE_WHERE = "default: checkpoints/emoji-judge in the repository, wherever it is run from"


class DefaultsShown(argparse.ArgumentDefaultsHelpFormatter):
    """Every default in --help, but none for a switch or an option whose help says what leaving it out does."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or isinstance(action.default, bool) or "default:" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lego.metrics", description=__doc__.splitlines()[0],
                                     formatter_class=DefaultsShown)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train-judge", help="train the judge on every style but the held-out one",
                       formatter_class=DefaultsShown)
    t.add_argument("--data", type=Path, default=Path("data/emoji64.npz"), help=DATA_HELP)
    t.add_argument("--out", type=Path, default=JUDGE_DIR, help=f"where to write the judge ({JUDGE_WHERE})")
    t.add_argument("--epochs", type=at_least_one, default=20, help="passes over the training drawings")
    e = sub.add_parser("evaluate", help="sample a model and score its images",
                       formatter_class=DefaultsShown)
    e.add_argument("--checkpoint", required=True, help="the model: a checkpoint directory or a Hub repo id")
    e.add_argument("--data", type=Path, default=Path("data/emoji64.npz"), help=DATA_HELP)
    e.add_argument("--judge", type=Path, default=JUDGE_DIR, help=f"the judge that train-judge writes ({JUDGE_WHERE})")
    e.add_argument("--level", choices=LEVELS, help="label level to condition on (default: the model's finest)")
    e.add_argument("--draw", action="store_true", help="sample a coarser --level as the app does: one of its emoji "
                                                       "per picture, picked by the seed")
    e.add_argument("--schedule", default="all", help="a preset, JSON text or a JSON file")
    e.add_argument("--per-category", type=at_least_one, default=20, help="pictures per category")
    e.add_argument("--steps", type=at_least_one, default=18, help="sampling steps (the app: 8 with dpm++2m)")
    e.add_argument("--guidance", type=float, default=2.0, help="classifier-free guidance (1 = off)")
    e.add_argument("--guide", type=parse_interval, metavar="LOW-HIGH",
                   help="guide only the steps whose sigma is in (LOW, HIGH] (default: every step)")
    e.add_argument("--sampler", choices=METHODS, default="heun", help="the sampler")
    e.add_argument("--seed", type=int, default=0, help="the first seed")
    e.add_argument("--sheet", type=Path, help="write a contact sheet here: one row per category, 8 images each")
    e.add_argument("--real-sheet", type=Path, help="write the same kind of sheet of real held-out drawings here")
    e.add_argument("--out", type=Path, help="write the JSON here too")
    e.add_argument("--emoji", type=Path, help="a model trained on the emoji of this list (lego.train --emoji): the "
                                             "real drawings compared are theirs, and the judge is scored on them too")
    args = parser.parse_args(argv)
    command = "python -m lego.metrics " + " ".join(argv if argv is not None else sys.argv[1:])
    on_real = None  # the judge on the real drawings of a small vocabulary (--emoji)
    try:
        data = load(args.data)
        if args.command == "train-judge":
            held = next((s for s in read_manifest(args.data)["styles"] if s["held_out"]), None)
            if held is None:
                raise DataError(f"{args.data} holds no held-out style to judge on: rebuild it with "
                                "python -m lego.data build")
        else:
            model, judge = load_checkpoint(args.checkpoint), load_judge(args.judge)
            names = read_emoji_list(args.emoji)
            if not names and (names := trained_emoji(model, data)):
                print(f"note: {args.checkpoint} was trained on {len(names)} of the data's {data.space.sizes[-1]:,} "
                      "emoji: it is judged on those, as with --emoji", file=sys.stderr)
            if names:
                emoji = data.emoji_indices(names)
                on_real = judge_on_held_out(judge, data, emoji)
                data = data.only_emoji(emoji)
    except (DataError, CheckpointError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command == "train-judge":
        judge, accuracy = train_judge(data, epochs=args.epochs)
        card = {"accuracy": ", ".join(f"{k} {v:.1%}" for k, v in accuracy.items()), "command": command,
                "held_out_style": f"{held['name']}, {held['images']:,} images",
                "credits": "Trained on: " + "; ".join(credits(args.data)) + ". Scored on: "
                           + "; ".join(credits(args.data, held_out=True)) + "."}
        judge.half().save_pretrained(args.out, model_card_kwargs=card)
        readable(args.out)
        (args.out / "metrics.json").write_text(json.dumps({"held_out_style": held["name"], "held_out_accuracy":
                                                           accuracy, "command": command}, indent=2) + "\n")
        print(json.dumps({"held_out_accuracy": accuracy, "out": str(args.out)}))
        return 0
    try:
        result = evaluate(model, judge, data, args.schedule, args.per_category, args.steps, args.guidance, args.seed,
                          method=args.sampler, level=args.level, draw=args.draw, guidance_interval=args.guide,
                          progress=True)
    except (ScheduleError, LabelError, ConfigError, PlaygroundError, ValueError) as exc:  # a mistake in the options
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.sheet:
        contact_sheet(result["_images"], result["drawn"] or result["requests"], result["_categories"], 8, args.sheet)
    if args.real_sheet:
        real_sheet(data, 8, args.real_sheet)
    result.pop("_images"), result.pop("_categories")
    accuracy_file = args.judge / "metrics.json"
    judge_accuracy = json.loads(accuracy_file.read_text())["held_out_accuracy"] if accuracy_file.is_file() else None
    result["judge_held_out_accuracy"] = judge_accuracy
    if on_real:
        result["judge_held_out_accuracy_these_emoji"] = on_real
    result["command"] = command
    result["markdown"] = markdown(result, on_real or judge_accuracy, command)
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    print("\n" + result["markdown"], file=sys.stderr)  # the JSON is for scripts; this, last, is for people
    return 0


if __name__ == "__main__":
    sys.exit(main())
