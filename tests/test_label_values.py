"""What a table's review and label values become: classes named as the file writes them, rows without a review
left out, classes that look like one said before the run is queued, and lists in either column refused."""

from __future__ import annotations

import pandas as pd
import pytest

from sentiment_lab.training.data import DatasetError, load_dataset


def reviews(path, labels, texts=None):
    texts = texts or [f"review number {i}" for i in range(len(labels))]
    pd.DataFrame({"text": texts, "label": labels}).to_csv(path, index=False)
    return str(path)


def test_a_true_false_column_keeps_its_words_as_class_names(tmp_path):
    ds = load_dataset(reviews(tmp_path / "liked.csv", [True, False] * 20))
    assert ds.label_names == ["False", "True"]
    assert sum(split.labels.sum() for split in ds.splits.values()) == 20  # True is class 1


def test_a_review_of_only_spaces_is_left_out_as_an_empty_one_is(tmp_path):
    texts = [f"review number {i}" if i % 5 else "   " for i in range(40)]
    ds = load_dataset(reviews(tmp_path / "blank.csv", [1, 0] * 20, texts))
    assert sum(len(split) for split in ds.splits.values()) == 32
    assert not any(not t.strip() for split in ds.splits.values() for t in split.texts)
    assert "8 train rows without a text or a label left out" in ds.notes


def test_classes_spelt_apart_only_by_case_or_spacing_are_said(tmp_path):
    ds = load_dataset(reviews(tmp_path / "case.csv", ["Positive", "positive", "negative", "negative "] * 10))
    assert ds.label_names == ["Positive", "negative", "positive"]  # each spelling its own class, as written
    (said,) = [w for w in ds.warnings if "differ only in case" in w]
    assert said.startswith("the labels 'Positive' and 'positive' differ only in case or spacing, so they train as 2")
    assert not [w for w in load_dataset(reviews(tmp_path / "ok.csv", ["pos", "neg"] * 20)).warnings if "case" in w]


def test_a_column_of_label_lists_is_refused_as_multi_label(tmp_path):
    frame = pd.DataFrame({"text": [f"review number {i}" for i in range(40)], "labels": [[i % 3, 5] for i in range(40)]})
    frame.to_parquet(tmp_path / "emotions.parquet")
    with pytest.raises(DatasetError, match="the label column 'labels' holds several labels per row"):
        load_dataset(str(tmp_path / "emotions.parquet"), label_column="labels")


def test_a_text_column_of_word_lists_is_refused_by_name(tmp_path):
    frame = pd.DataFrame({"tokens": [["a", "fine", "film", str(i)] for i in range(40)], "label": [0, 1] * 20})
    frame.to_parquet(tmp_path / "tokens.parquet")
    with pytest.raises(DatasetError, match="the text column 'tokens' holds lists"):
        load_dataset(str(tmp_path / "tokens.parquet"), text_column="tokens")


def test_class_names_are_the_picked_columns_own_in_a_file_or_a_folder(tmp_path):
    """A datasets-written parquet file alone lost its class names (0, 1), and another column's names were read as
    the picked column's."""
    import datasets

    features = datasets.Features(
        text=datasets.Value("string"),
        label=datasets.ClassLabel(names=["neg", "pos"]),
        topic=datasets.ClassLabel(names=["plot", "cast", "music"]),
        stars=datasets.Value("int64"),
    )
    rows = {"text": [f"review number {i}" for i in range(60)], "label": [i % 2 for i in range(60)]}
    rows.update(topic=[i % 3 for i in range(60)], stars=[i % 2 for i in range(60)])
    datasets.Dataset.from_dict(rows, features=features).to_parquet(str(tmp_path / "train.parquet"))
    assert load_dataset(str(tmp_path / "train.parquet")).label_names == ["neg", "pos"]  # the file alone
    assert load_dataset(str(tmp_path), label_column="topic").label_names == ["plot", "cast", "music"]
    assert load_dataset(str(tmp_path), label_column="stars").label_names == ["0", "1"]  # no names of its own


def test_a_blank_class_is_no_class(tmp_path):
    ds = load_dataset(reviews(tmp_path / "blank.csv", ["pos", "neg", "  "] * 20))
    assert ds.label_names == ["neg", "pos"] and "20 train rows without a text or a label left out" in ds.notes
