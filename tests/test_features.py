"""Pooled features of the frozen encoder (SVM and freeze), and the SVM's search for C."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sentiment_lab.training import methods
from sentiment_lab.training.backbone import load_encoder, load_tokenizer
from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.features import encode, sentence_features


@pytest.fixture
def batch(tiny_model):
    tok = load_tokenizer(str(tiny_model))
    enc = tok(["a fine film", "dull , long and far too loud"], padding=True, return_tensors="pt")
    return load_encoder(str(tiny_model)).eval(), enc["input_ids"], enc["attention_mask"]


def test_both_poolings_read_the_last_layer(batch):
    encoder, ids, mask = batch
    with torch.inference_mode():
        last = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        got = {p: sentence_features(encoder, ids, mask, p) for p in ("mean", "cls")}
    w = mask.unsqueeze(-1).float()
    torch.testing.assert_close(got["mean"], (last * w).sum(1) / w.sum(1))
    torch.testing.assert_close(got["cls"], last[:, 0])
    # padding must not leak into a sentence's features: the short sentence's mean equals its own unpadded pass
    with torch.inference_mode():
        n = int(mask[0].sum())
        alone = sentence_features(encoder, ids[:1, :n], mask[:1, :n], "mean")
    torch.testing.assert_close(got["mean"][:1], alone, atol=1e-5, rtol=1e-5)


def test_encode_gives_one_row_per_sentence(batch, tiny_model, tiny_data):
    from sentiment_lab.training.batching import tokenize
    from sentiment_lab.training.data import load_dataset

    encoder = batch[0]
    ds = load_dataset(str(tiny_data))
    tok = load_tokenizer(str(tiny_model))
    split = ds.splits["validation"]
    tokenize(split, tok, 32)
    x = encode(encoder, split, tok.pad_token_id, "mean")
    assert x.shape == (len(split), encoder.config.hidden_size)
    assert np.isfinite(x).all() and (np.abs(x).sum(1) > 0).all()


def test_a_saved_head_reloads_with_its_pooling_and_labels(tmp_path):
    head = methods.freeze.build(None, {0: "neg", 1: "pos"}, 8)
    cfg = RunConfig.of(method="freeze", pooling="cls")
    methods.freeze.save(head, tmp_path, cfg, _NoTokenizer(), {0: "neg", 1: "pos"})
    spec = json.loads((tmp_path / "head.json").read_text())
    assert (
        spec["id2label"] == {"0": "neg", "1": "pos"} and spec["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    )
    loaded = methods.freeze.load(tmp_path, None, {0: "neg", 1: "pos"}, encoder=None)
    x = torch.randn(3, 8)
    torch.testing.assert_close(loaded.head.eval()(x), head.eval()(x))
    assert loaded.pooling == "cls"


class _NoTokenizer:
    def save_pretrained(self, folder):
        pass


class ScriptedSVM:
    """A LinearSVC whose validation accuracy is set per C; records which C were fitted."""

    accuracy: dict = {}
    fitted: list = []
    truth = np.tile([0, 1], 10)

    def __init__(self, C, **kwargs):
        self.C = C

    def fit(self, x, y):
        ScriptedSVM.fitted.append(self.C)
        self.coef_, self.intercept_ = np.ones((1, x.shape[1])), np.zeros(1)
        return self

    def predict(self, x):
        right = int(round(ScriptedSVM.accuracy[self.C] * len(x)))
        return np.r_[self.truth[:right], 1 - self.truth[right:]]


@pytest.mark.parametrize(
    "scores, fitted, chosen",
    [
        # rises, peaks, then two worse in a row: the larger (slower) C are never fitted
        ([0.5, 0.6, 0.8, 0.7, 0.75, 0.9, 0.9, 0.9, 0.9], 5, 0.001),
        # one dip does not stop the search
        ([0.5, 0.6, 0.55, 0.7, 0.65, 0.6, 0.9, 0.9, 0.9], 6, 0.003),
        # a tie is not better: the smaller C stays
        ([0.8, 0.8, 0.8, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9], 3, 0.0001),
    ],
)
def test_the_search_for_c_stops_after_two_worse(monkeypatch, scores, fitted, chosen):
    import sklearn.svm

    monkeypatch.setattr(sklearn.svm, "LinearSVC", ScriptedSVM)
    ScriptedSVM.accuracy, ScriptedSVM.fitted = dict(zip(methods.svm.C_GRID, scores)), []
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)), np.r_[np.zeros(20), np.ones(20)].astype(int)
    state = methods.svm.fit_arrays(x, y, x[:20], ScriptedSVM.truth, None, 0)
    assert ScriptedSVM.fitted == list(methods.svm.C_GRID[:fitted])
    assert float(state["C"][0]) == pytest.approx(chosen)
    ScriptedSVM.fitted = []
    methods.svm.fit_arrays(x, y, x[:20], ScriptedSVM.truth, 0.03, 0)  # a given C: no search
    assert ScriptedSVM.fitted == [0.03]


@pytest.mark.parametrize("classes", [2, 3])
def test_the_svm_calibrates_when_validation_lacks_a_class(classes):
    rng = np.random.default_rng(0)
    y = np.arange(60) % classes
    x = rng.normal(size=(60, 4)) + 3 * np.eye(4)[y]
    state = methods.svm.fit_arrays(x, y, x[y == 0][:10], y[y == 0][:10], 1.0, 0)  # validation: one class only
    p = methods.svm.probabilities(state, x)
    assert p.shape == (60, classes) and np.allclose(p.sum(1), 1) and (p.argmax(1) == y).mean() > 0.9


def test_features_that_would_not_fit_are_refused_by_name():
    from sentiment_lab.training.config import ConfigError
    from sentiment_lab.training.features import check_feature_memory

    gib = 2**30
    check_feature_memory(10_662, 384, available=4 * gib)  # Rotten Tomatoes: 16 MB
    check_feature_memory(10_662, 384, available=None)  # unknown: no guess
    with pytest.raises(ConfigError, match=r"features of 36,000,000 sentences need 51\.5 GiB.*\(--max_train_samples\)$"):
        check_feature_memory(36_000_000, 384, available=16 * gib)


def test_a_run_whose_features_would_not_fit_fails_with_the_reason(tiny_models, tiny_data, tmp_path, monkeypatch):
    import sentiment_lab.training.features as features
    from sentiment_lab.training.config import RunConfig
    from sentiment_lab.training.records import read_status
    from sentiment_lab.training.runner import Runner

    monkeypatch.setattr(features, "memory_available", lambda: 1000)
    # bf16 off: accelerate keeps one state per process, and the other tests run it in fp32
    cfg = RunConfig.of(
        method="freeze", model=str(tiny_models["bert"]), dataset=str(tiny_data), device="cpu", bf16="off"
    ).validated()
    assert Runner(cfg, tmp_path / "run", progress=False).run() == 1
    error = read_status(tmp_path / "run")["error"]
    assert error.startswith("the features of ") and "Traceback" not in error, error
    assert not (tmp_path / "run" / "results.json").exists()
