"""Runs training at once on a CPU: `python -m bench.runs_at_once [--runs N] [--samples N] [--quick]`.

N full fine-tuning runs (bundled MiniLM, the first `--samples` training sentences, one epoch, 200
validation and 200 test sentences) are queued together in a job runner of N slots, twice: first as
accelerate launches a one-process CPU run by default (every run a thread per core, so N runs oversubscribe
the cores), then with the queue's launch line (each run its share of the cores). Printed: the seconds from
queueing to the last run's end and each run's train seconds, and the ratio of the two wall times.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.common import DATA, table, wait_for, write_json
from sentiment_lab.runs.launch import launch_command
from sentiment_lab.runs.queue import JobManager
from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.records import read_results, read_status

FLAG = "--num_cpu_threads_per_process"


def every_core(run_id, folder, args, **kw) -> list[str]:
    """The launch line without the thread share: accelerate's default of one thread per core for each run."""
    cmd = launch_command(run_id, folder, args, **kw)
    if FLAG in cmd:
        at = cmd.index(FLAG)
        del cmd[at : at + 2]
    return cmd


def batch(runs: int, samples: int, launcher) -> dict:
    """Queue `runs` runs at once; the wall seconds to the last one's end and each run's results."""
    root = Path(tempfile.mkdtemp(prefix="bench-runs-at-once-"))
    jm = JobManager(root, max_running=runs, launcher=launcher)
    cfg = RunConfig.of(
        method="full",
        dataset=str(DATA),
        epochs=1,
        evals_per_epoch=1,
        max_train_samples=samples,
        max_eval_samples=200,
    )
    start = time.monotonic()
    ids = [jm.submit(cfg) for _ in range(runs)]

    def ended() -> bool:
        jm.advance()  # marks a dead worker's run failed
        return all(read_status(root / r).get("state") in ("done", "failed", "stopped") for r in ids)

    wait_for(ended, timeout=3600, every=0.5)
    wall = time.monotonic() - start
    results = [{"state": read_status(root / r).get("state"), **(read_results(root / r) or {})} for r in ids]
    return {"wall_seconds": wall, "runs": results}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2, help="runs queued together, and the queue's slots")
    parser.add_argument("--samples", type=int, default=800, help="training sentences per run")
    parser.add_argument("--quick", action="store_true", help="200 sentences")
    args = parser.parse_args(argv)
    samples = 200 if args.quick else args.samples
    out, rows = {}, []
    for name, launcher in (("every run a thread per core", every_core), ("the cores shared", launch_command)):
        res = out[name] = batch(args.runs, samples, launcher)
        failed = [r for r in res["runs"] if r["state"] != "done"]
        if failed:
            print(f"{name}: {len(failed)} run(s) did not finish: {failed}", flush=True)
        train = ", ".join(f"{r['train_seconds']:.1f}" for r in res["runs"] if r.get("train_seconds") is not None)
        rows.append([name, f"{res['wall_seconds']:.1f}", train or "-"])
        print("  ".join(rows[-1]), flush=True)
    print(table(rows, ["threads", "wall s (queued to last end)", "train s per run"]))
    base, ours = (out[k]["wall_seconds"] for k in out)
    write_json("runs_at_once", {"runs": args.runs, "samples": samples, "batches": out, "ratio": base / ours})
    print(f"headline: {args.runs} full runs at once end {base / ours:.2f}x sooner with the cores shared")


if __name__ == "__main__":
    main()
