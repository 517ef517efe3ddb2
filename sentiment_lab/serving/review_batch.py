"""Many reviews through every method at once (the Compare tab's list mode): read them, then one
line per review and one per method, with accuracy where the reviews come with labels. No Gradio."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sentiment_lab.serving.predict import ReviewError, check_review
from sentiment_lab.serving.run_notes import data_note
from sentiment_lab.training.columns import (
    HEAD_ROWS,
    LABEL_NAMES,
    TEXT_NAMES,
    fewest_values,
    guess_column,
    longest_text,
)
from sentiment_lab.training.config import METHODS
from sentiment_lab.training.data import DatasetError, label_key
from sentiment_lab.training.tables import read_table

# A list all five answer within a web request on a small CPU; a longer one belongs in a run's test split.
MAX_REVIEWS = 1000
MAX_FILE_BYTES = 50 * 1024 * 1024  # as the Train tab's uploads


def read_reviews(path: str | None = None, typed: str | None = None) -> tuple[list[str], list | None]:
    """Reviews (and their labels, if the file has a label column) from an uploaded table or plain-text
    file, or from typed text with one review per line. Any problem is one ReviewError naming it."""
    labels = None
    if path:
        file = Path(path)
        if not file.is_file():
            raise ReviewError(f"{path} is not a file")
        if file.stat().st_size > MAX_FILE_BYTES:
            raise ReviewError(
                f"{file.name} is {file.stat().st_size / 2**20:.1f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB"
            )
        if file.suffix.lower() == ".txt":
            texts = file.read_text(encoding="utf-8", errors="replace").splitlines()
        else:
            try:
                frame = read_table(file)
            except DatasetError as e:
                raise ReviewError(str(e)) from None
            # The columns a training file may have (any case), the one column there is, or in a file without a
            # header row the columns the Train form would pick by what they hold.
            headerless = frame.attrs.get("headerless", False)
            column = (
                guess_column(list(frame.columns), TEXT_NAMES)
                or (frame.columns[0] if len(frame.columns) == 1 else None)
                or (longest_text(frame.head(HEAD_ROWS)) if headerless else None)
            )
            if column is None:
                raise ReviewError(
                    f"{file.name} has no review column: name it one of {', '.join(TEXT_NAMES)} "
                    f"(its columns: {', '.join(map(str, frame.columns[:8]))})"
                )
            frame = frame[frame[column].notna() & (frame[column].astype(str).str.strip() != "")]
            texts = [str(t) for t in frame[column]]
            label = guess_column(list(frame.columns), LABEL_NAMES) or (
                fewest_values(frame.head(HEAD_ROWS), but=column) if headerless else None
            )
            if label:
                labels = frame[label].tolist()
    else:
        texts = (typed or "").splitlines()
    if labels is None:  # blank lines are not reviews (a table's blank rows went with their labels above)
        texts = [t for t in texts if t.strip()]
    if not texts:
        raise ReviewError("no reviews: type one per line or upload a CSV / TSV / JSON / parquet / text file")
    if len(texts) > MAX_REVIEWS:
        raise ReviewError(f"{len(texts):,} reviews; at most {MAX_REVIEWS:,} at once")
    checked = []
    for number, text in enumerate(texts, 1):
        try:
            checked.append(check_review(text))
        except ReviewError as e:
            raise ReviewError(f"review {number}: {e}") from None
    return checked, labels


def loading_note(answers) -> str:
    """The first use's wait for loading models, said apart from the answering time it would swamp."""
    seconds = sum(a.get("load_ms", 0.0) for a in answers if "error" not in a) / 1000
    return f" Loading the models took {seconds:.1f} s (first use only)." if seconds >= 0.1 else ""


def gold_index(value, labels: list[str]) -> int | None:
    """A given label as the run's class index: by name (any case), else as a class id; None if neither."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    names = [str(n).lower() for n in labels]
    key = label_key(value).lower()
    if key in names:
        return names.index(key)
    if key in ("true", "false"):  # a True / False column against classes named otherwise: True is class 1
        key = str(int(key == "true"))
    return int(key) if key.isdigit() and int(key) < len(labels) else None


def tables(texts: list[str], gold: list | None, answers: dict[str, dict]) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(one line per method, one line per review, a sentence on where the methods disagree)."""
    per_review = pd.DataFrame({"review": texts})
    summary, picked, unmatched = [], {}, []
    for method in METHODS:
        answer = answers[method]
        if "error" in answer:
            summary.append([method, answer["error"], None, None])
            continue
        labels = answer["labels"]
        picked[method] = [labels[max(range(len(p)), key=p.__getitem__)] for p in answer["probabilities"]]
        per_review[method] = picked[method]
        accuracy = None
        if gold is not None:
            wanted = [gold_index(v, labels) for v in gold]
            known = [(labels[w], k) for w, k in zip(wanted, picked[method]) if w is not None]
            accuracy = round(sum(w == k for w, k in known) / len(known), 4) if known else None
            if not known:
                unmatched.append(f"{method} ({', '.join(labels)})")
        summary.append([method, answer["run"], accuracy, round(answer["ms"] / len(texts), 1)])
    if gold is not None:  # by class name where it names one, so it reads beside the answers (pos, not 1)
        names = next((answers[m]["labels"] for m in METHODS if "error" not in answers[m]), [])
        per_review["given label"] = [names[i] if (i := gold_index(v, names)) is not None else str(v) for v in gold]
    summary = pd.DataFrame(summary, columns=["method", "run", "accuracy on the given labels", "ms per review"])
    if gold is None:
        summary = summary.drop(columns="accuracy on the given labels")
    if len(picked) < 2:
        note = (
            f"{len(picked)} method answered: train more to compare them."
            if picked
            else "No method answered: train some in the Train tab."
        )
    else:
        agree = ["yes" if len({picked[m][i] for m in picked}) == 1 else "no" for i in range(len(texts))]
        note = f"{len(picked)} methods answered {len(texts):,} reviews; they disagree on {agree.count('no'):,} of them."
        if "no" in agree:
            per_review.insert(1, "agree", agree)
            per_review = per_review.sort_values(
                "agree", kind="stable", ignore_index=True
            )  # "no" first: the interesting ones
    mixed = data_note([{"method": m, **a} for m, a in answers.items() if "error" not in a])
    note += f" {mixed}" if mixed else ""
    note += loading_note(answers.values())
    if unmatched:
        note += " The given labels match no class of " + "; ".join(unmatched) + "."
    return summary, per_review, note
