"""A CSV or TSV file read as people save it: its separator, its encoding (UTF-8, else the Windows-1252 that Excel
writes on Windows), and a header row or none (Sentiment140's and the Yelp and Amazon polarity files start with
data). What was read otherwise than plainly is said in the frame's `attrs["read_as"]`, for the dataset's warnings,
and `attrs["headerless"]` marks a file read without a header row."""

from __future__ import annotations

import re
from pathlib import Path

HEADER_SAMPLE = 50  # rows read to tell a header row from data
NUMBER = re.compile(r"^\s*[+-]?\d+(\.\d+)?\s*$")


def separator(path: Path) -> str:
    """A delimited file's separator, read from its first line: a tab for .tsv; for .csv a comma, or the
    semicolon (or tab) that spreadsheets use where the comma is the decimal mark, when that line has no comma."""
    if path.suffix.lower() == ".tsv":
        return "\t"
    with open(path, encoding="utf-8", errors="replace") as f:
        header = f.readline()
    return next((c for c in (",", ";", "\t") if c in header), ",")


def read_delimited(path: Path, rows: int | None = None):
    """The file's table (its first `rows` only, if given), columns named `column1`, `column2`... where it has no
    header row."""
    try:
        return _read(path, rows, "utf-8", [])
    except UnicodeDecodeError:
        with open(path, "rb") as f:
            if b"\x00" in f.read(1 << 16):  # UTF-16 or not text at all: no single-byte text has NULs
                raise
        said = (
            f"the file {path.name} is not UTF-8 text: it is read as Windows-1252, as Excel saves CSV on Windows; if "
            "its accents read wrong, save it as CSV UTF-8"
        )
        return _read(path, rows, "cp1252", [said])


def _read(path: Path, rows: int | None, encoding: str, said: list[str]):
    import pandas as pd

    # Windows-1252 leaves five bytes undefined: those are replaced, where UTF-8's failure sends us here.
    options = dict(
        sep=separator(path), encoding=encoding, encoding_errors="strict" if encoding == "utf-8" else "replace"
    )
    try:
        head = pd.read_csv(path, header=None, dtype=str, nrows=HEADER_SAMPLE + 1, keep_default_na=False, **options)
    except UnicodeDecodeError:
        raise
    except (pd.errors.ParserError, ValueError):  # ragged rows: the read below says what is wrong
        head = None
    headerless = head is not None and _starts_with_data(head)
    if headerless:
        names = [f"column{i + 1}" for i in range(head.shape[1])]
        frame = pd.read_csv(path, header=None, names=names, nrows=rows, **options)
        said = [
            *said,
            f"the file {path.name} has no header row (its first line is data: a number stands where a column's "
            f"name would): its columns are named column1 to column{len(names)}",
        ]
    else:
        frame = pd.read_csv(path, nrows=rows, **options)
    frame.attrs.update(read_as=said, headerless=headerless)
    return frame


def _starts_with_data(head) -> bool:
    """The first line is data where one of its cells is a number over a column of numbers: a header names
    such a column (`label`), it does not hold one of its values."""
    if len(head) < 2:
        return False
    for column in head.columns:
        first, rest = head[column].iloc[0], head[column].iloc[1:]
        if NUMBER.match(first) and rest.map(lambda v: bool(NUMBER.match(v))).mean() >= 0.9:
            return True
    return False
