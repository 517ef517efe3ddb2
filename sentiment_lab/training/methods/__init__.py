"""The method registry: one module per method, registered here and nowhere else."""

from __future__ import annotations

from types import ModuleType

from sentiment_lab.training.backbone import ModelLoadError, load_config, load_tokenizer
from sentiment_lab.training.config import ConfigError
from sentiment_lab.training.encoder_parts import UnsupportedArchitecture, head_modules, layout
from sentiment_lab.training.methods import adapters, freeze, full, lora, svm

REGISTRY: dict[str, ModuleType] = {m.NAME: m for m in (svm, full, lora, freeze, adapters)}


def get(name: str) -> ModuleType:
    if name not in REGISTRY:
        raise KeyError(f"unknown method {name!r}; choose one of {', '.join(REGISTRY)}")
    return REGISTRY[name]


def build(cfg, id2label):
    """A token method's model (full, LoRA, adapters) as a run builds it."""
    return get(cfg.method).build(cfg, id2label)


def check(cfg) -> None:
    """Refuse, before a run is queued, a model that cannot be read or lacks what its method needs: the
    structure is read from the model's config on the meta device, so nothing is downloaded but the
    config and tokenizer, and no weights are allocated."""
    import torch
    from transformers import AutoModel, AutoModelForSequenceClassification

    try:
        config = load_config(cfg.model)
        load_tokenizer(cfg.model)
        auto = AutoModel if get(cfg.method).KIND in ("svm", "features") else AutoModelForSequenceClassification
        with torch.device("meta"):
            model = auto.from_config(config)
        if cfg.method in ("lora", "adapters"):
            layout(model)
            head_modules(model)
    except UnsupportedArchitecture as e:
        raise ConfigError(f"{cfg.method} cannot train model {cfg.model!r}: {e}") from None
    except (ModelLoadError, ValueError, KeyError) as e:
        raise ConfigError(
            str(e).splitlines()[0]
            if isinstance(e, ModelLoadError)
            else f"model {cfg.model!r} cannot be used: {str(e).splitlines()[0]}"
        ) from None
