"""One process against two: `python -m bench.processes [--samples N] [--methods ...] [--quick]`.

Each method trains the same small run (bundled MiniLM, the first N training sentences, one epoch, 200
validation and 200 test sentences) through the job runner, once in one process and once in two
(`--processes 2`: torch.distributed over gloo on a CPU), one run at a time, and the two are printed side
by side: test accuracy, steps, sentences trained on, train seconds. Two processes split every global batch
(`batch_size` is global), so both take the same number of steps over the same sentences; on a 2-core
CPU they are the distributed path's test bed, not a speed-up.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.common import DATA, table, wait_for, write_json
from sentiment_lab.runs.queue import JobManager
from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.records import read_results, read_status

METHODS = ("svm", "full", "lora", "freeze", "adapters")


def run(jm: JobManager, root: Path, method: str, samples: int, processes: int) -> dict:
    """The results of one finished run (its state and error where it did not finish)."""
    cfg = RunConfig.of(
        method=method,
        dataset=str(DATA),
        epochs=1,
        evals_per_epoch=1,
        max_train_samples=samples,
        max_eval_samples=200,
        processes=processes,
    )
    run_id = jm.submit(cfg)

    def ended() -> bool:
        jm.advance()  # marks a dead worker's run failed
        return read_status(root / run_id).get("state") in ("done", "failed", "stopped")

    wait_for(ended, timeout=3600, every=1)
    status = read_status(root / run_id)
    return {"state": status.get("state"), "error": status.get("error"), **(read_results(root / run_id) or {})}


def accuracy(result: dict) -> str:
    """A run's test accuracy, or "-" where it did not finish (a 0 would read as a result)."""
    return "-" if result["test_accuracy"] is None else f"{result['test_accuracy']:.3f}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=1600, help="training sentences")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--quick", action="store_true", help="400 sentences")
    args = parser.parse_args(argv)
    samples = 400 if args.quick else args.samples
    root = Path(tempfile.mkdtemp(prefix="bench-processes-"))
    jm = JobManager(root, max_running=1)
    rows, out = [], {}
    for method in args.methods.split(","):
        for processes in (1, 2):
            r = run(jm, root, method, samples, processes)
            out.setdefault(method, {})[processes] = {
                k: r.get(k) for k in ("state", "processes", "steps", "samples", "train_seconds")
            } | {"test_accuracy": (r.get("test") or {}).get("accuracy")}
            if r["state"] != "done":
                print(f"{method} in {processes} process(es): {r['state']}: {r.get('error')}", flush=True)
            rows.append(
                [
                    method,
                    r.get("processes", processes),
                    accuracy(out[method][processes]),
                    r.get("steps", "-"),
                    r.get("samples", "-"),
                    f"{r['train_seconds']:.1f}" if r.get("train_seconds") is not None else "-",
                ]
            )
            print("  ".join(map(str, rows[-1])), flush=True)
    print(table(rows, ["method", "processes", "test accuracy", "steps", "sentences", "train s"]))
    write_json("processes", {"samples": samples, "methods": out})
    print(
        "headline: "
        + ", ".join(f"{m} {accuracy(v[1])} / {accuracy(v[2])}" for m, v in out.items())
        + " (test accuracy, one / two processes)"
    )


if __name__ == "__main__":
    main()
