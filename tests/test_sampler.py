import math
from dataclasses import replace

import pytest
import torch

from lego.sampler import SamplerSettings, SamplingCancelled, sample, sigma_steps
from lego.schedule import BrickSchedule, ScheduleError, preset



def count_calls(model):
    counts = [0] * model.num_bricks
    batch = []

    def hook(i):
        def fn(module, inputs, output):
            counts[i] += 1
            batch.append(inputs[0].shape[0])
        return fn

    handles = [b.register_forward_hook(hook(i)) for i, b in enumerate(model.model)]
    return counts, batch, handles


def test_sigma_steps_follow_edm():
    s = sigma_steps(18)
    assert len(s) == 19 and s[-1] == 0.0
    assert math.isclose(s[0], 80.0) and math.isclose(s[17], 0.002)
    assert all(a > b for a, b in zip(s, s[1:]))


def test_same_seed_same_image_alone_or_in_a_batch(pg_model):
    settings = SamplerSettings(steps=4, guidance=2.0, churn=5.0)
    alone = sample(pg_model, [7], [1], settings).images
    batch = sample(pg_model, [3, 7, 11], [0, 1, None], settings).images
    again = sample(pg_model, [7], [1], settings).images
    assert torch.equal(alone, again)
    # batching changes float summation order only: far below one 8-bit level (0.0078)
    torch.testing.assert_close(batch[1:2], alone, rtol=0, atol=2e-4)
    assert (batch[0] - batch[2]).abs().mean() > 0.05


def test_different_seeds_differ(pg_model):
    a, b = sample(pg_model, [0, 1], settings=SamplerSettings(steps=3)).images
    assert (a - b).abs().mean() > 0.05


@pytest.mark.parametrize("guidance", [1.0, 3.0])
def test_switching_a_brick_off_removes_its_calls(pg_model, guidance):
    settings = SamplerSettings(steps=10, guidance=guidance)
    counts, batch, handles = count_calls(pg_model)
    sample(pg_model, [0, 1], [2, 0], settings, preset("pg-recipe", pg_model.config))
    for h in handles:
        h.remove()
    # Heun: 2 evaluations per step, 1 on the last. Top brick runs on steps 0..5 only (60%).
    assert counts == [19, 19, 12]
    assert set(batch) == {4 if guidance != 1.0 else 2}


def test_skipping_changes_the_image_and_all_on_schedule_changes_nothing(pg_model):
    settings = SamplerSettings(steps=5, guidance=2.0)
    plain = sample(pg_model, [5], [1], settings).images
    all_on = sample(pg_model, [5], [1], settings, BrickSchedule.all_on(3)).images
    skipped = sample(pg_model, [5], [1], settings, preset("pg-recipe", pg_model.config)).images
    assert torch.equal(plain, all_on)
    assert not torch.allclose(plain, skipped)


@pytest.mark.parametrize("method", ["euler", "dpm++2m"])
def test_single_step_samplers_use_one_evaluation_per_step(pg_model, method):
    counts, _, handles = count_calls(pg_model)
    result = sample(pg_model, [0], settings=SamplerSettings(steps=6, method=method))
    for h in handles:
        h.remove()
    assert counts == [6, 6, 6] and result.evaluations == [1] * 6


def test_dpm_solver_converges_at_second_order(pg_model):
    def error(method: str, steps: int) -> float:
        images = sample(pg_model, [1, 2], [0, 1], SamplerSettings(steps=steps, guidance=2.0, method=method)).images
        return float(((images - reference) ** 2).mean().sqrt())

    reference = sample(pg_model, [1, 2], [0, 1], SamplerSettings(steps=200, guidance=2.0)).images
    # first order (Euler) halves its error when the steps double; second order shrinks it about 4x
    assert error("euler", 16) / error("euler", 32) < 2.5
    assert error("dpm++2m", 16) / error("dpm++2m", 32) > 3
    assert error("dpm++2m", 32) < error("euler", 32) / 3


def test_churn_is_refused_with_the_multistep_solver():
    with pytest.raises(ValueError, match="heun and euler"):
        SamplerSettings(method="dpm++2m", churn=1.0)


def test_callback_sees_every_step_with_per_brick_estimates_and_times(pg_model):
    seen = []
    sch = preset("pg-recipe", pg_model.config)
    sample(pg_model, [0], [1], SamplerSettings(steps=5, guidance=2.0), sch, callback=seen.append, brick_estimates=True)
    assert [s.step for s in seen] == list(range(5))
    assert seen[0].sigma == pytest.approx(80.0) and seen[-1].sigma_next == 0.0
    last = seen[-1]
    assert last.active == [True, True, False]
    assert last.brick_denoised[2] is None and last.brick_denoised[0].shape == (1, 3, 16, 16)
    assert torch.equal(last.brick_denoised[1], last.denoised)  # top active brick is the step's estimate
    assert last.brick_seconds[2] == 0.0 and all(t > 0 for t in last.brick_seconds[:2])
    assert last.seconds >= sum(last.brick_seconds)


def test_cancellation_stops_between_evaluations(pg_model):
    calls = []

    def should_stop():
        calls.append(1)
        return len(calls) > 3

    counts, _, handles = count_calls(pg_model)
    with pytest.raises(SamplingCancelled):
        sample(pg_model, [0], settings=SamplerSettings(steps=10), should_stop=should_stop)
    for h in handles:
        h.remove()
    assert counts[0] == 3


def test_a_schedule_with_an_empty_step_fails_before_any_compute(pg_model):
    counts, _, handles = count_calls(pg_model)
    bad = BrickSchedule(((( 0.0, 0.5),), (), ()))
    with pytest.raises(ScheduleError, match="no brick is on"):
        sample(pg_model, [0], settings=SamplerSettings(steps=4), schedule=bad)
    for h in handles:
        h.remove()
    assert counts == [0, 0, 0]


def test_bf16_autocast_matches_fp32_within_tolerance(pg_model):
    settings = SamplerSettings(steps=6, guidance=2.0)
    fp32 = sample(pg_model, [1, 2], [0, 1], settings, precision="fp32").images
    bf16 = sample(pg_model, [1, 2], [0, 1], settings, precision="bf16")
    assert bf16.precision == "bf16"
    err = (bf16.images - fp32).abs()
    assert err.mean() < 0.02 and err.max() < 0.2
    assert fp32.abs().mean() > 0.1  # the comparison is not between two blank images


@pytest.mark.parametrize("kwargs,message", [
    ({"steps": 0}, "steps must be"),
    ({"steps": 10**6}, "steps must be"),
    ({"guidance": float("nan")}, "finite"),
    ({"guidance": -1.0}, ">= 0"),
    ({"method": "ddim"}, "sampler must be"),
    ({"guidance_interval": (40.0, 1.0)}, "0 <= low < high"),
    ({"rho": 0.0}, "rho must be > 0"),
    ({"rho": 1e-3}, "rho 0.001 is too small"),
    ({"sigma_max": 1e30}, "sigma_max <= 10000"),
    ({"churn_noise": float("nan")}, "churn_noise must be a finite number"),
    ({"churn_sigma_min": float("inf")}, "churn_sigma_min must be a finite number"),
    ({"churn_sigma_min": 60.0}, "churn_sigma_min <= churn_sigma_max"),
    ({"guidance_interval": (1.0,)}, "two numbers"),
    ({"guidance_interval": "1-40"}, "two numbers"),
])
def test_settings_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SamplerSettings(**kwargs)


def test_bad_labels_and_canvas(pg_model):
    with pytest.raises(ValueError, match="out of range"):
        sample(pg_model, [0], [7], SamplerSettings(steps=2))
    with pytest.raises(ValueError, match="multiple of 16"):
        sample(pg_model, [0], settings=SamplerSettings(steps=2), height=20)
    with pytest.raises(ValueError, match="a seed must be from"):
        sample(pg_model, [2**64], settings=SamplerSettings(steps=2))
    with pytest.raises(ValueError, match="a seed is a whole number, got 1.7"):  # not silently seed 1
        sample(pg_model, [1.7], settings=SamplerSettings(steps=2))
    for scale in (float("nan"), -5.0):  # each image's own scale is checked as the settings' is
        with pytest.raises(ValueError, match="guidance must be a finite number >= 0"):
            sample(pg_model, [0, 1], [1, 1], SamplerSettings(steps=2), guidance=[2.0, scale])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(pg_model):
    settings = SamplerSettings(steps=4, guidance=2.0)
    cpu = sample(pg_model, [3], [1], settings).images
    gpu = sample(pg_model.cuda(), [3], [1], settings, precision="fp32").images.cpu()
    torch.testing.assert_close(gpu, cpu, rtol=0, atol=1e-3)


def test_a_cpu_batch_runs_a_few_rows_per_call_with_the_same_results(pg_model, monkeypatch):
    from lego import sampler as sampler_module

    settings, sch = SamplerSettings(steps=3, guidance=2.0), preset("pg-recipe", pg_model.config)
    whole = []
    together = sample(pg_model, [1, 2, 3], [0, 1, 2], settings, sch, callback=whole.append, brick_estimates=True).images
    size = pg_model.config.image_size
    monkeypatch.setattr(sampler_module, "CPU_CALL_PIXELS", 2 * size * size)  # 2 of the 6 guided rows per call
    counts, batch, handles = count_calls(pg_model)
    parts = []
    chunked = sample(pg_model, [1, 2, 3], [0, 1, 2], settings, sch, callback=parts.append, brick_estimates=True).images
    for h in handles:
        h.remove()
    assert set(batch) == {2} and counts[0] == 3 * (2 * 3 - 1)  # 3 calls per Heun evaluation
    torch.testing.assert_close(chunked, together, rtol=0, atol=2e-4)  # summation order only, as in a batch
    for a, b in zip(parts, whole, strict=True):
        for x, y in zip(a.brick_denoised, b.brick_denoised, strict=True):
            assert (x is None) == (y is None)
            if x is not None:
                torch.testing.assert_close(x, y, rtol=0, atol=2e-4)
        assert all(t > 0 for t, on in zip(a.brick_seconds, a.active) if on)


def test_guidance_runs_only_inside_its_noise_interval(pg_model):
    middle = SamplerSettings(steps=8, method="dpm++2m", guidance=3.0, guidance_interval=(1.0, 40.0))
    # sigmas 80, 35, 13.7, 4.6, 1.3, 0.27, 0.035, 0.002: guided at the four in (1, 40]
    assert middle.guided_steps() == [False, True, True, True, True, False, False, False]
    counts, batch, handles = count_calls(pg_model)
    guided = sample(pg_model, [0, 1], [2, 0], middle).images
    for h in handles:
        h.remove()
    assert batch == [2] * 3 + [4] * 3 * 4 + [2] * 3 * 3  # each brick's call: 2 rows unguided, 4 guided
    everywhere = sample(pg_model, [0, 1], [2, 0], replace(middle, guidance_interval=(0.0, 100.0))).images
    assert torch.equal(everywhere, sample(pg_model, [0, 1], [2, 0], replace(middle, guidance_interval=None)).images)
    nowhere = sample(pg_model, [0, 1], [2, 0], replace(middle, guidance_interval=(100.0, 200.0))).images
    assert torch.equal(nowhere, sample(pg_model, [0, 1], [2, 0], replace(middle, guidance=1.0)).images)
    assert (guided - everywhere).abs().mean() > 1e-3 and (guided - nowhere).abs().mean() > 1e-3
