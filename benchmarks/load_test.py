"""Load and memory test of the real app on loopback, through gradio_client: a class pressing Generate at once.

    python benchmarks/load_test.py [--checkpoint DIR] [--concurrent 30] [--rounds 2] [--sequential 100]

1. ``--concurrent`` clients connect, then all send the app's default request at the same moment:
   each completes or is refused with a clear "queue is full" message; none may fail otherwise.
   Reports completed, refused, latency percentiles, the last finish, and resident memory before,
   after and at its peak. The burst runs with batching on and off (``--batching``), alternately,
   in one run: compare them as ratios, since the machine may be shared.
2. ``--sequential`` requests one after another (different seeds): resident memory after the
   first 10 and after all of them (target: less than 10% growth).
The app runs in its own process, as it would for a class whose browsers are other machines, so only
the server is measured (the clients still share this machine's CPU). In the bursts the clients take
each result's file URLs without downloading the files: a browser fetches the one picture it shows,
while a Python client would fetch every file of the result (the picture, the report and the PNG to
download), about 3 s of this CPU for thirty clients. Bounded: every request has a
timeout and the whole run a deadline; only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gradio_client import Client  # noqa: E402

import app  # noqa: E402
from lego import results  # noqa: E402
from lego.batching import BATCHING  # noqa: E402
from lego.checkpoint import ALL_EMOJI_CHECKPOINT, load_checkpoint  # noqa: E402
from lego.request import DEFAULT_GUIDANCE, DEFAULT_METHOD, DEFAULT_STEPS  # noqa: E402
from lego.serving import shown_source  # noqa: E402

ALL = [0, 1, 2, 3, 4]


def rss_bytes(pid: int | str = "self") -> tuple[int, int]:
    """(current, peak) resident set size of a process (this one by default), from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024


def serve(checkpoint: str, port: int, batching: str) -> None:
    """The app as the benchmarks' server process runs it, until it is terminated."""
    logging.basicConfig(level=logging.INFO, format="server %(asctime)s %(message)s")
    demo = app.build_demo(load_checkpoint(checkpoint), queue_size=64, batching=batching)
    demo.launch(server_name="127.0.0.1", server_port=port, quiet=True, **app.LAUNCH_OPTIONS)


def start_server(checkpoint: str, timeout: float, batching: str = "auto",
                 env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """The app in a child process (with these extra environment variables), once it answers."""
    with socket.socket() as probe:  # a free loopback port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port), "--checkpoint", checkpoint,
                               "--batching", batching], env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}/"
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline and server.poll() is None:
        try:
            Client(url, verbose=False).close()
            return server, url
        except Exception:  # noqa: BLE001 - not listening yet
            time.sleep(1)
    server.kill()
    raise SystemExit("the app did not start")


def request_args(steps: int, method: str, size: int) -> dict:
    """The Generate tab's defaults by parameter name (previews off: a class's browsers would stream them too, but
    the clients here would only discard them)."""
    return {"category": "Flags", "seed": 0, "randomize": False, "steps": steps, "guidance": DEFAULT_GUIDANCE,
            "guide": "", "sampler": method, "images": 1, "width": size, "height": size, "canvas_mode": "tiles",
            "stride": 0, "shift": False, "coords": "squeeze", "previews": False, "preview_every": 3, "num_ranges": 5,
            "schedule_json": "", "brick_0": ALL, "brick_1": ALL, "brick_2": ALL}


def endpoint_args(client: Client, api_name: str, request: dict, **changes) -> list:
    """``request`` as the positional arguments of one endpoint, in the order its API documents them. /estimate,
    which a browser's page load runs (opening the visitor's session before anyone presses Generate), takes a subset
    of /generate's."""
    params = client.view_api(return_format="dict", print_info=False)["named_endpoints"][api_name]["parameters"]
    values = {**request, **changes}
    return [values[p["parameter_name"]] for p in params]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def concurrent_load(url: str, pid: int, n: int, request: dict, timeout: float) -> dict:
    """``n`` clients connect, then send ``request`` (seeds differ) at once; latencies count from that moment."""
    outcomes: list[tuple[str, float, str]] = []
    lock = threading.Lock()
    ready = threading.Barrier(n + 1)
    start = 0.0

    def one(i: int) -> None:
        client = Client(url, verbose=False, download_files=False)  # see the module docstring
        client.predict(*endpoint_args(client, "/estimate", request), api_name="/estimate")
        ready.wait(timeout)
        try:
            job = client.submit(*endpoint_args(client, "/generate", request, seed=1000 + i), api_name="/generate")
            job.result(timeout=timeout)
            outcome, message = "completed", ""
        except Exception as exc:  # noqa: BLE001 - classified below
            message = str(exc)
            outcome = "refused" if "queue" in message.lower() and "full" in message.lower() else "error"
        with lock:
            outcomes.append((outcome, time.perf_counter() - start, message))
        client.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    before = rss_bytes(pid)[0]
    ready.wait(timeout)
    start = time.perf_counter()
    for t in threads:
        t.join(timeout + 30)
    after, peak = rss_bytes(pid)
    done = [r for r in outcomes if r[0] == "completed"]
    latencies = [r[1] for r in done]
    return {
        "requests": n, "completed": len(done), "refused": sum(r[0] == "refused" for r in outcomes),
        "errors": sum(r[0] == "error" for r in outcomes), "unfinished": n - len(outcomes),
        "error_messages": sorted({r[2][:200] for r in outcomes if r[0] == "error"}),
        "latency_s": {"p50": round(percentile(latencies, 0.5), 3), "p95": round(percentile(latencies, 0.95), 3),
                      "last_finish": round(max(latencies), 3)} if latencies else None,
        "server_rss_mib": {"before": round(before / 2**20, 1), "after": round(after / 2**20, 1),
                           "peak": round(peak / 2**20, 1)},
    }


def sequential_memory(url: str, pid: int, n: int, request: dict) -> dict:
    client = Client(url, verbose=False)
    after_10 = None
    times = []
    for i in range(n):
        start = time.perf_counter()
        client.predict(*endpoint_args(client, "/generate", request, seed=5000 + i), api_name="/generate")
        times.append(time.perf_counter() - start)
        if i == 9:
            after_10 = rss_bytes(pid)[0]
    client.close()
    final = rss_bytes(pid)[0]
    return {"requests": n, "rss_after_10_mib": round(after_10 / 2**20, 1), "rss_after_all_mib": round(final / 2**20, 1),
            "growth": round(final / after_10 - 1, 4), "median_latency_s": round(statistics.median(times), 3)}


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--checkpoint", default=str(ALL_EMOJI_CHECKPOINT), help="the model the app serves")
    parser.add_argument("--concurrent", type=int, default=30, help="clients that press Generate at once in each burst")
    parser.add_argument("--rounds", type=int, default=2, help="bursts with batching off and on, alternately")
    parser.add_argument("--sequential", type=int, default=100,
                        help="requests one after another for the memory check (0: none)")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="sampling steps per request")
    parser.add_argument("--sampler", default=DEFAULT_METHOD, help="the sampler of every request")
    parser.add_argument("--timeout", type=float, default=300,
                        help="seconds allowed for the server to start and for each request")
    parser.add_argument("--out", default="assets/benchmarks/load.json", help="the JSON the figures are written to")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the server process
    parser.add_argument("--batching", default="auto", choices=BATCHING, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve(args.checkpoint, args.serve, args.batching)

    size = load_checkpoint(args.checkpoint).config.image_size
    request = request_args(args.steps, args.sampler, size)
    report = {
        "command": "python benchmarks/load_test.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "model": shown_source(args.checkpoint), "sampler": args.sampler, "steps": args.steps,
        "bursts": {"off": [], "on": []},
    }

    def with_server(batching: str, measure):
        server, url = start_server(args.checkpoint, args.timeout, batching)
        try:
            return measure(url, server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)

    for _ in range(args.rounds):
        for batching in ("off", "on"):
            burst = with_server(batching, lambda url, pid: concurrent_load(url, pid, args.concurrent, request,
                                                                           args.timeout))
            report["bursts"][batching].append(burst)
            print(f"batching {batching}: {json.dumps(burst)}", flush=True)
    lasts = {b: statistics.median(r["latency_s"]["last_finish"] for r in runs if r["latency_s"])
             for b, runs in report["bursts"].items()}
    report["last_finish_off_over_on"] = round(lasts["off"] / lasts["on"], 3)
    if args.sequential:
        report["sequential"] = with_server("on", lambda url, pid: sequential_memory(url, pid, args.sequential,
                                                                                      request))
    print(json.dumps(report, indent=2))
    results.write(report, args.out)
    return report


if __name__ == "__main__":
    main()
