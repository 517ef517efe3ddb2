"""A model that is a classifier already (an SST-2 or three-class sentiment model, a finished full run): training
on data with another number of classes draws a new head, and what becomes of its head is said."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import train_one

from sentiment_lab.training.backbone import INITIALISED_HERE, ModelLoadError, load_classifier
from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.data import load_dataset
from sentiment_lab.training.own_head import head_warning


def classifier_folder(base: Path, folder: Path, labels: list[str]) -> Path:
    """`base` saved as a sequence classifier with `labels`, as a fine-tuned Hub model is."""
    import torch
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(1)
    model = AutoModelForSequenceClassification.from_pretrained(
        base, id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)}
    )
    model.save_pretrained(folder)
    for file in base.iterdir():
        if "tok" in file.name or file.name.startswith(("vocab", "special")):
            shutil.copy(file, folder)
    return folder


@pytest.fixture(scope="module")
def three_class(tiny_models, tmp_path_factory) -> Path:
    return classifier_folder(
        tiny_models["bert"], tmp_path_factory.mktemp("three-class"), ["negative", "neutral", "positive"]
    )


def test_a_three_class_classifier_gets_a_new_head_for_two_classes_and_keeps_its_encoder(three_class):
    from safetensors.torch import load_file

    model = load_classifier(str(three_class), {0: "neg", 1: "pos"})
    assert model.classifier.weight.shape[0] == 2 and model.config.id2label == {0: "neg", 1: "pos"}
    assert getattr(model.classifier.weight, INITIALISED_HERE, False)  # a resume keeps it: the file has another
    saved = load_file(three_class / "model.safetensors")
    encoder = "bert.encoder.layer.0.attention.self.query.weight"
    assert model.state_dict()[encoder].equal(saved[encoder])
    assert not getattr(model.get_parameter(encoder), INITIALISED_HERE, False)


def test_a_model_whose_encoder_does_not_fit_its_config_is_refused_by_name(three_class, tmp_path):
    broken = Path(shutil.copytree(three_class, tmp_path / "broken"))
    config = json.loads((broken / "config.json").read_text())
    (broken / "config.json").write_text(json.dumps({**config, "intermediate_size": 48}))  # the file's is 64
    with pytest.raises(ModelLoadError, match=r"its file's bert\.encoder\.layer\.0\.\S+ .*do not fit the shapes"):
        load_classifier(str(broken), {0: "neg", 1: "pos"})


@pytest.mark.parametrize("method", ["full", "lora", "adapters"])
def test_each_method_on_the_models_head_trains_a_three_class_classifier_on_two_classes(
    method, three_class, tiny_data, isolated_checkpoints, capsys
):
    from sentiment_lab.runs.queue import JobManager
    from sentiment_lab.serving.predict import Predictor

    train_one(str(three_class), method, tiny_data, isolated_checkpoints, f"{method}-run")  # it once failed to load
    log = capsys.readouterr().out  # the run's log: a queued run's output goes to its log.txt
    assert "is a 3-class classifier already (negative, neutral, positive) and the data has 2 classes" in log
    rows = Predictor(JobManager(isolated_checkpoints)).predict("a good film", {method: f"{method}-run"})
    answer = next(r for r in rows if r["method"] == method)
    assert set(answer["probabilities"]) == {"neg", "pos"}, answer  # the finished run loads back, as Compare does


def test_what_becomes_of_a_trained_head_is_said_only_for_the_methods_that_train_on_it(
    three_class, tiny_models, tiny_data, tmp_path, monkeypatch
):
    from sentiment_lab.runs.queue import JobManager
    from sentiment_lab.ui.services import Services

    monkeypatch.setattr(JobManager, "advance", lambda self: [])  # nothing starts: queued runs stay queued
    said = Services(tmp_path / "runs").submit({"method": "full", "model": str(three_class), "dataset": str(tiny_data)})
    assert any(w.startswith(f"{three_class} is a 3-class classifier already") for w in said.warnings)  # in the form
    data = load_dataset(str(tiny_data), "text", "label", 42)  # classes neg, pos
    run = lambda method, model: RunConfig.of(method=method, model=str(model), dataset=str(tiny_data))  # noqa: E731
    assert head_warning(run("lora", three_class), data) == [
        f"{three_class} is a 3-class classifier already (negative, neutral, positive) and the data has 2 classes: "
        "its head's output layer is drawn anew for them"
    ]
    assert head_warning(run("svm", three_class), data) == head_warning(run("freeze", three_class), data) == []
    assert head_warning(run("full", tiny_models["bert"]), data) == []  # a pre-trained encoder has no head to say of
    sst2 = classifier_folder(tiny_models["bert"], tmp_path / "sst2", ["NEGATIVE", "POSITIVE"])
    assert head_warning(run("full", sst2), data) == [
        f"{sst2} is a classifier already: training starts from its head, its classes NEGATIVE, POSITIVE read as "
        "the data's neg, pos, in that order"
    ]
    same = classifier_folder(tiny_models["bert"], tmp_path / "same", ["neg", "pos"])  # a finished run of this data
    assert head_warning(run("full", same), data) == []


@pytest.mark.parametrize("method", ["full", "lora"])
def test_a_run_on_a_new_output_layer_stops_and_resumes_to_the_same_model(method, three_class, tiny_data, tmp_path):
    """The output layer drawn here is not in the model's file: the training state keeps it, so a resume goes on
    from the same weights."""
    from test_resume import StopAfter, config

    from sentiment_lab.training.records import read_status
    from sentiment_lab.training.runner import Runner

    cfg = config(three_class, tiny_data, method)
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert Runner(cfg, whole, progress=False).run() == 0
    assert Runner(cfg, parts, should_stop=StopAfter(5), progress=False).run() == 0
    assert read_status(parts)["state"] == "stopped"
    assert Runner(cfg, parts, progress=False, resume=True).run() == 0, read_status(parts).get("error")
    a, b = (json.loads((f / "results.json").read_text()) for f in (whole, parts))
    assert b["test"] == pytest.approx(a["test"], abs=1e-6)
