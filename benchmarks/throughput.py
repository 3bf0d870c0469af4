"""Time per request and images per second on any device, GPUs included, through the app's request path.

    python benchmarks/throughput.py [--device auto|cpu|cuda] [--checkpoint DIR | --arch NAME]
        [--batches 1,8,32,128] [--precisions fp32,bf16] [--compiled] [--budget 300] [--out FILE]
        [--cpu-call-pixels N] [--no-cpu-check]

1. The request path the app serves (``lego.serving.Served``, which the Generate event calls): the
   default request (DPM-Solver++(2M), 8 steps, guidance 2, one image at the training size), seconds
   per request; a burst of requests through its batcher, as a class pressing Generate together
   sends them; and the same request's pixels against the CPU's in fp32, in 8-bit levels.
2. One guided evaluation (batch 2, one image): milliseconds in all and per brick, per precision.
3. Throughput: images per second of default requests sampled together in batches of each size, for
   every preset, in each precision, eager and (``--compiled``) compiled; and each preset's measured
   speed-up over every brick (same precision and batch) against the FLOPs prediction.
Medians of ``--repeats``. Once ``--budget`` seconds are spent, the remaining points are skipped and
listed. ``--cpu-call-pixels`` changes how many rows x pixels a CPU puts through the network per call
(``lego.sampler.CPU_CALL_PIXELS``; 1e9: a whole batch in one call). Needs torch and the ``lego``
package only (no gradio, no plotly), so it runs on a bare GPU machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lego import machine, sampler  # noqa: E402
from lego.batching import Batcher, rows_independent  # noqa: E402
from lego.checkpoint import ALL_EMOJI_CHECKPOINT, load_checkpoint  # noqa: E402
from lego.config import ARCHITECTURES  # noqa: E402
from lego.estimate import estimate  # noqa: E402
from lego.flops import evaluation_flops, schedule_cost  # noqa: E402
from lego.model import LegoModel, count_parameters, wall_clock  # noqa: E402
from lego.precision import autocast, dtype_of, resolve_precision  # noqa: E402
from lego.request import (DEFAULT_GUIDANCE, DEFAULT_METHOD, DEFAULT_STEPS, PlaygroundError, Request,  # noqa: E402
                          parse_request)
from lego.runs import RunRecord, run_together  # noqa: E402
from lego.schedule import BrickSchedule, presets_for  # noqa: E402
from lego.serving import Served  # noqa: E402


def default_request(model: LegoModel, seed: int = 0, schedule: BrickSchedule | None = None) -> Request:
    config = model.config
    label = (config.class_names or ("0",))[0] if config.conditional else None
    return parse_request(config, label, seed, DEFAULT_STEPS, DEFAULT_GUIDANCE, DEFAULT_METHOD, 1, config.image_size,
                         config.image_size, schedule or BrickSchedule.all_on(config.num_bricks))


def finished(items) -> RunRecord:
    """Run a request's steps to the end; its record."""
    return [item for item in items if isinstance(item, RunRecord)][-1]


def timed(fn, device: torch.device) -> float:
    start = wall_clock(device)
    fn()
    return wall_clock(device) - start


def request_path(model: LegoModel, repeats: int, burst: int, cpu_check: bool = True) -> dict:
    """The default request as the app serves it, alone and in a burst, and its pixels against the CPU's."""
    device = next(model.parameters()).device
    served = Served.of("benchmark", model, "auto", batching="off")
    req = default_request(model)

    def one() -> RunRecord:
        return finished(served.sample(req, estimate(model.config, req, served.speed)))

    record = one()  # warm-up
    seconds = statistics.median(timed(one, device) for _ in range(repeats))
    out = {"precision": served.precision, "seconds_per_request": round(seconds, 4),
           "rows_independent": rows_independent(model, served.precision)}
    batcher = Batcher(served.model, served.precision)
    try:
        requests = [default_request(model, seed) for seed in range(burst)]

        def together() -> list[RunRecord]:
            tickets = [batcher.submit(r, estimate(model.config, r, served.speed)) for r in requests]
            return [finished(t) for t in tickets]

        together()  # warm-up: the batch shapes
        start = time.perf_counter()
        records = together()
        wall = time.perf_counter() - start
    finally:
        batcher.close()
    out["burst"] = {"requests": burst, "seconds": round(wall, 3), "images_per_second": round(burst / wall, 3),
                    "largest_batch": max(r.batch_images for r in records)}
    if not cpu_check:
        return out
    cpu = load_cpu_copy(model)
    reference = finished(Served.of("cpu", cpu, "fp32", batching="off").sample(req, estimate(cpu.config, req, 1.0)))
    levels = abs(record.images[0].astype(int) - reference.images[0].astype(int))
    out["pixels_vs_cpu_fp32"] = {"mean_abs_levels": round(float(levels.mean()), 3), "max_abs_levels": int(levels.max())}
    return out


def load_cpu_copy(model: LegoModel) -> LegoModel:
    cpu = LegoModel(model.config)
    cpu.load_state_dict({k: v.to("cpu", torch.float32) for k, v in model.state_dict().items()})
    return cpu.eval()


def evaluation_ms(model: LegoModel, precision: str, repeats: int) -> dict:
    """One guided evaluation of one image (two rows), in all and per brick (synchronised on CUDA)."""
    device = next(model.parameters()).device
    config = model.config
    net = model.for_inference(dtype_of(precision))
    x = torch.randn(2, config.channels, config.image_size, config.image_size, device=device)
    labels = torch.tensor([0, -1], device=device) if config.conditional else None
    sigma = torch.tensor(1.0, device=device)
    runs = []
    with net.inference_context():
        for i in range(repeats + 2):  # two warm-up calls
            seconds = [0.0] * config.num_bricks
            with autocast(precision, device):
                total = timed(lambda s=seconds: net(x, sigma, labels, brick_seconds=s), device)
            if i >= 2:
                runs.append((total, seconds))
    return {"ms": round(1000 * statistics.median(r[0] for r in runs), 3),
            "brick_ms": [round(1000 * statistics.median(r[1][k] for r in runs), 3) for k in range(config.num_bricks)]}


def batch_seconds(model: LegoModel, precision: str, schedule: BrickSchedule, batch: int, repeats: int,
                  compiled: bool) -> float:
    """Seconds to sample ``batch`` default requests together, as the batcher does."""
    device = next(model.parameters()).device
    net = model.for_inference(dtype_of(precision), compiled=True) if compiled else model
    requests = [default_request(model, seed, schedule) for seed in range(batch)]
    estimates = [estimate(model.config, r, 1.0) for r in requests]

    def go() -> None:
        for _ in run_together(net, requests, estimates, precision, keep_frames=False):
            pass

    go()  # warm-up (and, compiled, any compile for this shape)
    return statistics.median(timed(go, device) for _ in range(repeats))


def throughput(model: LegoModel, precisions: list[str], batches: list[int], compiled_too: bool, repeats: int,
               deadline: float) -> tuple[list[dict], list[str]]:
    config = model.config
    schedules = presets_for(config)
    rows, skipped = [], []
    for precision in precisions:
        for compiled in (False, True) if compiled_too else (False,):
            for batch in batches:
                for name, schedule in schedules.items():
                    label = f"{name} {precision}{' compiled' if compiled else ''} batch {batch}"
                    if time.perf_counter() > deadline:
                        skipped.append(label)
                        continue
                    try:
                        seconds = batch_seconds(model, precision, schedule, batch, repeats, compiled)
                    except (torch.OutOfMemoryError, PlaygroundError) as exc:  # the request path words an OOM
                        skipped.append(f"{label} ({exc})")
                        continue
                    cost = schedule_cost(config, schedule, default_request(model).settings, config.image_size,
                                         config.image_size, guided=True)
                    rows.append({"preset": name, "precision": precision, "compiled": compiled, "batch": batch,
                                 "seconds": round(seconds, 4), "images_per_second": round(batch / seconds, 3),
                                 "predicted_speedup": round(cost.predicted_speedup, 3)})
                    print(json.dumps(rows[-1]), flush=True)
    for row in rows:  # measured speed-up over every brick in the same setting
        reference = next((r for r in rows if r["preset"] == "all" and all(
            r[k] == row[k] for k in ("precision", "compiled", "batch"))), None)
        if reference is not None:
            row["measured_speedup"] = round(reference["seconds"] / row["seconds"], 3)
            row["measured_over_predicted"] = round(row["measured_speedup"] / row["predicted_speedup"], 3)
    return rows, skipped


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--device", default="auto", help="auto: cuda when there is one")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--checkpoint",
                        help=f"a checkpoint directory (None, without --arch: {ALL_EMOJI_CHECKPOINT.name})")
    source.add_argument("--arch", choices=sorted(ARCHITECTURES), help="a named architecture, random weights")
    parser.add_argument("--batches", default="1,8,32,128", help="batch sizes to time, comma-separated")
    parser.add_argument("--precisions", default="fp32,bf16", help="precisions to time, comma-separated")
    parser.add_argument("--compiled", action="store_true", help="also time compiled bricks (compiles first)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per point (medians)")
    parser.add_argument("--burst", type=int, default=32, help="requests sent together through the batcher")
    parser.add_argument("--cpu-check", action=argparse.BooleanOptionalAction, default=True,
                        help="compare the request's pixels with the CPU's in fp32 (slow for a large model)")
    parser.add_argument("--budget", type=float, default=300.0, help="seconds; later points are skipped")
    parser.add_argument("--cpu-call-pixels", type=float,
                        help=f"rows x pixels a CPU puts through the network per call (None: {sampler.CPU_CALL_PIXELS})")
    parser.add_argument("--out", help="the JSON to write (None: assets/benchmarks/throughput_<device type>.json)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    if args.cpu_call_pixels:
        sampler.CPU_CALL_PIXELS = int(args.cpu_call_pixels)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    if args.arch:
        torch.manual_seed(0)
        model = LegoModel(ARCHITECTURES[args.arch]).to(device).eval()
        source = f"{args.arch} (random weights)"
    else:
        path = Path(args.checkpoint) if args.checkpoint else ALL_EMOJI_CHECKPOINT
        model = load_checkpoint(path, device=device)
        source = path.name
    config = model.config
    precisions = [p for p in args.precisions.split(",") if p]
    flops = evaluation_flops(config, config.image_size, config.image_size, batch=2)
    report = {
        "what": __doc__.splitlines()[0],
        "command": "python benchmarks/throughput.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine.describe(device), "model": source,
        "parameters": count_parameters(model), "gflops_per_guided_evaluation": round(flops.total / 1e9, 2),
        "cpu_call_pixels": sampler.CPU_CALL_PIXELS,
        "request": f"{DEFAULT_METHOD} {DEFAULT_STEPS} steps, guidance {DEFAULT_GUIDANCE}, one "
                   f"{config.image_size}x{config.image_size} image",
    }
    report["request_path"] = request_path(model, args.repeats, args.burst, args.cpu_check)
    print(json.dumps(report["request_path"]), flush=True)
    report["evaluation"] = {p: evaluation_ms(model, resolve_precision(p, device), args.repeats * 3)
                            for p in precisions}
    print(json.dumps(report["evaluation"]), flush=True)
    rows, skipped = throughput(model, precisions, [int(b) for b in args.batches.split(",")], args.compiled,
                               args.repeats, start + args.budget)
    report["throughput"], report["skipped"] = rows, skipped
    report["seconds"] = round(time.perf_counter() - start, 1)
    out = Path(args.out or f"assets/benchmarks/throughput_{device.type}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {out} in {report['seconds']} s", flush=True)
    return report


if __name__ == "__main__":
    main()
