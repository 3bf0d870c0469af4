"""The LEGO stack: DiT bricks on local regions, EDM preconditioning, per-brick skipping.

Module and parameter names follow the authors' released code (``model.{i}.x_embedder.proj``,
``model.{i}.blocks.{j}.attn.qkv``, ``t_embedder.mlp.0``, ``y_embedder.embedding_table`` ...) so
that published weights map onto this network by renaming at most a few keys.

What a brick receives (the skipping contract):
- brick 0 gets ``[c_in * x, coords]``;
- brick k > 0 gets ``[F, c_in * x, coords]`` where ``F`` is the raw output of the nearest
  active brick below it; when no brick below it ran, ``F`` is all zeros (which, through EDM's
  preconditioning, is the estimate ``D = c_skip * x``). Training with brick dropout covers
  exactly these inputs.
- The step's denoised estimate is that of the last (topmost) active brick.
"""

import contextlib
import functools
import time
from collections.abc import Sequence
from importlib.resources import files

import torch
import torch.nn.functional as F
from einops import rearrange
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from .canvas import Canvas, blend_weights, coordinates, window_starts
from .config import LegoConfig
from .positions import learned_on_grid, sincos_2d

# Attention over at most this many tokens is done with explicit matrix products: fused
# kernels gain nothing on such tiny spans and some reject tens of thousands of sequences.
TINY_ATTENTION_TOKENS = 64


class NoActiveBrickError(ValueError):
    """A network evaluation was asked to run with every brick switched off."""


class TimestepEmbedder(nn.Module):
    """Embeds EDM's c_noise = ln(sigma)/4 (sin-cos features, then an MLP)."""

    def __init__(self, hidden_size: int, frequency_size: int = 256) -> None:
        super().__init__()
        self.frequency_size = frequency_size
        self.mlp = nn.Sequential(nn.Linear(frequency_size, hidden_size), nn.SiLU(), nn.Linear(hidden_size, hidden_size))

    def forward(self, c_noise: torch.Tensor) -> torch.Tensor:
        half = self.frequency_size // 2
        freqs = (1.0 / 10000) ** (torch.arange(half, dtype=torch.float32, device=c_noise.device) / half)
        args = c_noise.float().reshape(-1, 1) * freqs
        return self.mlp(torch.cat([args.cos(), args.sin()], dim=1))


class LabelEmbedder(nn.Module):
    """Linear map over multi-hot labels: the sum of the given classes' embeddings.

    ``labels`` is (B,) or (B, levels) of class indices, -1 where a level is left out; a row of
    only -1 is the unconditional input (the bias alone)."""

    def __init__(self, num_classes: int, hidden_size: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.embedding_table = nn.Linear(num_classes, hidden_size)

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        labels = labels.reshape(labels.shape[0], -1)
        hot = torch.zeros(labels.shape[0], self.num_classes, device=labels.device)
        hot.scatter_add_(1, labels.clamp(min=0), (labels >= 0).float())
        return self.embedding_table(hot.to(self.embedding_table.weight.dtype))


class PatchEmbed(nn.Module):
    """One linear map per p x p patch (a strided convolution over the whole canvas)."""

    def __init__(self, in_channels: int, hidden_size: int, patch: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, hidden_size, kernel_size=patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class Attention(nn.Module):
    def __init__(self, hidden_size: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(hidden_size, 3 * hidden_size)
        self.proj = nn.Linear(hidden_size, hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (sequences, tokens, hidden); attention never crosses a sequence (a region).
        n, t, d = x.shape
        q, k, v = self.qkv(x).reshape(n, t, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        if t <= TINY_ATTENTION_TOKENS:
            weights = (q @ k.transpose(-2, -1)) * (q.shape[-1] ** -0.5)
            out = weights.softmax(dim=-1) @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(n, t, d))


class Mlp(nn.Module):
    def __init__(self, hidden_size: int, mlp_ratio: float) -> None:
        super().__init__()
        inner = int(hidden_size * mlp_ratio)
        self.fc1 = nn.Linear(hidden_size, inner)
        self.fc2 = nn.Linear(inner, hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


def per_image(mod: torch.Tensor) -> torch.Tensor:
    """(B, D) modulation -> (B, 1, 1, D): computed once per image, broadcast over regions and tokens."""
    return mod[:, None, None, :]


class DiTBlock(nn.Module):
    """Transformer block with adaLN-Zero conditioning, applied to every region independently."""

    def __init__(self, hidden_size: int, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(hidden_size, num_heads)
        self.norm2 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(hidden_size, mlp_ratio)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 6 * hidden_size))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        # x: (B, regions, tokens, D); c: (B, D)
        shift1, scale1, gate1, shift2, scale2, gate2 = map(per_image, self.adaLN_modulation(c).chunk(6, dim=1))
        b, r, t, d = x.shape
        h = modulate(self.norm1(x), shift1, scale1)
        x = x + gate1 * self.attn(h.reshape(b * r, t, d)).reshape(b, r, t, d)
        return x + gate2 * self.mlp(modulate(self.norm2(x), shift2, scale2))


class FinalLayer(nn.Module):
    def __init__(self, hidden_size: int, patch: int, out_channels: int) -> None:
        super().__init__()
        self.norm_final = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(hidden_size, patch * patch * out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 2 * hidden_size))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = map(per_image, self.adaLN_modulation(c).chunk(2, dim=1))
        return self.linear(modulate(self.norm_final(x), shift, scale))


class Brick(nn.Module):
    """A DiT over non-overlapping regions: full-resolution image in, full-resolution image out."""

    # Regions are independent, so a huge canvas is processed this many tokens at a time.
    max_chunk_tokens = 2**17

    def __init__(self, in_channels: int, out_channels: int, hidden_size: int, num_heads: int,
                 mlp_ratio: float, region: int, patch: int, depth: int, learned_positions: bool = False) -> None:
        super().__init__()
        self.region, self.patch, self.out_channels = region, patch, out_channels
        self.learned_positions = learned_positions
        self.x_embedder = PatchEmbed(in_channels, hidden_size, patch)
        grid = region // patch
        # the fixed table is recomputed at load; a learned one (lego.positions) is stored with the weights
        self.register_buffer("pos_embed", sincos_2d(hidden_size, grid, grid), persistent=learned_positions)
        self.blocks = nn.ModuleList(DiTBlock(hidden_size, num_heads, mlp_ratio) for _ in range(depth))
        self.final_layer = FinalLayer(hidden_size, patch, out_channels)

    def position_table(self, grid_h: int, grid_w: int, coords: str = "repeat") -> torch.Tensor:
        """The trained table for the region grid, or one for a larger grid (global mode; see lego.positions)."""
        g = self.region // self.patch
        if (grid_h, grid_w) == (g, g):
            return self.pos_embed
        if self.learned_positions:
            return learned_on_grid(self.pos_embed, g, grid_h, grid_w, coords)
        return _sincos_table(self.pos_embed.shape[1], grid_h, grid_w, self.pos_embed.device)

    def transform(self, tokens: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Blocks and final layer on (B, regions, tokens, D), a chunk of regions at a time."""
        b, regions, t, _ = tokens.shape
        per_chunk = max(1, self.max_chunk_tokens // max(1, b * t))
        outs = []
        for chunk in tokens.split(per_chunk, dim=1):
            for block in self.blocks:
                chunk = block(chunk, c)
            outs.append(self.final_layer(chunk, c))
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)

    def forward(self, x: torch.Tensor, c: torch.Tensor, region: tuple[int, int] | None = None,
                coords: str = "repeat") -> torch.Tensor:
        """Tile the canvas into regions (``region`` = (height, width), default the trained square);
        ``coords`` is the canvas's coordinate mode, which places a learned table on a larger region."""
        _, _, height, width = x.shape
        rh, rw = region or (self.region, self.region)
        gh, gw = rh // self.patch, rw // self.patch
        tokens = rearrange(self.x_embedder(x), "b d (nh gh) (nw gw) -> b (nh nw) (gh gw) d", gh=gh, gw=gw)
        tokens = tokens + self.position_table(gh, gw, coords).to(tokens.dtype)
        out = self.transform(tokens, c)
        return rearrange(out, "b (nh nw) (gh gw) (ph pw c) -> b c (nh gh ph) (nw gw pw)",
                         nh=height // rh, gh=gh, gw=gw, ph=self.patch, pw=self.patch)

    def forward_windows(self, x: torch.Tensor, c: torch.Tensor, starts_y: list[int], starts_x: list[int],
                        weights: torch.Tensor) -> torch.Tensor:
        """Region-size windows at the given origins, outputs blended with ``weights`` (they sum to one)."""
        b, _, height, width = x.shape
        r, g = self.region, self.region // self.patch
        origins = [(y, xx) for y in starts_y for xx in starts_x]
        crops = torch.stack([x[:, :, y:y + r, xx:xx + r] for y, xx in origins], dim=1)  # (B, n, C, r, r)
        tokens = rearrange(self.x_embedder(crops.flatten(0, 1)), "(b n) d gh gw -> b n (gh gw) d", b=b)
        out = self.transform(tokens + self.pos_embed.to(tokens.dtype), c)
        out = rearrange(out, "b n (gh gw) (ph pw c) -> b n c (gh ph) (gw pw)", gh=g, ph=self.patch, pw=self.patch)
        canvas = out.new_zeros(b, self.out_channels, height, width)
        weights = weights.to(out.device, out.dtype)
        for k, (y, xx) in enumerate(origins):
            canvas[:, :, y:y + r, xx:xx + r] += out[:, k] * weights[k]
        return canvas


def _config_encode(config: LegoConfig) -> dict:
    return config.to_dict()


class LegoModel(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="lego-playground",
    tags=["diffusion", "lego", "image-generation"],
    paper_url="https://arxiv.org/abs/2310.06389",
    model_card_template=files("lego").joinpath("model_card.md").read_text(encoding="utf-8"),
    coders={LegoConfig: (_config_encode, LegoConfig.from_dict)},
):
    """A stack of LEGO bricks with EDM preconditioning; any subset of bricks can run."""

    def __init__(self, config: LegoConfig) -> None:
        super().__init__()
        self.config = config  # the annotation lets the Hub mixin decode config.json into a LegoConfig
        c, d = config.channels, config.hidden_size
        self.model = nn.ModuleList(
            Brick(c + 2 if i == 0 else 2 * c + 2, c, d, config.num_heads, config.mlp_ratio, b.region, b.patch, b.depth,
                  config.learned_positions)
            for i, b in enumerate(config.bricks)
        )
        self.t_embedder = TimestepEmbedder(d)
        # an unconditional model has no label embedder, as in the authors' code (their label_dim 0)
        self.y_embedder = LabelEmbedder(config.num_classes, d) if config.conditional else None
        self.compiled = False  # set by lego.compiled.compile_bricks on an inference copy
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """DiT's initialisation: xavier linears, zeroed adaLN and output layers."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        for brick in self.model:
            w = brick.x_embedder.proj.weight
            nn.init.xavier_uniform_(w.view(w.shape[0], -1))
            nn.init.zeros_(brick.x_embedder.proj.bias)
            for block in brick.blocks:
                nn.init.zeros_(block.adaLN_modulation[-1].weight)
                nn.init.zeros_(block.adaLN_modulation[-1].bias)
            for layer in (brick.final_layer.adaLN_modulation[-1], brick.final_layer.linear):
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)
        if self.y_embedder is not None:
            nn.init.normal_(self.y_embedder.embedding_table.weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)

    @property
    def num_bricks(self) -> int:
        return len(self.model)

    def for_inference(self, dtype: torch.dtype = torch.float32, compiled: bool = False) -> "LegoModel":
        """This model with its weights stored in ``dtype`` (and its bricks compiled), for inference.

        Autocast would otherwise cast every fp32 weight to bf16 on every call (6-13% of an
        evaluation on an AMX CPU, nothing measurable on an AVX512-BF16 one); the rounding is the
        same, so results are identical. ``compiled`` freezes the
        copy's weights into inductor graphs (``lego.compiled``). Copies are cached and rebuilt
        when any weight of this model changes in place (EMA updates, loading): the parameters' version counters
        say so, which writes through ``.data`` do not bump, so change weights in place or through ``no_grad``.
        """
        if next(self.parameters()).dtype == dtype and (self.compiled or not compiled):
            return self
        version = sum(p._version for p in self.parameters())
        cache = self.__dict__.setdefault("_inference_copies", {})  # not registered submodules
        if cache.get("version") != version:
            cache.clear()
            cache["version"] = version
        if (dtype, compiled) not in cache:
            copy_ = LegoModel(self.config).to(next(self.parameters()).device)
            copy_.load_state_dict(self.state_dict())
            copy_ = copy_.to(dtype).eval().requires_grad_(False)
            if compiled:
                from .compiled import compile_bricks

                compile_bricks(copy_.model)
                copy_.compiled = True
            cache[(dtype, compiled)] = copy_
        return cache[(dtype, compiled)]

    def inference_context(self) -> contextlib.AbstractContextManager:
        """Gradient-free context for sampling: inductor freezes weights only outside inference
        mode, so compiled copies use no_grad; eager is a little faster in inference mode."""
        return torch.no_grad() if self.compiled else torch.inference_mode()

    def noise_embedding(self, sigma: torch.Tensor) -> torch.Tensor:
        """The timestep embedder on EDM's c_noise = ln(sigma)/4: what every brick is conditioned on, before labels.
        Sigma 0 is taken as the smallest positive float, so that D(x; 0) = x (c_out is 0) rather than NaN."""
        return self.t_embedder(sigma.clamp_min(torch.finfo(sigma.dtype).tiny).log() / 4)

    def _run_brick(self, index: int, x: torch.Tensor, cond: torch.Tensor, canvas: Canvas, step: int) -> torch.Tensor:
        brick = self.model[index]
        _, _, height, width = x.shape
        mode = canvas.mode_for(self.config, index, height, width)
        if mode == "tiles":
            return brick(x, cond)
        if mode == "global":
            return brick(x, cond, region=(height, width), coords=canvas.coords)
        stride = canvas.window_stride(brick.region, brick.patch)
        offset = canvas.window_offset(stride, step)
        return brick.forward_windows(x, cond, *_window_plan(height, width, brick.region, stride, offset))

    def forward(
        self,
        x: torch.Tensor,
        sigma: torch.Tensor,
        labels: torch.Tensor | None = None,
        active: Sequence[bool] | None = None,
        return_all: bool = False,
        brick_seconds: list[float] | None = None,
        canvas: Canvas | None = None,
        step: int = 0,
    ) -> torch.Tensor | list[torch.Tensor | None]:
        """Denoise ``x`` at noise level ``sigma`` (shape (B,) or scalar).

        ``labels``: (B,) class indices or (B, levels) rows of them, -1 for "no class" (see
        ``lego.labels``); None for an unconditional model. ``active``: one bool per brick.
        Returns the denoised estimate of the top active brick, or with ``return_all`` one
        estimate per brick (None where the brick was skipped). ``brick_seconds``, when given,
        accumulates each brick's wall time (synchronised on CUDA). ``canvas`` says how full-image
        bricks and coordinates behave on a canvas larger than the training size; ``step`` drives
        the window shift of ``overlap``.
        """
        batch, _, height, width = x.shape
        self.config.check_canvas(height, width)
        active = [True] * self.num_bricks if active is None else list(active)
        if len(active) != self.num_bricks:
            raise ValueError(f"active has {len(active)} entries for {self.num_bricks} bricks")
        if not any(active):
            raise NoActiveBrickError("every brick is switched off: at least one brick must run at each step")
        if self.y_embedder is None and labels is not None:
            raise ValueError("this model is unconditional: it takes no labels")

        x = x.float()
        sigma = torch.as_tensor(sigma, dtype=torch.float32, device=x.device).reshape(-1).expand(batch)
        sd = self.config.sigma_data
        s = sigma.reshape(-1, 1, 1, 1)
        c_skip = skip_weight(s, sd)
        c_out = s * sd / (s**2 + sd**2).sqrt()
        c_in = 1 / (s**2 + sd**2).sqrt()
        cond = self.noise_embedding(sigma)
        if self.y_embedder is not None:
            no_class = torch.full((batch,), -1, dtype=torch.long, device=x.device)
            cond = cond + self.y_embedder(no_class if labels is None else labels)
        canvas = canvas or Canvas()
        coords = coordinates(height, width, self.config.image_size, canvas.coords, x.device)
        coords = coords.expand(batch, -1, -1, -1)
        x_in = torch.cat([c_in * x, coords], dim=1)

        timed = brick_seconds is not None
        outputs: list[torch.Tensor | None] = []
        previous: torch.Tensor | None = None
        for i in range(self.num_bricks):
            if not active[i]:
                outputs.append(None)
                continue
            start = wall_clock(x.device) if timed else 0.0
            if i == 0:
                inp = x_in
            else:
                prev = previous if previous is not None else torch.zeros_like(x)
                inp = torch.cat([prev.to(x_in.dtype), x_in], dim=1)
            previous = self._run_brick(i, inp, cond, canvas, step)
            outputs.append(previous)
            if timed:
                brick_seconds[i] += wall_clock(x.device) - start
        denoised = [None if f is None else c_skip * x + c_out * f.float() for f in outputs]
        if return_all:
            return denoised
        return next(d for d in reversed(denoised) if d is not None)


def skip_weight(sigma: float | torch.Tensor, sigma_data: float) -> float | torch.Tensor:
    """EDM's ``c_skip``: with every brick skipped the estimate is ``c_skip * x``; each brick adds ``c_out * F``."""
    return sigma_data**2 / (sigma**2 + sigma_data**2)


# Canvases beyond the training size reuse their window plans and position tables from step to step. The caches
# are bounded: every size a user may ask for would otherwise stay in memory for good (a 512x512 global table
# is about 15 MB).
@functools.lru_cache(maxsize=8)
def _sincos_table(dim: int, grid_h: int, grid_w: int, device: torch.device) -> torch.Tensor:
    return sincos_2d(dim, grid_h, grid_w).to(device)


@functools.lru_cache(maxsize=16)
def _window_plan(height: int, width: int, window: int, stride: int,
                 offset: int) -> tuple[list[int], list[int], torch.Tensor]:
    starts_y = window_starts(height, window, stride, offset)
    starts_x = window_starts(width, window, stride, offset)
    return starts_y, starts_x, blend_weights(height, width, window, starts_y, starts_x)


def wall_clock(device: torch.device) -> float:
    """Seconds, after waiting for queued CUDA work so that per-brick times are real."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def brick_parameters(model: LegoModel) -> list[int]:
    return [count_parameters(b) for b in model.model]


def shared_parameters(model: LegoModel) -> int:
    labels = 0 if model.y_embedder is None else count_parameters(model.y_embedder)
    return count_parameters(model.t_embedder) + labels


@functools.lru_cache(maxsize=16)
def parameter_counts(config: LegoConfig) -> tuple[tuple[int, ...], int]:
    """(per brick, shared) parameter counts of a config, from a model built on the meta device
    (no memory, no initialisation): cheap even for the paper's 0.45B-parameter models."""
    with torch.device("meta"):
        model = LegoModel(config)
    return tuple(brick_parameters(model)), shared_parameters(model)


__all__ = [
    "Brick", "LegoModel", "NoActiveBrickError", "skip_weight",
    "count_parameters", "brick_parameters", "parameter_counts", "shared_parameters"
]
