"""Load a labelled text dataset (Hub id or local files), tokenise it once, batch it by length."""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sentiment_lab import REPO
from sentiment_lab.training.backbone import go_offline_if_unreachable, looks_like_path

DEFAULT_DATASET = "cornell-movie-review-data/rotten_tomatoes"
SPLIT_ALIASES = {"train": ("train",), "validation": ("validation", "valid", "val", "dev"), "test": ("test",)}
EXTENSIONS = (".parquet", ".csv", ".tsv", ".jsonl", ".json")
DELIMITED = (".csv", ".tsv")  # read by pandas' read_csv, with the separator() of each file
MAX_FILE_BYTES = 512 * 1024 * 1024


class DatasetError(ValueError):
    """The dataset cannot be read or is unusable; the message names the problem."""


@dataclass
class Split:
    texts: list[str]
    labels: np.ndarray
    input_ids: list[list[int]] = field(default_factory=list)

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


SPREADSHEETS = (".xlsx", ".xls", ".xlsm", ".ods", ".numbers")  # workbooks, which save to CSV


def load_dataset(name: str, text_column: str = "text", label_column: str = "label", seed: int = 42) -> Dataset:
    """Read train / validation / test; carve validation (and test) from train when missing."""
    name = name.strip()
    path = Path(name).expanduser()
    notes: list[str] = []
    if path.exists():
        frames, names = _read_local(path)
        source = str(path)
    else:
        if looks_like_path(name) or name.count("/") > 1 or ".." in name:
            raise DatasetError(f"dataset {name!r} is neither a local file or folder nor a Hub id")
        if name.lower().endswith(EXTENSIONS + SPREADSHEETS):  # a file name, not a Hub id: no Hub error for it
            raise DatasetError(f"there is no data file {name!r} here: check its path (in the app: upload it)")
        try:
            frames, names = _read_hub(name)
            source = name
        except DatasetError:
            local = offline_copy_of(name)
            if local is None:
                raise
            frames, names = _read_local(local)
            source = str(local)
            notes.append(f"the Hub is unreachable; using the local copy of {name} at {local}")
    return _build(frames, names, text_column, label_column, seed, source, notes)


def split_name(stem: str) -> str | None:
    stem = stem.lower()
    for split, aliases in SPLIT_ALIASES.items():
        if stem in aliases or any(stem.startswith(a + "-") or stem.startswith(a + "_") for a in aliases):
            return split
    return None


def split_files(folder: Path) -> dict[str, Path]:
    """A dataset folder's table for each split, by file name (`train.csv`, `dev.parquet`...), the first if several."""
    files = {}
    for f in sorted(folder.iterdir()):
        split = split_name(f.stem) if f.suffix.lower() in EXTENSIONS else None
        if split and split not in files:
            files[split] = f
    return files


def _read_local(path: Path):
    if path.is_file():
        return {"train": read_table(path)}, None
    files = split_files(path)
    if "train" not in files:
        raise DatasetError(f"dataset folder {path} has no train file (train.parquet, train.csv or train.jsonl)")
    frames = {split: read_table(f) for split, f in files.items()}
    return frames, _label_names_from_parquet(files["train"])


def separator(path: Path) -> str:
    """A delimited file's separator, read from its header line: a tab for .tsv; for .csv a comma, or the
    semicolon (or tab) that spreadsheets use where the comma is the decimal mark, when the header has no comma."""
    if path.suffix.lower() == ".tsv":
        return "\t"
    with open(path, encoding="utf-8", errors="replace") as f:
        header = f.readline()
    return next((c for c in (",", ";", "\t") if c in header), ",")


def read_table(path: Path):
    import pandas as pd

    size = path.stat().st_size
    if size == 0:
        raise DatasetError(f"{path.name} is empty")
    if size > MAX_FILE_BYTES:
        raise DatasetError(f"{path.name} is {size / 2**20:.0f} MB, over the {MAX_FILE_BYTES // 2**20} MB limit")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            frame = pd.read_parquet(path)
        elif suffix in DELIMITED:
            frame = pd.read_csv(path, sep=separator(path), encoding="utf-8")
        elif suffix in (".jsonl", ".json"):
            try:
                frame = pd.read_json(path, lines=True, encoding="utf-8")
            except ValueError:
                frame = pd.read_json(path, encoding="utf-8")
        else:
            hint = " (from a spreadsheet: save it as CSV UTF-8)" if suffix in SPREADSHEETS else ""
            raise DatasetError(
                f"{path.name}: unsupported file type {suffix!r}; use parquet, CSV, TSV or JSON lines{hint}"
            )
    except UnicodeDecodeError:
        raise DatasetError(f"{path.name} is not UTF-8 text: save it as UTF-8 (Excel: CSV UTF-8)") from None
    except DatasetError:
        raise
    except Exception as e:  # pandas raises many types for a file that is not a table
        raise DatasetError(f"{path.name} could not be read as a table: {str(e).splitlines()[0][:200]}") from None
    if len(frame) == 0:
        raise DatasetError(f"{path.name} has no rows")
    return frame


def _label_names_from_parquet(path: Path) -> list[str] | None:
    """ClassLabel names that `datasets` stores in a parquet file's schema metadata."""
    if path.suffix.lower() != ".parquet":
        return None
    import pyarrow.parquet as pq

    meta = (pq.read_schema(path).metadata or {}).get(b"huggingface")
    if not meta:
        return None
    try:
        features = json.loads(meta)["info"]["features"]
        return next((f["names"] for f in features.values() if f.get("_type") == "ClassLabel"), None)
    except (KeyError, ValueError, TypeError, StopIteration):
        return None


def _read_hub(name: str):
    if not go_offline_if_unreachable():
        pass  # offline: `datasets` may still find it in its cache
    try:
        import datasets

        dd = datasets.load_dataset(name)
    except Exception as e:  # datasets raises ConnectionError, FileNotFoundError, DatasetNotFoundError...
        raise DatasetError(
            f"dataset {name!r} could not be loaded ({type(e).__name__}); offline choices: a local folder with "
            "train/validation/test files (parquet, CSV, TSV or JSON lines) or a single file"
        ) from None
    frames = {}
    names = None
    for split, table in dd.items():
        key = split_name(split)
        if key:
            frames[key] = table.to_pandas()
            for feat in table.features.values():
                if getattr(feat, "names", None):
                    names = list(feat.names)
    if "train" not in frames:
        raise DatasetError(f"dataset {name!r} has no train split")
    return frames, names


def _build(frames, names, text_column, label_column, seed, source, notes) -> Dataset:
    import pandas as pd

    for split, frame in frames.items():
        for col in (text_column, label_column):
            if col not in frame.columns:
                raise DatasetError(
                    f"the {split} split has no column {col!r}; columns are {', '.join(map(str, frame.columns))} "
                    "(name yours in Text column / Label column, or with --text_column / --label_column)"
                )
    if pd.api.types.is_numeric_dtype(frames["train"][text_column]):
        raise DatasetError(
            f"the text column {text_column!r} holds numbers, not sentences: name the column with the reviews"
        )
    label_names = _label_vocabulary(frames["train"][label_column], names)
    index = {v: i for i, v in enumerate(label_names)}
    splits = {}
    for split, frame in frames.items():
        kept = frame[text_column].notna() & frame[label_column].notna()
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
        notes.append(f"no {name} split: carved a tenth of each class of train (seed {seed}), copies together")
    warnings = _seen_in_train(splits) + _one_class_most(splits, label_names) + _few_to_score(splits)
    return Dataset(splits, label_names, source, notes, warnings, carved)


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
    return str(int(v)) if _is_int(v) else str(v).strip()


def _label_vocabulary(column, names) -> list[str]:
    values = column.dropna().tolist()
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
        [split.texts[i] for i in idx], split.labels[idx], [split.input_ids[i] for i in idx] if split.input_ids else []
    )


def tokenize(split: Split, tokenizer, max_length: int) -> None:
    """Tokenise once, no padding: batches pad to their own longest sentence later."""
    enc = tokenizer(split.texts, truncation=True, max_length=max_length, padding=False)
    split.input_ids = enc["input_ids"]


def train_batches(lengths: np.ndarray, batch_size: int, seed: int, epoch: int, group: int = 50) -> list[np.ndarray]:
    """Shuffled batches of similar lengths: shuffle, sort within chunks of `group` batches, shuffle batches."""
    rng = random.Random(seed * 1000003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * group
    batches = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: -lengths[i])
        batches += [np.asarray(part[i : i + batch_size]) for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def eval_batches(lengths: np.ndarray, max_tokens: int = 8192, max_batch: int = 256) -> list[np.ndarray]:
    """Batches sorted by length under a padded-token budget, so short sentences go many at a time."""
    order = np.argsort(-lengths, kind="stable")
    batches, current = [], []
    for i in order:
        if current and (len(current) + 1) * lengths[current[0]] > max_tokens or len(current) >= max_batch:
            batches.append(np.asarray(current))
            current = []
        current.append(int(i))
    if current:
        batches.append(np.asarray(current))
    return batches


def collate(input_ids: list[list[int]], idx, pad_id: int):
    """Pad the chosen sentences to their longest; return input_ids and attention_mask tensors."""
    import torch

    rows = [input_ids[i] for i in idx]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for j, r in enumerate(rows):
        ids[j, : len(r)] = torch.as_tensor(r, dtype=torch.long)
        mask[j, : len(r)] = 1
    return ids, mask
