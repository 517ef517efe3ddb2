"""LoRA through PEFT: rank-r updates of the attention projections (or every linear layer of each encoder
layer), found from the model's structure; the classification head trains in full (modules_to_save). Saved in
PEFT's own format with the base model named portably, plus the classifier's config for its label names."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path

from sentiment_lab.training.backbone import load_classifier, portable_name
from sentiment_lab.training.encoder_parts import head_modules, layout
from sentiment_lab.training.shared_encoder import classifier_around

NAME = "lora"
INPUT = "tokens"
SHARES_ENCODER = True
ARTEFACT = "adapter"


@contextmanager
def quiet_peft():
    """PEFT reads a property transformers 5 deprecates: a FutureWarning in every run's log that asks nothing of us."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        yield


def lora_config(cfg, model):
    from peft import LoraConfig, TaskType

    parts = layout(model)
    return LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=parts.pattern(parts.attention if cfg.lora.targets == "attention" else parts.linears),
        use_dora=cfg.lora.dora,
        modules_to_save=head_modules(model),  # PEFT adds `classifier` alone; BERT's pooler is head too
    )


def check(model) -> None:
    """LoRA needs the attention projections and the head's modules, found from the model's structure."""
    layout(model)
    head_modules(model)


def build(cfg, id2label, width=None):
    from peft import get_peft_model

    model = load_classifier(cfg.model, id2label)
    with quiet_peft():
        return get_peft_model(model, lora_config(cfg, model))


def trainable_parameters(model) -> dict:
    """What PEFT left trainable: the LoRA matrices and its copy of the head (modules_to_save)."""
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def logits(model, input_ids, attention_mask, features=None):
    return model(input_ids=input_ids, attention_mask=attention_mask).logits


def save(model, folder: Path, cfg, tokenizer, id2label: dict) -> None:
    model.peft_config["default"].base_model_name_or_path = portable_name(cfg.model)
    # The embeddings are neither adapted nor resized; PEFT's "auto" would ask the Hub for the base config to check.
    model.save_pretrained(folder, save_embedding_layers=False)
    model.get_base_model().config.save_pretrained(folder)  # the label names, which PEFT's files do not keep
    tokenizer.save_pretrained(folder)


def load(folder: Path, cfg, id2label, encoder=None):
    """With `encoder` (the Compare tab), the frozen weights are that encoder's own tensors."""
    from peft import PeftModel

    base = classifier_around(encoder, id2label) if encoder is not None else load_classifier(cfg.model, id2label)
    with quiet_peft():
        return PeftModel.from_pretrained(base, folder)
