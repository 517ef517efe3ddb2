"""The method registry: one module per method, registered here and nowhere else."""

from __future__ import annotations

from types import ModuleType

from sentiment_lab.training.backbone import (
    ModelLoadError,
    length_cut,
    load_config,
    load_tokenizer,
    token_limit,
    weights_missing,
)
from sentiment_lab.training.config import ConfigError
from sentiment_lab.training.encoder_parts import UnsupportedArchitecture
from sentiment_lab.training.methods import adapters, freeze, full, lora, svm
from sentiment_lab.training.methods.base import check_interface

REGISTRY: dict[str, ModuleType] = {m.NAME: check_interface(m) for m in (svm, full, lora, freeze, adapters)}


def get(name: str) -> ModuleType:
    if name not in REGISTRY:
        raise KeyError(f"unknown method {name!r}; choose one of {', '.join(REGISTRY)}")
    return REGISTRY[name]


def build(cfg, id2label, width: int | None = None):
    """The model of `cfg.method` ready to train (`width`: the feature width, for a method on features)."""
    return get(cfg.method).build(cfg, id2label, width)


class MethodUnfit(ConfigError):
    """The model is fine, but this method cannot find its place in it (another method may train it)."""


def check(cfg) -> list[str]:
    """Refuse, before a run is queued, a model that cannot be read or lacks what its method needs: the
    structure is read from the model's config on the meta device, so nothing is downloaded but the
    config and tokenizer, and no weights are allocated. Returns what the run will do otherwise than asked."""
    import torch
    from transformers import AutoModel, AutoModelForSequenceClassification

    try:
        config = load_config(cfg.model)
        if missing := weights_missing(cfg.model):
            raise ModelLoadError(missing)
        limit = token_limit(load_tokenizer(cfg.model), config)
        method = get(cfg.method)
        auto = AutoModel if method.INPUT == "features" else AutoModelForSequenceClassification
        with torch.device("meta"):
            model = auto.from_config(config)
        method.check(model)
    except UnsupportedArchitecture as e:
        raise MethodUnfit(f"{cfg.method} cannot train model {cfg.model!r}: {e}") from None
    except (ModelLoadError, ValueError, KeyError) as e:
        raise ConfigError(
            str(e).splitlines()[0]
            if isinstance(e, ModelLoadError)
            else f"model {cfg.model!r} cannot be used: {str(e).splitlines()[0]}"
        ) from None
    cut = length_cut(cfg.data.max_length, cfg.model, limit)[1]
    return [cut] if cut else []
