"""Hugging Face ZeroGPU Spaces lend a GPU per call: ask for as long as the request needs."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable

import gradio as gr

from lego.estimate import gpu_seconds


def on_zero_gpu_space() -> bool:
    """Whether this is a ZeroGPU Space, where the GPU exists only inside each ``spaces.GPU`` call
    (the Hub sets this variable there; the ``spaces`` package reads it the same way)."""
    return os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "t", "true")


def on_zero_gpu(fn: Callable, gflops: Callable[..., float]) -> Callable:
    """``spaces.GPU`` with a duration from the request's cost when the ``spaces`` package is there
    (ZeroGPU Spaces); the function unchanged everywhere else."""
    try:
        import spaces
    except ImportError:
        return fn
    signature = inspect.signature(fn)

    def duration(*args, **kwargs) -> int:
        try:
            return gpu_seconds(gflops(**signature.bind(*args, **kwargs).arguments))
        except (gr.Error, TypeError, ValueError):
            return gpu_seconds(0)

    return spaces.GPU(duration=duration)(fn)
