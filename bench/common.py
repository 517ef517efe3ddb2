"""Shared bits for the benchmarks: where the offline data is, JSON output, small timing helpers."""

from __future__ import annotations

import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "rotten_tomatoes"
RESULTS = ROOT / "bench" / "results"


def write_json(name: str, payload) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=1))
    return path


def wait_for(predicate, timeout: float, every: float = 0.1):
    """Poll until `predicate()` is truthy; return (value, seconds waited) or (None, timeout)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        value = predicate()
        if value:
            return value, time.monotonic() - start
        time.sleep(every)
    return None, timeout


def table(rows: list[list], headers: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    line = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths))  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])
