"""Dataset folders as people get them: a split in shards (`train-00000-of-00002.parquet`), and a Hub dataset
repository cloned (its `data/` folder, or configs in its README, picked as `folder:config`)."""

from __future__ import annotations

import pandas as pd
import pytest
from test_unanswered_splits import glue_like

from sentiment_lab.training.data import DatasetError, load_dataset


def reviews(path, tag: str, n: int):
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = {"text": [f"{tag} review {i}" for i in range(n)], "label": [i % 2 for i in range(n)]}
    pd.DataFrame(rows).to_parquet(path)


@pytest.mark.parametrize("prefix", ["", "imdb_"])
def test_every_shard_of_a_split_is_read(tmp_path, prefix):
    """Only a split's first shard was read: half of a two-shard train split went missing without a word."""
    reviews(tmp_path / f"{prefix}train-00000-of-00002.parquet", "first", 30)
    reviews(tmp_path / f"{prefix}train-00001-of-00002.parquet", "second", 30)
    reviews(tmp_path / f"{prefix}test-00000-of-00001.parquet", "test", 10)
    ds = load_dataset(str(tmp_path))
    kept = ds.splits["train"].texts + ds.splits["validation"].texts
    assert len(kept) == 60 and sum(t.startswith("second") for t in kept) == 30
    assert len(ds.splits["test"]) == 10


def test_a_cloned_repository_is_read_by_its_layout(tmp_path):
    reviews(tmp_path / "imdb" / "data" / "train-00000-of-00001.parquet", "train", 40)
    reviews(tmp_path / "imdb" / "data" / "test-00000-of-00001.parquet", "test", 10)
    (tmp_path / "imdb" / "README.md").write_text("# a dataset card")
    ds = load_dataset(str(tmp_path / "imdb"))
    assert len(ds.splits["test"]) == 10 and ds.carved == ["validation"]


def test_a_cloned_repository_with_configs_names_them_and_reads_the_one_picked(tmp_path):
    glue = glue_like(tmp_path / "glue")
    with pytest.raises(DatasetError, match=f"has several configs cola, sst2: name one after a colon, as {glue}:cola"):
        load_dataset(str(glue), "sentence")
    ds = load_dataset(f"{glue}:sst2", "sentence")
    assert all(t.startswith("sst2 ") for t in ds.splits["train"].texts) and ds.carved == ["test"]


def test_a_missing_column_is_refused_naming_where_the_reviews_likely_are(tmp_path):
    """GLUE's reviews are in `sentence`: the refusal listed the columns and left the pick to the reader."""
    glue = glue_like(tmp_path / "glue")
    with pytest.raises(DatasetError, match="columns are sentence, label, idx: the reviews are likely in 'sentence' "):
        load_dataset(f"{glue}:sst2")
    with pytest.raises(DatasetError, match=r"no column 'stars'; .*: the classes are likely in 'label' \(name yours"):
        load_dataset(f"{glue}:sst2", "sentence", "stars")


def test_a_cloned_repository_that_cannot_be_read_says_so_without_the_hubs_words(tmp_path):
    """It ended with the Hub's "offline choices", for a folder that is here."""
    (tmp_path / "repo" / "data").mkdir(parents=True)
    (tmp_path / "repo" / "data" / "train-00000-of-00001.parquet").write_bytes(b"not parquet")
    with pytest.raises(DatasetError, match=r"dataset folder .*repo' could not be read as a dataset repository") as e:
        load_dataset(str(tmp_path / "repo"))
    assert "offline" not in str(e.value)
