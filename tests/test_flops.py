import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from lego.config import ARCHITECTURES
from lego.flops import brick_flops, evaluation_flops, schedule_cost, shared_flops
from lego.model import LegoModel
from lego.sampler import SamplerSettings
from lego.schedule import BrickSchedule, preset


def counted(model, x, labels, active=None):
    # CPU fused attention is invisible to the counter: the math backend decomposes it into counted matmuls.
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x, torch.ones(x.shape[0]), labels, active=active)
    return counter


@pytest.mark.parametrize("name", ["tiny-pg", "tiny-pr", "tiny-u", "emoji-s"])
@pytest.mark.parametrize("scale", [(1, 1), (1, 2)])
@pytest.mark.parametrize("guided", [False, True])
def test_analytic_flops_match_the_counter_per_brick(name, scale, guided):
    config = ARCHITECTURES[name]
    model = LegoModel(config).eval()
    h, w = config.image_size * scale[0], config.image_size * scale[1]
    batch = 2 if guided else 1  # a guided call carries the conditional and unconditional halves
    counter = counted(model, torch.randn(batch, 3, h, w), torch.zeros(batch, dtype=torch.long))
    per_module = counter.get_flop_counts()
    predicted = evaluation_flops(config, h, w, batch=batch)
    for i in range(config.num_bricks):
        got = sum(per_module[f"LegoModel.model.{i}"].values())
        assert got == pytest.approx(predicted.bricks[i], rel=0.02)
    assert counter.get_total_flops() == pytest.approx(predicted.total, rel=0.02)


def test_attention_is_part_of_the_count():
    config = ARCHITECTURES["emoji-s"]  # its global brick attends over 256 tokens per region
    counter = counted(LegoModel(config).eval(), torch.randn(1, 3, 64, 64), torch.zeros(1, dtype=torch.long))
    got = sum(counter.get_flop_counts()["LegoModel.model.2"].values())
    tokens, d = 256, config.hidden_size
    attention = 3 * 2 * 2 * tokens * tokens * d
    assert got == pytest.approx(brick_flops(config, 2, 64, 64), rel=0.02)
    assert attention / got > 0.05  # leaving attention out would break the 2% agreement


def test_skipped_brick_costs_nothing():
    config = ARCHITECTURES["tiny-pg"]
    model = LegoModel(config).eval()
    counter = counted(model, torch.randn(2, 3, 16, 16), torch.zeros(2, dtype=torch.long), active=[True, False, True])
    predicted = evaluation_flops(config, 16, 16, [True, False, True], batch=2)
    assert predicted.bricks[1] == 0
    assert counter.get_total_flops() == pytest.approx(predicted.total, rel=0.02)


def test_schedule_cost_totals_and_speedup():
    config = ARCHITECTURES["emoji-s"]
    settings = SamplerSettings(steps=18)
    full = schedule_cost(config, BrickSchedule.all_on(3), settings, 64, 64, guided=True)
    assert full.predicted_speedup == 1.0 and full.saving == 0.0
    per_eval = evaluation_flops(config, 64, 64, batch=2).total
    assert full.total == 35 * per_eval
    pg = schedule_cost(config, preset("pg-recipe", config), settings, 64, 64, guided=True)
    top = brick_flops(config, 2, 64, 64) * 2
    # the top brick is skipped on the last 7 of 18 steps: 6 Heun steps of 2 evaluations and the final Euler step
    assert full.total - pg.total == 13 * top
    assert pg.predicted_speedup == pytest.approx(full.total / pg.total)
    assert pg.per_brick[2] == (35 - 13) * top
    assert schedule_cost(config, BrickSchedule.all_on(3), settings, 64, 64, guided=False).total * 2 == full.total


def test_a_step_without_guidance_costs_half():
    config = ARCHITECTURES["emoji-s"]
    middle = SamplerSettings(steps=8, method="dpm++2m", guidance_interval=(1.0, 40.0))  # 4 of 8 steps guided
    every = schedule_cost(config, BrickSchedule.all_on(3), SamplerSettings(steps=8, method="dpm++2m"), 64, 64, True)
    some = schedule_cost(config, BrickSchedule.all_on(3), middle, 64, 64, guided=True)
    assert some.total * 16 == every.total * 12 and some.saving == 0.0  # the reference is guided alike
    assert some.guided_steps == (False, True, True, True, True, False, False, False)
    assert some.passes_note() == "2 network passes a step (guided), 1 where guidance is skipped"
    assert every.passes_note() == "2 network passes a step (guided)"
    unguided = schedule_cost(config, BrickSchedule.all_on(3), middle, 64, 64, guided=False)
    assert unguided.total * 2 == every.total and unguided.passes_note() == "1 network pass a step"


def test_shared_flops_do_not_depend_on_canvas():
    config = ARCHITECTURES["emoji-s"]
    assert evaluation_flops(config, 64, 64).shared == evaluation_flops(config, 128, 256).shared == shared_flops(config)
