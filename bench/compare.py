"""Compare-tab latency and memory: `python -m bench.compare --root RUNS [--quick]`.

Latency of one review through all five loaded methods (median and p95), and the resident memory
of a process with all five loaded against a process with one full model alone; then the Compare
tab's list mode: test sentences through all five batched (predict_many) against one at a time. RUNS must hold a
finished run of each method (e.g. from `python -m bench.accuracy`). Each measurement runs in a
fresh process so that memory figures do not mix.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from bench.common import ROOT, table, write_json

REVIEWS = [
    "A gorgeous, funny and deeply moving film that earns every one of its tears.",
    "The plot is a mess, the jokes fall flat and two hours have never felt longer.",
    "Not the best movie of the year, but the cast is charming enough to carry it.",
]


def rss_mb(field: str = "Rss") -> float:
    """Resident MB from smaps_rollup: `Rss` counts mapped files (libraries, safetensors) too,
    `Anonymous` only this process's own heap (tensors it allocated)."""
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def many_reviews(predictor, runs, count: int) -> dict:
    """Reviews/s for `count` test sentences through all five: one predict call each, then batched
    (bf16 where the CPU has it), then batched in fp32."""
    import time

    import pandas as pd

    from bench.common import DATA

    texts = pd.read_parquet(DATA / "test.parquet")["text"].tolist()[:count]
    t = time.perf_counter()
    for text in texts:
        predictor.predict(text, runs)
    single = time.perf_counter() - t
    t = time.perf_counter()
    predictor.predict_many(texts, runs)
    batched = time.perf_counter() - t
    import sentiment_lab.serving.predict as predict

    native, predict.cpu_has_native_bf16 = predict.cpu_has_native_bf16, lambda: False  # why batches use bf16
    t = time.perf_counter()
    predictor.predict_many(texts, runs)
    batched_fp32 = time.perf_counter() - t
    predict.cpu_has_native_bf16 = native
    return {
        "reviews": len(texts),
        "one_at_a_time_per_s": len(texts) / single,
        "batched_per_s": len(texts) / batched,
        "batched_fp32_per_s": len(texts) / batched_fp32,
    }


def measure(root: str, only: str | None, n: int, many: int = 0) -> dict:
    """Runs inside the child process: load, warm up, time n predictions, report RSS."""
    import time

    import torch

    from sentiment_lab.runs.queue import JobManager
    from sentiment_lab.serving.predict import Predictor

    torch.set_num_threads(torch.get_num_threads())
    base = rss_mb()
    predictor = Predictor(JobManager(Path(root)))
    runs = predictor.latest_runs()
    if only:
        runs = {m: (r if m == only else None) for m, r in runs.items()}
    missing = [m for m, r in runs.items() if r is None and (only is None or m == only)]
    if missing:
        raise SystemExit(f"no finished run for: {', '.join(missing)} under {root}")
    predictor.predict(REVIEWS[0], runs)  # load everything once
    times = []
    for i in range(n):
        t = time.perf_counter()
        rows = predictor.predict(REVIEWS[i % len(REVIEWS)], runs)
        times.append((time.perf_counter() - t) * 1000)
        assert all("error" not in r for r in rows if r["run"]), rows
    memory = {"rss_mb": rss_mb(), "anon_mb": rss_mb("Anonymous"), "python_torch_mb": base, "times_ms": times}
    return {**memory, "many": many_reviews(predictor, runs, many) if many else None}


def child(root: str, only: str | None, n: int, many: int = 0) -> dict:
    call = f"measure({root!r}, {only!r}, {n}, {many})"
    code = f"import json,sys; from bench.compare import measure; print('RESULT'+json.dumps({call}))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return json.loads(out.split("RESULT", 1)[1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="checkpoints folder with a finished run of each method")
    parser.add_argument("--n", type=int, default=50, help="predictions to time")
    parser.add_argument("--many", type=int, default=256, help="test sentences for the list mode (0: skip it)")
    parser.add_argument("--quick", action="store_true", help="20 predictions, 64 sentences for the list mode")
    args = parser.parse_args(argv)
    n = 20 if args.quick else args.n
    full = child(args.root, "full", n)
    five = child(args.root, None, n, min(args.many, 64) if args.quick else args.many)
    p = lambda xs, q: statistics.quantiles(xs, n=100)[q - 1]  # noqa: E731
    rows = [
        [
            "one full model",
            f"{statistics.median(full['times_ms']):.1f}",
            f"{p(full['times_ms'], 95):.1f}",
            f"{full['rss_mb']:.0f}",
        ],
        [
            "all five methods",
            f"{statistics.median(five['times_ms']):.1f}",
            f"{p(five['times_ms'], 95):.1f}",
            f"{five['rss_mb']:.0f}",
        ],
    ]
    for row, res in zip(rows, (full, five)):
        row.append(f"{res['anon_mb']:.0f}")
    print(table(rows, ["loaded", "p50 ms", "p95 ms", "RSS MB", "anonymous MB"]))
    base = full["python_torch_mb"]
    ratio = (five["rss_mb"] - base) / max(full["rss_mb"] - base, 1e-9)
    total_ratio = five["rss_mb"] / full["rss_mb"]
    anon_ratio = five["anon_mb"] / full["anon_mb"]
    write_json(
        "compare",
        {
            "full": full,
            "five": five,
            "memory_ratio": total_ratio,
            "model_memory_ratio": ratio,
            "anon_ratio": anon_ratio,
        },
    )
    print(
        f"anonymous (heap) memory: five {five['anon_mb']:.0f} MB vs one full {full['anon_mb']:.0f} MB = "
        f"{anon_ratio:.2f}x"
    )
    print(
        f"memory beyond python+torch ({base:.0f} MB): five {five['rss_mb'] - base:.0f} MB vs one full "
        f"{full['rss_mb'] - base:.0f} MB = {ratio:.2f}x"
    )
    if many := five.get("many"):
        print(
            f"many reviews ({many['reviews']} test sentences, all five): one at a time "
            f"{many['one_at_a_time_per_s']:.1f} reviews/s, "
            f"batched {many['batched_per_s']:.1f} reviews/s = "
            f"{many['batched_per_s'] / many['one_at_a_time_per_s']:.1f}x "
            f"(batched in fp32: {many['batched_fp32_per_s']:.1f})"
        )
    print(
        f"headline: all five p50 {statistics.median(five['times_ms']):.1f} ms, memory {total_ratio:.2f}x one full model"
    )


if __name__ == "__main__":
    main()
