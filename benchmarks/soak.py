"""Soak test of the real app on loopback: many sessions, previews on and off, cancels and model loads.

    python benchmarks/soak.py [--checkpoint DIR] [--sessions 20] [--requests 200] [--out assets/benchmarks/soak.json]

Each of ``--sessions`` gradio_client sessions takes its turn until ``--requests`` have been made:
most requests generate (previews on for every other one), every 10th is cancelled after its
first step (``--cancel-every``), and every 25th first loads one of three other checkpoints
(``--load-every``; copies of the served weights in a temporary folder), so model slots fill and
are evicted; the first three sessions each load one before their first request, so that the
server's bounded model slots are already full when the baseline is read. A session whose model was
evicted is told so (counted as ``evicted``) and loads it again. The app runs in its own process,
so that only the server's memory is measured, not the clients': its resident memory is read
after the first ``--sessions`` requests and at the end, and the target is less than 10% growth.
Bounded: every request has a timeout; only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gradio_client import Client  # noqa: E402

from load_test import ALL, rss_bytes, start_server  # noqa: E402
from lego import results  # noqa: E402
from lego.checkpoint import ALL_EMOJI_CHECKPOINT, load_checkpoint, save_checkpoint  # noqa: E402
from lego.serving import shown_source  # noqa: E402


def generate_args(seed: int, steps: int, previews: bool) -> list:
    return ["Flags", seed, False, steps, 2.0, "", "heun", 1, 64, 64, "tiles", 0, False, "repeat", previews, 1, 5, "",
            ALL, ALL, ALL]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--checkpoint", default=str(ALL_EMOJI_CHECKPOINT),
                        help="the model the app serves (and copies to load)")
    parser.add_argument("--sessions", type=int, default=20, help="client sessions that take turns")
    parser.add_argument("--requests", type=int, default=200, help="requests in all")
    parser.add_argument("--steps", type=int, default=6, help="sampling steps per request that is not cancelled")
    parser.add_argument("--timeout", type=float, default=120,
                        help="seconds allowed for the server to start and for each request")
    parser.add_argument("--cancel-every", type=int, default=10, help="cancel every Nth request (0: none)")
    parser.add_argument("--load-every", type=int, default=25, help="load a model before every Nth (0: none)")
    parser.add_argument("--out", default="assets/benchmarks/soak.json", help="the JSON the figures are written to")
    args = parser.parse_args(argv)

    model = load_checkpoint(args.checkpoint)
    others = Path(tempfile.mkdtemp(prefix="lego_soak_"))
    for k in range(3):
        save_checkpoint(model, others / f"other{k}")
    # the server may read the checkpoints in ``others``
    server, url = start_server(args.checkpoint, args.timeout, env={"LEGO_CHECKPOINT_DIRS": str(others)})
    counts = {"completed": 0, "cancelled": 0, "loads": 0, "evicted": 0, "errors": 0}
    messages: set[str] = set()
    try:
        clients = [Client(url, verbose=False) for _ in range(args.sessions)]
        loaded: dict[int, str] = {}
        start = time.perf_counter()
        rss_first = None
        rounds: list[float] = []  # resident MiB after each round
        for i in range(args.requests):
            s = i % args.sessions
            client = clients[s]
            try:
                warm_up = args.load_every and i < 3  # the model slots are full before the baseline is read
                if warm_up or (args.load_every and i % args.load_every == args.load_every // 2):
                    loaded[s] = str(others / f"other{i if warm_up else (i // args.load_every) % 3}")
                    client.predict(loaded[s], api_name="/load_model")
                    counts["loads"] += 1
                if args.cancel_every and i % args.cancel_every == 7 % args.cancel_every:
                    job = client.submit(*generate_args(i, 30, i % 2 == 0), api_name="/generate")
                    deadline = time.perf_counter() + args.timeout
                    while len(job.outputs()) < 2 and not job.done() and time.perf_counter() < deadline:
                        time.sleep(0.01)
                    job.cancel()
                    counts["cancelled"] += 1
                else:
                    client.submit(*generate_args(i, args.steps, i % 2 == 0), api_name="/generate").result(
                        timeout=args.timeout)
                    counts["completed"] += 1
            except Exception as exc:  # noqa: BLE001 - classified below
                text = str(exc)
                if "was unloaded to make room" in text:
                    counts["evicted"] += 1
                    client.predict(loaded[s], api_name="/load_model")  # the user reloads, as told
                else:
                    counts["errors"] += 1
                    messages.add(text[:200])
            if (i + 1) % args.sessions == 0:  # the end of a round: every session has made one more request
                rounds.append(round(rss_bytes(server.pid)[0] / 2**20, 1))
                rss_first = rss_first or rss_bytes(server.pid)[0]
        seconds = time.perf_counter() - start
        for client in clients:
            client.close()
        rss_last, rss_peak = rss_bytes(server.pid)
        report = {
            "command": "python benchmarks/soak.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "model": shown_source(args.checkpoint), "sessions": args.sessions, "requests": args.requests,
            "steps": args.steps,
            **counts, "error_messages": sorted(messages), "seconds": round(seconds, 1),
            "rss_after_first_round_mib": round(rss_first / 2**20, 1), "rss_at_end_mib": round(rss_last / 2**20, 1),
            "rss_growth": round(rss_last / rss_first - 1, 4), "peak_rss_mib": round(rss_peak / 2**20, 1),
            "rss_after_each_round_mib": rounds, "malloc_arena_max": os.environ.get("MALLOC_ARENA_MAX"),
        }
    finally:
        server.terminate()
        server.wait(timeout=30)
    results.write(report, args.out)
    print({k: v for k, v in report.items() if k != "command"})


if __name__ == "__main__":
    main()
