"""Run lists and the results table as pandas frames (pure: rows in, frame out)."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from pathlib import PurePath

import numpy as np
import pandas as pd

from sentiment_lab.runs.queue import queue_places
from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.records import duration_text, phase_text
from sentiment_lab.ui.names import model_in_table

# Each table's columns with their share of its width: sized by content, the long run ids (or a model
# path) pushed the last columns past the table's right edge, behind a scroll nobody noticed.
# Headers short enough not to break mid-word at 1024 px (monospace: "test accurac|y" did).
RESULT_WIDTHS = {
    "run": "16%",
    "method": "8%",
    "model": "11%",
    "dataset": "11%",
    "test acc": "7%",
    "macro-F1": "7%",
    "test loss": "7%",
    "trainable": "10%",
    "% of total": "7%",
    "train s": "7%",
    "samples/s": "9%",
}
RUN_WIDTHS = {
    "run": "27%",
    "state": "16%",
    "progress": "17%",
    "time": "16%",
    "best val acc": "12%",
    "test acc": "12%",
}  # method and model are in the name
RESULT_COLUMNS, RUN_COLUMNS = list(RESULT_WIDTHS), list(RUN_WIDTHS)
SETTING_WIDTHS = {
    "method": "9%",
    "model": "9%",
    "dataset": "15%",
    "settings": "17%",
    "seeds": "11%",
    "test acc ± std": "15%",
    "macro-F1": "8%",
    "test loss": "8%",
    "train s": "8%",
}
# What tells one setting from another: its RunConfig.settings() but the seed and the run's places.
NOT_A_SETTING = {"seed", "output_dir", "project", "device"}
DATA_COLUMNS = ("text_column", "label_column")  # named with the dataset, which they belong to, not as settings


def matching_runs(rows: list[dict], query: str | None) -> list[dict]:
    """The rows whose name, state, method, model, dataset or id hold every word of `query` (any case):
    "lora failed" keeps the failed LoRA runs. A blank query keeps them all."""
    words = (query or "").lower().split()
    fields = ("name", "state", "method", "model", "dataset", "id")
    return [r for r in rows if all(w in " ".join(str(r.get(f) or "") for f in fields).lower() for w in words)]


def runs_label(shown: int, total: int) -> str:
    """The run list's label: how many runs a filter shows, when it hides some, and where a first run comes from
    while there is none."""
    head = "Runs (refresh every 2 s)"
    if not total:
        return f"{head}: none yet. Pick a method in the form and press Train (or Train all five)"
    return head if shown == total else f"{head}: {shown} of {total} match the filter"


def runs_frame(rows: list[dict], now: float | None = None, names: dict[str, str] | None = None) -> pd.DataFrame:
    """One line per run: state, step / total with epoch, time spent (and left, while running), best validation
    accuracy."""
    now = now or time.time()
    place = queue_places(rows)
    lines = []
    for r in rows:
        step, total = r.get("step") or 0, r.get("total_steps")
        progress = f"{step}/{total} · ep {r.get('epoch') or 0:.2f}" if total else ("-" if not step else f"{step}")
        if r.get("phase"):  # before the first step: features, or the SVM's fit
            progress = phase_text(r["phase"], now)
        started = r.get("started")
        end = r.get("finished") if r.get("state") != "running" else now
        elapsed = (
            (end - started) + (r.get("spent_before") or 0) if started and end else None
        )  # a resumed run's earlier stretches too
        eta = None
        if r.get("state") == "running" and total and step and r.get("elapsed"):
            eta = r["elapsed"] / step * (total - step)
        best = r.get("best_eval_accuracy")
        state = (r.get("state") or "") + (
            " · did not learn" if r.get("warning") else ""
        )  # the whole warning is in the log
        if r.get("early_stop"):
            state += " · early"  # ended before its budget: no better checkpoint for `patience` evaluations
        if r.get("resumable"):
            state += " · resumable"
            if r.get("resume_step") is not None and total:  # where Resume goes on from, not the last logged step
                progress = f"{r['resume_step']}/{total} saved"
        if r["id"] in place:
            state += " · next" if place[r["id"]] == 1 else f" · #{place[r['id']]}"
        spent = duration_text(elapsed) + (f" · {duration_text(eta)} left" if eta is not None else "")
        test = r.get("test_accuracy")
        name = (names or {}).get(r["id"], r["id"])
        lines.append([name, state, progress, spent, f"{best:.4f}" if best else "", f"{test:.4f}" if test else ""])
    return pd.DataFrame(lines, columns=RUN_COLUMNS)


def dataset_scored(res: dict) -> str:
    """The dataset a run was scored on, by name, and how much of its test split where it scored part of it
    (max_eval_samples): its score ranks apart from those over the whole split."""
    name = PurePath(res.get("dataset") or "").name
    scored, split = res.get("test_sentences"), res.get("test_split")
    return f"{name} · test {scored:,} of {split:,}" if scored and split and scored < split else name


def results_frame(results: list[tuple[str, dict]], names: dict[str, str] | None = None) -> pd.DataFrame:
    """The reference lab's two tables in one, from finished runs' results.json: best first within each dataset
    (scores on two datasets, or on part of a test split and the whole of it, do not compare)."""
    lines = []
    for run_id, res in results:
        run_id = (names or {}).get(run_id, run_id)
        test = res.get("test") or {}
        trainable, total = res.get("trainable_parameters") or 0, res.get("total_parameters") or 0
        lines.append(
            [
                run_id,
                res.get("method"),
                res.get("model"),
                dataset_scored(res),
                round(test.get("accuracy") or 0, 4),
                round(test.get("f1") or 0, 4),
                round(test.get("loss") or 0, 4),
                trainable,
                round(100 * trainable / total, 3) if total else None,
                round(res.get("train_seconds") or 0, 1),
                round(res.get("samples_per_second") or 0, 1),
            ]
        )
    frame = pd.DataFrame(lines, columns=RESULT_COLUMNS)
    return frame.sort_values(["dataset", "test acc"], ascending=[True, False], ignore_index=True)


SCORES = ("test acc", "macro-F1", "test loss")  # shown to four places each, so a column's digits line up
BREAKS = re.compile(r"([_/-])(?=.)")  # where a long name may wrap: "rotten_tomatoes" broke as "rotten_tomato|es"


def on_screen(frame: pd.DataFrame) -> pd.DataFrame:
    """A results table as the page shows it: a local model by its folder's name, names that may wrap after an
    underscore, dash or slash rather than mid-word, scores to four places, parameter counts grouped by thousands
    (22,713,986); the CSV keeps the whole path and plain numbers."""
    frame = frame.assign(model=frame["model"].map(model_in_table).map(soft_breaks))
    if "dataset" in frame:
        frame = frame.assign(dataset=frame["dataset"].map(soft_breaks))
    for column in SCORES:
        if column in frame and pd.api.types.is_float_dtype(frame[column]):
            frame = frame.assign(**{column: frame[column].map("{:.4f}".format)})
    if "trainable" not in frame:
        return frame
    return frame.assign(trainable=frame["trainable"].map("{:,}".format))


def soft_breaks(name) -> str:
    """A zero-width space after each underscore, dash or slash: a narrow column wraps a name there."""
    return BREAKS.sub("\\1\u200b", str(name)) if isinstance(name, str) else name


def _value(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _settings(cfg: RunConfig) -> str:
    """The settings a run changed from its method's defaults, e.g. 'epochs=1, lora_r=16'."""
    default = RunConfig.of(method=cfg.method, model=cfg.model, dataset=cfg.data.dataset).settings()
    settings = cfg.settings()
    order = sorted(settings, key=lambda k: k != "resolved_lr")  # the rate first: the change most often made
    changed = [
        f"{k.removeprefix('resolved_')}={_value(settings[k])}"
        for k in order
        if k not in NOT_A_SETTING and k not in DATA_COLUMNS and settings[k] != default[k]
    ]
    return ", ".join(changed) or "defaults"


def _dataset_cell(cfg: RunConfig) -> str:
    """The data by its last name, with the columns read where they are not `text` and `label`: 'mine.csv (Review,
    stars)'."""
    name = PurePath(cfg.data.dataset).name or cfg.data.dataset
    columns = (cfg.data.text_column, cfg.data.label_column)
    return name if columns == ("text", "label") else f"{name} ({', '.join(columns)})"


def _mean(members: list, key: str) -> float:
    return round(float(np.mean([res["test"].get(key) or 0 for res, _ in members])), 4)


def seed_list(seeds: list[int]) -> str:
    """'42 (×2), 43': each seed once, with how many runs it has when a setting was trained again."""
    counts = Counter(seeds)
    return ", ".join(f"{s} (×{n})" if n > 1 else str(s) for s, n in sorted(counts.items()))


def settings_frame(results: list[tuple[str, dict, RunConfig]]) -> pd.DataFrame:
    """One line per setting: its finished runs' seeds, test accuracy as mean ± std over them (a
    comparison of methods one seed apart is mostly training noise), and their mean F1, loss and time."""
    groups: dict[str, list] = {}
    for _, res, cfg in results:
        key = json.dumps(
            {k: v for k, v in cfg.settings().items() if k not in NOT_A_SETTING}, sort_keys=True, default=str
        )
        groups.setdefault(key, []).append((res, cfg))
    lines = []
    for members in groups.values():
        cfg = members[0][1]
        accs = [res["test"].get("accuracy") or 0 for res, _ in members]
        lines.append(
            [
                cfg.method,
                cfg.model,
                _dataset_cell(cfg),
                _settings(cfg),
                seed_list([c.seed for _, c in members]),
                f"{np.mean(accs):.4f}" + (f" ± {np.std(accs):.4f}" if len(accs) > 1 else ""),  # one seed has no spread
                _mean(members, "f1"),
                _mean(members, "loss"),
                round(float(np.mean([res.get("train_seconds") or 0 for res, _ in members])), 1),
                float(np.mean(accs)),
            ]
        )
    lines.sort(key=lambda line: -line.pop())
    return pd.DataFrame(lines, columns=list(SETTING_WIDTHS))
