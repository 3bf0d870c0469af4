"""EDM sampling (Heun, Euler or DPM-Solver++(2M)) with classifier-free guidance and a brick schedule.

One network evaluation is one call of the model on the (guided) batch; at step ``i`` every
evaluation uses row ``i`` of the schedule's mask, the Heun corrector included.

DPM-Solver++(2M) (Lu et al. 2022) is the fast option: one evaluation per step, second order by
reusing the previous step's estimate, so 12-15 evaluations do roughly what Heun does in 35.
In EDM's parametrisation (x = image + sigma * noise) a step from sigma to sigma' with ratio
r = sigma'/sigma is ``x' = r x + (1 - r) D``, where D extrapolates the last two estimates in
log-sigma; its quality on our model is measured in assets/benchmarks/speed.json, not assumed.

Guidance may run only inside a noise interval (Kynkäänniemi et al. 2024, "Applying guidance in a limited
interval"): a step whose sigma lies outside it evaluates the conditional batch alone, half the work. At the
noisiest steps guidance pulls every sample of a class towards one layout, and at the cleanest it changes little.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field, replace

import torch

from .canvas import Canvas
from .model import LegoModel, wall_clock
from .precision import autocast, dtype_of, resolve_precision
from .schedule import BrickSchedule

METHODS = ("heun", "euler", "dpm++2m")
METHOD_NAMES = {"heun": "Heun", "euler": "Euler", "dpm++2m": "DPM-Solver++(2M)"}  # as people write them
MAX_STEPS = 1000
MAX_SIGMA = 1e4  # EDM starts at 80
# Rows x pixels per network call on a CPU: a large call's activations fall out of the cache. On a 2-core CPU in
# bf16, 32 default requests sampled together took 1.09-1.45x less time per preset in calls of 8 rows than in one
# call per step (benchmarks/throughput.py with and without --cpu-call-pixels 1e9).
CPU_CALL_PIXELS = 8 * 64 * 64


class SamplingCancelled(Exception):
    """Raised between network evaluations when ``should_stop`` returns True."""


@dataclass(frozen=True)
class SamplerSettings:
    steps: int = 18
    method: str = "heun"
    guidance: float = 1.0
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    rho: float = 7.0
    churn: float = 0.0
    churn_sigma_min: float = 0.05
    churn_sigma_max: float = 50.0
    churn_noise: float = 1.003
    # (low, high): guidance runs at the steps whose sigma is in (low, high]; None: at every step
    guidance_interval: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.steps, int) or isinstance(self.steps, bool) or not 1 <= self.steps <= MAX_STEPS:
            raise ValueError(f"steps must be an integer from 1 to {MAX_STEPS}, got {self.steps!r}")
        if self.method not in METHODS:
            raise ValueError(f"sampler must be one of {METHODS}, got {self.method!r}")
        for name in ("guidance", "sigma_min", "sigma_max", "rho", "churn", "churn_sigma_min", "churn_sigma_max",
                     "churn_noise"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        check_guidance(self.guidance)
        if self.rho <= 0:
            raise ValueError(f"rho must be > 0, got {self.rho}")
        if not 0 < self.sigma_min < self.sigma_max <= MAX_SIGMA:
            raise ValueError(f"need 0 < sigma_min < sigma_max <= {MAX_SIGMA:g} (far above any noise level a model "
                             f"is trained at), got {self.sigma_min:g} and {self.sigma_max:g}")
        try:
            finite = all(math.isfinite(s) for s in self.sigmas())
        except OverflowError:
            finite = False
        if not finite:
            raise ValueError(f"rho {self.rho:g} is too small for these noise levels: their schedule overflows")
        if self.churn < 0 or self.churn_noise < 0 or not 0 <= self.churn_sigma_min <= self.churn_sigma_max:
            raise ValueError("churn and churn_noise must be >= 0, and 0 <= churn_sigma_min <= churn_sigma_max")
        if self.churn > 0 and self.method == "dpm++2m":
            raise ValueError("churn works with the heun and euler samplers only")
        if self.guidance_interval is not None:
            interval = self.guidance_interval
            if (not isinstance(interval, (tuple, list)) or len(interval) != 2
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in interval)):
                raise ValueError(f"a guidance interval is two numbers (low, high), got {interval!r}")
            low, high = interval
            if not 0 <= low < high:
                raise ValueError(f"a guidance interval needs 0 <= low < high, got {self.guidance_interval}")

    def sigmas(self) -> list[float]:
        return sigma_steps(self.steps, self.sigma_min, self.sigma_max, self.rho)

    def guided_steps(self) -> list[bool]:
        """Whether guidance runs at each step (every evaluation of a step, Heun's corrector too, uses its start)."""
        if self.guidance_interval is None:
            return [True] * self.steps
        low, high = self.guidance_interval
        return [low < sigma <= high for sigma in self.sigmas()[:-1]]

    def evaluations_per_step(self) -> list[int]:
        """Network evaluations at each step (Heun's last step, to sigma 0, is a plain Euler step)."""
        if self.method != "heun":
            return [1] * self.steps
        return [2] * (self.steps - 1) + [1]


def check_guidance(scale: float) -> None:
    """A guidance scale the sampler can use: 0 draws unguided (unconditional), 1 conditional, more guides harder."""
    if not (math.isfinite(scale) and scale >= 0):
        raise ValueError(f"guidance must be a finite number >= 0, got {scale}")


def sigma_steps(steps: int, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0) -> list[float]:
    """EDM's noise levels: ``steps`` values from sigma_max down to sigma_min, then 0."""
    if steps == 1:
        return [sigma_max, 0.0]
    a, b = sigma_max ** (1 / rho), sigma_min ** (1 / rho)
    return [(a + i / (steps - 1) * (b - a)) ** rho for i in range(steps)] + [0.0]


@dataclass
class StepInfo:
    """What the per-step callback sees. Tensors are detached, on the model's device."""

    step: int
    steps: int
    sigma: float
    sigma_next: float
    active: list[bool]
    x: torch.Tensor  # the noisy state this step starts from (after churn)
    denoised: torch.Tensor  # the top active brick's (guided) estimate at x
    brick_denoised: list[torch.Tensor | None] | None  # every brick's estimate, when asked for
    brick_seconds: list[float]  # wall time of each brick during this step
    seconds: float  # wall time of the whole step

    def rows(self, start: int, stop: int) -> StepInfo:
        """The same step for images ``start`` to ``stop`` of the batch (views, no copies)."""
        bricks = None if self.brick_denoised is None else [None if b is None else b[start:stop]
                                                           for b in self.brick_denoised]
        return replace(self, x=self.x[start:stop], denoised=self.denoised[start:stop], brick_denoised=bricks)


@dataclass
class SampleResult:
    images: torch.Tensor  # (B, C, H, W), roughly in [-1, 1]
    seeds: list[int]
    mask: list[list[bool]]
    evaluations: list[int]
    step_seconds: list[float] = field(default_factory=list)
    brick_seconds: list[list[float]] = field(default_factory=list)
    precision: str = "fp32"
    guided: bool = False

    @property
    def seconds(self) -> float:
        return sum(self.step_seconds)


def _noise(generators: Sequence[torch.Generator], shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    # Drawn on the CPU, one generator per sample: a seed gives the same image on any device and in any batch.
    return torch.stack([torch.randn(shape, generator=g) for g in generators]).to(device)


def sample(
    model: LegoModel,
    seeds: Sequence[int],
    labels: Sequence[int | None] | None = None,
    settings: SamplerSettings = SamplerSettings(),
    schedule: BrickSchedule | None = None,
    height: int | None = None,
    width: int | None = None,
    precision: str = "fp32",
    callback: Callable[[StepInfo], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    brick_estimates: bool = False,
    canvas: Canvas | None = None,
    compiled: bool = False,
    guidance: Sequence[float] | None = None,
) -> SampleResult:
    """Generate one image per seed. ``labels[i]`` is a class index (which brings its parent levels
    along, see ``lego.labels``), a tuple of class indices (levels left out at will) or None, the only
    label of an unconditional model (which is never guided). ``guidance`` gives each image its own
    scale (``settings.guidance`` otherwise), so that requests from several users can share a batch."""
    steps = sample_steps(model, seeds, labels, settings, schedule, height, width, precision, should_stop,
                         brick_estimates, canvas, compiled, guidance)
    while True:
        try:
            info = next(steps)
        except StopIteration as done:
            return done.value
        if callback is not None:
            callback(info)


def sample_steps(
    model: LegoModel,
    seeds: Sequence[int],
    labels: Sequence[int | None] | None = None,
    settings: SamplerSettings = SamplerSettings(),
    schedule: BrickSchedule | None = None,
    height: int | None = None,
    width: int | None = None,
    precision: str = "fp32",
    should_stop: Callable[[], bool] | None = None,
    brick_estimates: bool = False,
    canvas: Canvas | None = None,
    compiled: bool = False,
    guidance: Sequence[float] | None = None,
) -> Generator[StepInfo, None, SampleResult]:
    """``sample`` as a generator: yields each step's StepInfo, returns the SampleResult.

    Closing the generator stops sampling after the current step; ``should_stop`` is checked
    before every network evaluation. Inputs are validated before the first evaluation.
    ``compiled`` runs the bricks as frozen inductor graphs (``lego.compiled``; the first call
    per shape compiles).
    """
    config = model.config
    device = next(model.parameters()).device
    height = config.image_size if height is None else height
    width = config.image_size if width is None else width
    config.check_canvas(height, width)
    (canvas or Canvas()).check(config, height, width)
    if bad := [s for s in seeds if isinstance(s, bool) or (isinstance(s, float) and not s.is_integer())]:
        raise ValueError(f"a seed is a whole number, got {bad[0]!r}")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("need at least one seed")
    if outside := [s for s in seeds if not -2**63 <= s < 2**64]:  # what a torch.Generator takes
        raise ValueError(f"a seed must be from -2**63 to 2**64 - 1, got {outside[0]}")
    labels = [None] * len(seeds) if labels is None else list(labels)
    if len(labels) != len(seeds):
        raise ValueError(f"{len(labels)} labels for {len(seeds)} seeds")
    space = config.label_space()
    rows = [space.row(label) for label in labels]
    schedule = BrickSchedule.all_on(config.num_bricks) if schedule is None else schedule
    schedule.check_bricks(config.num_bricks)
    mask = schedule.mask(settings.steps)
    precision = resolve_precision(precision, device)

    scales = [settings.guidance] * len(seeds) if guidance is None else [float(g) for g in guidance]
    if len(scales) != len(seeds):
        raise ValueError(f"{len(scales)} guidance scales for {len(seeds)} seeds")
    for scale in scales:  # each image's own, as SamplerSettings checks its
        check_guidance(scale)

    net = model.for_inference(dtype_of(precision), compiled)
    guided = any(g != 1.0 for g in scales) and any(max(row) >= 0 for row in rows)
    label_ids = torch.tensor(rows, device=device) if config.conditional else None
    if guided:
        label_ids = torch.cat([label_ids, torch.full_like(label_ids, -1)])
    # one scale per image: each image's arithmetic is the same whatever else shares its batch
    w = torch.tensor(scales, device=device).view(-1, 1, 1, 1)

    # on a CPU, a large batch runs a few rows at a time, so that activations stay in cache (see CPU_CALL_PIXELS)
    rows_per_call = max(1, CPU_CALL_PIXELS // (height * width)) if device.type == "cpu" else None

    guide_at = [guided and g for g in settings.guided_steps()]

    def combine(out: torch.Tensor, guide: bool) -> torch.Tensor:
        if not guide:
            return out
        cond, uncond = out.chunk(2)
        return uncond + w.to(out.dtype) * (cond - uncond)

    def denoise(x: torch.Tensor, sigma: float, active: list[bool], seconds: list[float], all_bricks: bool,
                step: int):
        if should_stop is not None and should_stop():
            raise SamplingCancelled("sampling was stopped")
        guide = guide_at[step]
        x_in = torch.cat([x, x]) if guide else x
        labels = None if label_ids is None else label_ids[:len(x_in)]  # unguided: the conditional rows only
        sigma_t = torch.tensor(sigma, device=device)
        parts, chunk = [], rows_per_call or len(x_in)
        with autocast(precision, device):
            for start in range(0, len(x_in), chunk):
                rows = slice(start, start + chunk)
                parts.append(net(x_in[rows], sigma_t, None if labels is None else labels[rows], active,
                                 return_all=all_bricks, brick_seconds=seconds, canvas=canvas, step=step))
        if all_bricks:
            per_brick = [None if p[0] is None else combine(torch.cat(p), guide) for p in zip(*parts)]
            top = next(o for o in reversed(per_brick) if o is not None)
            return top, per_brick
        return combine(torch.cat(parts), guide), None

    generators = [torch.Generator().manual_seed(s) for s in seeds]
    shape = (config.channels, height, width)
    sigmas = settings.sigmas()
    x = _noise(generators, shape, device) * sigmas[0]
    result = SampleResult(images=x, seeds=seeds, mask=mask, evaluations=settings.evaluations_per_step(),
                          precision=precision, guided=guided)
    previous: tuple[torch.Tensor, float] | None = None  # DPM-Solver++: last estimate and its log-step
    for i in range(settings.steps):
        start = wall_clock(device)
        t, t_next = sigmas[i], sigmas[i + 1]
        active = mask[i]
        seconds = [0.0] * config.num_bricks
        gamma = 0.0
        if settings.churn > 0 and settings.churn_sigma_min <= t <= settings.churn_sigma_max:
            gamma = min(settings.churn / settings.steps, math.sqrt(2) - 1)
        t_hat = t + gamma * t
        with net.inference_context():
            if gamma > 0:
                x = x + math.sqrt(t_hat**2 - t**2) * settings.churn_noise * _noise(generators, shape, device)
            denoised, per_brick = denoise(x, t_hat, active, seconds, brick_estimates, i)
            if settings.method == "dpm++2m":
                x_next, previous = _dpm_step(x, denoised, t, t_next, previous)
            else:
                slope = (x - denoised) / t_hat
                x_next = x + (t_next - t_hat) * slope
            if settings.method == "heun" and t_next > 0:
                denoised_next, _ = denoise(x_next, t_next, active, seconds, False, i)
                slope_next = (x_next - denoised_next) / t_next
                x_next = x + (t_next - t_hat) * (slope + slope_next) / 2
        step_seconds = wall_clock(device) - start
        result.step_seconds.append(step_seconds)
        result.brick_seconds.append(seconds)
        yield StepInfo(i, settings.steps, t_hat, t_next, list(active), x, denoised, per_brick, seconds, step_seconds)
        x = x_next
    result.images = x.float()
    return result


def _dpm_step(x: torch.Tensor, denoised: torch.Tensor, sigma: float, sigma_next: float,
              previous: tuple[torch.Tensor, float] | None) -> tuple[torch.Tensor, tuple[torch.Tensor, float]]:
    """One DPM-Solver++(2M) step; first order on the first step and on the final step to sigma 0."""
    if sigma_next == 0:
        return denoised, (denoised, math.inf)
    h = math.log(sigma / sigma_next)
    estimate = denoised
    if previous is not None:
        last, h_last = previous
        k = h / (2 * h_last)  # = 1 / (2 r) with r = h_last / h
        estimate = (1 + k) * denoised - k * last
    ratio = sigma_next / sigma
    return ratio * x + (1 - ratio) * estimate, (denoised, h)
