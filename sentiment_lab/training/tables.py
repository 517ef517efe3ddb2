"""A dataset's files read into tables: a local file, a folder of split files (shards too), a dataset repository
cloned here, or a Hub dataset."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sentiment_lab.training.backbone import go_offline_if_unreachable
from sentiment_lab.training.delimited import read_delimited

SPLIT_ALIASES = {"train": ("train",), "validation": ("validation", "valid", "val", "dev"), "test": ("test",)}
EXTENSIONS = (".parquet", ".csv", ".tsv", ".jsonl", ".json")
DELIMITED = (".csv", ".tsv")  # read by delimited.read_delimited
MAX_FILE_BYTES = 512 * 1024 * 1024
SPREADSHEETS = (".xlsx", ".xls", ".xlsm", ".ods", ".numbers")  # workbooks, which save to CSV
# One file of a split in several, as the Hub shards one: `train-00000-of-00003`.
SHARD = re.compile(r"^(?P<series>.+)-(?P<index>\d+)-of-(?P<count>\d+)$")


class DatasetError(ValueError):
    """The dataset cannot be read or is unusable; the message names the problem."""


def split_name(stem: str) -> str | None:
    """The split a file's name says: `train`, `dev`, `train-00000-of-00001`, `imdb_test`..., or None."""
    shard = SHARD.match(stem)
    words = re.split(r"[-_.]", (shard["series"] if shard else stem).lower())
    for split, aliases in SPLIT_ALIASES.items():
        if words[0] in aliases or (len(words) > 1 and words[-1] in aliases):
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


def shards_of(first: Path) -> list[Path]:
    """A split's file and the other shards of its series beside it (all of `train-0000N-of-00003`), in order."""
    match = SHARD.match(first.stem)
    if not match:
        return [first]
    series = sorted(first.parent.glob(f"{match['series']}-*-of-{match['count']}{first.suffix}"))
    return [f for f in series if SHARD.match(f.stem)] or [first]


def read_local(path: Path):
    """A file's or a folder's split tables, and the class names its columns carry ({column: names}). A folder
    with no split files of its own, as a Hub dataset repository cloned (`data/`, configs), is read by `datasets`."""
    if path.is_file():
        return {"train": read_table(path)}, class_names_from_parquet(path)
    files = split_files(path)
    if "train" not in files:
        if any(f.suffix.lower() in EXTENSIONS for f in path.rglob("*") if f.is_file()):
            return read_repository(path)
        raise DatasetError(f"dataset folder {path} has no train file (train.parquet, train.csv or train.jsonl)")
    frames = {split: _joined([read_table(f) for f in shards_of(first)]) for split, first in files.items()}
    return frames, class_names_from_parquet(files["train"])


def _joined(parts: list):
    """A split's shards as one table, with what was said of reading each."""
    import pandas as pd

    frame = pd.concat(parts, ignore_index=True)
    frame.attrs["read_as"] = [said for part in parts for said in part.attrs.get("read_as", [])]
    return frame


def read_repository(path: Path, config: str | None = None):
    """A dataset repository's layout, read by `datasets` (its data folders, shards and configs: `folder:config`)."""
    try:
        import datasets

        dd = datasets.load_dataset(str(path), config)
    except Exception as e:  # datasets raises many types for a folder it cannot read
        raise DatasetError(_unloadable(str(path), str(path), config, e, True, local=True)) from None
    return _frames(dd, str(path))


def read_json_table(path: Path, rows: int | None = None):
    """A JSON table in any of the shapes people save: one object per line (the first `rows` only, if given), one
    array of records (a whole-file dump, maybe on one line), or one object of columns (pandas' to_json)."""
    import pandas as pd

    with open(path, encoding="utf-8") as f:
        first = f.read(4096).lstrip()[:1]
    if first != "[":
        try:
            frame = pd.read_json(path, lines=True, nrows=rows, encoding="utf-8")
            if not (len(frame) == 1 and all(isinstance(v, (dict, list)) for v in frame.iloc[0])):
                return frame
        except ValueError:
            pass  # one object over many lines
    return pd.read_json(path, encoding="utf-8")


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
            frame = read_delimited(path)
        elif suffix in (".jsonl", ".json"):
            frame = read_json_table(path)
        else:
            hint = " (from a spreadsheet: save it as CSV UTF-8)" if suffix in SPREADSHEETS else ""
            raise DatasetError(f"{path.name}: unsupported file type {suffix!r}; use parquet, CSV, TSV or JSON{hint}")
    except UnicodeDecodeError:
        raise DatasetError(f"{path.name} is not UTF-8 text: save it as UTF-8 (Excel: CSV UTF-8)") from None
    except DatasetError:
        raise
    except Exception as e:  # pandas raises many types for a file that is not a table
        raise DatasetError(f"{path.name} could not be read as a table: {str(e).splitlines()[0][:200]}") from None
    if len(frame) == 0:
        raise DatasetError(f"{path.name} has no rows")
    return frame


def class_names_from_parquet(path: Path) -> dict[str, list[str]]:
    """The ClassLabel names, by column, that `datasets` stores in a parquet file's schema metadata."""
    if path.suffix.lower() != ".parquet":
        return {}
    import pyarrow.parquet as pq

    meta = (pq.read_schema(path).metadata or {}).get(b"huggingface")
    if not meta:
        return {}
    try:
        features = json.loads(meta)["info"]["features"]
        return {col: f["names"] for col, f in features.items() if f.get("_type") == "ClassLabel"}
    except (KeyError, ValueError, TypeError, AttributeError):
        return {}


def hub_id_and_config(name: str) -> tuple[str, str | None]:
    """`owner/name:config` names one of a Hub dataset's configs (GLUE's `nyu-mll/glue:sst2`); a Hub id has no colon."""
    repo, _, config = name.partition(":")
    return repo, config.strip() or None


def read_hub(name: str):
    online = go_offline_if_unreachable()  # offline, `datasets` may still find it in its cache
    repo, config = hub_id_and_config(name)
    try:
        import datasets

        dd = datasets.load_dataset(repo, config)
    except Exception as e:  # datasets raises ConnectionError, FileNotFoundError, DatasetNotFoundError...
        raise DatasetError(_unloadable(name, repo, config, e, online)) from None
    return _frames(dd, name)


def _frames(dd, name: str):
    """A DatasetDict's split tables, by our split names, and the class names its columns carry."""
    frames, names = {}, {}
    for split, table in dd.items():
        key = split_name(split)
        if key and (key not in frames or split == key):  # `train` itself over a `train_unlabeled` beside it
            frames[key] = table.to_pandas()
            names.update({col: list(f.names) for col, f in table.features.items() if getattr(f, "names", None)})
    if "train" not in frames:
        raise DatasetError(f"dataset {name!r} has no train split")
    return frames, names


def _unloadable(name: str, repo: str, config: str | None, error: Exception, online: bool, local: bool = False) -> str:
    """Why a Hub dataset (or, `local`, a repository cloned here) did not load; one with several configs names
    them and how to pick one."""
    said = str(error)
    if "Config name is missing" in said or "BuilderConfig" in said:
        import datasets

        try:
            configs = datasets.get_dataset_config_names(repo)
        except Exception:  # the list is a courtesy: the error itself is said without it
            configs = []
        if configs:
            which = f"has no config {config!r}; it has" if config else "has several configs"
            return f"dataset {repo!r} {which} {', '.join(configs)}: name one after a colon, as {repo}:{configs[0]}"
    where = (
        f"{type(error).__name__}: {(said.splitlines() or [''])[0][:200]}"
        if online
        else "the Hub cannot be reached and it is not in the local cache"
    )
    if local:
        return (
            f"dataset folder {name!r} could not be read as a dataset repository (its data/ folder or the configs "
            f"in its README): {where}; a folder holding train / validation / test files (parquet, CSV, TSV or "
            "JSON) is read without one"
        )
    return (
        f"dataset {name!r} could not be loaded: {where}; offline choices: a local folder with "
        "train/validation/test files (parquet, CSV, TSV or JSON) or a single file"
    )
