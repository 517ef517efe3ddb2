"""Which column of a user's table holds the review and which its class: a local table's columns, read from
its first rows, and the likely pair among them (the Train form's column boxes, Compare's many reviews)."""

from __future__ import annotations

from pathlib import Path

from sentiment_lab.training.data import offline_copy_of
from sentiment_lab.training.hub_urls import hub_id
from sentiment_lab.training.tables import DELIMITED, EXTENSIONS, MAX_FILE_BYTES, read_json_table, separator, split_files

# Column names datasets commonly give a review and its class, the form's first guess for a file it is handed.
TEXT_NAMES = ("text", "sentence", "review", "content", "comment", "document", "tweet")
LABEL_NAMES = ("label", "labels", "sentiment", "polarity", "class", "target")


def table_columns(name: str) -> list[str]:
    """The columns of a local file, of a local folder's train file, or of the local copy a Hub id falls back to,
    read from its first rows only; none for another Hub id or anything unreadable (the full read before a run
    is queued names the problem)."""
    path = Path(name.strip()).expanduser()
    if not path.exists():
        path = offline_copy_of(hub_id(name, "dataset")) or path
    if path.is_dir():
        path = split_files(path).get("train", path)
    if not path.is_file() or path.suffix.lower() not in EXTENSIONS:
        return []
    import pandas as pd
    import pyarrow.parquet as pq

    try:
        if path.suffix.lower() == ".parquet":
            return list(pq.read_schema(path).names)
        if path.suffix.lower() in DELIMITED:
            return [str(c) for c in pd.read_csv(path, sep=separator(path), nrows=5, encoding="utf-8").columns]
        if path.stat().st_size > MAX_FILE_BYTES:
            return []
        return [str(c) for c in read_json_table(path, rows=5).columns]
    except Exception:  # not a table: the full read says why
        return []


def guess_column(columns: list[str], names: tuple[str, ...], current: str | None = None) -> str | None:
    """`current` if the table has it, else the first of the common `names` it has (any case), else `current`."""
    if current is not None and current in columns:
        return current
    lowered = {str(c).lower(): c for c in columns}
    return next((lowered[n] for n in names if n in lowered), current)


def pick_columns(columns: list[str], text: str, label: str, offered: list[str]) -> tuple[str, str]:
    """The text and label columns the form shows once the data changes: the likely pair of a readable table;
    else, for data whose columns cannot be read (a Hub id), the defaults in place of a pick that came from
    the table read before (`offered`), while a name the user typed stands."""
    if columns:
        return guess_column(columns, TEXT_NAMES, text), guess_column(columns, LABEL_NAMES, label)
    return (text if text not in offered else TEXT_NAMES[0]), (label if label not in offered else LABEL_NAMES[0])
