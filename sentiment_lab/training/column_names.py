"""The names datasets commonly give a review's column and its class's, and the pick among a table's columns by
them: the Train form's first guess, Compare's many reviews, and a refusal naming where the reviews likely are."""

from __future__ import annotations

# Column names datasets commonly give a review and its class, the form's first guess for a file it is handed.
TEXT_NAMES = ("text", "sentence", "review", "content", "comment", "document", "tweet")
LABEL_NAMES = ("label", "labels", "sentiment", "polarity", "class", "target")


def guess_column(columns: list[str], names: tuple[str, ...], current: str | None = None) -> str | None:
    """`current` if the table has it, else the first of the common `names` it has (any case), else `current`."""
    if current is not None and current in columns:
        return current
    lowered = {str(c).lower(): c for c in columns}
    return next((lowered[n] for n in names if n in lowered), current)
