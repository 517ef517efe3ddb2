"""Job-runner acceptance on real runs: `python -m bench.jobs [--quick]`.

1. three real small runs (bundled MiniLM, a few hundred sentences) with concurrency 1: they run one
   after another; the second is stopped mid-run and must read `stopped` within 5 s with partial
   metrics; the third then starts;
2. `kill -9` of a running worker: the run reads `failed` with its log tail at the next listing;
   a fresh job manager over the same folder lists every run correctly;
3. time from submit to the first metrics line for the bundled MiniLM.
"""

from __future__ import annotations

import argparse
import os
import signal
import tempfile
import time
from pathlib import Path

from bench.common import DATA, table, wait_for, write_json
from sentiment_lab.runs.queue import JobManager
from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.records import read_status


def small(samples: int) -> RunConfig:
    return RunConfig.of(
        method="full", dataset=str(DATA), epochs=1, max_train_samples=samples, max_eval_samples=200, log_every=5
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller runs")
    args = parser.parse_args(argv)
    samples = 300 if args.quick else 800
    root = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    jm = JobManager(root, max_running=1)
    rows = []

    t0 = time.monotonic()
    ids = [jm.submit(small(samples)) for _ in range(3)]
    states = [read_status(root / i)["state"] for i in ids]
    rows.append(["states right after submitting 3", " / ".join(states)])
    first_line, waited = wait_for(lambda: jm.metrics(ids[0]), timeout=300)
    rows.append(["submit -> first metrics line (MiniLM)", f"{waited:.1f} s"])
    wait_for(lambda: read_status(root / ids[1]).get("state") == "running" and len(jm.metrics(ids[1])) >= 2, timeout=600)
    rows.append(["run 1 state when run 2 has metrics", read_status(root / ids[0])["state"]])
    t = time.monotonic()
    jm.stop(ids[1])
    _, stop_s = wait_for(lambda: read_status(root / ids[1]).get("state") in ("stopped", "failed"), timeout=30)
    rows.append(
        [
            "stop of run 2 -> state",
            f"{read_status(root / ids[1])['state']} after {stop_s:.1f} s, {len(jm.metrics(ids[1]))} metric lines kept",
        ]
    )
    wait_for(lambda: read_status(root / ids[2]).get("state") == "running", timeout=60)
    rows.append(["run 3 started after the stop", f"{time.monotonic() - t:.1f} s"])

    wait_for(lambda: len(jm.metrics(ids[2])) >= 1, timeout=300)
    pgid = read_status(root / ids[2])["pgid"]
    os.killpg(pgid, signal.SIGKILL)
    t = time.monotonic()
    _, failed_s = wait_for(lambda: {r["id"]: r for r in jm.list()}[ids[2]]["state"] == "failed", timeout=30, every=0.5)
    error = read_status(root / ids[2]).get("error") or ""
    rows.append(
        [
            "kill -9 of run 3 -> listing says",
            f"{read_status(root / ids[2])['state']} after {failed_s:.1f} s "
            f"(log tail: {len(error.splitlines()) - 1} lines)",
        ]
    )
    wait_for(lambda: read_status(root / ids[0]).get("state") in ("done", "failed"), timeout=900, every=1)
    fresh = {r["id"]: r["state"] for r in JobManager(root).list()}
    rows.append(
        [
            "fresh manager lists",
            ", ".join(
                f"run {ids.index(k) + 1}: {v}" for k, v in sorted(fresh.items(), key=lambda kv: ids.index(kv[0]))
            ),
        ]
    )
    rows.append(["total", f"{time.monotonic() - t0:.0f} s"])
    print(table(rows, ["check", "result"]))
    write_json("jobs", {"rows": rows, "root": str(root)})
    print(
        f"headline: stop took {stop_s:.1f} s, lost run detected in {failed_s:.1f} s, first metrics after {waited:.1f} s"
    )


if __name__ == "__main__":
    main()
