"""Which column of a user's table holds the review and which its class: a local table's columns, read from
its first rows, and the likely pair among them (the Train form's column boxes, Compare's many reviews)."""

from __future__ import annotations

from pathlib import Path

from sentiment_lab.training.column_names import LABEL_NAMES, TEXT_NAMES, guess_column
from sentiment_lab.training.data import offline_copy_of
from sentiment_lab.training.delimited import read_delimited
from sentiment_lab.training.hub_urls import hub_id
from sentiment_lab.training.tables import DELIMITED, EXTENSIONS, MAX_FILE_BYTES, read_json_table, split_files

HEAD_ROWS = 50  # rows read to offer a table's columns and guess by content where its names say nothing


def table_head(name: str):
    """The first rows of a local file, of a local folder's train file, or of the local copy a Hub id falls back to;
    None for another Hub id or anything unreadable (the full read before a run is queued names the problem)."""
    path = Path(name.strip()).expanduser()
    if not path.exists():
        path = offline_copy_of(hub_id(name, "dataset")) or path
    if path.is_dir():
        path = split_files(path).get("train", path)
    if not path.is_file() or path.suffix.lower() not in EXTENSIONS:
        return None
    import pyarrow.parquet as pq

    try:
        if path.suffix.lower() == ".parquet":
            file = pq.ParquetFile(path)
            if not file.metadata.num_rows:
                return file.schema_arrow.empty_table().to_pandas()
            return next(file.iter_batches(batch_size=HEAD_ROWS)).to_pandas()
        if path.suffix.lower() in DELIMITED:
            return read_delimited(path, rows=HEAD_ROWS)
        if path.stat().st_size > MAX_FILE_BYTES:
            return None
        return read_json_table(path, rows=HEAD_ROWS)
    except Exception:  # not a table: the full read says why
        return None


def table_columns(name: str) -> list[str]:
    """The columns of what `table_head` reads, or none."""
    head = table_head(name)
    return [] if head is None else [str(c) for c in head.columns]


def pick_columns(columns: list[str], text: str, label: str, offered: list[str], head=None) -> tuple[str, str]:
    """The text and label columns the form shows once the data changes: the likely pair of a readable table, by
    name, else by what its first rows (`head`) hold; else, for data whose columns cannot be read (a Hub id), the
    defaults in place of a pick that came from the table read before (`offered`), while a name the user typed
    stands."""
    if columns:
        text, label = guess_column(columns, TEXT_NAMES, text), guess_column(columns, LABEL_NAMES, label)
        if head is not None and text not in columns:
            text = longest_text(head) or text
        if head is not None and label not in columns:
            label = fewest_values(head, but=text) or label
        return text, label
    return (text if text not in offered else TEXT_NAMES[0]), (label if label not in offered else LABEL_NAMES[0])


def longest_text(head) -> str | None:
    """The column of words whose rows run longest: the reviews, where no column's name says so."""
    import pandas as pd

    words = {str(c): head[c].dropna().astype(str) for c in head.columns if not pd.api.types.is_numeric_dtype(head[c])}
    lengths = {
        c: rows.str.len().mean() for c, rows in words.items() if len(rows) and rows.str.contains(" ").mean() > 0.5
    }
    return max(lengths, key=lengths.get) if lengths else None


MAX_CLASSES_GUESSED = 20  # a column of more values in the rows read is an id or a score, not a class


def fewest_values(head, but: str | None) -> str | None:
    """The leftmost column of short values, few of them, other than `but`: the class, where no column's name
    says so; where none holds two values in the rows read, the leftmost such column of whole numbers (a file
    sorted by class, as Sentiment140 is, shows one class at its top)."""
    import pandas as pd

    few = []
    for c in head.columns:
        values = head[c].dropna().astype(str)
        if str(c) != but and len(values) and values.str.len().max() <= 20 and values.nunique() <= MAX_CLASSES_GUESSED:
            few.append(c)
    varied = next((c for c in few if head[c].nunique() >= 2), None)
    chosen = varied if varied is not None else next((c for c in few if pd.api.types.is_integer_dtype(head[c])), None)
    return None if chosen is None else str(chosen)
