"""Compiled inference: each brick's transformer compiled by inductor with its weights frozen.

Why: on a small CPU an eager evaluation spends about a quarter of its time outside matrix
products (tanh-GELU alone about 15%, layer norms, modulation, layout copies). Inductor with
frozen weights packs the weights for oneDNN once and fuses those element-wise operations into
the matrix products. Frozen weights are constants of the compiled graph, so only an immutable
inference copy (``LegoModel.for_inference``) is ever compiled; a weight change makes a new copy.

The price is a warm-up: the first call per brick compiles (tens of seconds on two cores), and a
new batch or canvas shape may compile once more. ``warm_up`` pays it up front.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import torch
from torch._inductor import config as inductor_config

from .canvas import Canvas
from .model import LegoModel
from .precision import autocast, dtype_of


def frozen(fn: Callable) -> Callable:
    """``fn`` compiled with frozen weights. Freezing is what pays on the CPU (packed weights, fused
    GELU); it must be on in inductor's config when a call compiles (``torch.compile``'s
    ``options`` do not reach it), and patching per call keeps it out of everyone else's compiles.
    Dynamic shapes keep one graph for every canvas size and batch after the first few."""
    compiled = torch.compile(fn, dynamic=True)

    @functools.wraps(fn)
    def call(*args, **kwargs):
        with inductor_config.patch(freezing=True):
            return compiled(*args, **kwargs)

    return call


def compile_bricks(model: LegoModel) -> LegoModel:
    """Compile every brick's transform of ``model`` in place (the model must not be trained afterwards)."""
    for brick in model.model:
        brick.transform = frozen(brick.transform)
    model.compiled = True
    return model


def warm_up(model: LegoModel, precision: str, sizes: tuple[tuple[int, int], ...] | None = None,
            batches: tuple[int, ...] = (1, 2)) -> float:
    """Run one evaluation per batch size and canvas size so that requests find their graphs
    compiled; returns the seconds spent. Sizes default to the training size and a 1x2 canvas."""
    start = time.perf_counter()
    config = model.config
    device = next(model.parameters()).device
    s = config.image_size
    sizes = sizes or ((s, s), (s, 2 * s))
    net = model.for_inference(dtype_of(precision), compiled=True)
    with net.inference_context(), autocast(precision, device):
        for height, width in sizes:
            for batch in batches:
                x = torch.randn(batch, config.channels, height, width, device=device)
                labels = torch.zeros(batch, dtype=torch.long, device=device)
                net(x, torch.tensor(1.0, device=device), labels, canvas=Canvas())
    return time.perf_counter() - start
