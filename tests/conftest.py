import pytest
import torch

from lego.config import ARCHITECTURES
from lego.model import LegoModel


def randomized(name: str, seed: int = 0) -> LegoModel:
    """A tiny model with every weight random (DiT's init zeroes the outputs, which hides bugs)."""
    torch.manual_seed(seed)
    model = LegoModel(ARCHITECTURES[name])
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.1)
    return model.eval()


@pytest.fixture(params=["tiny-pg", "tiny-pr", "tiny-u"])
def any_model(request) -> LegoModel:
    return randomized(request.param)


@pytest.fixture
def pg_model() -> LegoModel:
    return randomized("tiny-pg")
