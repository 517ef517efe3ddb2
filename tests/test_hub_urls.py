"""A Hub page's address pasted in the Model or Dataset box is read as the id it shows."""

from __future__ import annotations

import pytest

from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.hub_urls import hub_id


@pytest.mark.parametrize(
    "text, kind, wanted",
    [
        ("https://huggingface.co/google-bert/bert-base-uncased", "model", "google-bert/bert-base-uncased"),
        ("huggingface.co/distilbert/distilbert-base-uncased/tree/main", "model", "distilbert/distilbert-base-uncased"),
        ("https://hf.co/bert-base-uncased/blob/main/config.json", "model", "bert-base-uncased"),
        ("https://huggingface.co/datasets/nyu-mll/glue/viewer/sst2/train", "dataset", "nyu-mll/glue:sst2"),
        ("https://huggingface.co/datasets/stanfordnlp/imdb/viewer/default/test?row=3", "dataset", "stanfordnlp/imdb"),
        (
            " https://huggingface.co/datasets/cornell-movie-review-data/rotten_tomatoes/ ",
            "dataset",
            "cornell-movie-review-data/rotten_tomatoes",
        ),
        # not the kind of page asked for, or no address at all: left as typed, for loading to name
        (
            "https://huggingface.co/datasets/stanfordnlp/imdb",
            "model",
            "https://huggingface.co/datasets/stanfordnlp/imdb",
        ),
        ("https://huggingface.co/spaces/me/demo", "model", "https://huggingface.co/spaces/me/demo"),
        (
            "https://huggingface.co/google-bert/bert-base-uncased",
            "dataset",
            "https://huggingface.co/google-bert/bert-base-uncased",
        ),
        ("minilm", "model", "minilm"),
        ("./reviews/huggingface.co/x", "dataset", "./reviews/huggingface.co/x"),
    ],
)
def test_an_address_reads_as_its_id(text, kind, wanted):
    assert hub_id(text, kind) == wanted


def test_a_run_config_keeps_the_ids_of_pasted_addresses():
    cfg = RunConfig.of(
        model="https://huggingface.co/FacebookAI/roberta-base",
        dataset="https://huggingface.co/datasets/nyu-mll/glue/viewer/sst2/validation",
    ).validated()
    assert (cfg.model, cfg.data.dataset) == ("FacebookAI/roberta-base", "nyu-mll/glue:sst2")


def test_the_form_reads_the_default_datasets_address_as_its_id():
    from sentiment_lab.training.columns import table_columns
    from sentiment_lab.training.data import DEFAULT_DATASET, offline_copy_of
    from sentiment_lab.ui.data_summary import local_table

    if offline_copy_of(DEFAULT_DATASET) is None:
        pytest.skip("no local copy of Rotten Tomatoes beside the project")
    address = f"https://huggingface.co/datasets/{DEFAULT_DATASET}"
    assert table_columns(address) == ["text", "label"]  # the column boxes offer the copy's columns
    assert local_table(address, None, hub_online=False) == offline_copy_of(DEFAULT_DATASET)


def test_a_local_folder_named_like_the_host_stays_a_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "huggingface.co" / "me" / "model").mkdir(parents=True)
    assert hub_id("huggingface.co/me/model", "model") == "huggingface.co/me/model"
