"""What a reader should know about a review before trusting the models' answers on it: it does not look
English, or it is far longer than the sentences the models learned from."""

from __future__ import annotations

import re

# Words nearly every English sentence of a few words holds one of; a review with none is likely not English.
COMMON_ENGLISH = frozenset(
    "the a an and or but not no is are was were be been it its this that these those of to in on at for with "
    "as by from i you he she we they my your his her our their me him us them so if than too very just all "
    "what who how there here have has had do does did can could will would should film movie story".split()
)
LONGEST_TRAINING_WORDS = 59  # the longest Rotten Tomatoes sentence, train / validation / test together


def review_notes(text: str) -> list[str]:
    words = re.findall(r"[^\W\d_]+", text.lower())
    notes = []
    letters = [c for c in text if c.isalpha()]
    foreign_script = letters and sum(not c.isascii() for c in letters) > 0.5 * len(letters)
    if foreign_script or (len(words) >= 4 and not COMMON_ENGLISH.intersection(words)):
        notes.append(
            "This review does not look English: the models learned from English movie reviews, so their "
            "answers on it say little."
        )
    if len(words) > 2 * LONGEST_TRAINING_WORDS:
        notes.append(
            f"This review has {len(words):,} words; the sentences the default data trains on have at most "
            f"{LONGEST_TRAINING_WORDS}: the models may read it less well."
        )
    return notes
