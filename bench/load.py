"""Load: `python -m bench.load --root RUNS [--users 16] [--seconds 60] [--quick]`.

Launches the app on a free localhost port over RUNS (which needs a finished run of each method),
then N gradio_client users call /compare in a loop for the given time while one small training run
goes on. Reports errors, p50 / p95 latency, and the training run's samples/s against the same run
trained without the load (measured first, in this process's session).
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import threading
import time
from pathlib import Path

from bench.common import DATA, table, wait_for, write_json
from bench.compare import REVIEWS
from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.records import read_results, read_status

REVIEW = REVIEWS[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_speed(jobs, samples: int, made: list) -> float:
    run = jobs.submit(
        RunConfig.of(
            method="lora", dataset=str(DATA), epochs=1, max_train_samples=samples, max_eval_samples=100
        ).validated()
    )
    made.append(jobs.root / run)
    wait_for(lambda: read_status(jobs.root / run).get("state") in ("done", "failed", "stopped"), timeout=900, every=0.5)
    return (read_results(jobs.root / run) or {}).get("samples_per_second", float("nan"))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True)
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--quick", action="store_true", help="8 users for 20 s")
    args = parser.parse_args(argv)
    users, seconds = (8, 20.0) if args.quick else (args.users, args.seconds)
    from gradio_client import Client

    from sentiment_lab.ui.app import build_app

    app = build_app(Path(args.root))
    port = free_port()
    app.queue(default_concurrency_limit=4, max_size=256).launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True
    )
    url = f"http://127.0.0.1:{port}/"
    jobs = app.services.jobs
    samples = 400
    made: list[Path] = []  # its small LoRA runs are removed at the end: they must not become Compare's latest
    alone = train_speed(jobs, samples, made)
    Client(url, verbose=False).predict(REVIEW, api_name="/compare")  # models loaded before the clock starts
    latencies, errors, lock = [], [], threading.Lock()
    stop_at = time.monotonic() + seconds

    def user():
        client = Client(url, verbose=False)
        while time.monotonic() < stop_at:
            t = time.perf_counter()
            try:
                rows = client.predict(REVIEW, api_name="/compare")
                ok = all("label" in r for r in rows)
            except Exception as e:  # counted, not raised: the figure is the error count
                ok, rows = False, str(e)
            with lock:
                (latencies if ok else errors).append((time.perf_counter() - t) * 1000 if ok else rows)

    trainer = threading.Thread(target=lambda: out.__setitem__("loaded", train_speed(jobs, samples, made)))
    out: dict = {}
    threads = [threading.Thread(target=user) for _ in range(users)]
    trainer.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    trainer.join()
    app.close()
    for folder in made:
        shutil.rmtree(folder, ignore_errors=True)
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [float("nan")] * 99
    rows = [
        [
            users,
            f"{seconds:.0f}",
            len(latencies),
            len(errors),
            f"{statistics.median(latencies):.0f}",
            f"{q[94]:.0f}",
            f"{alone:.1f}",
            f"{out.get('loaded', float('nan')):.1f}",
        ]
    ]
    print(
        table(
            rows,
            [
                "users",
                "s",
                "requests",
                "errors",
                "p50 ms",
                "p95 ms",
                "train samples/s alone",
                "train samples/s under load",
            ],
        )
    )
    write_json(
        "load",
        {
            "users": users,
            "seconds": seconds,
            "latencies_ms": latencies,
            "errors": errors[:10],
            "train_alone": alone,
            "train_loaded": out.get("loaded"),
        },
    )
    print(
        f"headline: {len(errors)} errors in {len(latencies) + len(errors)} compare calls, p50 "
        f"{statistics.median(latencies):.0f} ms"
    )


if __name__ == "__main__":
    main()
