"""A pushed run's model card: the Hub's metadata, and lines that download and load the model without Sentiment Lab."""

from __future__ import annotations

import json
import re

import huggingface_hub
import numpy as np
import pytest
from conftest import train_one
from huggingface_hub import ModelCard
from test_standard_loading import TEXTS, TOLERANCE, app_probabilities

import sentiment_lab.runs.hub as hub
from sentiment_lab.runs.model_card import model_card
from sentiment_lab.runs.queue import JobManager
from sentiment_lab.training.config import METHODS, RunConfig
from sentiment_lab.training.records import write_status


@pytest.mark.parametrize("method", METHODS)
def test_the_card_loads_the_pushed_model_with_the_standard_tools(
    method, tiny_models, tiny_data, isolated_checkpoints, monkeypatch
):
    root, run_id = isolated_checkpoints, f"card-{method}"
    train_one(str(tiny_models["bert"]), method, tiny_data, root, run_id)
    card = model_card(root / run_id, "me/my-run")
    data = ModelCard(card).data
    assert data.pipeline_tag == "text-classification" and method in data.tags
    assert data.library_name is None  # the Hub's own loading lines would read the root, not artefacts/
    assert data.base_model is None and data.datasets is None  # local folders: named by their last part only
    assert str(tiny_models["bert"].parent) not in card and str(tiny_data.parent) not in card
    assert "`neg`, `pos`" in card and "| test |" in card

    fetched = []

    def snapshot_download(repo_id, allow_patterns=None, **_):  # the Hub's download, of what was pushed
        fetched.append((repo_id, allow_patterns))
        return str(root / run_id)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    download, load = re.findall(r"```python\n(.*?)```", card, re.S)
    scope = {}
    exec(compile(download, "model card (download)", "exec"), scope)
    assert fetched == [("me/my-run", "artefacts/*")]
    scope["texts"] = list(TEXTS)
    exec(compile(load, f"model card ({method})", "exec"), scope)
    difference = np.abs(
        np.asarray(scope["probs"], dtype=np.float64) - app_probabilities(root, method, run_id, monkeypatch)
    )
    assert difference.max() <= TOLERANCE


def test_the_card_names_a_hub_base_model_and_dataset_with_the_test_scores(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    RunConfig.of(method="lora", model="minilm").validated().save(folder / "config.json")
    results = {"labels": ["neg", "pos"], "test": {"accuracy": 0.8231, "f1": 0.8229}, "validation": None}
    (folder / "results.json").write_text(json.dumps(results))
    data = ModelCard(model_card(folder, "me/lora-run")).data
    assert data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert data.datasets == ["cornell-movie-review-data/rotten_tomatoes"]
    scores = {r.metric_type: (r.metric_value, r.dataset_split, r.dataset_type) for r in data.eval_results}
    split, dataset = "test", "cornell-movie-review-data/rotten_tomatoes"
    assert scores == {"accuracy": (0.8231, split, dataset), "f1": (0.8229, split, dataset)}


def test_a_push_is_one_commit_of_the_runs_own_files_and_its_card(
    tiny_models, tiny_data, isolated_checkpoints, monkeypatch
):
    root, run_id = isolated_checkpoints, "pushed-lora"
    train_one(str(tiny_models["bert"]), "lora", tiny_data, root, run_id)
    write_status(root / run_id, "done")
    (root / run_id / "train_state.pt").write_bytes(b"not pushed")
    calls = []

    class Api:  # the Hub's client, recording what a push asks of it
        def __init__(self, token=None):
            assert token == "tok"

        def create_repo(self, repo_id, **kwargs):
            calls.append(("repo", repo_id, kwargs.get("private")))

        def create_commit(self, repo_id, operations, **_):
            calls.append(("commit", repo_id, {op.path_in_repo: op for op in operations}))

    monkeypatch.setattr(huggingface_hub, "HfApi", Api)
    monkeypatch.setattr(hub, "hub_reachable", lambda: True)
    assert hub.push_run(JobManager(root), run_id, "me/pushed", "tok") == "https://huggingface.co/me/pushed"
    assert [c[0] for c in calls] == ["repo", "commit"] and calls[0] == ("repo", "me/pushed", True)
    pushed = calls[1][2]
    assert {"README.md", "config.json", "results.json", "metrics.jsonl", "artefacts/adapter_config.json"} <= set(pushed)
    assert not {"status.json", "train_state.pt"} & set(pushed)
    assert all(hub.is_run_file(path) for path in pushed if path != "README.md")
    assert "PeftModel.from_pretrained" in pushed["README.md"].path_or_fileobj.decode()


@pytest.mark.parametrize(
    ("dataset", "named"),
    [("imdb", "imdb"), ("stanfordnlp/sst2", "stanfordnlp/sst2"), ("reviews.csv", None), ("/home/me/data/x.tsv", None)],
)
def test_only_a_hub_dataset_is_named_as_one(dataset, named, tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    RunConfig.of(method="full", dataset=dataset).validated().save(folder / "config.json")
    (folder / "results.json").write_text(json.dumps({"labels": ["neg", "pos"], "test": {"accuracy": 0.8, "f1": 0.8}}))
    card = model_card(folder, "me/run")
    assert ModelCard(card).data.datasets == ([named] if named else None)
    assert "/home/me" not in card
