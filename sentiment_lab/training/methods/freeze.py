"""Frozen backbone, trained head: the model's own classification head (transformers' `...ForSequenceClassification`,
BERT's pooler and classifier, DistilBERT's pre_classifier and classifier, RoBERTa's head...) trains on the frozen
encoder, as the reference lab's freeze does; the encoder's dropout stays on while it trains, as under the Trainer.

Saved as `head.safetensors`, the head's tensors under the classifier's own names, with `head.json` naming the base
model and the label names: README shows the lines that load it with transformers alone.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import load_file, save_file

from sentiment_lab.training.backbone import load_classifier, portable_name
from sentiment_lab.training.encoder_parts import head_parameters
from sentiment_lab.training.methods.base import train_only
from sentiment_lab.training.shared_encoder import classifier_around

NAME = "freeze"
INPUT = "tokens"
SHARES_ENCODER = True
ARTEFACT = "head.safetensors"
SPEC = "head.json"


class OldFreezeRun(ValueError):
    """A freeze run saved before freeze trained the model's own head: its head cannot be rebuilt here."""


def trainable_parameters(model) -> dict:
    """Every weight of the model's own classification head; nothing of the encoder."""
    head = set(head_parameters(model))
    return {n: p for n, p in model.named_parameters() if n in head}


def check(model) -> None:
    """Freeze needs the classifier's head, found from the model's structure."""
    head_parameters(model)


def build(cfg, id2label, width=None):
    model = load_classifier(cfg.model, id2label)
    return train_only(model, trainable_parameters(model))


def logits(model, input_ids, attention_mask, features=None):
    return model(input_ids=input_ids, attention_mask=attention_mask).logits


def save(model, folder: Path, cfg, tokenizer, id2label: dict) -> None:
    state = {n: p.detach().cpu().contiguous() for n, p in trainable_parameters(model).items()}
    save_file(state, str(folder / ARTEFACT), metadata={"format": "pt"})
    spec = {
        "base_model": portable_name(cfg.model),
        "id2label": {str(k): v for k, v in model.config.id2label.items()},
    }
    (folder / SPEC).write_text(json.dumps(spec, indent=1))
    tokenizer.save_pretrained(folder)


def load(folder: Path, cfg, id2label, encoder=None):
    """With `encoder` (the Compare tab), the frozen weights are that encoder's own tensors."""
    if "pooling" in json.loads((folder / SPEC).read_text()):
        raise OldFreezeRun(
            "this freeze run was saved by an earlier Sentiment Lab (a head on pooled features, before commit "
            "freeze trained the model's own head): train it again"
        )
    model = load_classifier(cfg.model, id2label) if encoder is None else classifier_around(encoder, id2label)
    state = load_file(str(folder / ARTEFACT))
    missing = set(trainable_parameters(model)) - set(state)
    if missing:
        raise ValueError(f"head weights are incomplete: {len(missing)} tensors missing (e.g. {sorted(missing)[0]})")
    model.load_state_dict(state, strict=False, assign=True)  # assign: a shared encoder's tensors stay untouched
    return train_only(model, trainable_parameters(model)) if encoder is None else model
