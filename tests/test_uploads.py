"""Uploads of one table per split (a Kaggle-style train.csv and test.csv): kept as a dataset folder whose given
splits the run scores on, each file's split read from its name, and a set that cannot be one dataset refused."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from sentiment_lab.runs.queue import JobManager
from sentiment_lab.training.config import ConfigError, RunConfig
from sentiment_lab.training.data import load_dataset
from sentiment_lab.ui.services import Services
from sentiment_lab.ui.train_form import form_summary
from sentiment_lab.ui.uploads import store_upload


def table(path: Path, n: int, tag: str) -> str:
    rows = [{"Review": f"{tag} film {i} was {'good' if i % 2 else 'bad'}", "sentiment": i % 2} for i in range(n)]
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def test_uploads_are_checked_and_renamed(tmp_path):
    good = tmp_path / "My Reviews!.csv"
    good.write_text("text,label\ngood,1\nbad,0\n")
    stored = store_upload(str(good), tmp_path / "uploads")
    assert Path(stored).parent == tmp_path / "uploads" and Path(stored).name.startswith("MyReviews-")
    assert stored.endswith(".csv") and "My Reviews" not in stored
    odd = tmp_path / "..!!.csv"
    odd.write_text("text,label\ngood,1\nbad,0\n")
    assert Path(store_upload(str(odd), tmp_path / "uploads")).name.startswith("upload-")
    for name, content, message in (("x.exe", b"MZ", "must be parquet"), ("e.csv", b"", "empty")):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ConfigError, match=message):
            store_upload(str(tmp_path / name), tmp_path / "uploads")


def test_split_files_are_kept_as_one_dataset_whose_given_test_split_is_scored(tmp_path):
    files = [table(tmp_path / "imdb_train.csv", 60, "train"), table(tmp_path / "imdb_test.csv", 20, "test")]
    stored = Path(store_upload(files, tmp_path / "uploads"))
    assert stored.parent == tmp_path / "uploads" and stored.name.startswith("imdb_train-")
    assert sorted(f.name for f in stored.iterdir()) == ["test.csv", "train.csv"]
    assert store_upload(list(reversed(files)), tmp_path / "uploads") == str(stored)  # the same upload, kept once
    ds = load_dataset(str(stored), "Review", "sentiment")
    assert ds.carved == ["validation"] and all(t.startswith("test ") for t in ds.splits["test"].texts)
    assert len(ds.splits["test"]) == 20


@pytest.mark.parametrize(
    "names, message",
    [
        (("train.csv", "reviews.csv"), "reviews.csv names none of train, validation"),
        (("train.csv", "train_2.csv"), "two uploaded files for the train split: train.csv and train_2.csv"),
        (("a_train.csv", "b_train.csv"), "two uploaded files for the train split: a_train.csv and b_train.csv"),
        (("dev.csv", "test.csv"), r"the uploaded files \(dev.csv, test.csv\) have no train file"),
        (
            ("train-00000-of-00002.csv",),
            "train split comes in 2 shards, of which only train-00000-of-00002.csv was uploaded: upload all 2 together",
        ),
        (
            ("train-00000-of-00003.csv", "train-00002-of-00003.csv"),
            "comes in 3 shards, of which only train-00000-of-00003.csv, train-00002-of-00003.csv were uploaded",
        ),
        (("train-00000-of-00002.csv", "train.csv"), "two uploaded files for the train split"),
        (("a_train-00000-of-00002.csv", "b_train-00001-of-00002.csv"), "two uploaded files for the train split"),
        (("train.csv", "test.exe"), "test.exe must be parquet, CSV, TSV or JSON"),
    ],
)
def test_a_set_of_files_that_cannot_be_one_dataset_is_refused_by_name(tmp_path, names, message):
    files = [table(tmp_path / name, 20, name) for name in names]
    with pytest.raises(ConfigError, match=message):
        store_upload(files, tmp_path / "uploads")
    assert not any((tmp_path / "uploads").glob("*"))  # nothing half-stored


def test_the_shards_of_a_split_uploaded_together_are_read_whole(tmp_path):
    """Uploaded shards of one split (`train-00000-of-00002.csv`...) were refused as two files for one split."""
    files = [
        table(tmp_path / "imdb_train-00000-of-00002.csv", 40, "first"),
        table(tmp_path / "imdb_train-00001-of-00002.csv", 40, "second"),
        table(tmp_path / "imdb_test-00000-of-00001.csv", 20, "test"),
    ]
    stored = Path(store_upload(files, tmp_path / "uploads"))
    assert stored.name.startswith("imdb_train-00000-of-00002-")
    names = sorted(f.name for f in stored.iterdir())
    assert names == ["test-00000-of-00001.csv", "train-00000-of-00002.csv", "train-00001-of-00002.csv"]
    ds = load_dataset(str(stored), "Review", "sentiment")
    assert len(ds.splits["train"]) + len(ds.splits["validation"]) == 80 and len(ds.splits["test"]) == 20
    assert {t.split()[0] for t in ds.splits["train"].texts} == {"first", "second"}


def test_the_form_sums_up_split_files_and_queues_a_run_on_them(tmp_path):
    services = Services(tmp_path / "runs")
    services.jobs = JobManager(tmp_path / "runs", launcher=lambda run_id, folder, args, **_: [sys.executable, "-c", ""])
    files = [table(tmp_path / "train.csv", 60, "train"), table(tmp_path / "test.csv", 20, "test")]
    said = form_summary(services, "", files, "Review", "sentiment")
    assert said.startswith("Rows with a review and a class: train 54 · validation 6 · test 20 (validation carved")
    (bad,) = [form_summary(services, "", [*files, table(tmp_path / "notes.csv", 5, "x")], "Review", "sentiment")]
    assert bad.startswith("⚠ Uploaded files are read as one per split, by name: notes.csv names none")
    done = services.submit({"method": "svm", "text_column": "Review", "label_column": "sentiment"}, files)
    (run_id,) = done.ids
    dataset = RunConfig.load(services.jobs.folder(run_id) / "config.json").data.dataset
    assert Path(dataset).parent == services.uploads and (Path(dataset) / "test.csv").is_file()


def test_what_is_said_of_an_upload_names_the_files_as_uploaded(tmp_path):
    """The answer named our stored copy (`s140-26503cd94bc4c1d6.csv`, the folder's `train.csv`)."""
    from test_data_columns import sentiment140_like

    services = Services(tmp_path / "runs")
    services.jobs = JobManager(tmp_path / "runs", launcher=lambda run_id, folder, args, **_: [sys.executable, "-c", ""])
    upload = sentiment140_like(tmp_path / "s140.csv")
    done = services.submit({"method": "svm", "text_column": "column6", "label_column": "column1"}, upload)
    assert done.warnings[0].startswith("the file s140.csv has no header row")
    test = tmp_path / "imdb_test.csv"  # in a folder of split files, stored as test.csv
    pd.DataFrame({"Review": [f"café film {i}" for i in range(20)], "sentiment": [i % 2 for i in range(20)]}).to_csv(
        test, index=False, encoding="cp1252"
    )
    files = [table(tmp_path / "imdb_train.csv", 60, "train"), str(test)]
    done = services.submit({"method": "svm", "text_column": "Review", "label_column": "sentiment"}, files)
    assert done.warnings[0].startswith("the file imdb_test.csv is not UTF-8 text")
    (tmp_path / "s140.csv").write_text("text,label\n")
    with pytest.raises(ConfigError, match=r"\bs140.csv has no rows"):  # a refusal that names the file, too
        services.submit({"method": "svm"}, upload)
