"""Full fine-tuning: every weight trains; saved with save_pretrained (with the default [CLS] head a
plain `pipeline` loads it as is; `--head mean` needs `load` below, which puts its hook back)."""
from __future__ import annotations

from pathlib import Path

from ..backbone import load_classifier
from ..heads import apply_head

NAME = "full"
KIND = "tokens"
ARTEFACT = "model"


def build(cfg, id2label):
    model = apply_head(load_classifier(cfg.model, id2label, cfg.training_dropout), cfg.head)
    if cfg.freeze_embeddings:
        model.base_model.embeddings.requires_grad_(False)
    return model


def save(model, folder: Path, cfg, tokenizer) -> None:
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)


def load(folder: Path, cfg, id2label, encoder=None):
    from transformers import AutoModelForSequenceClassification

    return apply_head(AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=False), cfg.head)
