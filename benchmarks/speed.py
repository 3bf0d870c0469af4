"""Fast sampling on this CPU: every speed lever before and after, the default request against the
hardware limit, presets' measured against predicted speed-up, a 256x256 canvas, and the fast
solver's accuracy and quality.

    python benchmarks/speed.py [--checkpoint DIR] [--repeats 5] [--per-class 10] [--out assets/benchmarks/speed.json]

The hardware limit is the request's FLOPs divided by the throughput of a large matrix product in
the same precision, measured in the same run (ratios only: this machine is shared and noisy).
Peak memory is the largest rise of resident memory during a request, polled every 2 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import lego.model as lego_model  # noqa: E402
from bricks_cpu import _timed, default_request, matmul_gflops, preset_speedups  # noqa: E402
from lego import machine, results  # noqa: E402
from lego.checkpoint import ALL_EMOJI_CHECKPOINT, load_checkpoint  # noqa: E402
from lego.serving import shown_source, warm_up  # noqa: E402
from lego.data import load  # noqa: E402
from lego.flops import evaluation_flops, schedule_cost  # noqa: E402
from lego.judge import JUDGE_DIR, load_judge  # noqa: E402
from lego.metrics import evaluate  # noqa: E402
from lego.precision import autocast, dtype_of, cpu_has_fast_bf16  # noqa: E402
from lego.sampler import METHOD_NAMES, SamplerSettings, sample  # noqa: E402
from memory import PeakRss  # noqa: E402
from lego.schedule import BrickSchedule  # noqa: E402

SOLVERS = [("heun", 18), ("heun", 7), ("dpm++2m", 10), ("dpm++2m", 12), ("dpm++2m", 15)]


def evaluation_ms(net, precision: str, repeats: int, grad: bool = False) -> float:
    """Median ms of one guided evaluation (batch 2) at the training size."""
    size = net.config.image_size
    x = torch.randn(2, net.config.channels, size, size)
    labels = torch.zeros(2, dtype=torch.long)
    context = contextlib.nullcontext() if grad else net.inference_context()
    with context, autocast(precision, torch.device("cpu")):
        for _ in range(2):
            net(x, torch.tensor(1.0), labels)
        return round(1000 * statistics.median(_timed(lambda: net(x, torch.tensor(1.0), labels))
                                              for _ in range(repeats)), 2)


@contextlib.contextmanager
def tiny_attention_tokens(n: int) -> Iterator[None]:
    saved = lego_model.TINY_ATTENTION_TOKENS
    lego_model.TINY_ATTENTION_TOKENS = n
    try:
        yield
    finally:
        lego_model.TINY_ATTENTION_TOKENS = saved


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    saved = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def levers(model, repeats: int) -> list[dict]:
    """Each lever on top of the previous one (the path the app takes), then the alternatives tried."""
    bf16 = model.for_inference(torch.bfloat16)
    compiled = model.for_inference(torch.bfloat16, compiled=True)
    steps = [
        ("fp32, autograd on", lambda: evaluation_ms(model, "fp32", repeats, grad=True)),
        ("+ inference_mode", lambda: evaluation_ms(model, "fp32", repeats)),
        ("+ bf16 autocast (weights cast on every call)", lambda: evaluation_ms(model, "bf16", repeats)),
        ("+ bf16 weight copy (cast once)", lambda: evaluation_ms(bf16, "bf16", repeats)),
        ("+ compiled bricks (inductor, frozen weights)", lambda: evaluation_ms(compiled, "bf16", repeats)),
    ]
    alternatives = [
        ("bf16 copy, fused SDPA for the tiny windows too", tiny_attention_tokens(0)),
        ("bf16 copy, plain matmul attention up to 256 tokens", tiny_attention_tokens(256)),
        ("bf16 copy, 1 thread", threads(1)),
    ]
    rows, previous = [], None
    for name, measure in steps:
        ms = measure()
        rows.append({"lever": name, "ms_per_evaluation": ms,
                     "speedup_over_previous": None if previous is None else round(previous / ms, 3),
                     "speedup_over_first": round(rows[0]["ms_per_evaluation"] / ms, 3) if rows else 1.0})
        previous = ms
    reference = rows[3]["ms_per_evaluation"]
    for name, context in alternatives:
        with context:
            ms = evaluation_ms(bf16, "bf16", repeats)
        rows.append({"lever": name, "ms_per_evaluation": ms, "speedup_over_bf16_copy": round(reference / ms, 3)})
    return rows


def fidelity(model, seeds: list[int]) -> dict:
    """The fast path (bf16, compiled) against the reference path (fp32, eager) on the default request."""
    settings = SamplerSettings(steps=18, guidance=2.0)
    labels = [s % model.config.num_classes for s in seeds]
    reference = sample(model, seeds, labels, settings, precision="fp32").images
    fast = sample(model, seeds, labels, settings, precision="bf16", compiled=True).images
    eager = sample(model, seeds, labels, settings, precision="bf16").images
    out = {}
    for name, images in (("bf16_compiled", fast), ("bf16_eager", eager)):
        err = (images.clamp(-1, 1) - reference.clamp(-1, 1)).abs() * 127.5  # in 8-bit levels
        out[name] = {"max_levels": round(float(err.max()), 2), "mean_levels": round(float(err.mean()), 3)}
    return out


def large_canvas(model, precision: str, size: int) -> dict:
    settings = SamplerSettings(steps=18, guidance=2.0)
    cost = schedule_cost(model.config, BrickSchedule.all_on(model.num_bricks), settings, size, size, guided=True)
    out = {"size": f"{size}x{size}", "canvas": "tiles", "gflops": round(cost.total / 1e9, 1)}
    for name, compiled in (("eager", False), ("compiled", True)):
        sample(model, [0], [0], SamplerSettings(steps=1, guidance=2.0), height=size, width=size,
               precision=precision, compiled=compiled)  # warm-up (and any compile) outside the timing
        with PeakRss() as memory:
            start = time.perf_counter()
            sample(model, [0], [0], settings, height=size, width=size, precision=precision, compiled=compiled)
            seconds = time.perf_counter() - start
        out[name] = {"seconds": round(seconds, 2), "peak_rss_rise_mib": memory.rise_mib}
    return out


def solvers(model, precision: str, repeats: int, per_class: int, data_path: str | None) -> list[dict]:
    """Time, error against a 100-step Heun reference (fp32), and the emoji metric, per solver."""
    seeds = list(range(8))
    labels = [s % model.config.num_classes for s in seeds]
    reference = sample(model, seeds, labels, SamplerSettings(steps=100, guidance=2.0)).images
    judge = load_judge(JUDGE_DIR) if per_class else None
    data = load(data_path) if per_class else None
    rows = []
    for method, steps in SOLVERS:
        settings = SamplerSettings(steps=steps, guidance=2.0, method=method)
        images = sample(model, seeds, labels, settings).images
        row = {"sampler": method, "steps": steps, "evaluations": sum(settings.evaluations_per_step()),
               "rms_vs_heun100": round(float(((images - reference) ** 2).mean().sqrt()), 4),
               "seconds": default_request(model, precision, repeats, settings, compiled=True, limit=1.0)["seconds"]}
        if per_class:
            result = evaluate(model, judge, data, "all", per_class, steps, 2.0, method=method)
            row.update(emoji_fd=result["emoji_fd"], emoji_fd_floor=result["emoji_fd_floor"],
                       category_accuracy=result["category_accuracy"], samples=result["samples"])
        rows.append(row)
        print(f"  {method:<8} {steps:>3} steps ({row['evaluations']} evaluations): {row['seconds']} s, "
              f"RMS vs Heun-100 {row['rms_vs_heun100']}"
              + (f", emoji-FD {row['emoji_fd']}, accuracy {row['category_accuracy']:.1%}" if per_class else ""),
              flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--checkpoint", default=str(ALL_EMOJI_CHECKPOINT), help="the model to measure")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (medians)")
    parser.add_argument("--per-class", type=int, default=10, help="images per class for the solver metric (0 = skip)")
    parser.add_argument("--data", default="data/emoji64.npz", help="emoji data file for the metric")
    parser.add_argument("--large", type=int, default=256, help="side of the large square canvas")
    parser.add_argument("--out", default="assets/benchmarks/speed.json", help="the JSON the figures are written to")
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    model = load_checkpoint(args.checkpoint).eval()
    config = model.config
    precision = "bf16" if cpu_has_fast_bf16() else "fp32"
    report = {
        "command": "python benchmarks/speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine.describe(),
        "checkpoint": shown_source(args.checkpoint), "precision": precision,
        "gflops_per_guided_evaluation": round(evaluation_flops(config, config.image_size, config.image_size,
                                                               batch=2).total / 1e9, 3),
    }
    print("compiling ...", flush=True)
    report["compile_warm_up_seconds"] = round(warm_up(model.for_inference(
        dtype_of(precision), compiled=True), precision), 1)
    before = {p: matmul_gflops(p) for p in ("fp32", precision)}
    report["levers"] = levers(model, args.repeats * 3)
    for row in report["levers"]:
        print(f"  {row['lever']:<52} {row['ms_per_evaluation']:>7} ms", flush=True)
    # the best of two measurements around the levers: a busy neighbour only ever lowers it
    limits = {p: round(max(before[p], matmul_gflops(p)), 1) for p in before}
    report["matmul_gflops_per_second"] = limits

    settings = SamplerSettings(steps=18, guidance=2.0)
    report["request"] = f"{METHOD_NAMES[settings.method]}, {settings.steps} steps, guidance {settings.guidance:g}"
    report["default_request"] = {
        name: default_request(model, p, args.repeats, settings, compiled=compiled, limit=limits[p])
        for name, p, compiled in (("fp32 eager", "fp32", False), (f"{precision} eager", precision, False),
                                  (f"{precision} compiled", precision, True))
    }
    for name, r in report["default_request"].items():
        print(f"default request, {name}: {r['seconds']} s = {r['over_limit']}x the limit "
              f"({r['hardware_limit_seconds']} s at {r['matmul_gflops_per_second']} GFLOP/s)", flush=True)
    report["fidelity_8bit_levels_vs_fp32"] = fidelity(model, list(range(4)))
    print("fidelity:", report["fidelity_8bit_levels_vs_fp32"], flush=True)
    report["presets"] = {name: preset_speedups(model, precision, args.repeats, settings, compiled=compiled)
                         for name, compiled in (("eager", False), ("compiled", True))}
    for name, rows in report["presets"].items():
        print(f"presets ({name}): " + ", ".join(f"{k} {v['measured_speedup']:.2f}/{v['predicted_speedup']:.2f}"
                                                 f" = {v['measured_over_predicted']:.2f}" for k, v in rows.items()))
    report["large_canvas"] = large_canvas(model, precision, args.large)
    print("large canvas:", report["large_canvas"], flush=True)
    report["solvers"] = solvers(model, precision, args.repeats, args.per_class, args.data)
    results.write(report, args.out)


if __name__ == "__main__":
    main()
