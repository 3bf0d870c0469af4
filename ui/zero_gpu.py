"""Hugging Face ZeroGPU Spaces lend a GPU per call: ask for as long as the request needs."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import gradio as gr

from lego.estimate import gpu_seconds


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
