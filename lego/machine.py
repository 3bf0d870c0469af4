"""The machine a figure was measured on, named the same way in every benchmark's JSON."""

from __future__ import annotations

import platform
from pathlib import Path

import torch

from .precision import cpu_has_fast_bf16


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo where there is one (``platform.processor()`` is
    often empty or just the architecture on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe(device: torch.device | str = "cpu") -> dict:
    """Device, threads, torch version and whether bf16 is fast: what a timing depends on."""
    device = torch.device(device)
    if device.type == "cuda":
        return {"device": torch.cuda.get_device_name(device), "torch": torch.__version__,
                "cuda": torch.version.cuda, "bf16_fast": torch.cuda.is_bf16_supported()}
    return {"device": cpu_name(), "threads": torch.get_num_threads(), "torch": torch.__version__,
            "bf16_fast": cpu_has_fast_bf16()}
