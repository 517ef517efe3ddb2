"""Frozen backbone, trained head: the head learns from the last layer's pooled features, computed once.

The backbone never changes, so its features are the same every epoch; computing them once makes every
epoch after the first cost almost nothing. Saved as `head.safetensors` with `head.json` (base model,
pooling, label names): README shows the few lines that apply it with transformers and torch alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from sentiment_lab.training.backbone import portable_name
from sentiment_lab.training.features import sentence_features
from sentiment_lab.training.methods.base import no_check

NAME = "freeze"
INPUT = "features"
SHARES_ENCODER = True
ARTEFACT = "head.safetensors"
check = no_check


class Head(nn.Module):
    """LayerNorm, then a one-hidden-layer MLP of the encoder's width, as DistilBERT's own pre_classifier +
    classifier."""

    def __init__(self, features: int, num_labels: int, dropout: float = 0.1, hidden: int | None = None):
        super().__init__()
        hidden = hidden or features
        self.net = nn.Sequential(
            nn.LayerNorm(features),
            nn.Dropout(dropout),
            nn.Linear(features, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_labels),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)


class PooledClassifier(nn.Module):
    """Encoder + pooling + head, for prediction from tokens."""

    def __init__(self, encoder: nn.Module, head: nn.Module, pooling: str):
        super().__init__()
        self.encoder, self.head, self.pooling = encoder, head, pooling

    def forward(self, input_ids, attention_mask):
        return self.from_features(sentence_features(self.encoder, input_ids, attention_mask, self.pooling))

    def from_features(self, features: torch.Tensor) -> torch.Tensor:
        """Logits from already pooled features (the Compare tab shares one encoder pass with the SVM)."""
        return self.head(features)


def build(cfg, id2label, width: int) -> Head:
    return Head(width, len(id2label))


def trainable_parameters(model: nn.Module) -> dict:
    """Every weight of the head (the encoder is not part of what trains)."""
    return dict((model.head if isinstance(model, PooledClassifier) else model).named_parameters())


def logits(model, input_ids, attention_mask, features):
    return model.from_features(features)


def save(head: Head, folder: Path, cfg, tokenizer, id2label: dict) -> None:
    state = {k: v.detach().cpu().contiguous() for k, v in head.state_dict().items()}
    save_file(state, str(folder / ARTEFACT), metadata={"pooling": cfg.features.pooling})
    spec = {
        "base_model": portable_name(cfg.model),
        "pooling": cfg.features.pooling,
        "features": state["net.2.weight"].shape[1],
        "hidden": state["net.2.weight"].shape[0],
        "num_labels": state["net.5.weight"].shape[0],
        "id2label": {str(k): v for k, v in id2label.items()},
    }
    (folder / "head.json").write_text(json.dumps(spec, indent=1))
    tokenizer.save_pretrained(folder)


def load(folder: Path, cfg, id2label, encoder):
    spec = json.loads((folder / "head.json").read_text())
    head = Head(spec.get("features", spec["hidden"]), spec["num_labels"], hidden=spec["hidden"])
    head.load_state_dict(load_file(str(folder / ARTEFACT)))
    return PooledClassifier(encoder, head.eval(), spec["pooling"])
