"""The method registry: one module per method, registered here and nowhere else."""

from __future__ import annotations

from types import ModuleType

from sentiment_lab.training.backbone import (
    ModelLoadError,
    fixed_length_fault,
    length_cut,
    load_config,
    load_tokenizer,
    token_limit,
    weights_missing,
)
from sentiment_lab.training.config import ConfigError
from sentiment_lab.training.encoder_parts import UnsupportedArchitecture
from sentiment_lab.training.features import cls_state_fault
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


# What a run whose encoder trains holds on disk at once, in fp32 copies of its weights: its training state
# (the weights, Adam's two moments, the kept checkpoint) twice, as each snapshot is written beside the last.
PEAK_COPIES = 2 * 4


def check(cfg, free_bytes: int | None = None) -> list[str]:
    """Refuse, before a run is queued, a model that cannot be read or lacks what its method needs: the
    structure is read from the model's config on the meta device, so nothing is downloaded but the
    config and tokenizer, and no weights are allocated. Returns what the run will do otherwise than asked,
    and whether the disk holding the runs (`free_bytes` free) is short of what the run writes there."""
    import torch
    from transformers import AutoModel, AutoModelForSequenceClassification

    try:
        config = load_config(cfg.model)
        if missing := weights_missing(cfg.model):
            raise ModelLoadError(missing)
        if fault := fixed_length_fault(config, cfg.model):
            raise ModelLoadError(fault)
        tokenizer = load_tokenizer(cfg.model)
        limit = token_limit(tokenizer, config)
        method = get(cfg.method)
        if method.INPUT == "features" and cfg.features.pooling == "cls":
            if fault := cls_state_fault(tokenizer, cfg.model):
                raise UnsupportedArchitecture(fault)
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
    said = [cut] if cut else []
    # A frozen encoder stays out of the training state: only a method that trains it writes the whole model.
    need = 0 if method.SHARES_ENCODER else PEAK_COPIES * 4 * sum(p.numel() for p in model.parameters())
    if free_bytes is not None and need > free_bytes:
        said.append(
            f"the disk holding the runs has {free_bytes / 1e9:.1f} GB free, and a {cfg.method} run of {cfg.model!r} "
            f"holds up to {need / 1e9:.1f} GB there while it trains (its training state, written anew at each "
            "evaluation): delete runs you no longer need, or it may fail when it saves"
        )
    return said
