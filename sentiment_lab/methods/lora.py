"""LoRA through PEFT on the attention projections (optionally the feed-forward layers too); the head trains in full (modules_to_save)."""
from __future__ import annotations

from pathlib import Path

from ..architectures import arch_of
from ..backbone import load_classifier
from ..heads import apply_head
from ..shared_encoder import classifier_around

NAME = "lora"
KIND = "tokens"
ARTEFACT = "adapter"


def lora_config(cfg, model):
    from peft import LoraConfig, TaskType

    arch = arch_of(model)
    return LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=list(arch.lora_targets) + (list(arch.ffn_targets) if cfg.lora_targets == "all" else []),
        use_dora=cfg.lora_dora,
        # PEFT's SEQ_CLS adds `classifier`; BERT's pooler and DistilBERT's pre_classifier are head too.
        # LayerNorms go the same way: PEFT trains a copy, so a shared frozen encoder is never written.
        modules_to_save=[h for h in arch.head if h != "classifier"] + (list(arch.norms) if cfg.lora_norms else []) or None,
    )


def build(cfg, id2label):
    from peft import get_peft_model

    model = apply_head(load_classifier(cfg.model, id2label), cfg.head)
    return get_peft_model(model, lora_config(cfg, model))


def save(model, folder: Path, cfg, tokenizer) -> None:
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def load(folder: Path, cfg, id2label, encoder=None):
    """With `encoder` (the Compare tab), the frozen weights are that encoder's own tensors."""
    from peft import PeftModel

    base = classifier_around(encoder, id2label) if encoder is not None else load_classifier(cfg.model, id2label)
    return PeftModel.from_pretrained(apply_head(base, cfg.head), folder)


