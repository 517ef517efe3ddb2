"""Run lists and the results table as pandas frames (pure: rows in, frame out)."""
from __future__ import annotations

import time

import pandas as pd

# Each table's columns with their share of its width: sized by content, the long run ids (or a model
# path) pushed the last columns past the table's right edge, behind a scroll nobody noticed.
# Headers short enough not to break mid-word at 1024 px (monospace: "test accurac|y" did).
RESULT_WIDTHS = {"run": "19%", "method": "8%", "model": "14%", "test acc": "8%", "macro-F1": "8%", "test loss": "8%",
                 "trainable": "10%", "% of total": "8%", "train s": "7%", "samples/s": "10%"}
RUN_WIDTHS = {"run": "30%", "state": "17%", "progress": "19%", "time": "18%", "best val acc": "16%"}  # method and model are in the id
RESULT_COLUMNS, RUN_COLUMNS = list(RESULT_WIDTHS), list(RUN_WIDTHS)


def _duration(seconds) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def runs_frame(rows: list[dict], now: float | None = None) -> pd.DataFrame:
    """One line per run: state, step / total with epoch, time spent (and left, while running), best validation accuracy."""
    now = now or time.time()
    lines = []
    for r in rows:
        step, total = r.get("step") or 0, r.get("total_steps")
        progress = f"{step}/{total} · ep {r.get('epoch') or 0:.2f}" if total else ("-" if not step else f"{step}")
        started = r.get("started")
        end = r.get("finished") if r.get("state") != "running" else now
        elapsed = (end - started) if started and end else None
        eta = None
        if r.get("state") == "running" and total and step and r.get("elapsed"):
            eta = r["elapsed"] / step * (total - step)
        best = r.get("best_eval_accuracy")
        state = (r.get("state") or "") + (" · did not learn" if r.get("warning") else "")  # the whole warning is in the log
        spent = _duration(elapsed) + (f" · {_duration(eta)} left" if eta is not None else "")
        lines.append([r["id"], state, progress, spent, f"{best:.4f}" if best else ""])
    return pd.DataFrame(lines, columns=RUN_COLUMNS)


def results_frame(results: list[tuple[str, dict]]) -> pd.DataFrame:
    """The reference lab's two tables in one, from finished runs' results.json."""
    lines = []
    for run_id, res in results:
        test = res.get("test") or {}
        trainable, total = res.get("trainable_parameters") or 0, res.get("total_parameters") or 0
        lines.append([
            run_id, res.get("method"), res.get("model"), round(test.get("accuracy") or 0, 4), round(test.get("f1") or 0, 4),
            round(test.get("loss") or 0, 4), trainable, round(100 * trainable / total, 3) if total else None,
            round(res.get("train_seconds") or 0, 1), round(res.get("samples_per_second") or 0, 1),
        ])
    frame = pd.DataFrame(lines, columns=RESULT_COLUMNS)
    return frame.sort_values("test acc", ascending=False, ignore_index=True)
