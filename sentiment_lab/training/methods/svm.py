"""Linear SVM (scikit-learn) on the frozen encoder's pooled last layer.

Stored as plain arrays (scaler, coefficients, intercept, Platt scale) in safetensors, no pickle, with
`svm.json` (base model, pooling, label names): README shows the few lines that apply it with numpy.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file, save_file
from torch import nn

from sentiment_lab.training.backbone import portable_name
from sentiment_lab.training.features import sentence_features
from sentiment_lab.training.methods.base import no_check

NAME = "svm"
INPUT = "features"
SHARES_ENCODER = True
ARTEFACT = "svm.safetensors"
# Smallest first: a smaller C fits faster, and the search stops once larger ones score worse.
C_GRID = (0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
# The search stops after this many larger C in a row score below the best on validation: past its
# best a larger C only fits the training set more closely, and each one takes longer to fit.
PATIENCE = 2
check = no_check


def fit_arrays(train_x, train_y, val_x, val_y, c: float | None, seed: int) -> dict:
    """Standardise, fit LinearSVC (C by validation accuracy when not given, the grid walked upwards
    until PATIENCE worse in a row), calibrate on validation."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    mean, scale = train_x.mean(0), train_x.std(0) + 1e-6
    tx, vx = (train_x - mean) / scale, (val_x - mean) / scale
    best, worse = None, 0
    for candidate in [c] if c else C_GRID:
        svm = LinearSVC(C=candidate, random_state=seed, max_iter=5000).fit(tx, train_y)
        acc = float((svm.predict(vx) == val_y).mean())
        if best is None or acc > best[0]:
            best, worse = (acc, candidate, svm), 0
        else:
            worse += 1
            if worse == PATIENCE:
                break
    _, chosen, svm = best
    coef = np.atleast_2d(svm.coef_).astype(np.float32)
    intercept = np.atleast_1d(svm.intercept_).astype(np.float32)
    # Platt scaling on validation turns margins into probabilities for the Compare tab. A validation split
    # without one of train's classes cannot calibrate it: train's margins (overconfident, being fitted) join.
    margins, targets = vx @ coef.T + intercept, val_y
    if not np.isin(np.unique(train_y), val_y).all():
        margins, targets = np.vstack([tx @ coef.T + intercept, margins]), np.concatenate([train_y, val_y])
    platt = LogisticRegression(C=1e4).fit(margins, targets)
    return {
        "mean": mean.astype(np.float32),
        "scale": scale.astype(np.float32),
        "coef": coef,
        "intercept": intercept,
        "platt_coef": platt.coef_.astype(np.float32),
        "platt_intercept": platt.intercept_.astype(np.float32),
        "C": np.asarray([chosen], dtype=np.float32),
    }


def probabilities(state: dict, x: np.ndarray) -> np.ndarray:
    """Class probabilities from features."""
    margins = ((x - state["mean"]) / state["scale"]) @ state["coef"].T + state["intercept"]
    logits = margins @ state["platt_coef"].T + state["platt_intercept"]
    if logits.shape[1] == 1:  # binary: one logit for class 1
        p1 = 1.0 / (1.0 + np.exp(-logits[:, 0]))
        return np.stack([1 - p1, p1], axis=1)
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def save(model, folder: Path, cfg, tokenizer, id2label: dict) -> None:
    state = model.state
    save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, str(folder / ARTEFACT))
    spec = {
        "base_model": portable_name(cfg.model),
        "pooling": cfg.features.pooling,
        "C": float(state["C"][0]),
        "id2label": {str(k): v for k, v in id2label.items()},
    }
    (folder / "svm.json").write_text(json.dumps(spec, indent=1))
    tokenizer.save_pretrained(folder)


class SvmClassifier(nn.Module):
    """Encoder + pooling + SVM, returning log-probabilities so it answers like the torch methods."""

    def __init__(self, encoder, state: dict, pooling: str):
        super().__init__()
        self.encoder, self.state, self.pooling = encoder, state, pooling

    def forward(self, input_ids, attention_mask):
        return self.from_features(sentence_features(self.encoder, input_ids, attention_mask, self.pooling))

    @property
    def chosen(self) -> dict:
        """What the fit chose on validation, for the run's metrics."""
        return {"svm_c": float(self.state["C"][0])}

    def from_features(self, features: torch.Tensor) -> torch.Tensor:
        """Log-probabilities from already pooled features."""
        return torch.from_numpy(np.log(probabilities(self.state, features.cpu().numpy()) + 1e-12))


def build(cfg, id2label, width: int) -> SvmClassifier:
    """An SVM not fitted yet: `fit` sets its arrays."""
    return SvmClassifier(None, {}, cfg.features.pooling)


def fit(model: SvmClassifier, train_x, train_y, val_x, val_y, cfg) -> SvmClassifier:
    model.state = fit_arrays(train_x, train_y, val_x, val_y, cfg.svm.c, cfg.seed)
    return model


def trainable_parameters(model: SvmClassifier) -> dict:
    """The separating hyperplane's coefficients and intercept (fitted, not trained by gradient)."""
    return {k: torch.from_numpy(model.state[k]) for k in ("coef", "intercept")}


def logits(model, input_ids, attention_mask, features):
    return model.from_features(features)


def load(folder: Path, cfg, id2label, encoder):
    spec = json.loads((folder / "svm.json").read_text())
    return SvmClassifier(encoder, load_file(str(folder / ARTEFACT)), spec["pooling"])
