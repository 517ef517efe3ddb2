"""A model that fails under bf16 autocast (X-MOD writes bf16 results into fp32 tensors by hand): Compare answers
with it in fp32, a run where bf16 was our choice trains it in fp32, and a run told to use bf16 says how to train it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import transformers
from conftest import SMALL, tiny_vocab, train_one

import sentiment_lab.serving.predict as predict
import sentiment_lab.training.device as device
from bench.throughput import fresh_accelerator_state
from sentiment_lab.runs.queue import JobManager
from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.records import read_metrics, read_status
from sentiment_lab.training.runner import Runner

REVIEWS = ["a fine film", "awful plot", "the actors were dull"]


@pytest.fixture(scope="module")
def xmod(tmp_path_factory):
    folder = tmp_path_factory.mktemp("xmod")
    torch.manual_seed(0)
    config = transformers.XmodConfig(
        **dict(SMALL, max_position_embeddings=70),
        vocab_size=len(tiny_vocab()),
        pad_token_id=0,
        languages=["en_XX"],
        default_language="en_XX",
    )
    transformers.AutoModel.from_config(config).save_pretrained(folder)
    transformers.BertTokenizerFast(vocab=tiny_vocab(), do_lower_case=True).save_pretrained(folder)
    return folder


def test_compare_answers_in_fp32_with_a_model_that_fails_under_bf16(xmod, tiny_data, isolated_checkpoints, monkeypatch):
    train_one(xmod, "full", tiny_data, isolated_checkpoints, "xmod")
    predictor = predict.Predictor(JobManager(isolated_checkpoints))
    monkeypatch.setattr(predict, "cpu_has_native_bf16", lambda: True)  # several reviews: bf16 autocast
    answer = predictor.predict_many(REVIEWS, {"full": "xmod"})["full"]
    assert "error" not in answer, answer["error"]
    assert predictor.fp32_runs == {"xmod"}
    monkeypatch.setattr(predict, "cpu_has_native_bf16", lambda: False)
    fp32 = predictor.predict_many(REVIEWS, {"full": "xmod"})["full"]["probabilities"]
    assert np.allclose(answer["probabilities"], fp32, atol=1e-6)


@pytest.fixture
def own_accelerator_state():
    fresh_accelerator_state()  # accelerate keeps one precision a process; the suite's other runs are fp32
    yield
    fresh_accelerator_state()


def test_a_run_in_bf16_of_such_a_model_says_to_train_it_in_fp32(xmod, tiny_data, tmp_path, own_accelerator_state):
    cfg = RunConfig.of(method="full", model=str(xmod), dataset=str(tiny_data), epochs=1, device="cpu", bf16="on")
    assert Runner(cfg.validated(), tmp_path / "run", progress=False).run() == 1
    error = read_status(tmp_path / "run")["error"]
    assert error.startswith("RuntimeError: ") and error.endswith("train it in fp32 (--bf16 off)")


@pytest.mark.parametrize("method", ["full", "svm"])
def test_a_run_where_bf16_was_our_choice_trains_such_a_model_in_fp32(
    xmod, tiny_data, tmp_path, own_accelerator_state, monkeypatch, method
):
    """Such a run failed on a CPU or GPU with bf16, and the Train form has no precision to set."""
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: True)  # auto chooses bf16 here, as on such a CPU
    cfg = RunConfig.of(method=method, model=str(xmod), dataset=str(tiny_data), epochs=1, device="cpu", bf16="auto")
    assert Runner(cfg.validated(), tmp_path / "run", progress=False).run() == 0, read_status(tmp_path / "run")
    assert read_status(tmp_path / "run")["state"] == "done"
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["mixed_precision"] == "no"
    steps = [row["step"] for row in read_metrics(tmp_path / "run") if "eval_accuracy" in row]
    assert steps and steps == sorted(set(steps))  # the failed attempt left no rows behind
