"""Per-brick time per evaluation, preset speed-ups (predicted vs measured), default request vs the hardware limit.

    python benchmarks/bricks_cpu.py [--arch emoji-s] [--repeats 5] [--out assets/benchmarks/bricks_cpu.json]

Times are medians over repeats, measured in one run so that ratios are comparable on a noisy
machine. The model is randomly initialised: speed does not depend on the weights.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lego import machine, results  # noqa: E402
from lego.config import ARCHITECTURES  # noqa: E402
from lego.flops import evaluation_flops, schedule_cost  # noqa: E402
from lego.model import LegoModel, count_parameters  # noqa: E402
from lego.precision import autocast, dtype_of, cpu_has_fast_bf16  # noqa: E402
from lego.sampler import SamplerSettings, sample  # noqa: E402
from lego.schedule import preset, presets_for  # noqa: E402


def matmul_gflops(precision: str, size: int = 2048, repeats: int = 5) -> float:
    """The hardware limit used for ratios: a large square matrix product in this precision."""
    dtype = dtype_of(precision)
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def default_request(model: LegoModel, precision: str, repeats: int, settings: SamplerSettings,
                    compiled: bool = False, limit: float | None = None) -> dict:
    """The app's default: all bricks, 18 Heun steps, guidance on, one image at the training size.
    ``limit``: the matmul GFLOP/s to compare with (measured here when not given)."""
    size = model.config.image_size
    cost = schedule_cost(model.config, preset("all", model.config), settings, size, size, guided=True)

    def run():
        return sample(model, [0], [0], settings, precision=precision, compiled=compiled)

    run()
    seconds = statistics.median(_timed(run) for _ in range(repeats))
    limit = limit or matmul_gflops(precision)
    floor = cost.total / 1e9 / limit
    return {"seconds": round(seconds, 3), "gflops": round(cost.total / 1e9, 2),
            "matmul_gflops_per_second": round(limit, 1), "hardware_limit_seconds": round(floor, 5),
            "over_limit": round(seconds / floor, 2)}


def per_brick_ms(model: LegoModel, precision: str, repeats: int, batch: int, compiled: bool = False) -> dict:
    net = model.for_inference(dtype_of(precision), compiled)
    size = model.config.image_size
    x = torch.randn(batch, model.config.channels, size, size)
    sigma = torch.tensor(1.0)
    labels = torch.zeros(batch, dtype=torch.long)
    runs = []
    with net.inference_context():
        for i in range(repeats + 2):  # two warm-up calls
            seconds = [0.0] * model.num_bricks
            start = time.perf_counter()
            with autocast(precision, torch.device("cpu")):
                net(x, sigma, labels, brick_seconds=seconds)
            total = time.perf_counter() - start
            if i >= 2:
                runs.append((total, seconds))
    return {
        "evaluation_ms": round(1000 * statistics.median(r[0] for r in runs), 2),
        "brick_ms": [round(1000 * statistics.median(r[1][k] for r in runs), 2) for k in range(model.num_bricks)],
    }


def preset_speedups(model: LegoModel, precision: str, repeats: int, settings: SamplerSettings,
                    compiled: bool = False) -> dict:
    config = model.config
    schedules = presets_for(config)
    times = {name: [] for name in schedules}
    sample(model, [0], [0], settings, schedules["all"], precision=precision, compiled=compiled)  # warm-up
    for _ in range(repeats):  # interleaved, so that drifts in machine load hit every preset alike
        for name, schedule in schedules.items():
            start = time.perf_counter()
            sample(model, [0], [0], settings, schedule, precision=precision, compiled=compiled)
            times[name].append(time.perf_counter() - start)
    reference = statistics.median(times["all"])
    out = {}
    for name, schedule in schedules.items():
        cost = schedule_cost(config, schedule, settings, config.image_size, config.image_size, guided=True)
        measured = reference / statistics.median(times[name])
        out[name] = {
            "seconds": round(statistics.median(times[name]), 3),
            "gflops": round(cost.total / 1e9, 2),
            "predicted_speedup": round(cost.predicted_speedup, 3),
            "measured_speedup": round(measured, 3),
            "measured_over_predicted": round(measured / cost.predicted_speedup, 3),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--arch", default="emoji-s", choices=sorted(ARCHITECTURES),
                        help="the architecture to time (random weights)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed runs per measurement, medians (the per-brick times take twice as many)")
    parser.add_argument("--steps", type=int, default=18, help="Heun steps per request")
    parser.add_argument("--out", default="assets/benchmarks/bricks_cpu.json",
                        help="the JSON the figures are written to")
    args = parser.parse_args()

    torch.manual_seed(0)
    model = LegoModel(ARCHITECTURES[args.arch]).eval()
    config = model.config
    settings = SamplerSettings(steps=args.steps, guidance=2.0)
    flops = evaluation_flops(config, config.image_size, config.image_size, batch=2)
    precisions = ["fp32"] + (["bf16"] if cpu_has_fast_bf16() else [])
    report = {
        "what": "ms per guided network evaluation (batch 2) per brick, and preset speed-ups over all bricks "
                f"for {args.steps} Heun steps with guidance, one {config.image_size}x{config.image_size} image",
        "command": "python benchmarks/bricks_cpu.py " + " ".join(sys.argv[1:]),
        "machine": machine.describe(),
        "arch": args.arch, "parameters": count_parameters(model),
        "gflops_per_evaluation": {"total": round(flops.total / 1e9, 3),
                                  "bricks": [round(f / 1e9, 3) for f in flops.bricks]},
        "results": {},
    }
    for precision in precisions:
        timing = per_brick_ms(model, precision, args.repeats * 2, batch=2)
        timing["gflops_per_second"] = round(flops.total / 1e9 / (timing["evaluation_ms"] / 1000), 1)
        timing["presets"] = preset_speedups(model, precision, args.repeats, settings)
        timing["default_request"] = default_request(model, precision, args.repeats, settings)
        report["results"][precision] = timing
        d = timing["default_request"]
        print(f"[{precision}] {timing['evaluation_ms']} ms per evaluation, bricks {timing['brick_ms']} ms, "
              f"{timing['gflops_per_second']} GFLOP/s; default request {d['seconds']} s, "
              f"{d['over_limit']}x the matmul limit ({d['hardware_limit_seconds']} s)", flush=True)
        for name, r in timing["presets"].items():
            print(f"  {name:<12} predicted {r['predicted_speedup']:.2f}x  measured {r['measured_speedup']:.2f}x  "
                  f"ratio {r['measured_over_predicted']:.2f}", flush=True)
    results.write(report, args.out)


if __name__ == "__main__":
    main()
