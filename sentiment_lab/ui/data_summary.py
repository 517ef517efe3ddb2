"""What the Train form says about a local table once its columns are picked: each split's size, the classes
in train, and what may mislead the scores; a wrong column pick is said here, before anything is queued."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from sentiment_lab.training.data import DatasetError, load_dataset, offline_copy_of
from sentiment_lab.training.hub_urls import hub_id
from sentiment_lab.ui.forms import as_sentence

SHOWN_CLASSES = 6  # more than this are summed up as "and N more": the line must stay one line


def local_table(dataset: str, upload: str | None, hub_online: bool) -> Path | None:
    """The file or folder the run will read when it is here (an upload, a local path, or the offline copy a Hub id
    falls back to); None for a Hub dataset, whose reading is a download."""
    if upload:
        return Path(upload)
    path = Path(dataset.strip()).expanduser()
    if dataset.strip() and path.exists():
        return path
    return None if hub_online else offline_copy_of(hub_id(dataset, "dataset"))


def data_summary(dataset: str, upload: str | None, text: str, label: str, hub_online: bool) -> str:
    """One paragraph: 'train 240 · validation 30 · test 30 · ...', or the reason the table cannot be read so."""
    path = local_table(dataset, upload, hub_online)
    if path is None or not text or not label or not path.exists():
        return ""
    files = [path, *sorted(path.glob("*"))]  # a folder's split files too
    stamp = tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in files)  # a file edited since is read again
    return _summary(str(path), stamp, text, label)


@functools.lru_cache(maxsize=32)  # every page load and column pick asks again; a table is read once
def _summary(path: str, stamp: tuple, text: str, label: str) -> str:
    try:
        ds = load_dataset(path, text, label)
    except DatasetError as e:
        return f"⚠ This data cannot train a run: {str(e).rstrip('.')}."
    sizes = " · ".join(f"{name} {len(ds.splits[name]):,}" for name in ("train", "validation", "test"))
    if ds.carved:
        sizes += f" ({' and '.join(ds.carved)} carved from train, a tenth of each class)"
    counts = np.bincount(ds.splits["train"].labels, minlength=len(ds.label_names))
    order = np.argsort(-counts, kind="stable")
    shown = [f"{ds.label_names[i]} {counts[i]:,} ({counts[i] / counts.sum():.0%})" for i in order[:SHOWN_CLASSES]]
    if len(order) > SHOWN_CLASSES:
        shown.append(f"and {len(order) - SHOWN_CLASSES} more")
    lines = [f"Rows with a review and a class: {sizes}. {len(counts)} classes in train: {', '.join(shown)}."]
    return "\n\n".join(lines + [f"⚠ {as_sentence(w)}" for w in ds.warnings])
