"""How long Stop takes: `python -m bench.stop [--stops 5] [--method full]`.

Each trial queues a real run of the bundled MiniLM through the job queue (accelerate launch, as the app
does), waits for its first train-loss line (mid-training), presses Stop, and times until the run reads
`stopped` (or `failed`), and the size of the training state it saved; then the same before the first step
(right after the worker starts); then `python -m sentiment_lab.jobs stop` typed mid-run while the process
that launched the run (here the bench, in the app the web server) does not refresh, timed until the command
returns. Prints each trial, the state and message the run was left with, and the medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import DATA, table, wait_for, write_json
from sentiment_lab.runs.queue import JobManager
from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.records import read_status
from sentiment_lab.training.state import state_path


def one_stop(jm: JobManager, method: str, mid_run: bool, from_cli: bool = False) -> tuple[float, str, str, float]:
    """(seconds from Stop to an ended state, or to the stop command's return, that state, its message, the MB of
    training state it saved)."""
    cfg = RunConfig.of(
        method=method, dataset=str(DATA), epochs=1, max_train_samples=2000, max_eval_samples=500, log_every=5
    )
    run_id = jm.submit(cfg)
    root = jm.root
    if mid_run:
        wait_for(lambda: any("loss" in r for r in jm.metrics(run_id)), timeout=600, every=0.1)
    else:
        wait_for(lambda: read_status(root / run_id).get("state") == "running", timeout=120, every=0.05)
    if from_cli:
        started = time.perf_counter()
        env = {**os.environ, "SENTIMENT_LAB_CHECKPOINTS": str(root)}
        subprocess.run([sys.executable, "-m", "sentiment_lab.jobs", "stop", run_id], env=env, check=True)
        seconds = time.perf_counter() - started
    else:
        jm.stop(run_id)
        _, seconds = wait_for(
            lambda: read_status(root / run_id).get("state") in ("stopped", "failed"), timeout=60, every=0.05
        )
    status = read_status(root / run_id)
    wait_for(lambda: not any(r["state"] == "running" for r in jm.list()), timeout=60, every=0.1)
    saved = state_path(root / run_id)
    return seconds, status["state"], status.get("error") or "", saved.stat().st_size / 1e6 if saved.is_file() else 0.0


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stops", type=int, default=5)
    parser.add_argument("--method", default="full")
    args = parser.parse_args(argv)
    jm = JobManager(Path(tempfile.mkdtemp(prefix="bench-stop-")), max_running=1)
    rows, out = [], {}
    trials = (("mid-run", True, False), ("before the first step", False, False), ("jobs stop, mid-run", True, True))
    for when, mid, cli in trials:
        times, sizes = [], []
        for i in range(args.stops if mid and not cli else max(1, args.stops // 2)):
            seconds, state, message, mb = one_stop(jm, args.method, mid, cli)
            times.append(seconds)
            sizes.append(mb)
            rows.append([when, i + 1, f"{seconds:.2f} s", f"{mb:.1f}", state, message[:110]])
        out[when] = {"median_s": statistics.median(times), "times": times, "state_mb": max(sizes)}
    print(table(rows, ["when", "trial", "Stop -> ended", "state MB", "state", "message"]))
    write_json("stop", {"method": args.method, **out})
    print(
        f"headline: {args.method} stop mid-run median {out['mid-run']['median_s']:.2f} s, "
        f"before the first step {out['before the first step']['median_s']:.2f} s, "
        f"`jobs stop` mid-run returns in {out['jobs stop, mid-run']['median_s']:.2f} s; "
        f"training state saved mid-run {out['mid-run']['state_mb']:.1f} MB"
    )


if __name__ == "__main__":
    main()
