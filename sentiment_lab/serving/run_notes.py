"""What a reader should know about the runs that answer before weighing their answers against each other."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePath


def data_note(rows: list[dict], label: Callable[[str], str] = str) -> str:
    """Which methods' runs trained on which data, when they differ: their test accuracies (and labels) then
    do not compare. A Hub id and a local copy of the same dataset go by one name, as the results table's.
    `rows`: answered rows (method, dataset); `label`: a method's name as the reader sees it."""
    by_data: dict[str, list[str]] = {}
    for r in rows:
        if r.get("dataset"):
            by_data.setdefault(PurePath(r["dataset"]).name or r["dataset"], []).append(label(r["method"]))
    if len(by_data) < 2:
        return ""
    where = "; ".join(f"{', '.join(methods)} on {name}" for name, methods in by_data.items())
    return f"These runs trained on different data, so their test accuracies do not compare: {where}."


def part_note(rows: list[dict], label: Callable[[str], str] = str) -> str:
    """Which answering runs were scored on part of their test split (max_eval_samples): their test accuracies
    are rougher, and do not compare with a score over a whole split. `rows`: answered rows (method,
    test_sentences, test_split)."""
    cut = [
        f"{label(r['method'])} ({r['test_sentences']:,} of {r['test_split']:,})"
        for r in rows
        if r.get("test_sentences") and r.get("test_split") and r["test_sentences"] < r["test_split"]
    ]
    if not cut:
        return ""
    return (
        "Scored on part of a test split (max_eval_samples), so a rougher test accuracy that does not compare with "
        f"one over a whole split: {', '.join(cut)}."
    )
