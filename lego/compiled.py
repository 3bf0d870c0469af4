"""Compiled inference: each brick's transformer compiled by inductor with its weights frozen.

Why: on a small CPU an eager evaluation spends about a quarter of its time outside matrix
products (tanh-GELU alone about 15%, layer norms, modulation, layout copies). Inductor with
frozen weights packs the weights for oneDNN once and fuses those element-wise operations into
the matrix products. Frozen weights are constants of the compiled graph, so only an immutable
inference copy (``LegoModel.for_inference``) is ever compiled; a weight change makes a new copy.

The price is a warm-up: the first call per brick compiles (tens of seconds on two cores), and a
new batch or canvas shape may compile once more. ``lego.serving.warm_up`` pays it up front.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

import torch
from torch import nn
from torch._inductor import config as inductor_config


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


def compile_bricks(bricks: Iterable[nn.Module]) -> None:
    """Compile every brick's transform in place (the bricks must not be trained afterwards). Takes the
    bricks, not the model, so that this module depends on nothing of ours: the model imports it."""
    for brick in bricks:
        brick.transform = frozen(brick.transform)
