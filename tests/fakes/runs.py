"""A finished run folder as the worker leaves it (config, results, status, an artefacts folder), without training."""

from __future__ import annotations

from sentiment_lab.storage import write_json_atomic
from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.records import write_status


def finished_run(
    root, name: str, method: str, finished: float, warning: str | None = None, owner: str | None = None, **config
):
    folder = root / name
    (folder / "artefacts").mkdir(parents=True)
    RunConfig.of(method=method, **{"run_name": name, **config}).save(folder / "config.json")  # shown by its name
    write_json_atomic(folder / "results.json", {"labels": ["neg", "pos"], "warning": warning})
    write_status(folder, "done", finished=finished, owner=owner)
    return folder
