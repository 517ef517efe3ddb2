"""A labelled text dataset from its tables: the review and class columns read, missing held-out splits carved
from train, and what in the splits may mislead their scores."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sentiment_lab import REPO
from sentiment_lab.training.backbone import looks_like_path
from sentiment_lab.training.column_names import LABEL_NAMES, TEXT_NAMES, guess_column
from sentiment_lab.training.tables import (
    EXTENSIONS,
    SPREADSHEETS,
    DatasetError,
    hub_id_and_config,
    read_hub,
    read_local,
    read_repository,
)

DEFAULT_DATASET = "cornell-movie-review-data/rotten_tomatoes"


@dataclass
class Split:
    texts: list[str]
    labels: np.ndarray
    input_ids: list[list[int]] = field(default_factory=list)
    pad_left: bool = False  # the tokenizer's side: XLNet pads on the left, since its classifier reads the last token

    def __len__(self) -> int:
        return len(self.texts)

    def lengths(self) -> np.ndarray:
        return np.fromiter((len(x) for x in self.input_ids), dtype=np.int64, count=len(self.input_ids))


@dataclass
class Dataset:
    splits: dict[str, Split]
    label_names: list[str]
    source: str
    notes: list[str] = field(default_factory=list)  # what was read and carved, for the run's log
    warnings: list[str] = field(default_factory=list)  # what may mislead its scores, said before it is queued
    carved: list[str] = field(default_factory=list)  # the held-out splits taken from train because the data had none

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.label_names))


def offline_copy_of(dataset_id: str) -> Path | None:
    """Where a read-only local copy of a Hub dataset may sit next to the project (tests, benchmarks)."""
    if dataset_id != DEFAULT_DATASET:
        return None
    candidate = REPO.parent / "shared" / "data" / "rotten_tomatoes"
    return candidate if (candidate / "train.parquet").is_file() else None


def load_dataset(name: str, text_column: str = "text", label_column: str = "label", seed: int = 42) -> Dataset:
    """Read train / validation / test; carve validation (and test) from train when missing."""
    name = name.strip()
    path = Path(name).expanduser()
    notes: list[str] = []
    repo, config = hub_id_and_config(name)
    if path.exists():
        frames, names = read_local(path)
        source = str(path)
    elif config and Path(repo).expanduser().is_dir():  # one config of a dataset repository cloned here
        frames, names = read_repository(Path(repo).expanduser(), config)
        source = name
    else:
        if looks_like_path(name) or name.count("/") > 1 or ".." in name:
            raise DatasetError(f"dataset {name!r} is neither a local file or folder nor a Hub id")
        if name.lower().endswith(EXTENSIONS + SPREADSHEETS):  # a file name, not a Hub id: no Hub error for it
            raise DatasetError(f"there is no data file {name!r} here: check its path (in the app: upload it)")
        try:
            frames, names = read_hub(name)
            source = name
        except DatasetError:
            local = offline_copy_of(name)
            if local is None:
                raise
            frames, names = read_local(local)
            source = str(local)
            notes.append(f"the Hub is unreachable; using the local copy of {name} at {local}")
    # What reading the files said (an encoding, a missing header row) comes first among the warnings.
    read_as = [said for frame in frames.values() for said in frame.attrs.get("read_as", [])]
    ds = _build(frames, names, text_column, label_column, seed, source, notes)
    ds.warnings[:0] = read_as
    return ds


def _likely(columns, kind: str) -> str:
    """Where a missing column's content likely is, by the names datasets commonly give it (GLUE's `sentence`)."""
    found = guess_column([str(c) for c in columns], TEXT_NAMES if kind == "text" else LABEL_NAMES)
    what = "reviews are" if kind == "text" else "classes are"
    return f": the {what} likely in {found!r}" if found else ""


def _build(frames, class_names, text_column, label_column, seed, source, notes) -> Dataset:
    import pandas as pd

    names = class_names.get(label_column)  # the picked column's own ClassLabel names, if it has them
    frames, unlabelled = _answered(frames, label_column, names, notes)
    for split, frame in sorted(frames.items(), key=lambda kv: kv[0] != "train"):  # train's lack said first
        for col, kind in ((text_column, "text"), (label_column, "label")):
            if col not in frame.columns:
                raise DatasetError(
                    f"the {split} split has no column {col!r}; columns are {', '.join(map(str, frame.columns))}"
                    f"{_likely(frame.columns, kind)} (name yours in Text column / Label column, or with "
                    "--text_column / --label_column)"
                )
    if pd.api.types.is_numeric_dtype(frames["train"][text_column]):
        raise DatasetError(
            f"the text column {text_column!r} holds numbers, not sentences: name the column with the reviews"
        )
    if any(isinstance(v, (list, tuple, dict, np.ndarray)) for v in frames["train"][text_column].head(100)):
        raise DatasetError(
            f"the text column {text_column!r} holds lists (words or tokens), not sentences: name the column with "
            "the reviews as text"
        )
    label_names = _label_vocabulary(frames["train"][label_column], names)
    index = {v: i for i, v in enumerate(label_names)}
    splits = {}
    for split, frame in frames.items():
        kept = _given(frame[text_column]) & _given(frame[label_column])  # a blank review or class is none
        if not kept.all():
            dropped = int((~kept).sum())
            notes.append(f"{dropped:,} {split} row{'s' * (dropped > 1)} without a text or a label left out")
        frame = frame[kept]
        texts = [str(t) for t in frame[text_column]]
        raw = frame[label_column].tolist()
        if names is not None and all(_is_int(v) for v in raw):
            ids = [int(v) for v in raw]
            bad = [v for v in ids if not 0 <= v < len(label_names)]
        else:
            ids = [index.get(label_key(v), -1) for v in raw]
            bad = [v for v, i in zip(raw, ids) if i < 0]
        if bad:
            raise DatasetError(f"the {split} split has labels not seen in train: {sorted(set(map(str, bad)))[:5]}")
        splits[split] = Split(texts, np.asarray(ids, dtype=np.int64))
    if len(splits["train"]) < 2:
        raise DatasetError("the train split needs at least two rows")
    rng = np.random.default_rng(seed)
    carved = [name for name in ("validation", "test") if name not in splits]
    for name in carved:
        splits["train"], splits[name] = _carve(splits["train"], rng, name)
        notes.append(f"{name} split carved from train: a tenth of each class (seed {seed}), copies together")
    warnings = [
        *unlabelled,
        *_one_class_spelt_apart(label_names),
        *_seen_in_train(splits),
        *_one_class_most(splits, label_names),
        *_few_to_score(splits),
    ]
    return Dataset(splits, label_names, source, notes, warnings, carved)


def _given(column):
    """Rows with a value: neither missing nor blank (a CSV's spaces)."""
    return column.notna() & column.astype(str).str.strip().ne("")


HIDDEN = -1  # the class id `datasets` gives a row whose answer is withheld (GLUE's test splits)


def _answered(frames: dict, label_column: str, names, notes: list[str]) -> tuple[dict, list[str]]:
    """Held-out rows without an answer left out: a split with no label column (a Kaggle-style test file), or, for
    class-labelled data, rows whose class is -1. A split left empty is carved from train, which is said."""
    kept, said = {}, []
    for split, frame in frames.items():
        if split != "train" and label_column not in frame.columns and label_column in frames["train"].columns:
            why = f"has no {label_column!r} column"
        elif names is not None and label_column in frame.columns and (hidden := frame[label_column] == HIDDEN).any():
            if not hidden.all():
                n = int(hidden.sum())
                notes.append(f"{n:,} {split} row{'s' * (n > 1)} labelled -1 (no answer) left out")
                kept[split] = frame[~hidden]
                continue
            if split == "train":
                raise DatasetError("every train row is labelled -1 (no answer): there is nothing to learn from")
            why = "has no answers (every row labelled -1, as GLUE withholds its test answers)"
        else:
            kept[split] = frame
            continue
        said.append(
            f"the {split} split {why}: it is left out and a {split} split is carved from train instead, so its "
            "scores are not comparable to ones published on the data's own split"
        )
    return kept, said


def sentence_key(text: str) -> str:
    """A sentence as an uncased model reads it: copies that differ in case or spacing are one sentence."""
    return " ".join(text.lower().split())


MOSTLY = 0.8  # a class this share of train makes accuracy mostly a count of that class


def _one_class_most(splits: dict[str, Split], label_names: list[str]) -> list[str]:
    """A train split mostly of one class: accuracy then rewards answering it, and macro-F1 tells more."""
    counts = np.bincount(splits["train"].labels, minlength=len(label_names))
    top = int(counts.argmax())
    share = counts[top] / max(1, counts.sum())
    if share < MOSTLY:
        return []
    return [
        f"the train split is {share:.0%} {label_names[top]!r}: answering only that class scores as much accuracy; "
        "read macro-F1 beside it"
    ]


FEW = 100  # test sentences under which one answer moves accuracy by more than a point


def _few_to_score(splits: dict[str, Split]) -> list[str]:
    """A test split too small for its accuracy to tell methods apart."""
    n = len(splits["test"])
    return [] if n >= FEW else [f"the test split has only {n} sentence{'s' * (n != 1)}: {_one_answer(n)}"]


def eval_cut_warning(ds: Dataset, max_eval_samples: int | None) -> list[str]:
    """A --max_eval_samples that scores a test split big enough to tell runs apart on too few of its sentences."""
    n = len(ds.splits["test"])
    if max_eval_samples is None or n < FEW or max_eval_samples >= FEW:
        return []  # no cut, or the split itself is already said to be small
    return [
        f"max_eval_samples {max_eval_samples} scores the test on {max_eval_samples} of its {n:,} sentences: "
        + _one_answer(max_eval_samples)
    ]


def _one_answer(n: int) -> str:
    points = round(100 / max(n, 1))
    return (
        f"one answer moves its accuracy by {points} point{'s' * (points != 1)}, so differences between runs tell "
        f"little; {FEW} or more test sentences tell more"
    )


def _seen_in_train(splits: dict[str, Split]) -> list[str]:
    """A held-out sentence that is also in train is scored as seen: say how many there are."""
    train = {sentence_key(t) for t in splits["train"].texts}
    seen = {
        name: (sum(sentence_key(t) in train for t in splits[name].texts), len(splits[name]))
        for name in ("validation", "test")
    }
    said = [f"{k:,} of {n:,} {name} sentences" for name, (k, n) in seen.items() if k]
    if not said:
        return []
    return [f"{' and '.join(said)} are also in train: their accuracy counts sentences the model trained on"]


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) or (isinstance(v, float) and v.is_integer())


def label_key(v):
    if isinstance(v, (bool, np.bool_)):  # a True / False column keeps its words as class names
        return str(bool(v))
    return str(int(v)) if _is_int(v) else str(v).strip()


def _one_class_spelt_apart(label_names: list[str]) -> list[str]:
    """Class names that differ only in case or spacing (`Positive`, `positive `) train as different classes."""
    spellings: dict[str, list[str]] = {}
    for name in label_names:
        spellings.setdefault(" ".join(name.casefold().split()), []).append(name)
    return [
        f"the labels {' and '.join(map(repr, names))} differ only in case or spacing, so they train as "
        f"{len(names)} classes: write them alike in the file if they are one"
        for names in spellings.values()
        if len(names) > 1
    ]


def _label_vocabulary(column, names) -> list[str]:
    values = column[_given(column)].tolist()
    if any(isinstance(v, (list, tuple, dict, np.ndarray)) for v in values):  # go_emotions' label lists, say
        raise DatasetError(
            f"the label column {column.name!r} holds several labels per row (a multi-label dataset); each review "
            "needs one class: pick a column with one class per row"
        )
    if names is not None:
        return [str(n) for n in names]
    if any(isinstance(v, float) and not (v.is_integer() and math.isfinite(v)) for v in values):
        raise DatasetError("labels must be class ids (0, 1, ...) or names, found fractional numbers")
    keys = sorted(
        {label_key(v) for v in values},
        key=lambda k: (not k.lstrip("-").isdigit(), int(k) if k.lstrip("-").isdigit() else 0, k),
    )
    if len(keys) < 2:
        raise DatasetError(
            f"the label column has only one class ({keys[0] if keys else 'none'}); at least two are needed"
        )
    if len(keys) > 100:
        raise DatasetError(f"the label column has {len(keys)} distinct values; is it really a class label?")
    return keys


def _carve(split: Split, rng, carved: str) -> tuple[Split, Split]:
    """Hold out a tenth of each class's rows at random (stratified, as sklearn's `stratify=`), every copy of a
    sentence on one side and never a class's last sentence: the held-out split has train's class shares and
    scores no sentence train has."""
    groups: dict[str, list[int]] = {}
    for i, text in enumerate(split.texts):
        groups.setdefault(sentence_key(text), []).append(i)
    by_class: dict[int, list[list[int]]] = {}
    for members in groups.values():
        by_class.setdefault(int(split.labels[members[0]]), []).append(members)
    held, kept = [], []
    for label in sorted(by_class):
        members = by_class[label]
        target, taken = max(1, round(sum(map(len, members)) / 10)), 0
        for k, g in enumerate(rng.permutation(len(members))):
            hold = taken < target and k < len(members) - 1
            (held if hold else kept).extend(members[g])
            taken += len(members[g]) if hold else 0
    if not held:
        raise DatasetError(f"train has too few distinct sentences to carve a {carved} split from")
    take = lambda idx: Split([split.texts[i] for i in idx], split.labels[np.asarray(idx, dtype=np.int64)])  # noqa: E731
    return take(kept), take(held)


def subsample(split: Split, limit: int | None, seed: int) -> Split:
    """A seeded random subset, kept in the split's order."""
    if limit is None or limit >= len(split):
        return split
    idx = np.sort(np.random.default_rng(seed).permutation(len(split))[:limit])
    return Split(
        [split.texts[i] for i in idx],
        split.labels[idx],
        [split.input_ids[i] for i in idx] if split.input_ids else [],
        split.pad_left,
    )
