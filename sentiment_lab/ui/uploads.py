"""Uploaded data kept under the checkpoints folder (Gradio's temp files do not last): one table, or one table per
split (`train.csv`, `test.csv`...) kept as a dataset folder. Stored by content, so the same upload is kept once."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

from sentiment_lab.training.config import ConfigError
from sentiment_lab.training.tables import EXTENSIONS, SHARD, split_name

MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # a file; several split files may each be as large


def store_upload(upload: str | list[str] | None, uploads_dir: Path) -> str | None:
    """The stored copy of an upload (a table's path, or a folder of split tables), or None for no upload."""
    files = [Path(upload)] if isinstance(upload, str) else [Path(f) for f in upload or []]
    if not files:
        return None
    digests = [_checked(f) for f in files]
    uploads_dir.mkdir(parents=True, exist_ok=True)
    if len(files) == 1:
        shard = SHARD.match(files[0].stem)
        if shard and int(shard["count"]) > 1:  # read alone, one shard would train on part of its split
            _one_split(split_name(files[0].stem) or "train", files)
        dest = uploads_dir / f"{_readable(files[0])}-{digests[0]}{files[0].suffix.lower()}"
        if not dest.exists():
            shutil.copyfile(files[0], dest)
        return str(dest)
    splits = _split_of_each(files)
    names = [_stored_name(split, f) for split, f in zip(splits, files)]
    whole = hashlib.sha256("".join(f"{n}:{d}" for n, d in sorted(zip(names, digests))).encode()).hexdigest()[:16]
    _, train = min((n, f) for n, f, split in zip(names, files, splits) if split == "train")  # its first shard
    dest = uploads_dir / f"{_readable(train)}-{whole}"
    if not dest.exists():
        part = uploads_dir / f".{dest.name}.part"  # renamed whole into place: a reader never sees half a folder
        shutil.rmtree(part, ignore_errors=True)
        part.mkdir()
        for name, f in zip(names, files):
            shutil.copyfile(f, part / name)
        part.rename(dest)
    return str(dest)


def _stored_name(split: str, f: Path) -> str:
    """The file's name in the dataset folder: its split (`train.csv`), and its place in the series for a shard
    (`train-00001-of-00002.csv`), so the folder reads the series whole."""
    shard = SHARD.match(f.stem)
    place = f"-{shard['index']}-of-{shard['count']}" if shard else ""
    return f"{split}{place}{f.suffix.lower()}"


def uploaded_names(upload: str | list[str] | None, stored: str) -> dict[str, str]:
    """The stored copy's file names, each with the visitor's own (our `s140-26503cd94bc4c1d6.csv`: `s140.csv`;
    the dataset folder's `test.csv`: `imdb_test.csv`)."""
    files = [Path(upload)] if isinstance(upload, str) else [Path(f) for f in upload or []]
    if len(files) == 1:
        return {Path(stored).name: files[0].name}
    return {_stored_name(split, f): f.name for split, f in zip(_split_of_each(files), files)}


def as_uploaded(text: str, names: dict[str, str]) -> str:
    """`text` with the stored copy's file names put back to the visitor's own (`uploaded_names`)."""
    if not names:
        return text
    pattern = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.sub(rf"(?<![\w.-])({pattern})(?![\w-])", lambda m: names[m[1]], text)


def upload_names(upload: str | list[str] | None) -> list[str]:
    """The uploaded files' own names, as the visitor knows them."""
    return [Path(f).name for f in ([upload] if isinstance(upload, str) else upload or [])]


def _checked(f: Path) -> str:
    """The file's content digest, once it is known to be a table of a type and size we read."""
    suffix = f.suffix.lower()
    if suffix not in EXTENSIONS:
        raise ConfigError(
            f"uploaded file {f.name} must be parquet, CSV, TSV or JSON, not {suffix or 'a file without extension'}"
        )
    size = f.stat().st_size
    if size == 0:
        raise ConfigError(f"uploaded file {f.name} is empty")
    if size > MAX_UPLOAD_BYTES:
        raise ConfigError(
            f"uploaded file {f.name} is {size / 2**20:.1f} MB; the limit is {MAX_UPLOAD_BYTES // 2**20} MB"
        )
    return hashlib.sha256(f.read_bytes()).hexdigest()[:16]


def _split_of_each(files: list[Path]) -> list[str]:
    """Each file's split, read from its name (`train.csv`, `imdb_test.csv`, `dev.parquet`): one file a split, or
    the whole series of a split's shards (`train-00000-of-00002.csv`, `train-00001-of-00002.csv`)."""
    splits, seen = [], {}
    for f in files:
        split = split_name(f.stem)
        if split is None:
            raise ConfigError(
                f"uploaded files are read as one per split, by name: {f.name} names none of train, validation "
                "(val, dev) or test; upload one file alone to have validation and test carved from it"
            )
        seen.setdefault(split, []).append(f)
        splits.append(split)
    for split, given in seen.items():
        _one_split(split, given)
    if "train" not in seen:
        names = ", ".join(f.name for f in files)
        raise ConfigError(f"the uploaded files ({names}) have no train file: name one train.csv")
    return splits


def _one_split(split: str, given: list[Path]) -> None:
    """A split's files are one file, or every shard of one series, each once."""
    if len(given) == 1 and not SHARD.match(given[0].stem):
        return
    shards = [SHARD.match(f.stem) for f in given]
    series = {(s["series"], int(s["count"]), f.suffix.lower()) for s, f in zip(shards, given) if s}
    if not all(shards) or len(series) > 1:
        raise ConfigError(f"two uploaded files for the {split} split: {given[0].name} and {given[1].name}")
    (_, count, _), indices = series.pop(), sorted(int(s["index"]) for s in shards)
    if len(set(indices)) < len(indices):
        raise ConfigError(f"a shard of the {split} split was uploaded twice: {', '.join(f.name for f in given)}")
    if indices != list(range(count)):
        names = ", ".join(f.name for f in given) + (" was" if len(given) == 1 else " were")
        raise ConfigError(
            f"the {split} split comes in {count} shards, of which only {names} uploaded: upload all {count} together"
        )


def _readable(f: Path) -> str:
    """Our name for it keeps the letters and digits of the visitor's, so a table of runs still says which file."""
    return re.sub(r"[^A-Za-z0-9_-]+", "", f.stem)[:40] or "upload"
