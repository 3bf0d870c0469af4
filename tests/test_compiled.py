"""Compiled bricks (inductor, frozen weights) against the eager reference."""

import torch

from lego.serving import warm_up
from lego.sampler import SamplerSettings, sample


def test_compiled_sampling_matches_eager_within_precision_tolerance(pg_model):
    settings = SamplerSettings(steps=4, guidance=2.0)
    fp32 = sample(pg_model, [1, 2], [0, 1], settings, height=16, width=32).images
    assert fp32.abs().mean() > 0.1  # not two blank images
    compiled32 = sample(pg_model, [1, 2], [0, 1], settings, height=16, width=32, compiled=True).images
    torch.testing.assert_close(compiled32, fp32, rtol=0, atol=1e-3)  # fp32: fusion reorders sums only
    fast = sample(pg_model, [1, 2], [0, 1], settings, height=16, width=32, precision="bf16", compiled=True)
    err = (fast.images - fp32).abs()
    assert err.mean() < 0.02 and err.max() < 0.2  # the bf16 tolerance of the eager bf16 path


def test_compiled_copy_is_cached_frozen_and_leaves_the_model_alone(pg_model):
    before = {k: v.clone() for k, v in pg_model.state_dict().items()}
    copy = pg_model.for_inference(torch.float32, compiled=True)
    assert copy.compiled and not pg_model.compiled and copy is not pg_model
    assert pg_model.for_inference(torch.float32, compiled=True) is copy
    assert copy.for_inference(torch.float32) is copy  # a compiled copy serves itself
    assert warm_up(copy, "fp32", sizes=((16, 16),), batches=(2,)) > 0
    for key, value in pg_model.state_dict().items():
        assert torch.equal(value, before[key])
    with torch.no_grad():
        next(pg_model.parameters()).add_(1.0)  # frozen weights are stale now: a new copy is made
    assert pg_model.for_inference(torch.float32, compiled=True) is not copy


def test_the_app_serves_a_warmed_compiled_copy_with_the_original_fingerprint():
    from lego.estimate import estimate
    from lego.request import parse_request
    from lego.runs import run_to_end
    from lego.serving import Served
    from lego.checkpoint import fingerprint
    from lego.schedule import BrickSchedule

    from conftest import randomized

    model = randomized("tiny-emoji")
    served = Served.of("tiny", model, "fp32", compiled=True)
    assert served.model.compiled and served.model is not model
    assert served.fingerprint == fingerprint(model)  # committed results still match this model
    request = parse_request(model.config, "Flags", 1, 3, 2.0, "dpm++2m", 1, 64, 128, BrickSchedule.all_on(3))
    fast = run_to_end(served.model, request, estimate(model.config, request, served.speed), served.precision)
    eager = run_to_end(model, request, estimate(model.config, request, served.speed), "fp32")
    assert abs(fast.images[0].astype(int) - eager.images[0].astype(int)).max() <= 1  # 8-bit images
