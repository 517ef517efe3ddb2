"""metrics.jsonl: one JSON object per line, appended and flushed as training goes."""

from __future__ import annotations

import json
import time
from pathlib import Path


class MetricsWriter:
    """A reporter for the training loop that appends each dict, stamped with wall time."""

    def __init__(self, path: Path, also=None, clock=None):
        """Args:
        clock: seconds since the run began (its earlier stretches included, if resumed); each row gets
            it as `seconds`, the Curves tab's time axis.
        """
        self.file = open(path, "a", encoding="utf-8")
        self.also, self.clock = also, clock

    def __call__(self, row: dict) -> None:
        row = {"time": round(time.time(), 3), **({"seconds": round(self.clock(), 2)} if self.clock else {}), **row}
        self.file.write(json.dumps(row) + "\n")
        self.file.flush()
        if self.also:
            self.also(row)

    def close(self) -> None:
        self.file.close()
