"""A fake training worker (no torch) that writes status and metrics like the real one.

Run as: worker.py FOLDER STEPS STEP_SECONDS MODE   (MODE: polite | stubborn | crash)
"""

import json
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from sentiment_lab.runs.queue import JobManager  # noqa: E402
from sentiment_lab.training.records import write_status  # noqa: E402


def fake_launcher(run_id, folder, args, **_):
    """JobManager launcher: the run's train args are this worker's STEPS STEP_SECONDS MODE (the queue's
    `gpus` and `runs` it ignores: the queue's environment tells the worker which GPUs it has)."""
    return [sys.executable, str(Path(__file__).resolve()), str(folder), *args]


def main(folder: Path, steps: int, step_s: float, mode: str) -> None:
    stop = []
    signal.signal(signal.SIGTERM, (lambda *_: None) if mode == "stubborn" else (lambda *_: stop.append(1)))
    write_status(folder, "running", pid=os.getpid(), pgid=os.getpgid(0), sees=os.environ.get("CUDA_VISIBLE_DEVICES"))
    with open(folder / "metrics.jsonl", "a") as f:
        for step in range(1, steps + 1):
            if stop:
                break
            time.sleep(step_s)
            f.write(
                json.dumps(
                    {"time": time.time(), "step": step, "epoch": step / steps, "loss": 1 / step, "total_steps": steps}
                )
                + "\n"
            )
            f.flush()
            if mode == "crash" and step == 2:
                os._exit(3)
    write_status(folder, "stopped" if stop else "done", error=f"stopped by the user at step {step}" if stop else None)
    JobManager(folder.parent, launcher=fake_launcher).advance()  # the queue moves on without the app


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4])
