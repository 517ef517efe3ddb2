"""metrics.jsonl: one JSON object per line, appended and flushed as training goes."""
from __future__ import annotations

import json
import time
from pathlib import Path


class MetricsWriter:
    """A reporter for the training loop that appends each dict, stamped with wall time."""

    def __init__(self, path: Path, also=None):
        self.file = open(path, "a", encoding="utf-8")
        self.also = also

    def __call__(self, row: dict) -> None:
        row = {"time": round(time.time(), 3), **row}
        self.file.write(json.dumps(row) + "\n")
        self.file.flush()
        if self.also:
            self.also(row)

    def close(self) -> None:
        self.file.close()
