"""Load and memory test of the real app on loopback, through gradio_client.

    python benchmarks/load_test.py [--checkpoint DIR | --arch tiny-emoji] [--concurrent 20] [--sequential 100]

1. ``--concurrent`` generate requests at once: each completes or is refused with a clear
   "queue is full" message; none may fail otherwise. Reports latency percentiles.
2. ``--sequential`` requests one after another (different seeds): resident memory after the
   first 10 and after all of them (target: less than 10% growth).
Bounded: every request has a timeout and the whole run a deadline; only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gradio_client import Client  # noqa: E402

import app  # noqa: E402
from lego import results  # noqa: E402
from lego.checkpoint import load_checkpoint  # noqa: E402
from lego.config import ARCHITECTURES  # noqa: E402
from lego.model import LegoModel  # noqa: E402

ALL = [0, 1, 2, 3, 4]


def rss_bytes(pid: int | str = "self") -> tuple[int, int]:
    """(current, peak) resident set size of a process (this one by default), from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024


def request_args(seed: int, steps: int) -> list:
    size = [64, 64, "tiles", 0, False, "squeeze"]
    return ["Flags", seed, False, steps, 2.0, "heun", 1, *size, False, 3, 5, "", ALL, ALL, ALL]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def concurrent_load(url: str, n: int, steps: int, timeout: float) -> dict:
    results: list[tuple[str, float, str]] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        client = Client(url, verbose=False)
        start = time.perf_counter()
        try:
            job = client.submit(*request_args(1000 + i, steps), api_name="/generate")
            job.result(timeout=timeout)
            outcome, message = "completed", ""
        except Exception as exc:  # noqa: BLE001 - classified below
            message = str(exc)
            outcome = "refused" if "queue" in message.lower() and "full" in message.lower() else "error"
        with lock:
            results.append((outcome, time.perf_counter() - start, message))
        client.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 30)
    done = [r for r in results if r[0] == "completed"]
    latencies = [r[1] for r in done]
    return {
        "requests": n, "completed": len(done), "refused": sum(r[0] == "refused" for r in results),
        "errors": sum(r[0] == "error" for r in results), "unfinished": n - len(results),
        "error_messages": sorted({r[2][:200] for r in results if r[0] == "error"}),
        "latency_s": {"p50": round(percentile(latencies, 0.5), 3), "p95": round(percentile(latencies, 0.95), 3),
                      "max": round(max(latencies), 3)} if latencies else None,
    }


def sequential_memory(url: str, n: int, steps: int) -> dict:
    client = Client(url, verbose=False)
    after_10 = None
    times = []
    for i in range(n):
        start = time.perf_counter()
        client.predict(*request_args(5000 + i, steps), api_name="/generate")
        times.append(time.perf_counter() - start)
        if i == 9:
            after_10 = rss_bytes()[0]
    client.close()
    final = rss_bytes()[0]
    return {"requests": n, "rss_after_10_mib": round(after_10 / 2**20, 1), "rss_after_all_mib": round(final / 2**20, 1),
            "growth": round(final / after_10 - 1, 4), "median_latency_s": round(statistics.median(times), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--checkpoint")
    source.add_argument("--arch", default="tiny-emoji", choices=sorted(ARCHITECTURES))
    parser.add_argument("--concurrent", type=int, default=20)
    parser.add_argument("--sequential", type=int, default=100)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--queue-size", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--out", default="assets/benchmarks/load.json")
    args = parser.parse_args()

    model = load_checkpoint(args.checkpoint) if args.checkpoint else LegoModel(ARCHITECTURES[args.arch]).eval()
    demo = app.build_demo(model, queue_size=args.queue_size)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    url = demo.local_url
    try:
        report = {
            "command": "python benchmarks/load_test.py " + " ".join(sys.argv[1:]),
            "model": args.checkpoint or f"{args.arch} (random weights)", "steps": args.steps,
            "queue_size": args.queue_size,
            "concurrent": concurrent_load(url, args.concurrent, args.steps, args.timeout),
            "sequential": sequential_memory(url, args.sequential, args.steps),
        }
        report["peak_rss_mib"] = round(rss_bytes()[1] / 2**20, 1)
    finally:
        demo.close()
    print(json.dumps(report, indent=2))
    results.write(report, args.out)


if __name__ == "__main__":
    main()
