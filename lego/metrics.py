"""Our own yardstick: an emoji category classifier, emoji-FD, category accuracy, memorisation.

    python -m lego.metrics train-classifier [--data data/emoji64.npz] [--out checkpoints/emoji-classifier]
    python -m lego.metrics evaluate --checkpoint DIR [--schedule pg-recipe] [--per-class 20] [--out m.json]

No pretrained Inception network can be fetched here, so the features come from a small CNN
trained on the same emoji (held-out split for its accuracy). emoji-FD is the Frechet distance
between Gaussian fits of those features for generated and real images; it is only comparable
at equal sample counts, so the floor (two disjoint real sets of the same size) is reported
beside it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from .checkpoint import load_checkpoint
from .config import EMOJI_CATEGORIES
from .data import CREDITS, EmojiData, load
from .sampler import METHODS, SamplerSettings, sample
from .schedule import load_schedule

CLASSIFIER_DIR = Path(__file__).resolve().parent.parent / "checkpoints" / "emoji-classifier"
CLASSIFIER_CARD = """---
{{ card_data }}
---

# Emoji category classifier (LEGO Playground's yardstick)

A small CNN that tells the 9 emoji categories apart at 64x64. It supplies the features of
emoji-FD and the category accuracy of generated images. Held-out accuracy: {{ accuracy }}.

{{ credits }}
"""


class EmojiClassifier(nn.Module, PyTorchModelHubMixin, library_name="lego-playground",
                      model_card_template=CLASSIFIER_CARD):
    """Four stride-2 conv stages, global pooling, a feature layer and a linear head."""

    def __init__(self, num_classes: int = 9, width: int = 32, feature_dim: int = 128) -> None:
        super().__init__()
        layers, channels = [], 3
        for i in range(4):
            out = width * 2**i
            layers += [nn.Conv2d(channels, out, 3, stride=2, padding=1), nn.BatchNorm2d(out), nn.ReLU()]
            channels = out
        self.body = nn.Sequential(*layers)
        self.feature = nn.Linear(channels, feature_dim)
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """images: (B, 3, H, W) in [-1, 1] -> (B, feature_dim)."""
        return self.feature(self.body(images).mean(dim=(2, 3)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(F.relu(self.features(images)))


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float in [-1, 1]."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1


def shift_augment(batch: torch.Tensor, gen: torch.Generator, max_shift: int = 4) -> torch.Tensor:
    padded = F.pad(batch, [max_shift] * 4, value=1.0)  # white border, like the data
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2,), generator=gen).tolist()
    return padded[:, :, dy:dy + batch.shape[2], dx:dx + batch.shape[3]]


def train_classifier(data: EmojiData, epochs: int = 20, batch: int = 64, seed: int = 0,
                     quiet: bool = False) -> tuple[EmojiClassifier, float]:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    train, held = data.split(evaluation=False), data.split(evaluation=True)
    x, y = to_tensor(train.images), torch.from_numpy(train.labels)
    model = EmojiClassifier(len(EMOJI_CATEGORIES))
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    steps = epochs * (len(x) // batch)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=steps)
    weights = torch.from_numpy(train.class_weights())
    for step in range(steps):
        model.train()
        index = torch.multinomial(weights, batch, replacement=True, generator=gen)
        loss = F.cross_entropy(model(shift_augment(x[index], gen)), y[index], label_smoothing=0.1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        if not quiet and step % 100 == 0:
            print(f"step {step}/{steps} loss {loss.item():.3f}", file=sys.stderr)
    model.eval()
    accuracy = float((predict(model, to_tensor(held.images)) == torch.from_numpy(held.labels)).float().mean())
    return model, accuracy


@torch.no_grad()
def predict(classifier: EmojiClassifier, images: torch.Tensor) -> torch.Tensor:
    return torch.cat([classifier(chunk).argmax(1) for chunk in images.split(256)])


@torch.no_grad()
def features(classifier: EmojiClassifier, images: torch.Tensor) -> np.ndarray:
    return torch.cat([classifier.features(chunk) for chunk in images.split(256)]).double().numpy()


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2), through symmetric eigendecompositions."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.linalg.eigvalsh(root_a @ s_b @ root_a)  # same spectrum as S_a S_b
    trace_root = np.sqrt(np.clip(cross, 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * trace_root)


def nearest_distances(generated: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Root-mean-square pixel distance (images in [0, 1]) of each generated image to its nearest reference."""
    g = ((generated.clamp(-1, 1) + 1) / 2).flatten(1).double()
    r = ((reference + 1) / 2).flatten(1).double()
    d2 = (g.pow(2).sum(1, keepdim=True) - 2 * g @ r.T + r.pow(2).sum(1)).clamp(min=0)
    return (d2.min(dim=1).values / g.shape[1]).sqrt().float()


def load_classifier(path: str | Path = CLASSIFIER_DIR) -> EmojiClassifier:
    if not (Path(path) / "model.safetensors").is_file():
        raise FileNotFoundError(f"no classifier at {path}: train one with python -m lego.metrics train-classifier")
    with contextlib.redirect_stdout(io.StringIO()):  # the mixin prints a progress line
        return EmojiClassifier.from_pretrained(str(path), strict=True).float().eval()


# Copies closer than this (RMS over [0, 1] pixels) to a training image are flagged as memorised.
COPY_THRESHOLD = 0.04


def evaluate(model, classifier: EmojiClassifier, data: EmojiData, schedule_spec: str = "all", per_class: int = 20,
             steps: int = 18, guidance: float = 2.0, seed: int = 0, precision: str = "auto",
             batch: int = 18, method: str = "heun", compiled: bool = False) -> dict:
    """Generate per_class images of every class and score them against the real data."""
    config = model.config
    schedule = load_schedule(schedule_spec, config)
    settings = SamplerSettings(steps=steps, guidance=guidance, method=method)
    labels = [c for c in range(config.num_classes) for _ in range(per_class)]
    seeds = [seed + i for i in range(len(labels))]
    start = time.perf_counter()
    chunks = [sample(model, seeds[i:i + batch], labels[i:i + batch], settings, schedule, precision=precision,
                     compiled=compiled).images
              for i in range(0, len(labels), batch)]
    seconds = time.perf_counter() - start
    generated = torch.cat(chunks).clamp(-1, 1)
    real = to_tensor(data.images)
    train_real = to_tensor(data.split(evaluation=False).images)
    gen_feats, real_feats = features(classifier, generated), features(classifier, real)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(real_feats))
    n = len(generated)
    floor = frechet_distance(real_feats[order[:n]], real_feats[order[n:2 * n]]) if 2 * n <= len(order) else None
    accuracy = float((predict(classifier, generated) == torch.tensor(labels)).float().mean())
    nearest = nearest_distances(generated, train_real)
    return {
        "schedule": schedule.to_dict(), "steps": steps, "sampler": method,
        "evaluations": sum(settings.evaluations_per_step()), "guidance": guidance, "samples": n, "seed": seed,
        "emoji_fd": round(frechet_distance(gen_feats, real_feats[order[:max(n, 2 * n)]]), 3),
        "emoji_fd_floor": None if floor is None else round(floor, 3),
        "category_accuracy": round(accuracy, 4),
        "nearest_train_rms": {"mean": round(float(nearest.mean()), 4), "min": round(float(nearest.min()), 4)},
        "copies": int((nearest < COPY_THRESHOLD).sum()), "copy_threshold": COPY_THRESHOLD,
        "sampling_seconds": round(seconds, 1),
    }


def markdown(result: dict, classifier_accuracy: float | None, command: str) -> str:
    rows = [
        f"- emoji-FD {result['emoji_fd']} (floor, two real sets of {result['samples']}: {result['emoji_fd_floor']})",
        f"- category accuracy of generated images {result['category_accuracy']:.1%}"
        + (f" (classifier on real held-out images: {classifier_accuracy:.1%})" if classifier_accuracy else ""),
        f"- nearest training image, RMS pixel distance: mean {result['nearest_train_rms']['mean']}, "
        f"{result['copies']} of {result['samples']} closer than {result['copy_threshold']}",
        f"- {result['samples']} images, {result['steps']} {result.get('sampler', 'heun')} steps, "
        f"guidance {result['guidance']}, "
        f"schedule {result['schedule']['name']}; reproduce: `{command}`",
    ]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lego.metrics", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train-classifier")
    t.add_argument("--data", type=Path, default=Path("data/emoji64.npz"))
    t.add_argument("--out", type=Path, default=CLASSIFIER_DIR)
    t.add_argument("--epochs", type=int, default=20)
    e = sub.add_parser("evaluate")
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--data", type=Path, default=Path("data/emoji64.npz"))
    e.add_argument("--classifier", type=Path, default=CLASSIFIER_DIR)
    e.add_argument("--schedule", default="all")
    e.add_argument("--per-class", type=int, default=20)
    e.add_argument("--steps", type=int, default=18)
    e.add_argument("--guidance", type=float, default=2.0)
    e.add_argument("--sampler", choices=METHODS, default="heun")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--out", type=Path, help="write the JSON here too")
    args = parser.parse_args(argv)
    data = load(args.data)
    if args.command == "train-classifier":
        classifier, accuracy = train_classifier(data, epochs=args.epochs)
        credits = "Trained on: " + "; ".join(CREDITS) + "."
        classifier.half().save_pretrained(args.out, model_card_kwargs={"accuracy": f"{accuracy:.1%}",
                                                                       "credits": credits})
        (args.out / "metrics.json").write_text(json.dumps({"held_out_accuracy": round(accuracy, 4)}) + "\n")
        print(json.dumps({"held_out_accuracy": round(accuracy, 4), "out": str(args.out)}))
        return 0
    model = load_checkpoint(args.checkpoint)
    classifier = load_classifier(args.classifier)
    result = evaluate(model, classifier, data, args.schedule, args.per_class, args.steps, args.guidance, args.seed,
                      method=args.sampler)
    accuracy_file = args.classifier / "metrics.json"
    classifier_accuracy = None
    if accuracy_file.is_file():
        classifier_accuracy = json.loads(accuracy_file.read_text())["held_out_accuracy"]
    result["classifier_held_out_accuracy"] = classifier_accuracy
    result["command"] = "python -m lego.metrics " + " ".join(argv if argv is not None else sys.argv[1:])
    result["markdown"] = markdown(result, classifier_accuracy, result["command"])
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
