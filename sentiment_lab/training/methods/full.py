"""Full fine-tuning: every weight trains; saved with save_pretrained, so a transformers `pipeline` loads it as is."""

from __future__ import annotations

from pathlib import Path

from sentiment_lab.training.backbone import load_classifier
from sentiment_lab.training.methods.base import no_check

NAME = "full"
INPUT = "tokens"
SHARES_ENCODER = False
ARTEFACT = "model"
check = no_check


def build(cfg, id2label, width=None):
    return load_classifier(cfg.model, id2label)


def trainable_parameters(model) -> dict:
    return dict(model.named_parameters())


def logits(model, input_ids, attention_mask, features=None):
    return model(input_ids=input_ids, attention_mask=attention_mask).logits


def save(model, folder: Path, cfg, tokenizer, id2label: dict) -> None:
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)


def load(folder: Path, cfg, id2label, encoder=None):
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=False)
