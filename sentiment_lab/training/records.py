"""Read and write the files of one run folder: status, results, metrics (incrementally)."""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from sentiment_lab.storage import read_json, write_json_atomic

STATES = ("queued", "running", "done", "failed", "stopped", "cancelled")
FINAL = ("done", "failed", "stopped", "cancelled")


def write_status(folder: Path, state: str, **extra) -> dict:
    """Replace status.json, keeping earlier fields (pid, times) unless overwritten. The app and the run's
    worker both write it: each read-and-write holds the folder's lock, so neither loses the other's fields."""
    assert state in STATES, state
    lock = os.open(folder, os.O_RDONLY)  # the folder itself is the lock: no file of its own in the run
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released as it closes, or as a killed writer's process ends
        status = read_json(folder / "status.json", {}) or {}
        status.update(extra, state=state, updated=time.time())
        if state == "running" and not status.get("started"):
            status["started"] = time.time()
        if state in FINAL and not status.get("finished"):  # a resumed run clears it (None) and ends again
            status["finished"] = time.time()
        write_json_atomic(folder / "status.json", status)
    finally:
        os.close(lock)
    return status


def duration_text(seconds) -> str:
    """`75` → "1m15s", `9.5` → "9s"; None → ""."""
    if seconds is None:
        return ""
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def phase_text(phase: dict, now: float | None = None) -> str:
    """What a run does before its first training step, as the runs table and `jobs list` say it; features say
    their own time left (the run's time left needs its steps), from their pace so far."""
    if phase.get("name") == "features" and phase.get("total"):
        done, total, since = phase.get("done") or 0, phase["total"], phase.get("since")
        text = f"features {done / total:.0%}"
        if since and done:
            text += f" · {duration_text(((now or time.time()) - since) / done * (total - done))} left"
        return text
    return {"fit": "fitting"}.get(phase.get("name"), phase.get("name") or "-")


def read_status(folder: Path) -> dict:
    return read_json(folder / "status.json", {}) or {}


def read_results(folder: Path) -> dict | None:
    return read_json(folder / "results.json")


@dataclass
class MetricsCursor:
    """Reads only the bytes added to metrics.jsonl since the last call; skips a half-written last line.

    A file replaced since the last call (a resumed run trims its rows into a new file) is read again
    from its start, and `restarted` says so: rows read before are then no longer the run's."""

    path: Path
    offset: int = 0
    inode: int | None = None
    restarted: bool = False

    def read_new(self) -> list[dict]:
        self.restarted = False
        try:
            st = os.stat(self.path)
        except OSError:
            return []
        size = st.st_size
        if size < self.offset or (self.inode is not None and st.st_ino != self.inode):
            self.offset, self.restarted = 0, True
        self.inode = st.st_ino
        if size == self.offset:
            return []
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            chunk = f.read(size - self.offset)
        end = chunk.rfind(b"\n") + 1
        self.offset += end
        rows = []
        for line in chunk[:end].splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue  # a damaged line never hides the rest
            if isinstance(row, dict):
                rows.append(row)
        return rows


def read_metrics(folder: Path) -> list[dict]:
    return MetricsCursor(folder / "metrics.jsonl").read_new()
