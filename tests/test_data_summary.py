"""What the Train form says about a local table once its columns are picked, before anything is queued."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import SHARED_DATA

from sentiment_lab.ui.data_summary import data_summary


def test_a_file_without_held_out_splits_says_what_is_carved_and_its_classes(tmp_path):
    frame = pd.DataFrame(
        {
            "Review": [f"review number {i} of a film" for i in range(300)],  # no copies: each split's size is exact
            "sentiment": ["positive" if i % 3 else "negative" for i in range(300)],  # 200 / 100
            "stars": [1 + i % 5 for i in range(300)],
        }
    )
    path = tmp_path / "reviews.csv"
    frame.to_csv(path, index=False)
    said = data_summary("", str(path), "Review", "sentiment", hub_online=False)
    # A tenth of each class to validation (20 + 10), then a tenth of what is left to test (18 + 9).
    assert said.startswith("Rows with a review and a class: train 243 · validation 30 · test 27 (validation and test")
    assert "2 classes in train: positive 162 (67%), negative 81 (33%)." in said
    assert "\n\n⚠ The test split has only 27 sentences" in said  # what may mislead, said before queueing
    # The stars picked as the class by mistake: five classes, said before a run is queued.
    assert "5 classes in train: " in data_summary("", str(path), "Review", "stars", hub_online=False)
    # The review column picked as the class: refused by name, in the form.
    wrong = data_summary("", str(path), "sentiment", "Review", hub_online=False)
    assert wrong.startswith("⚠ This data cannot train a run: ") and "distinct values" in wrong


def test_a_table_mostly_of_one_class_is_warned_of_and_a_missing_column_named(tmp_path):
    frame = pd.DataFrame({"text": [f"film number {i} was fine" for i in range(200)], "label": [0] * 180 + [1] * 20})
    path = tmp_path / "skewed.parquet"
    frame.to_parquet(path)
    said = data_summary(str(path), None, "text", "label", hub_online=True)
    assert "classes in train: 0 " in said and "\n\n⚠ The train split is 90% '0'" in said
    assert "no column 'review'" in data_summary(str(path), None, "review", "label", hub_online=True)


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="offline Rotten Tomatoes copy not present")
def test_the_default_hub_id_is_summed_up_from_its_local_copy_only_when_the_hub_is_out_of_reach():
    from sentiment_lab.training.data import DEFAULT_DATASET

    said = data_summary(DEFAULT_DATASET, None, "text", "label", hub_online=False)
    assert said.startswith("Rows with a review and a class: train 8,530 · validation 1,066 · test 1,066. 2 classes")
    assert data_summary(DEFAULT_DATASET, None, "text", "label", hub_online=True) == ""  # a download, not a glance
    assert data_summary("someone/some-data", None, "text", "label", hub_online=False) == ""


def test_a_table_edited_since_is_summed_up_again(tmp_path):
    path = tmp_path / "reviews.parquet"
    rows = lambda n: pd.DataFrame({"text": [f"film {i} here" for i in range(n)], "label": [i % 2 for i in range(n)]})  # noqa: E731
    rows(200).to_parquet(path)
    assert "train 162 · validation 20 · test 18" in data_summary(str(path), None, "text", "label", hub_online=True)
    rows(400).to_parquet(path)
    assert "train 324 · validation 40 · test 36" in data_summary(str(path), None, "text", "label", hub_online=True)


def test_a_copied_runs_settings_bring_the_summary_of_its_columns_even_when_the_dataset_is_the_same(tmp_path):
    from fakes.runs import finished_run

    from sentiment_lab.ui.app import build_app

    path = tmp_path / "reviews.csv"
    pd.DataFrame({"Review": [f"film {i} here" for i in range(300)], "stars": [1 + i % 5 for i in range(300)]}).to_csv(
        path, index=False
    )
    root = tmp_path / "runs"
    root.mkdir()
    finished_run(root, "stars-run", "svm", 1.0, dataset=str(path), text_column="Review", label_column="stars")
    app = build_app(root)
    (reuse,) = {f.fn for f in app.fns.values() if f.fn.__name__ == "reuse"}
    *values, note, summary = reuse("stars-run", None)
    assert note.startswith("Settings of **stars-run** copied") and str(path) in values
    assert "5 classes in train: " in summary  # said in the copy's own answer: no Dataset event need fire
