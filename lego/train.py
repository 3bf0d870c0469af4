"""Brick-wise EDM training with brick dropout, resumable in short segments.

    python -m lego.train run --run-dir training/emoji-s-labels --init checkpoints/lego-emoji-s [--max-minutes M]
    python -m lego.train export --run-dir training/emoji-s-labels --out checkpoints/lego-emoji-s
    torchrun --nproc_per_node G -m lego.train run ...   # several GPUs (DistributedDataParallel)
    python -m lego.train run --run-dir training/emoji-s-wall --init checkpoints/lego-emoji-s --collage 1 ...

``--init`` fine-tunes a checkpoint; ``--collage P`` trains that share of the steps on crops of
emoji collages (``lego.collage``), which gives canvases larger than the training size a meaning.

Loss: EDM's weighted denoising loss on every active brick's estimate, averaged over them.
Brick dropout: with probability ``brick_dropout`` a step runs a random non-empty, non-full set
of bricks, through the same skipping contract the sampler uses, so every on/off combination
the app offers is trained.

Randomness: every step draws from a generator seeded by (seed, step[, rank]), so the random
state is a function of the step and a resumed run draws exactly what an uninterrupted run
would. The saved state (``RUN/state``): fp32 weights in shards of at most 15 MiB, the EMA,
AdamW's moments (bf16 by default: the "give or take" of resuming; ``--state-precision fp32``
makes resuming exact) and ``trainer.json``.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import shutil
import signal
import socket
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from .checkpoint import CARD_FILE, WEIGHTS_FILE, CheckpointError, load_checkpoint, readable, save_checkpoint
from .collage import CollageMaker, CollageStyle
from .config import ARCHITECTURES, LegoConfig
from .data import credits as data_credits
from .data import DataError, load, provenance, read_emoji_list
from .images import grid, to_pil
from .model import LegoModel
from .precision import autocast, resolve_precision
from .sampler import SamplerSettings, sample

SHARD_BYTES = 15 * 2**20
SETTLE_STEPS = 100  # a brick's losses in a segment before its best counts (the smoothing forgets its start)
STATE_DTYPES = {"fp32": (torch.float32, torch.float32), "bf16": (torch.float16, torch.bfloat16)}  # (EMA, moments)


def setting(default, help: str, choices: tuple = ()):
    """A training setting with its --help text (and the values it may take), kept next to it."""
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass
class TrainSettings:
    arch: str = setting("emoji-s", "architecture to train", tuple(ARCHITECTURES))
    data: str = setting("data/emoji64.npz", "the dataset that python -m lego.data build writes")
    batch: int = setting(64, "images per step, over all processes")
    lr: float = setting(2e-4, "AdamW learning rate")
    warmup_images: int = setting(20_000, "images over which the rate rises from zero (again after --from-ema)")
    weight_decay: float = setting(0.0, "AdamW weight decay")
    ema_halflife_images: float = setting(250_000.0, "half-life, in images, of the weights' average (EMA), which "
                                                    "export writes")
    ema_rampup: float = setting(0.05, "the average's half-life is at most this share of the images seen")
    label_dropout: float = setting(0.1, "chance that every label level is left out (what guidance compares with)")
    level_dropout: float = setting(0.3, "chance that each label level is left out on its own, so that any level "
                                        "can be given alone")
    brick_dropout: float = setting(0.5, "chance that a step runs a random partial set of bricks (not none, not all)")
    p_mean: float = setting(-1.2, "mean of the log noise level trained (EDM)")
    p_std: float = setting(1.2, "spread of the log noise level trained (EDM)")
    seed: int = setting(0, "seed of the initial weights and of every step's draws")
    precision: str = setting("auto", "auto: bf16 where the hardware runs it fast", ("auto", "fp32", "bf16"))
    compile: bool = setting(False, "compile each brick with torch.compile")
    state_precision: str = setting("bf16", "how the saved average and Adam moments are stored",
                                   tuple(STATE_DTYPES))
    collage: float = setting(0.0, "share of steps on crops of emoji collages (lego.collage), for canvases beyond "
                                  "64x64")
    collage_cell_min: int = setting(20, "smallest collage cell (one emoji each), in pixels")
    collage_cell_max: int = setting(36, "largest collage cell, in pixels")
    init: str = setting("", "checkpoint directory to fine-tune from (the optimiser starts afresh)")
    styles: str = setting("", "comma-separated styles to train on (empty: every training style)")
    label_levels: int = setting(0, "train on the top k label levels only (0: all the data has)")
    emoji: str = setting("", "a file of emoji names, one a line ('#' starts a comment): train on those emoji only")
    # New labels start at zero, and at the base rate their embeddings take thousands of steps to grow.
    label_lr_scale: float = setting(1.0, "the label embedder's rate over the rest's (new labels start at zero)")
    # The timestep embedder's sin-cos inputs are nearly constant over the noise levels trained, so Adam moves whole
    # rows of its first layer as one; fine-tuned on a few hundred drawings, its output grew until the adaLN
    # modulations and the loss blew up. Freezing it (0) prevents that.
    time_lr_scale: float = setting(1.0, "the timestep embedder's rate over the rest's (0: frozen)")
    grad_clip: float = setting(0.0, "clip the gradient's global norm to this (0: never)")
    # A cool-down ends a run at constant rate in lower-loss weights than the constant rate's average (EMA) reaches.
    decay_start: float = setting(math.inf, "images of the run after which the rate falls linearly to zero, a "
                                           "cool-down (left out with --decay-images: where the run stands)")
    decay_images: float = setting(0.0, "images over which it falls; the run ends at zero (0: no cool-down)")


@dataclass
class Progress:
    step: int = 0
    images: int = 0
    segments: list = field(default_factory=list)  # {"device", "host", "seconds", "images"} per run segment
    restarts: list = field(default_factory=list)  # {"images", "lr_before", "lr", "grad_clip", "time_lr_scale"}
    best_loss: list = field(default_factory=list)  # per brick, the lowest smoothed loss of the run (inf: not yet)


class Diverged(RuntimeError):
    """The training loss rose far above its best in the run: the raw weights are going bad."""


def parameter_groups(model: LegoModel, label_lr_scale: float = 1.0, time_lr_scale: float = 1.0) -> list[dict]:
    """The optimiser's groups, one per learning-rate scale: the label and timestep embedders may have their own.
    A part at scale 0 is frozen here (requires_grad off) and left out: a group at rate 0 would still take
    gradients, hold Adam moments and count in the gradient's norm, and so in clipping."""
    scales = {"y_embedder": label_lr_scale, "t_embedder": time_lr_scale}
    groups: dict[float, list[torch.nn.Parameter]] = {}
    for name, p in model.named_parameters():
        scale = scales.get(name.split(".")[0], 1.0)
        p.requires_grad_(scale != 0)
        if scale != 0:
            groups.setdefault(scale, []).append(p)
    return [{"params": params, "lr_scale": scale} for scale, params in groups.items()]


def decay_factor(settings: TrainSettings, images: int) -> float:
    """The share of the base rate left by the cool-down after ``images`` images (1 before it starts)."""
    if settings.decay_images <= 0 or images < settings.decay_start:
        return 1.0
    return max(0.0, 1.0 - (images - settings.decay_start) / settings.decay_images)


def decay_end(settings: TrainSettings) -> float:
    """The image count at which the cool-down reaches rate zero (infinite without one)."""
    return settings.decay_start + settings.decay_images if settings.decay_images > 0 else math.inf


def divergence_reason(losses: list[float | None], smoothed: list[float | None], best: list[float],
                      factor: float) -> str | None:
    """Why a run is going bad, or None: a loss that is not a number, or a brick's smoothed loss above
    ``factor`` times its best (a brick with None is not judged)."""
    for k, value in enumerate(losses):
        if value is not None and not math.isfinite(value):
            return f"brick {k + 1}'s loss is {value}"
    for k, (value, low) in enumerate(zip(smoothed, best)):
        if value is not None and not value <= factor * low:
            return f"brick {k + 1}'s smoothed loss rose from {low:.3g}, its best, to {value:.3g}"
    return None


def step_generator(seed: int, step: int, stream: int, device: torch.device | str = "cpu") -> torch.Generator:
    """Random numbers of one step, on the device that uses them (no host-to-GPU noise copies)."""
    return torch.Generator(device=device).manual_seed((seed * 1_000_003 + step) * 101 + stream)


def draw_active(num_bricks: int, p_drop: float, gen: torch.Generator) -> list[bool]:
    """All bricks, or with probability p_drop one of the other non-empty subsets, uniformly."""
    if num_bricks == 1 or torch.rand((), generator=gen).item() >= p_drop:
        return [True] * num_bricks
    subset = 1 + int(torch.randint(0, 2**num_bricks - 2, (), generator=gen))  # 1 .. 2^n - 2
    return [bool(subset >> k & 1) for k in range(num_bricks)]


def edm_losses(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, active: list[bool],
               settings: TrainSettings, sigma_data: float, gen: torch.Generator) -> list[torch.Tensor | None]:
    """EDM's weighted denoising loss of every active brick's estimate (None for skipped bricks)."""
    batch = images.shape[0]
    device = images.device
    sigma = (torch.randn(batch, generator=gen, device=gen.device) * settings.p_std + settings.p_mean).exp().to(device)
    noise = torch.randn(images.shape, generator=gen, device=gen.device).to(device) * sigma.reshape(-1, 1, 1, 1)
    labels = labels.reshape(batch, -1)
    drop = torch.rand(batch, 1, generator=gen, device=gen.device).to(device) < settings.label_dropout
    if labels.shape[1] > 1:
        drop = drop | (torch.rand(labels.shape, generator=gen, device=gen.device).to(device) < settings.level_dropout)
    labels = torch.where(drop, torch.full_like(labels, -1), labels)
    weight = ((sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2).reshape(-1, 1, 1, 1)
    estimates = model(images + noise, sigma, labels, active, return_all=True)
    return [None if d is None else (weight * (d - images) ** 2).mean() for d in estimates]


class Trainer:
    def __init__(self, settings: TrainSettings, run: Path, progress: Progress | None = None,
                 device: torch.device | None = None, rank: int = 0, world: int = 1) -> None:
        self.settings, self.run, self.rank, self.world = settings, run, rank, world
        self.device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.progress = progress or Progress()
        self.precision = resolve_precision(settings.precision, self.device)
        styles = [x for x in settings.styles.split(",") if x]
        data = load(settings.data).split(evaluation=False).restricted(styles, settings.label_levels,
                                                                      read_emoji_list(settings.emoji))
        config = ARCHITECTURES[settings.arch].with_labels(data.space)  # the data's label levels
        torch.manual_seed(settings.seed)  # the initial weights
        self.model = LegoModel(config).to(self.device)
        self.ema = copy.deepcopy(self.model).eval().requires_grad_(False)
        groups = parameter_groups(self.model, settings.label_lr_scale, settings.time_lr_scale)
        self.optimizer = torch.optim.AdamW(groups, lr=settings.lr, weight_decay=settings.weight_decay)
        self.forward = self.model
        if world > 1:
            self.forward = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=True)  # skipped bricks have no gradient
        if settings.compile:
            for brick in self.model.model:  # per brick: one graph whatever bricks a step switches off
                brick.compile()
        if data.images.shape[1:3] != (config.image_size, config.image_size):
            raise ValueError(f"{settings.data} holds {data.images.shape[1]}x{data.images.shape[2]} images, "
                             f"{settings.arch} is trained at {config.image_size}x{config.image_size}")
        # uint8 images live on the training device (tens of MB); batches are drawn by index there
        self.images = torch.from_numpy(data.images).permute(0, 3, 1, 2).contiguous().to(self.device)
        self.labels = torch.from_numpy(data.labels).to(self.device)
        self.weights = torch.from_numpy(data.class_weights())
        style = CollageStyle(cell_min=settings.collage_cell_min, cell_max=settings.collage_cell_max)
        self.collage = (CollageMaker(self.images, self.labels[:, 0], config.label_space().sizes[0], config.image_size,
                                     style)
                        if settings.collage > 0 else None)
        if settings.init and self.progress.step == 0:
            self.start_from(Path(settings.init))
        if settings.batch % world:
            raise ValueError(f"batch {settings.batch} is not divisible by {world} processes")
        self.local_batch = settings.batch // world

    def start_from(self, path: Path) -> None:
        """Start from a checkpoint's weights. A checkpoint with fewer label levels (the categories
        only) is extended: the new levels' embeddings start at zero, so the extended model draws
        exactly what the checkpoint drew until training teaches it the finer labels."""
        base = load_checkpoint(path)
        self.keep_chosen_classes(base.config.with_labels(self.model.config.label_space()))
        config = self.model.config
        weights = {k: v.float() for k, v in base.state_dict().items()}
        if base.config != config:
            old, new = base.config.label_space(), config.label_space()
            extends = (base.config.with_labels(new) == config and old.depth == 1
                       and old.names == new.names[:old.num_classes])
            if not extends:
                raise ValueError(f"{path} is not a {self.settings.arch} model: its configuration differs")
            table = torch.zeros(config.hidden_size, config.num_classes)
            table[:, :old.num_classes] = weights["y_embedder.embedding_table.weight"]
            weights["y_embedder.embedding_table.weight"] = table
        self.model.load_state_dict(weights)
        self.ema.load_state_dict(weights)

    def keep_chosen_classes(self, chosen: LegoConfig) -> None:
        """The classes people chose for the app to open on and for demos to show (``default_class``,
        ``featured_classes``): a fine-tune keeps its checkpoint's, where its labels have them, and a resumed run its
        state's (the configuration built from the data has none)."""
        self.model.config = self.ema.config = replace(self.model.config, default_class=chosen.default_class,
                                                      featured_classes=chosen.featured_classes)

    # -- one optimisation step -------------------------------------------------------------
    def train_step(self) -> list[float | None]:
        s, step = self.settings, self.progress.step
        shared = step_generator(s.seed, step, 0)  # the same on every rank: the brick mask
        picks = step_generator(s.seed, step, 1 + self.rank)
        local = step_generator(s.seed, step, 1000 + self.rank, self.device)  # a stream of its own
        active = draw_active(self.model.num_bricks, s.brick_dropout, shared)
        index = torch.multinomial(self.weights, self.local_batch, replacement=True, generator=picks).to(self.device)
        labels = self.labels[index]
        if self.collage is not None and torch.rand((), generator=picks).item() < s.collage:
            images = self.collage(labels[:, 0], local)  # a wall of one category: no finer label
            labels = torch.cat([labels[:, :1], torch.full_like(labels[:, 1:], -1)], dim=1)
        else:
            images = self.images[index].float() / 127.5 - 1
        since = self.progress.images - (self.progress.restarts[-1]["images"] if self.progress.restarts else 0)
        lr = s.lr * min(1.0, (since + s.batch) / max(s.warmup_images, 1),  # a restart warms up again
                        decay_factor(s, self.progress.images))
        self.lr = lr
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group["lr_scale"]
        with autocast(self.precision, self.device):
            losses = edm_losses(self.forward, images, labels, active, s, self.model.config.sigma_data, local)
        loss = torch.stack([x for x in losses if x is not None]).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), s.grad_clip or math.inf))
        self.optimizer.step()
        self.progress.step += 1
        self.progress.images += s.batch
        self.update_ema()
        return [None if x is None else x.item() for x in losses]

    @torch.no_grad()
    def time_embedding_norm(self) -> float:
        """The timestep embedding's size at the median noise level trained, for the log: its growth is how the
        48-emoji run went bad (see TrainSettings.time_lr_scale)."""
        sigma = torch.tensor([math.exp(self.settings.p_mean)], device=self.device)
        return self.model.noise_embedding(sigma).norm().item()

    @torch.no_grad()
    def update_ema(self) -> None:
        s = self.settings
        halflife = min(s.ema_halflife_images, self.progress.images * s.ema_rampup)
        beta = 0.5 ** (s.batch / max(halflife, 1e-8))
        for e, p in zip(self.ema.parameters(), self.model.parameters()):
            e.lerp_(p.detach(), 1 - beta)

    # -- saving and resuming ------------------------------------------------------------
    def save_state(self, elapsed: float, segment_images: int) -> Path:
        """Write RUN/state atomically (a temporary folder renamed into place)."""
        ema_dtype, moment_dtype = STATE_DTYPES[self.settings.state_precision]
        tmp = self.run / "state.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_sharded({k: v.detach().float().cpu() for k, v in self.model.state_dict().items()}, tmp, "weights")
        save_sharded({k: v.to(ema_dtype).cpu() for k, v in self.ema.state_dict().items()}, tmp, "ema")
        names = {id(p): n for n, p in self.model.named_parameters()}
        for moment in ("exp_avg", "exp_avg_sq"):
            tensors = {names[id(p)]: st[moment].to(moment_dtype).cpu()
                       for p, st in self.optimizer.state.items() if moment in st}
            save_sharded(tensors, tmp, moment)
        # a brick skipped by dropout takes no Adam step: the step count is per parameter
        save_sharded({names[id(p)]: st["step"].float().reshape(1).cpu() for p, st in self.optimizer.state.items()},
                     tmp, "adam_step")
        segments = self.progress.segments + [segment_record(self.device, elapsed, segment_images)]
        info = {"settings": asdict(self.settings), "step": self.progress.step, "images": self.progress.images,
                "segments": segments, "restarts": self.progress.restarts,
                "best_loss": [None if math.isinf(b) else b for b in self.progress.best_loss],  # JSON has no inf
                "config": self.model.config.to_dict()}
        (tmp / "trainer.json").write_text(json.dumps(info, indent=2))
        readable(tmp)
        final = self.run / "state"
        old = self.run / "state.old"
        shutil.rmtree(old, ignore_errors=True)
        stops = {signal.SIGINT, signal.SIGTERM}
        blocked = threading.current_thread() is threading.main_thread()
        if blocked:  # a stop between the two renames would leave no state (recover_state mends that too)
            signal.pthread_sigmask(signal.SIG_BLOCK, stops)
        try:
            if final.exists():
                final.rename(old)
            tmp.rename(final)
        finally:
            if blocked:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)
        shutil.rmtree(old, ignore_errors=True)
        return final

    @classmethod
    def resume(cls, run: Path, overrides: dict | None = None, **kwargs) -> "Trainer":
        state = run / "state"
        info = json.loads((state / "trainer.json").read_text())
        settings = TrainSettings(**{**info["settings"], **(overrides or {})})
        progress = Progress(info["step"], info["images"], info["segments"], info.get("restarts", []),
                            [math.inf if b is None else b for b in info.get("best_loss", [])])
        trainer = cls(settings, run, progress, **kwargs)
        trainer.keep_chosen_classes(LegoConfig.from_dict(info["config"]))
        trainer.model.load_state_dict(load_sharded(state, "weights"))
        ema = load_sharded(state, "ema")
        trainer.ema.load_state_dict({k: v.float() for k, v in ema.items()})
        params = dict(trainer.model.named_parameters())
        moments = {m: load_sharded(state, m) for m in ("exp_avg", "exp_avg_sq", "adam_step")}
        position = {id(p): i for i, p in enumerate(p for g in trainer.optimizer.param_groups for p in g["params"])}
        optim_state = {}
        for name, p in params.items():
            if name in moments["exp_avg"] and id(p) in position:  # not a part frozen in this segment
                optim_state[position[id(p)]] = {"step": moments["adam_step"][name].reshape(()).clone(),
                                  "exp_avg": moments["exp_avg"][name].float().to(p.device),
                                  "exp_avg_sq": moments["exp_avg_sq"][name].float().to(p.device)}
        trainer.optimizer.load_state_dict({"state": optim_state,
                                           "param_groups": trainer.optimizer.state_dict()["param_groups"]})
        return trainer

    def restart_from_ema(self, lr_before: float) -> None:
        """Raw weights set to their average and a fresh optimiser that warms up again: the way on for
        a run whose raw weights diverged while the average, which checkpoints ship, stayed good."""
        self.model.load_state_dict(self.ema.state_dict())
        self.optimizer.state.clear()
        s = self.settings
        self.progress.restarts.append({"images": self.progress.images, "lr_before": lr_before, "lr": s.lr,
                                       "grad_clip": s.grad_clip, "time_lr_scale": s.time_lr_scale})

    # -- the loop ---------------------------------------------------------------------------
    def fit(self, max_images: float, max_minutes: float = math.inf, save_minutes: float = 5.0,
            sample_every: int = 0, log_every: int = 20, quiet: bool = False, divergence: float = 3.0) -> None:
        """Train until the run has seen ``max_images`` images, or until the next step would end
        after ``max_minutes`` (judged by the last step's time). A brick's smoothed loss above
        ``divergence`` times its best in the run raises Diverged without saving (0: never);
        a periodic save waits while any is above 1.5 times its best, so the state on disk is from
        before a rise."""
        start = last_save = time.perf_counter()
        start_images = self.progress.images
        main = self.rank == 0
        if main:
            self.run.mkdir(parents=True, exist_ok=True)
        log = (self.run / "log.jsonl").open("a") if main else None
        n = self.model.num_bricks
        smoothed: list[float | None] = [None] * n
        if len(self.progress.best_loss) != n:
            self.progress.best_loss = [math.inf] * n
        best = self.progress.best_loss  # over the run, kept in the state, so a slow rise across segments shows
        seen = [0] * n
        steps_left = (max(0, math.ceil((max_images - self.progress.images) / self.settings.batch))
                      if math.isfinite(max_images) else None)
        bar = tqdm(total=steps_left, unit="step", disable=quiet or not main, file=sys.stderr, mininterval=1.0)
        next_sample = (self.progress.images // sample_every + 1) * sample_every if sample_every else None
        self.saved_images = start_images if (self.run / "state" / "trainer.json").is_file() else None

        def save() -> None:
            if main:
                self.save_state(time.perf_counter() - start, self.progress.images - start_images)
            self.saved_images = self.progress.images

        last_step = 0.0
        unlogged: dict | None = None  # the last step's log line, while not written (its cheap fields)

        def log_line(entry: dict) -> None:  # the timestep embedding's norm only here: it waits for the device
            log.write(json.dumps({**entry, "t_norm": round(self.time_embedding_norm(), 2)}) + "\n")
            log.flush()

        try:
            while self.progress.images < max_images:
                if (time.perf_counter() - start + last_step) / 60 > max_minutes:
                    break
                step_start = time.perf_counter()
                losses = self.train_step()
                last_step = time.perf_counter() - step_start
                for k, value in enumerate(losses):
                    if value is not None:
                        smoothed[k] = value if smoothed[k] is None else 0.95 * smoothed[k] + 0.05 * value
                        seen[k] += 1
                        if seen[k] >= SETTLE_STEPS:
                            best[k] = min(best[k], smoothed[k])
                settled = [v if c >= SETTLE_STEPS else None for v, c in zip(smoothed, seen)]
                # the first process judges by its own losses (no collective a step); a launcher such as
                # torchrun stops the others when it ends
                why = divergence_reason(losses, settled, best, divergence) if divergence and main else None
                if why:
                    raise Diverged(f"{why} at {self.progress.images:,} images")
                elapsed = time.perf_counter() - start
                rate = (self.progress.images - start_images) / max(elapsed, 1e-9)
                bar.update(1)
                bar.set_postfix_str(f"{rate:.0f} img/s, smoothed loss " + ", ".join(  # '-': not trained yet
                    f"B{k} " + ("-" if v is None else f"{v:.3f}") for k, v in enumerate(smoothed)))
                entry = {"step": self.progress.step, "images": self.progress.images, "images_per_s": round(rate, 1),
                         "brick_loss": losses, "grad_norm": round(self.grad_norm, 4), "lr": self.lr}
                unlogged = entry if main and self.progress.step % log_every != 0 else None
                if main and unlogged is None:
                    log_line(entry)
                if main and next_sample is not None and self.progress.images >= next_sample:
                    self.sample_grid(self.run / "samples" / f"{self.progress.images:09d}.png")
                    next_sample += sample_every
                healthy = all(v is None or v <= 1.5 * b for v, b in zip(settled, best))
                if (time.perf_counter() - last_save) / 60 >= save_minutes and healthy:
                    save()
                    last_save = time.perf_counter()
        except KeyboardInterrupt:
            save()  # an interrupted segment keeps its progress; other errors keep the last good state
            raise
        else:
            save()
        finally:
            bar.close()
            if log is not None:
                # a saved segment's last step is logged too, so a short one has a line; a diverged one's is not
                if unlogged is not None and self.saved_images == self.progress.images:
                    log_line(unlogged)
                log.close()

    def sample_grid(self, path: Path, seeds: int = 2, steps: int = 12) -> None:
        """One row per category from the EMA weights."""
        n = self.model.config.label_space().sizes[0]
        labels = [c for c in range(n) for _ in range(seeds)]
        result = sample(self.ema, list(range(len(labels))), labels, SamplerSettings(steps=steps, guidance=2.0),
                        precision=self.precision)
        path.parent.mkdir(parents=True, exist_ok=True)
        grid(to_pil(result.images), columns=seeds).save(path)


def save_sharded(tensors: dict[str, torch.Tensor], folder: Path, prefix: str) -> None:
    """safetensors files of at most SHARD_BYTES each (a larger tensor gets a file of its own):
    prefix-00.safetensors, prefix-01..."""
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, tensor in tensors.items():
        nbytes = tensor.numel() * tensor.element_size()
        if shards[-1] and size + nbytes > SHARD_BYTES:
            shards.append({})
            size = 0
        shards[-1][name] = tensor.contiguous()
        size += nbytes
    for i, shard in enumerate(shards):
        save_file(shard, str(folder / f"{prefix}-{i:02d}.safetensors"))


def load_sharded(folder: Path, prefix: str) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    files = sorted(folder.glob(f"{prefix}-*.safetensors"))
    if not files:
        raise FileNotFoundError(f"no {prefix}-*.safetensors in {folder}")
    for f in files:
        out.update(load_file(str(f)))
    return out


def segment_record(device: torch.device, seconds: float, images: int) -> dict:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU x{torch.get_num_threads()}"
    return {"device": name, "host": socket.gethostname(), "seconds": round(seconds, 1), "images": images}


def hardware_summary(segments: list[dict]) -> str:
    """Hours and images per device, in the order the devices were first used (for the model card)."""
    per_device: dict[str, list[float]] = {}
    for seg in segments:
        total = per_device.setdefault(seg["device"], [0.0, 0])
        total[0] += seg["seconds"] / 3600
        total[1] += seg["images"]
    return ", ".join(f"{hours:.2f} h on {device} ({images:,} images)"
                     for device, (hours, images) in per_device.items())


def run_command(run: Path, settings: dict) -> str:
    """The command that trains ``run`` with ``settings``: the options that differ from the defaults."""
    default = asdict(TrainSettings())
    flags = []
    for key, value in settings.items():
        if key not in default or value == default[key] or value is False:  # a switch is given only when on
            continue
        flag = "--" + key.replace("_", "-")
        flags.append(flag if value is True else f"{flag} {value:g}" if isinstance(value, float) else f"{flag} {value}")
    return " ".join(["python -m lego.train run --run-dir", str(run), *flags])


def rate_note(part: str, scale: float) -> str:
    """The model card's words for a learning-rate scale other than 1."""
    if scale == 1.0:
        return ""
    return f"; the {part} was frozen" if scale == 0 else f"; the {part} learnt at {scale:g} times the rate"


def fine_tuned_from(init: Path, out: Path) -> str:
    """The card's line on where a fine-tune started. Exported over the checkpoint it started from, the card
    keeps that checkpoint's own training, which the new card replaces."""
    card = out / CARD_FILE
    if out.resolve() != init.resolve() or not card.is_file():
        return f"- Fine-tuned from `{init}` (see its model card for how that was trained).\n"
    earlier = card.read_text(encoding="utf-8").partition("## Training\n")[2].partition("\n## ")[0].strip()
    return ("- Fine-tuned from the weights this checkpoint held before, trained as follows:\n"
            + "".join(f"  {line}\n" for line in earlier.splitlines() if line.strip()))


def export(run: Path, out: Path, dtype: str = "float16", metrics: dict | None = None, samples: Path | None = None,
           samples_caption: str = "Samples", replace: bool = False) -> Path:
    """The EMA weights as a checkpoint directory with a model card (and a picture of samples, copied in). A
    checkpoint already at ``out`` (a bundled model, which the app serves) is replaced only with ``replace``."""
    state = run / "state"
    if not (state / "trainer.json").is_file():
        raise CheckpointError(f"no saved training state in {run} (its state/trainer.json): train it first with "
                              f"python -m lego.train run --run-dir {run}")
    if (out / WEIGHTS_FILE).exists() and not replace:
        raise CheckpointError(f"{out} already holds a checkpoint: give another --out, or --replace to write over it "
                              "(judge the new weights first: python -m lego.metrics evaluate)")
    info = json.loads((state / "trainer.json").read_text())
    model = LegoModel(LegoConfig.from_dict(info["config"]))
    model.load_state_dict({k: v.float() for k, v in load_sharded(state, "ema").items()})
    s = info["settings"]
    restarted = bool(info.get("restarts"))  # settings changed on the way: ``s`` are the last segment's
    first_lr = info["restarts"][0]["lr_before"] if restarted else s["lr"]
    training = (
        "## Training\n\n"
        f"- {info['images']:,} training images seen ({info['step']:,} steps, last batch size {s['batch']}): "
        f"{hardware_summary(info['segments'])}.\n"
        f"- EDM loss on every brick, brick dropout {s['brick_dropout']}, label dropout {s['label_dropout']}, "
        f"AdamW lr {first_lr:g}, EMA half-life {s['ema_halflife_images']:,.0f} images; weights are the EMA.\n"
        f"- Data: {provenance(s['data']).removesuffix('.')}"
        + (f"; of these, only the {model.config.label_space().sizes[-1]} emoji listed in `{s['emoji']}`"
           if s.get("emoji") else "") + ".\n"
        f"- Labels: {model.config.label_space().summary()}; left out together with probability {s['label_dropout']} "
        f"(the unconditional input of guidance) and each on its own with probability {s.get('level_dropout', 0)}"
        + rate_note("label embedder", s.get("label_lr_scale", 1.0))
        + rate_note("timestep embedder", s.get("time_lr_scale", 1.0))
        + (" (the last segment's settings)" if restarted else "") + ".\n"
        f"- Reproduce: `python -m lego.data build`, then `{run_command(run, s)}`"
        + (", the last segment's command (the restarts below say how earlier segments differed; "
           if restarted else " (") + "a run resumes from its state in the run folder when it has one).\n"
    )
    for r in info.get("restarts", []):
        training += (f"- At {r['images']:,} images its raw weights had diverged, and the run went on from its averaged "
                     f"(EMA) weights with a fresh optimiser at lr {r['lr']:g}"
                     + (f", the gradient norm clipped to {r['grad_clip']:g}" if r["grad_clip"] else "")
                     + (", the timestep embedder frozen" if r.get("time_lr_scale") == 0 else "") + ".\n")
    if math.isfinite(end := decay_end(TrainSettings(**s))):
        training += (f"- The rate fell linearly to zero from {s['decay_start']:,.0f} images to {end:,.0f}"
                     " (a cool-down).\n")
    if s.get("init"):
        training += fine_tuned_from(Path(s["init"]), out)
    if s.get("collage"):
        cells = f"{s.get('collage_cell_min', 20)}-{s.get('collage_cell_max', 36)} px apart"
        training += (f"- {s['collage']:.0%} of the steps on 64x64 crops of emoji collages (a wall of one category's "
                     f"emoji, {cells}, on a pastel background), so that canvases larger than 64x64 continue the "
                     "picture.\n")
    if not s.get("init") and all(seg["device"].startswith("CPU") for seg in info["segments"]):
        training += ("- Trained on a CPU only, a small fraction of what this model needs (recognisable emoji take "
                     "millions of images): expect coloured blobs in the category's palette rather than emoji.\n")
    if metrics:
        training += "\n## Evaluation\n\n" + metrics.get("markdown", "") + "\n"
    if samples:
        training += f"\n## Samples\n\n![{samples_caption}](samples.png)\n"
    credits = ("## Licences and credits\n\nCode: see the repository. The training images, and so the "
               "pictures this model makes, derive from: " + "; ".join(data_credits(s["data"])) + ".\n")
    path = save_checkpoint(model, out, dtype=dtype, card={"training": training, "credits": credits})
    if samples:
        shutil.copyfile(samples, path / "samples.png")
    return path


def _distributed() -> tuple[int, int, torch.device | None]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, None
    use_cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if use_cuda else "gloo")
    rank, local = dist.get_rank(), int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device("cuda", local) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    return rank, world, device


def recover_state(run: Path) -> str | None:
    """A save cut short between its two renames leaves no RUN/state but a complete state.tmp (its
    trainer.json is written last) or state.old: put the newest back; the name it came from, or None."""
    final = run / "state"
    if (final / "trainer.json").is_file():
        return None
    for candidate in (run / "state.tmp", run / "state.old"):
        if (candidate / "trainer.json").is_file():
            shutil.rmtree(final, ignore_errors=True)
            candidate.rename(final)
            return candidate.name
    return None


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    # SIGTERM (a job runner's stop) and SIGINT (even when a background shell ignores it) save the state first
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _interrupt)
    parser = argparse.ArgumentParser(prog="python -m lego.train", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="train, resuming from RUN/state when it exists")
    r.add_argument("--run-dir", dest="run", type=Path, required=True,
                   help="the run's folder: its state, log and samples (a run resumes from its state)")
    r.add_argument("--images", type=float, default=math.inf,
                   help="train this many more images in this segment, counted from where the run stands "
                        "(default: no limit; without any of these three limits a run trains until stopped, and "
                        "Ctrl-C saves it)")
    r.add_argument("--max-images", type=float, default=math.inf,
                   help="stop when the run has seen this many images in all (default: no limit)")
    r.add_argument("--max-minutes", type=float, default=math.inf,
                   help="stop this segment before so long has passed (the step that would cross it is not started; "
                        "default: no limit)")
    r.add_argument("--save-minutes", type=float, default=5.0, help="minutes between saves of the state (default 5)")
    r.add_argument("--sample-every", type=int, default=0,
                   help="images between sample grids in RUN/samples (default 0: none)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument("--divergence", type=float, default=3.0,
                   help="stop without saving when a brick's smoothed loss rises above this many times its best "
                        "(default 3; 0 = never)")
    r.add_argument("--from-ema", action="store_true",
                   help="resume with the raw weights set to their average (EMA) and a fresh optimiser that warms "
                        "up again: for a run that diverged; give a lower --lr or a --grad-clip with it")
    for name, f in TrainSettings.__dataclass_fields__.items():
        flag = "--" + name.replace("_", "-")
        if f.type in ("bool", bool):
            r.add_argument(flag, action="store_true", default=None, help=f.metadata["help"])
        else:  # None: not given, so a resumed run keeps its saved value
            shown = f"{f.default:g}" if isinstance(f.default, float) else repr(f.default) if f.default != "" else "none"
            r.add_argument(flag, type=type(f.default), default=None, choices=f.metadata["choices"] or None,
                           help=f"{f.metadata['help']} (new runs: {shown})")
    e = sub.add_parser("export", help="write the EMA weights as a checkpoint directory")
    e.add_argument("--run-dir", dest="run", type=Path, required=True, help="the run's folder, as given to run")
    e.add_argument("--out", type=Path, required=True,
                   help="the checkpoint directory to write (config.json, model.safetensors, a model card)")
    e.add_argument("--replace", action="store_true",
                   help="write over a checkpoint already at --out, such as a bundled one the app serves")
    e.add_argument("--dtype", default="float16", choices=["float16", "bfloat16", "float32"],
                   help="how the weights are stored (default float16: half the size, outputs within about 1e-3)")
    e.add_argument("--metrics", type=Path, help="JSON from python -m lego.metrics to put on the model card")
    e.add_argument("--samples", type=Path, help="a PNG of samples to show on the model card (copied in)")
    e.add_argument("--samples-caption", default="Samples", help="what the picture shows (default 'Samples')")
    args = parser.parse_args(argv)

    if args.command == "export":
        try:
            metrics = json.loads(args.metrics.read_text()) if args.metrics else None
            print(export(args.run, args.out, args.dtype, metrics, args.samples, args.samples_caption, args.replace))
        except (CheckpointError, OSError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    given = {k: getattr(args, k) for k in TrainSettings.__dataclass_fields__ if getattr(args, k) is not None}
    rank, world, device = _distributed()
    if rank == 0 and (recovered := recover_state(args.run)):
        print(f"resuming from {args.run / recovered}: the last save was interrupted", file=sys.stderr)
    if world > 1:
        dist.barrier()
    state = args.run / "state" / "trainer.json"
    try:
        if state.is_file():
            saved = json.loads(state.read_text())["settings"]
            if "arch" in given and given["arch"] != saved["arch"]:
                raise ValueError(f"{args.run} trains {saved['arch']}, not {given['arch']}")
            trainer = Trainer.resume(args.run, given, device=device, rank=rank, world=world)
            if args.from_ema:
                trainer.restart_from_ema(saved["lr"])
        elif args.from_ema:
            raise ValueError(f"--from-ema restarts a run from its saved state, and {args.run} has none")
        else:
            trainer = Trainer(TrainSettings(**given), args.run, device=device, rank=rank, world=world)
    except (ValueError, DataError, CheckpointError) as exc:  # settings that cannot train: say why before any step
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if "decay_images" in given and "decay_start" not in given and math.isinf(trainer.settings.decay_start):
        trainer.settings.decay_start = float(trainer.progress.images)  # a cool-down given alone starts now
        if rank == 0:
            print(f"the rate falls to zero from {trainer.progress.images:,} images (where the run stands) to "
                  f"{decay_end(trainer.settings):,.0f}", file=sys.stderr)
    target = min(args.max_images, trainer.progress.images + args.images, decay_end(trainer.settings))
    if args.max_minutes <= 0:
        print(f"error: nothing to train: --max-minutes is {args.max_minutes:g}", file=sys.stderr)
        return 2
    if trainer.progress.images >= decay_end(trainer.settings):
        print(f"error: nothing to train: the run's rate fell to zero at {decay_end(trainer.settings):,.0f} images "
              "(--decay-start and --decay-images); it is finished", file=sys.stderr)
        return 2
    if trainer.progress.images >= target:
        print(f"error: nothing to train: the run has seen {trainer.progress.images:,} images and --max-images is "
              f"{args.max_images:,.0f}; raise it, or give --images for this segment", file=sys.stderr)
        return 2
    began, began_images = time.perf_counter(), trainer.progress.images
    try:
        trainer.fit(target, args.max_minutes, args.save_minutes, args.sample_every, quiet=args.quiet,
                    divergence=args.divergence)
    except Diverged as exc:
        if rank == 0:
            kept = (f"the state in {args.run / 'state'} is from {trainer.saved_images:,} images (a save waits while "
                    "a loss is above 1.5 times its best)" if trainer.saved_images is not None else "nothing was saved")
            print(f"error: the run diverged: {exc}; {kept}. Resume it with a lower --lr or a --grad-clip, and with "
                  "--from-ema when the raw weights had gone bad already", file=sys.stderr)
        return 3
    except KeyboardInterrupt as exc:  # Ctrl-C or a job runner's stop: the state was saved, nothing went wrong
        if rank == 0:
            print(f"stopped ({exc or 'interrupted'}): {trainer.progress.images:,} images are saved in "
                  f"{args.run / 'state'}; the same command resumes", file=sys.stderr)
        return 130
    if rank == 0:
        done, minutes = trainer.progress.images - began_images, (time.perf_counter() - began) / 60
        print(f"trained {done:,} images in {minutes:.1f} min; the run has seen {trainer.progress.images:,}, saved in "
              f"{args.run / 'state'} (the same command goes on from there). To use the weights: python -m "
              f"lego.train export --run-dir {args.run} --out checkpoints/NAME", file=sys.stderr)
    if world > 1:
        dist.barrier()  # every rank's last messages delivered (and the state saved) before the group goes
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
