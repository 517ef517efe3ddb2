"""Read and write the files of one run folder: status, results, metrics (incrementally)."""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .storage import read_json, write_json_atomic

STATES = ("queued", "running", "done", "failed", "stopped", "cancelled")
FINAL = ("done", "failed", "stopped", "cancelled")


def write_status(folder: Path, state: str, **extra) -> dict:
    """Replace status.json, keeping earlier fields (pid, times) unless overwritten."""
    assert state in STATES, state
    status = read_json(folder / "status.json", {}) or {}
    status.update(extra, state=state, updated=time.time())
    if state == "running":
        status.setdefault("started", time.time())
    if state in FINAL:
        status.setdefault("finished", time.time())
    write_json_atomic(folder / "status.json", status)
    return status


def read_status(folder: Path) -> dict:
    return read_json(folder / "status.json", {}) or {}


def read_results(folder: Path) -> dict | None:
    return read_json(folder / "results.json")


@dataclass
class MetricsCursor:
    """Reads only the bytes added to metrics.jsonl since the last call; skips a half-written last line."""

    path: Path
    offset: int = 0

    def read_new(self) -> list[dict]:
        try:
            size = os.path.getsize(self.path)
        except OSError:
            return []
        if size < self.offset:  # file replaced: start again
            self.offset = 0
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
