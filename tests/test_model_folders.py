"""Local folders named as the model: a finished full run's folder is a model to train from (and is kept while a
run trained from it needs it); a folder that holds no whole model is refused before queueing, by what it is."""

from __future__ import annotations

import shutil

import pytest
from test_standard_loading import train_one

from sentiment_lab.runs.queue import JobError, JobManager
from sentiment_lab.training import methods
from sentiment_lab.training.config import ConfigError, RunConfig
from sentiment_lab.training.records import write_status
from sentiment_lab.ui.services import Services


def check(model) -> list[str]:
    return methods.check(RunConfig.of(method="lora", model=str(model)))


def test_a_full_runs_folder_is_a_model_to_train_from_and_stays_while_a_run_needs_it(
    tiny_models, tiny_data, isolated_checkpoints
):
    root = isolated_checkpoints
    train_one(str(tiny_models["bert"]), "full", tiny_data, root, "base")
    for name in (root / "base", root / "base" / "artefacts"):
        (said,) = check(name)  # its config and tokenizer were read: the tiny model's 64 positions cut max length
        assert said.endswith("sentences are cut at 62 tokens")
    train_one(str(root / "base"), "lora", tiny_data, root, "on-base")
    # A copy of the LoRA run (zip, Hub) needs that folder beside it, and export and push say so; the full
    # run's weights are a whole model, and a run on a Hub id names a base anyone can fetch.
    services = Services(root)
    assert services.copy_note("on-base").startswith(f"its base model is the local folder '{root / 'base'}'")
    assert services.copy_note("base") == ""
    (root / "on-hub").mkdir()
    RunConfig.of(method="lora", model="distilbert/distilbert-base-uncased").save(root / "on-hub" / "config.json")
    assert services.copy_note("on-hub") == ""
    jobs = JobManager(root)
    with pytest.raises(JobError, match="base is the model runs on-base trained from: delete them first"):
        jobs.delete("base")
    assert (root / "base" / "artefacts" / "model.safetensors").is_file()
    jobs.delete("on-base")
    assert jobs.delete("base") == "deleted"


def test_folders_without_a_whole_model_are_refused_by_what_they_hold(tiny_models, tiny_data, isolated_checkpoints):
    root, base = isolated_checkpoints, str(tiny_models["bert"])
    train_one(base, "lora", tiny_data, root, "lora-run")
    run_says = rf"is the folder of a run of method 'lora': .* train from its base model, '{base}'"
    for name in (root / "lora-run", root / "lora-run" / "artefacts"):
        with pytest.raises(ConfigError, match=run_says):
            check(name)
    adapter = shutil.copytree(root / "lora-run" / "artefacts", root.parent / "adapter")
    with pytest.raises(ConfigError, match=rf"holds a LoRA adapter \(PEFT\), not a whole model; .*'{base}'"):
        check(adapter)
    bare = root.parent / "bare"
    bare.mkdir()
    for file in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_models["bert"] / file, bare / file)
    with pytest.raises(ConfigError, match=r"has no weights \(model.safetensors or pytorch_model.bin\)"):
        check(bare)  # transformers would fail at the front of the queue
    train_one(base, "full", tiny_data, root, "full-run")
    write_status(root / "full-run", "running")  # as a run still training reads
    with pytest.raises(ConfigError, match="is the folder of a full fine-tuning run that has not finished"):
        check(root / "full-run")


def test_a_run_whose_model_folder_has_gone_says_so_in_compare(tiny_models, tiny_data, isolated_checkpoints):
    from sentiment_lab.serving.predict import Predictor

    root, model = isolated_checkpoints, isolated_checkpoints.parent / "my-model"
    shutil.copytree(tiny_models["bert"], model)
    train_one(str(model), "freeze", tiny_data, root, "mine")
    model.rename(model.with_name("elsewhere"))
    answer = Predictor(JobManager(root)).predict_many(["a fine film"], {"freeze": "mine"})["freeze"]
    assert answer["error"] == f"run mine could not be used: model folder '{model}' does not exist (moved or deleted?)"
