"""The judge: a CNN that names an emoji at three levels, and supplies the features of emoji-FD.

No pretrained network can be fetched here, so the judge is trained on the emoji themselves,
with one whole style (``lego.data.HELD_OUT_STYLE``) kept out. Its accuracy on that style is its
accuracy on drawings it has never seen, which is what generated images are. Augmentation
(shifts, scaling, rotation, blur, noise, contrast) keeps it from keying on one style's exact
pixels, and makes it tolerant of the softness of generated images.
"""

from __future__ import annotations

import contextlib
import io
import math
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from .collage import uniform
from .data import EmojiData
from .labels import LabelSpace
from .precision import autocast, resolve_precision

JUDGE_DIR = Path(__file__).resolve().parent.parent / "checkpoints" / "emoji-judge"
JUDGE_CARD = """---
{{ card_data }}
---

# Emoji judge (LEGO Playground's yardstick)

A small residual CNN that names a 64x64 emoji at three levels (category, sub-category, emoji)
and supplies the features of emoji-FD. Trained on every style but one; on the held-out style
({{ held_out_style }}, never seen in training) its top-1 accuracy is: {{ accuracy }}.

Reproduce: `{{ command }}`

{{ credits }}
"""


class ResidualStage(nn.Module):
    """Two 3x3 convolutions with a shortcut; the first one halves the resolution."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, 2, 1, bias=False)
        self.norm1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, 2, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm2(self.conv2(F.relu(self.norm1(self.conv1(x))))) + self.shortcut(x))


class EmojiJudge(nn.Module, PyTorchModelHubMixin, library_name="lego-playground", model_card_template=JUDGE_CARD):
    """Four residual stages (64 -> 4 pixels), global pooling, a feature layer and one head per level."""

    def __init__(self, class_names: list[str], level_sizes: list[int], class_parents: list[int], width: int = 32,
                 feature_dim: int = 256) -> None:
        super().__init__()
        self.space = LabelSpace(tuple(class_names), tuple(level_sizes), tuple(class_parents))
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        widths = [width, 2 * width, 4 * width, 8 * width, 8 * width]
        self.stages = nn.Sequential(*(ResidualStage(a, b) for a, b in zip(widths, widths[1:])))
        self.feature = nn.Linear(widths[-1], feature_dim)
        self.heads = nn.ModuleList(nn.Linear(feature_dim, n) for n in level_sizes)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """images: (B, 3, 64, 64) in [-1, 1] -> (B, feature_dim)."""
        return self.feature(self.stages(self.stem(images)).mean(dim=(2, 3)))

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Logits per level, over that level's classes (level-local indices)."""
        hidden = F.relu(self.features(images))
        return [head(hidden) for head in self.heads]


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float in [-1, 1]."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1


def augment(batch: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random similarity transform on white, then blur, noise and contrast on part of the batch."""
    n, cpu = batch.shape[0], torch.device("cpu")
    scale, angle = uniform(n, 0.8, 1.15, gen, cpu), uniform(n, -0.2, 0.2, gen, cpu)
    shift = uniform(2 * n, -0.15, 0.15, gen, cpu).reshape(n, 2)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = torch.cos(angle) / scale
    theta[:, 0, 1], theta[:, 1, 0] = -torch.sin(angle) / scale, torch.sin(angle) / scale
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
    out = 1 - F.grid_sample(1 - batch, grid, align_corners=False)  # outside the image: white
    size = batch.shape[-1]
    soft = torch.rand(n, generator=gen) < 0.3  # generated images are softer than vector art
    if soft.any():
        small = F.interpolate(out[soft], scale_factor=0.5, mode="bilinear", antialias=True, align_corners=False)
        out[soft] = F.interpolate(small, size=(size, size), mode="bilinear", align_corners=False)
    noisy = (torch.rand(n, generator=gen) < 0.3).float().reshape(n, 1, 1, 1)
    out = out + noisy * uniform(n, 0, 0.08, gen, cpu).reshape(n, 1, 1, 1) * torch.randn(out.shape, generator=gen)
    contrast = uniform(n, 0.85, 1.15, gen, cpu).reshape(n, 1, 1, 1)
    return ((out - 1) * contrast + 1).clamp(-1, 1)


def level_targets(labels: torch.Tensor, space: LabelSpace) -> list[torch.Tensor]:
    """(N, levels) global class indices -> per level, level-local indices (-1 stays -1)."""
    return [torch.where(labels[:, k] >= 0, labels[:, k] - space.offset(k), -1) for k in range(space.depth)]


def train_judge(data: EmojiData, epochs: int = 20, batch: int = 128, seed: int = 0, width: int = 32,
                quiet: bool = False) -> tuple[EmojiJudge, dict[str, float]]:
    """Train on the data's training styles; returns the judge and its held-out accuracy per level."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    train = data.split(evaluation=False)
    space = data.space
    judge = EmojiJudge(list(space.names), list(space.sizes), list(space.parents), width=width)
    x = to_tensor(train.images)
    targets = level_targets(torch.from_numpy(train.labels), space)
    weights = torch.from_numpy(train.class_weights())
    steps = epochs * math.ceil(len(x) / batch)
    optimizer = torch.optim.AdamW(judge.parameters(), lr=3e-3, weight_decay=5e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps)
    precision = resolve_precision("auto", torch.device("cpu"))
    judge = judge.to(memory_format=torch.channels_last)
    for step in range(steps):
        judge.train()
        index = torch.multinomial(weights, batch, replacement=True, generator=gen)
        images = augment(x[index], gen).contiguous(memory_format=torch.channels_last)
        with autocast(precision, torch.device("cpu")):
            logits = judge(images)
        loss = sum(F.cross_entropy(lg.float(), t[index], label_smoothing=0.1) for lg, t in zip(logits, targets))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        if not quiet and step % 50 == 0:
            print(f"step {step}/{steps} loss {loss.item():.3f}", file=sys.stderr, flush=True)
    judge = judge.eval().to(memory_format=torch.contiguous_format)
    held = data.split(evaluation=True)
    return judge, level_accuracy(predict(judge, to_tensor(held.images)), torch.from_numpy(held.labels), space)


@torch.no_grad()
def predict(judge: EmojiJudge, images: torch.Tensor) -> torch.Tensor:
    """(N, levels) predicted global class indices."""
    space = judge.space
    out = []
    for chunk in images.split(256):
        logits = judge(chunk)
        out.append(torch.stack([lg.argmax(1) + space.offset(k) for k, lg in enumerate(logits)], dim=1))
    return torch.cat(out)


@torch.no_grad()
def confidence(judge: EmojiJudge, images: torch.Tensor) -> torch.Tensor:
    """(N,) the judge's top probability at the finest level: how sure it is that it sees one particular emoji."""
    return torch.cat([judge(chunk)[-1].softmax(dim=1).max(dim=1).values for chunk in images.split(256)])


def auroc(positive: torch.Tensor, negative: torch.Tensor) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    diff = positive.reshape(-1, 1) - negative.reshape(1, -1)
    return float((diff > 0).float().mean() + 0.5 * (diff == 0).float().mean())


@torch.no_grad()
def features(judge: EmojiJudge, images: torch.Tensor) -> np.ndarray:
    return torch.cat([judge.features(chunk) for chunk in images.split(256)]).double().numpy()


def level_accuracy(predicted: torch.Tensor, labels: torch.Tensor, space: LabelSpace) -> dict[str, float]:
    """Top-1 accuracy per level, over the images that have a label on that level."""
    out = {}
    for k in range(space.depth):
        known = labels[:, k] >= 0
        if known.any():
            out[space.level_name(k)] = round(float((predicted[known, k] == labels[known, k]).float().mean()), 4)
    return out


def load_judge(path: str | Path = JUDGE_DIR) -> EmojiJudge:
    if not (Path(path) / "model.safetensors").is_file():
        raise FileNotFoundError(f"no judge at {path}: train one with python -m lego.metrics train-judge")
    with contextlib.redirect_stdout(io.StringIO()):  # the mixin prints a progress line
        return EmojiJudge.from_pretrained(str(path), strict=True).float().eval()
