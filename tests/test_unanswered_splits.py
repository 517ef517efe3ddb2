"""Data as it is published: a Hub dataset with several configs (GLUE's `sst2`) is named `owner/name:config`, and a
held-out split without answers (GLUE's hidden test labels, a Kaggle test file) is carved from train, said so."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from huggingface_hub import ModelCard

import sentiment_lab.training.tables as tables
from sentiment_lab.runs.model_card import model_card
from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.data import DatasetError, load_dataset

NAMES = ["negative", "positive"]


def glue_like(root):
    """A local dataset repository laid out as GLUE's: two configs, ClassLabel answers, a test split of -1s."""
    import datasets

    features = datasets.Features(
        sentence=datasets.Value("string"), label=datasets.ClassLabel(names=NAMES), idx=datasets.Value("int32")
    )
    sizes = {"train": 60, "validation": 12, "test": 10}
    configs = []
    for config in ("cola", "sst2"):
        splits = []
        for split, n in sizes.items():
            labels = [-1] * n if split == "test" else [i % 2 for i in range(n)]
            rows = {"sentence": [f"{config} {split} review {i}" for i in range(n)], "label": labels, "idx": range(n)}
            (root / config).mkdir(parents=True, exist_ok=True)
            datasets.Dataset.from_dict(rows, features=features).to_parquet(str(root / config / f"{split}.parquet"))
            splits.append(f"  - split: {split}\n    path: {config}/{split}.parquet")
        configs.append(f"- config_name: {config}\n  data_files:\n" + "\n".join(splits))
    (root / "README.md").write_text("---\nconfigs:\n" + "\n".join(configs) + "\n---\n")
    return root


@pytest.fixture
def hub_glue(tmp_path, monkeypatch):
    """`nyu-mll/glue` read by the real `datasets` library from a local copy, as if the Hub answered."""
    import datasets

    repo = glue_like(tmp_path / "glue")
    load, names = datasets.load_dataset, datasets.get_dataset_config_names
    here = lambda path: str(repo) if path == "nyu-mll/glue" else path  # noqa: E731
    monkeypatch.setattr(tables, "go_offline_if_unreachable", lambda: True)
    monkeypatch.setattr(datasets, "load_dataset", lambda p, c=None: load(here(p), c, cache_dir=str(tmp_path / "c")))
    monkeypatch.setattr(datasets, "get_dataset_config_names", lambda p: names(here(p)))


def test_a_dataset_with_several_configs_names_them_and_how_to_pick_one(hub_glue):
    with pytest.raises(DatasetError, match=r"'nyu-mll/glue' has several configs cola, sst2: .* as nyu-mll/glue:cola"):
        load_dataset("nyu-mll/glue", "sentence")
    with pytest.raises(DatasetError, match=r"has no config 'sst3'; it has cola, sst2"):
        load_dataset("nyu-mll/glue:sst3", "sentence")


def test_a_config_after_a_colon_trains_and_its_hidden_test_answers_are_carved_from_train(hub_glue):
    ds = load_dataset("nyu-mll/glue:sst2", "sentence", "label")
    assert ds.label_names == NAMES and ds.carved == ["test"]
    assert all(t.startswith("sst2 ") for split in ds.splits.values() for t in split.texts)
    assert len(ds.splits["validation"]) == 12  # the given split, whole
    assert len(ds.splits["train"]) + len(ds.splits["test"]) == 60 and set(ds.splits["test"].labels) == {0, 1}
    assert any(w.startswith("the test split has no answers (every row labelled -1") for w in ds.warnings)


def test_a_kaggle_style_test_file_without_the_label_column_is_carved_from_train(tmp_path):
    pd.DataFrame({"review": [f"review {i}" for i in range(40)], "stars": ["bad", "good"] * 20}).to_csv(
        tmp_path / "train.csv", index=False
    )
    pd.DataFrame({"review": [f"unseen {i}" for i in range(10)]}).to_csv(tmp_path / "test.csv", index=False)
    ds = load_dataset(str(tmp_path), "review", "stars")
    assert ds.carved == ["validation", "test"] and not any("unseen" in t for t in ds.splits["test"].texts)
    assert any(w.startswith("the test split has no 'stars' column") for w in ds.warnings)
    pd.DataFrame({"review": ["a", "b"]}).to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(DatasetError, match="the train split has no column 'stars'"):
        load_dataset(str(tmp_path), "review", "stars")  # train without answers is still refused


def test_rows_without_an_answer_are_left_out_and_a_split_of_them_alone_refused_for_train(tmp_path):
    import datasets

    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=NAMES)})
    write = lambda split, labels: datasets.Dataset.from_dict(  # noqa: E731
        {"text": [f"{split} {i}" for i in range(len(labels))], "label": labels}, features=features
    ).to_parquet(str(tmp_path / f"{split}.parquet"))
    write("train", [0, 1] * 20)
    write("validation", [0, 1, -1, -1])
    write("test", [1, 0] * 5)
    ds = load_dataset(str(tmp_path))
    assert list(ds.splits["validation"].labels) == [0, 1] and ds.carved == []
    assert "2 validation rows labelled -1 (no answer) left out" in ds.notes
    write("train", [-1] * 10)
    with pytest.raises(DatasetError, match="every train row is labelled -1"):
        load_dataset(str(tmp_path))


def test_the_model_card_names_the_config_and_claims_no_test_score_for_a_carved_split(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    RunConfig.of(method="lora", model="minilm", dataset="nyu-mll/glue:sst2").validated().save(folder / "config.json")
    results = {"labels": NAMES, "test": {"accuracy": 0.9, "f1": 0.9}, "validation": None, "carved": ["test"]}
    (folder / "results.json").write_text(json.dumps(results))
    card = ModelCard(model_card(folder, "me/sst2-run"))
    assert card.data.datasets == ["nyu-mll/glue"] and card.data.eval_results is None
    assert "| test (carved from train) | 0.9000 |" in card.content
    del results["carved"]
    (folder / "results.json").write_text(json.dumps(results))
    (score, *_) = ModelCard(model_card(folder, "me/sst2-run")).data.eval_results
    assert (score.dataset_type, score.dataset_config, score.dataset_split) == ("nyu-mll/glue", "sst2", "test")


def test_a_run_trains_on_a_config_and_records_the_split_it_carved(hub_glue, tiny_models, isolated_checkpoints, capsys):
    from sentiment_lab.training.records import read_results, read_status
    from sentiment_lab.training.runner import Runner

    cfg = RunConfig.of(  # cpu without bf16, as every in-process run of the suite: accelerate's state is one a process
        method="freeze",
        model=str(tiny_models["bert"]),
        dataset="nyu-mll/glue:sst2",
        text_column="sentence",
        device="cpu",
        bf16="off",
    )
    folder = isolated_checkpoints / "sst2"
    assert Runner(cfg.validated(), folder, progress=False).run() == 0, read_status(folder).get("error")
    results = read_results(folder)
    assert results["carved"] == ["test"] and results["labels"] == NAMES and results["test_split"] == 6
    assert "warning: the test split has no answers" in capsys.readouterr().out


def test_a_hub_split_named_exactly_train_wins_over_one_that_starts_so(monkeypatch):
    import datasets

    def rows(tag, n):
        return datasets.Dataset.from_dict(
            {"text": [f"{tag} {i}" for i in range(n)], "label": [i % 2 for i in range(n)]}
        )

    splits = datasets.DatasetDict(train=rows("kept", 40), train_unlabeled=rows("extra", 50), test=rows("test", 20))
    monkeypatch.setattr(tables, "go_offline_if_unreachable", lambda: True)
    monkeypatch.setattr(datasets, "load_dataset", lambda p, c=None: splits)
    ds = load_dataset("someone/reviews")
    assert all(t.startswith("kept ") for t in ds.splits["train"].texts + ds.splits["validation"].texts)
