"""Pooled features of the frozen encoder (SVM and freeze), and the SVM's search for C."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sentiment_lab import methods
from sentiment_lab.backbone import load_encoder, load_tokenizer
from sentiment_lab.features import encode, feature_size, sentence_features


def token_means(states, mask):
    w = mask.unsqueeze(-1).float()
    return [(h * w).sum(1) / w.sum(1) for h in states]


@pytest.fixture
def batch(tiny_model):
    tok = load_tokenizer(str(tiny_model))
    enc = tok(["a fine film", "dull , long and far too loud"], padding=True, return_tensors="pt")
    return load_encoder(str(tiny_model)).eval(), enc["input_ids"], enc["attention_mask"]


def test_every_pooling_from_the_hidden_states(batch):
    encoder, ids, mask = batch
    with torch.inference_mode():
        states = encoder(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        means = token_means(states, mask)
        got = {p: sentence_features(encoder, ids, mask, p) for p in ("mean_concat", "mean_all", "mean_last4", "mean", "cls")}
    hidden, layers = encoder.config.hidden_size, encoder.config.num_hidden_layers
    assert len(states) == layers + 1  # the embeddings and each layer
    assert got["mean_concat"].shape == (2, feature_size(hidden, layers, "mean_concat")) == (2, hidden * (layers + 1))
    torch.testing.assert_close(got["mean_concat"], torch.cat(means, -1))
    torch.testing.assert_close(got["mean_all"], torch.stack(means).mean(0))
    torch.testing.assert_close(got["mean_last4"], torch.stack(means[-4:]).mean(0))  # the tiny model has 3 states: all
    torch.testing.assert_close(got["mean"], means[-1])
    torch.testing.assert_close(got["cls"], states[-1][:, 0])
    # padding must not leak into a sentence's features
    assert not torch.allclose(got["mean_concat"][0], got["mean_concat"][1])


def test_encode_allocates_the_wide_features(batch, tiny_model, tiny_data):
    from sentiment_lab.data import load_dataset, tokenize

    encoder = batch[0]
    ds = load_dataset(str(tiny_data))
    tok = load_tokenizer(str(tiny_model))
    split = ds.splits["validation"]
    tokenize(split, tok, 32)
    x = encode(encoder, split, tok.pad_token_id, "mean_concat")
    assert x.shape == (len(split), encoder.config.hidden_size * (encoder.config.num_hidden_layers + 1))
    assert np.isfinite(x).all() and (np.abs(x).sum(1) > 0).all()


def test_a_head_saved_before_wide_features_still_loads(tmp_path, tiny_model):
    """Old head.json files hold only "hidden", which was the input width."""
    head = methods.freeze.build(8, 2, 8)
    methods.freeze.save(head, tmp_path, type("Cfg", (), {"pooling": "mean_last4"}), None)
    spec = json.loads((tmp_path / "head.json").read_text())
    assert spec["features"] == spec["hidden"] == 8
    del spec["features"]
    (tmp_path / "head.json").write_text(json.dumps(spec))
    loaded = methods.freeze.load(tmp_path, None, {0: "neg", 1: "pos"}, encoder=None)
    x = torch.randn(3, 8)
    torch.testing.assert_close(loaded.head.eval()(x), head.eval()(x))


def test_a_wide_head_keeps_the_encoder_width(tmp_path):
    head = methods.freeze.build(24, 2, 8)
    assert head.net[2].weight.shape == (8, 24)
    methods.freeze.save(head, tmp_path, type("Cfg", (), {"pooling": "mean_concat"}), None)
    loaded = methods.freeze.load(tmp_path, None, {0: "neg", 1: "pos"}, encoder=None)
    x = torch.randn(3, 24)
    torch.testing.assert_close(loaded.head.eval()(x), head.eval()(x))
    assert loaded.pooling == "mean_concat"


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


@pytest.mark.parametrize("scores, fitted, chosen", [
    # rises, peaks, then two worse in a row: the larger (slower) C are never fitted
    ([0.5, 0.6, 0.8, 0.7, 0.75, 0.9, 0.9, 0.9, 0.9], 5, 0.001),
    # one dip does not stop the search
    ([0.5, 0.6, 0.55, 0.7, 0.65, 0.6, 0.9, 0.9, 0.9], 6, 0.003),
    # a tie is not better: the smaller C stays
    ([0.8, 0.8, 0.8, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9], 3, 0.0001),
])
def test_the_search_for_c_stops_after_two_worse(monkeypatch, scores, fitted, chosen):
    import sklearn.svm

    monkeypatch.setattr(sklearn.svm, "LinearSVC", ScriptedSVM)
    ScriptedSVM.accuracy, ScriptedSVM.fitted = dict(zip(methods.svm.C_GRID, scores)), []
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)), np.r_[np.zeros(20), np.ones(20)].astype(int)
    state = methods.svm.fit(x, y, x[:20], ScriptedSVM.truth, None, 0)
    assert ScriptedSVM.fitted == list(methods.svm.C_GRID[:fitted])
    assert float(state["C"][0]) == pytest.approx(chosen)
    ScriptedSVM.fitted = []
    methods.svm.fit(x, y, x[:20], ScriptedSVM.truth, 0.03, 0)  # a given C: no search
    assert ScriptedSVM.fitted == [0.03]


def test_features_that_would_not_fit_are_refused_by_name():
    from sentiment_lab.config import ConfigError
    from sentiment_lab.features import check_feature_memory

    gib = 2**30
    check_feature_memory(10_662, 384, 6, "mean_concat", available=4 * gib)  # Rotten Tomatoes: 115 MB
    check_feature_memory(10_662, 384, 6, "mean_concat", available=None)  # unknown: no guess
    with pytest.raises(ConfigError, match=r"mean_concat features of 3,600,000 sentences need 36\.0 GiB.*"
                                          r"--max_train_samples.*--pooling mean_all \(384 numbers per sentence instead of 2688\)"):
        check_feature_memory(3_600_000, 384, 6, "mean_concat", available=16 * gib)
    with pytest.raises(ConfigError, match=r"\(--max_train_samples\)$"):  # already narrow: no pooling to suggest
        check_feature_memory(3_600_000, 384, 6, "mean_all", available=4 * gib)


def test_a_run_whose_features_would_not_fit_fails_with_the_reason(tiny_models, tiny_data, tmp_path, monkeypatch):
    import sentiment_lab.features as features
    from sentiment_lab.config import RunConfig
    from sentiment_lab.runner import Runner
    from sentiment_lab.runs import read_status

    monkeypatch.setattr(features, "memory_available", lambda: 1000)
    # bf16 off: accelerate keeps one state per process, and the other tests run it in fp32
    cfg = RunConfig(method="freeze", model=str(tiny_models["bert"]), dataset=str(tiny_data), device="cpu", bf16="off").validated()
    assert Runner(cfg, tmp_path / "run", progress=False).run() == 1
    error = read_status(tmp_path / "run")["error"]
    assert error.startswith("the mean_concat features of ") and "Traceback" not in error, error
    assert not (tmp_path / "run" / "results.json").exists()
