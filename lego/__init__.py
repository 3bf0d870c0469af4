"""LEGO bricks diffusion: stackable, skippable DiT bricks on local regions."""

from .canvas import Canvas, CanvasError
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import ARCHITECTURES, BrickConfig, ConfigError, LegoConfig
from .flops import evaluation_flops, schedule_cost
from .model import LegoModel, NoActiveBrickError
from .sampler import SamplerSettings, SamplingCancelled, StepInfo, sample
from .schedule import PRESETS, BrickSchedule, ScheduleError, preset

__all__ = [
    "ARCHITECTURES", "BrickConfig", "BrickSchedule", "Canvas", "CanvasError", "CheckpointError", "ConfigError",
    "LegoConfig", "LegoModel", "NoActiveBrickError", "PRESETS", "SamplerSettings", "SamplingCancelled",
    "ScheduleError", "StepInfo", "evaluation_flops", "load_checkpoint", "preset", "sample", "save_checkpoint",
    "schedule_cost",
]
