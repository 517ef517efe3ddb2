"""The names datasets commonly give a review's column and its class's, and the pick among a table's columns by
them: the Train form's first guess, Compare's many reviews, and a refusal naming where the reviews likely are."""

from __future__ import annotations

import re

# Column names datasets commonly give a review and its class, most telling first.
TEXT_NAMES = ("text", "sentence", "review", "content", "comment", "document", "tweet", "phrase", "body")
LABEL_NAMES = ("label", "labels", "sentiment", "polarity", "class", "target", "rating", "stars", "score", "overall")


def guess_column(columns: list[str], names: tuple[str, ...], current: str | None = None) -> str | None:
    """`current` if the table has it; else the first of the common `names` it has (any case); else the leftmost
    column whose name ends in one (`Review Text`, `reviewText`, `airline_sentiment`); else `current`."""
    if current is not None and current in columns:
        return current
    lowered = {str(c).lower(): c for c in columns}
    named = next((lowered[n] for n in names if n in lowered), None)
    return named or next((c for c in columns if last_word(str(c)) in names), current)


def last_word(name: str) -> str:
    """A column name's last word, lower case: `Review Text`, `review_text` and `reviewText` end in `text`."""
    words = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", name)
    return words[-1].lower() if words else ""
