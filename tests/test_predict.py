"""Prediction shares the frozen backbone: one encoder in memory, unchanged answers, encoder untouched."""

from __future__ import annotations

import pytest
import torch
from conftest import build_model
from fakes.runs import finished_run

from sentiment_lab.training import methods
from sentiment_lab.training.backbone import load_encoder, load_tokenizer
from sentiment_lab.training.config import RunConfig

ID2LABEL = {0: "neg", 1: "pos"}


@pytest.mark.parametrize("method", ["lora", "adapters"])
def test_runs_loaded_around_a_shared_encoder_answer_as_a_plain_load(method, tiny_models, tmp_path):
    for kind, model_dir in tiny_models.items():
        torch.manual_seed(0)
        cfg = RunConfig.of(method=method, model=str(model_dir)).validated()
        m = methods.get(method)
        trained = build_model(cfg)
        with torch.no_grad():  # stand-in for training: every trainable weight (LayerNorms too) moves
            for p in trained.parameters():
                if p.requires_grad:
                    p.add_(torch.randn_like(p) * 0.1)
        folder = tmp_path / f"{kind}-{method}"
        folder.mkdir()
        m.save(trained, folder, cfg, load_tokenizer(str(model_dir)), ID2LABEL)

        encoder = load_encoder(str(model_dir)).eval()
        before = {k: v.clone() for k, v in encoder.state_dict().items()}
        plain = m.load(folder, cfg, ID2LABEL).eval()
        shared = m.load(folder, cfg, ID2LABEL, encoder=encoder).eval()

        ids = torch.tensor([[2, 10, 11, 12, 3], [2, 14, 15, 3, 0]])
        mask = (ids != 0).long()
        with torch.inference_mode():
            expected = plain(input_ids=ids, attention_mask=mask).logits
            got = shared(input_ids=ids, attention_mask=mask).logits
        assert torch.allclose(expected, got, atol=1e-6), (kind, method, expected, got)

        encoder_memory = {t.data_ptr() for t in encoder.state_dict().values()}
        big_frozen = [
            n
            for n, p in shared.named_parameters()
            if p.ndim == 2
            and p.shape[0] > 2
            and "lora_" not in n
            and ".adapter." not in n
            and "modules_to_save" not in n
            and "classifier" not in n
            and "pooler" not in n
            and "original_module" not in n
        ]
        assert big_frozen and all(
            dict(shared.named_parameters())[n].data_ptr() in encoder_memory for n in big_frozen
        ), (kind, method)
        assert all(torch.equal(before[k], v) for k, v in encoder.state_dict().items()), (
            f"{kind} {method} changed the shared encoder"
        )


def test_compare_passes_over_a_newer_run_that_did_not_learn(tmp_path):
    from sentiment_lab.runs.queue import JobManager
    from sentiment_lab.serving.predict import Predictor

    finished_run(tmp_path, "lora-old", "lora", 100.0)
    finished_run(tmp_path, "lora-new-collapsed", "lora", 200.0, warning="warning: the model did not learn")
    finished_run(tmp_path, "full-old", "full", 100.0)
    finished_run(tmp_path, "full-new", "full", 200.0)
    finished_run(tmp_path, "freeze-only-collapsed", "freeze", 100.0, warning="warning: the model did not learn")
    latest = Predictor(JobManager(tmp_path)).latest_runs()
    assert latest["lora"] == "lora-old"
    assert latest["full"] == "full-new"
    assert latest["freeze"] == "freeze-only-collapsed"  # nothing better: shown (the run table flags it)
    assert latest["svm"] is None


@pytest.mark.parametrize("slow", ["bf16", "fp32"])
def test_one_review_runs_in_the_precision_measured_faster_and_batches_in_bf16(tmp_path, monkeypatch, slow):
    import time

    import sentiment_lab.serving.predict as predict
    from sentiment_lab.runs.queue import JobManager

    monkeypatch.setattr(predict, "cpu_has_native_bf16", lambda: True)
    predictor = predict.Predictor(JobManager(tmp_path))
    calls = []

    def answer(run_id, texts, shared):
        in_bf16 = torch.is_autocast_enabled("cpu")
        calls.append(in_bf16)
        time.sleep(0.004 if (slow == "bf16") == in_bf16 else 0)

    monkeypatch.setattr(predictor, "_answer", answer)
    with predictor._precision(1, "run") as _:
        assert torch.is_autocast_enabled("cpu") == (slow == "fp32")
    measured = len(calls)
    assert measured == 20 and sum(calls) == 10  # both precisions timed, interleaved
    with predictor._precision(1, "run"):
        assert torch.is_autocast_enabled("cpu") == (slow == "fp32") and len(calls) == measured  # once per process
    with predictor._precision(32, "run"):
        assert torch.is_autocast_enabled("cpu")
    monkeypatch.setattr(predict, "cpu_has_native_bf16", lambda: False)
    with predictor._precision(32, "run"):
        assert not torch.is_autocast_enabled("cpu")


def test_a_broken_run_leaves_the_precision_unmeasured(tmp_path, monkeypatch):
    import sentiment_lab.serving.predict as predict
    from sentiment_lab.runs.queue import JobManager

    monkeypatch.setattr(predict, "cpu_has_native_bf16", lambda: True)
    predictor = predict.Predictor(JobManager(tmp_path))
    with predictor._precision(1, "no-such-run"):
        assert torch.is_autocast_enabled("cpu")
    assert predictor.one_review_in_bf16 is None


def test_svm_and_freeze_pooling_differently_share_one_encoder_pass(tiny_models, tmp_path, monkeypatch):
    """An SVM reading [CLS] beside a freeze run reading the token mean: one encoder pass per batch, each
    run pooling it its own way, answers as each run loaded alone."""
    import numpy as np

    import sentiment_lab.serving.predict as predict
    from sentiment_lab.runs.queue import JobManager

    model_dir = tiny_models["bert"]
    tok, encoder = load_tokenizer(str(model_dir)), load_encoder(str(model_dir)).eval()
    hidden = encoder.config.hidden_size
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, hidden)).astype(np.float32), np.tile([0, 1], 20)
    svm_cfg = RunConfig.of(method="svm", model=str(model_dir), pooling="cls", svm_c=0.1)
    svm_dir = finished_run(tmp_path, "svm-old", "svm", 100.0, model=str(model_dir), pooling="cls")
    svm = methods.svm.fit(methods.svm.build(svm_cfg, ID2LABEL, hidden), x, y, x, y, svm_cfg)
    methods.svm.save(svm, svm_dir / "artefacts", svm_cfg, tok, ID2LABEL)
    freeze_cfg = RunConfig.of(method="freeze", model=str(model_dir))
    freeze_dir = finished_run(tmp_path, "freeze-new", "freeze", 100.0, model=str(model_dir))
    head = methods.freeze.build(freeze_cfg, ID2LABEL, hidden)
    methods.freeze.save(head, freeze_dir / "artefacts", freeze_cfg, tok, ID2LABEL)

    passes = []
    real = predict.last_hidden
    monkeypatch.setattr(predict, "last_hidden", lambda *a: passes.append(1) or real(*a))
    monkeypatch.setattr(predict, "cpu_has_native_bf16", lambda: False)  # fp32, as the runs loaded alone
    texts = ["a fine film", "dull and far too long"]
    got = predict.Predictor(JobManager(tmp_path)).predict_many(texts, {"svm": "svm-old", "freeze": "freeze-new"})
    assert len(passes) == 1, "SVM and freeze each ran the encoder"

    enc = tok(texts, padding=True, return_tensors="pt")
    enc = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
    with torch.inference_mode():
        alone = {
            "svm": methods.svm.load(svm_dir / "artefacts", svm_cfg, ID2LABEL, encoder)(**enc).exp(),
            "freeze": methods.freeze.load(freeze_dir / "artefacts", freeze_cfg, ID2LABEL, encoder)(**enc).softmax(-1),
        }
    for method in ("svm", "freeze"):
        assert np.allclose(got[method]["probabilities"], alone[method].numpy(), atol=1e-5), method


def test_an_imported_run_answers_only_when_picked_or_alone(tmp_path):
    from sentiment_lab.runs.queue import JobManager
    from sentiment_lab.serving.predict import Predictor
    from sentiment_lab.training.records import write_status

    finished_run(tmp_path, "svm-here", "svm", 100.0)
    write_status(finished_run(tmp_path, "svm-imported", "svm", 200.0), "done", imported_from="small.zip")
    write_status(finished_run(tmp_path, "lora-pulled", "lora", 200.0), "done", imported_from="hf.co/me/lora")
    predictor = Predictor(JobManager(tmp_path))
    latest = predictor.latest_runs()
    assert latest["svm"] == "svm-here"  # a newer import does not take its place unasked
    assert latest["lora"] == "lora-pulled"  # the method's only run (a demo that pulls its runs)
    assert predictor.answering_runs({"svm": "svm-imported"})["svm"] == "svm-imported"
